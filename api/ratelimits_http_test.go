package api_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

var (
	policyField = regexp.MustCompile(`^"[a-z-]+";q=\d+;w=\d+(, "[a-z-]+";q=\d+;w=\d+)*$`)
	stateField  = regexp.MustCompile(`^"[a-z-]+";r=\d+;t=\d+(, "[a-z-]+";r=\d+;t=\d+)*$`)
)

// TestThrottledOperationsStateTheirLimits holds the document's x-rate-limited
// operations to the RateLimit and RateLimit-Policy fields: each one sends
// them once its throttles judge a request (the harness refuses them on any
// other operation).
func TestThrottledOperationsStateTheirLimits(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t)
	e := newEnv(t, "sqlite")
	full := e.tokens["full"]
	inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("", 5)}).JSON(t)
	page := func(path string) *browser {
		b := e.browser("192.0.2.77:1000")
		b.get(path)
		return b
	}
	sent := map[string]*response{
		"login": e.do(req{method: "POST", path: "/api/v1/auth/login",
			body: map[string]any{"email": e.org.ManagerEmail, "password": "not-the-password"}}),
		"refreshTokens": e.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]any{"refresh_token": "no-such-token"}}),
		"issueClientToken": e.do(req{method: "POST", path: "/api/v1/oauth/token", body: map[string]any{
			"grant_type": "client_credentials", "client_id": uuid.NewString(), "client_secret": "no-such-secret"}}),
		"previewRedemption": e.do(req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]any{"passcode": "NOPE-NOPE"}}),
		"redeemPasscode": e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": "NOPE-NOPE",
			"email": "guess@example.com", "first_name": "G", "last_name": "H", "password": "Guessing-is-futile-1"}}),
		"verifyRedemption": e.do(req{method: "POST", path: "/api/v1/redemptions/verify",
			body: map[string]any{"token": "no-such-token", "password": "Guessing-is-futile-1"}}),
		"createInvitation": e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Heron-Marsh-4417", 3)}),
		"updateInvitation": e.do(req{method: "PATCH", path: "/api/v1/invitations/" + inv["id"].(string), token: full,
			body: map[string]any{"passcode": "Otter-Creek-5820"}}),
		"getEnrollPage": e.browser("192.0.2.77:1000").get("/enroll?passcode=NOPE-NOPE"),
		"submitEnrollPage": page("/enroll?passcode=Heron-Marsh-4417").post("/enroll", map[string]string{"passcode": "NOPE-NOPE", "email": "guess@example.com",
			"first_name": "G", "last_name": "H", "password": "Guessing-is-futile-1"}),
		"submitVerifyPage": page("/enroll/verify?token=no-such-token").post("/enroll/verify", map[string]string{"token": "no-such-token", "password": "Guessing-is-futile-1"}),
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Extensions["x-rate-limited"] != true {
				continue
			}
			res, ok := sent[op.OperationID]
			if !ok {
				t.Errorf("%s %s (%s) is x-rate-limited and untested here", method, path, op.OperationID)
				continue
			}
			policy, state := res.Header.Get("RateLimit-Policy"), res.Header.Get("RateLimit")
			if !policyField.MatchString(policy) || !stateField.MatchString(state) {
				t.Errorf("%s answered %d with RateLimit-Policy %q and RateLimit %q", op.OperationID, res.Status, policy, state)
			}
			delete(sent, op.OperationID)
		}
	}
	for id := range sent {
		t.Errorf("%s is not marked x-rate-limited", id)
	}
	// A success states them too, and gives its failure back: the next
	// answer counts no more than the one before it.
	signIn := func() *response {
		return e.do(req{method: "POST", path: "/api/v1/auth/login", remote: "203.0.113.50:1000",
			body: map[string]any{"email": e.org.ManagerEmail, "password": storetest.Password}})
	}
	first, second := signIn(), signIn()
	if first.Status != http.StatusOK || !stateField.MatchString(first.Header.Get("RateLimit")) ||
		first.Header.Get("RateLimit") != second.Header.Get("RateLimit") {
		t.Errorf("successful sign-ins: %d %q, then %q", first.Status, first.Header.Get("RateLimit"), second.Header.Get("RateLimit"))
	}
}

// TestRateLimitCountsDown follows one client's failures to its 429: each
// failure leaves one fewer, a success gives its failure back, and the last
// refusal says when all are forgotten.
func TestRateLimitCountsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 3, Period: time.Hour}
	})
	guess := func() *response {
		return e.do(req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]any{"passcode": "NOPE-NOPE"},
			remote: "198.51.100.9:1000"})
	}
	for left := 2; left >= 0; left-- {
		res := guess()
		if res.Status != http.StatusNotFound || res.Header.Get("RateLimit-Policy") != `"redeem-ip";q=3;w=3600` ||
			res.Header.Get("RateLimit") != `"redeem-ip";r=`+strconv.Itoa(left)+`;t=`+strconv.Itoa((3-left)*1200) {
			t.Fatalf("guess leaving %d: %d %q %q", left, res.Status, res.Header.Get("RateLimit-Policy"), res.Header.Get("RateLimit"))
		}
	}
	res := guess()
	wantProblem(t, res, http.StatusTooManyRequests, "rate_limited")
	if res.Header.Get("RateLimit") != `"redeem-ip";r=0;t=3600` || res.Header.Get("Retry-After") != "1200" {
		t.Fatalf("refused: RateLimit %q, Retry-After %q", res.Header.Get("RateLimit"), res.Header.Get("Retry-After"))
	}
}
