package api_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// verifiedInvitationBody is newInvitationBody with email verification left
// at its default, on.
func (e *env) verifiedInvitationBody(passcode string, seats int) map[string]any {
	body := e.newInvitationBody(passcode, seats)
	delete(body, "require_email_verification")
	return body
}

var verifyLink = regexp.MustCompile(`https?://\S+/enroll/verify\?token=([A-Za-z0-9_-]+)`)

// verificationToken waits for the newest verification email to addr, after
// the first skip of them, and returns the token of its link.
func (e *env) verificationToken(addr string, skip int) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if msgs := e.mailbox.To(addr); len(msgs) > skip {
			text, html, err := msgs[len(msgs)-1].Parts()
			if err != nil {
				e.t.Fatal(err)
			}
			m := verifyLink.FindStringSubmatch(text)
			if m == nil {
				e.t.Fatalf("no verification link in the email to %s:\n%s", addr, text)
			}
			if !strings.Contains(html, url.QueryEscape(m[1])) {
				e.t.Fatalf("the HTML part does not carry the text part's link")
			}
			return m[1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no verification email to %s (skipping %d) within 15 s", addr, skip)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pendingRedemption redeems a new address on a fresh invitation that
// requires verification and returns the address and its link's token.
func (e *env) pendingRedemption() (email, token string) {
	e.t.Helper()
	inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"],
		body: e.verifiedInvitationBody("", 5)}).JSON(e.t)
	email = "pending-" + uuid.NewString()[:8] + "@example.com"
	res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": inv["passcode"],
		"email": email, "first_name": "Pat", "last_name": "Pending", "password": storetest.Password}})
	if res.Status != 201 {
		e.t.Fatalf("redeem: %d %s", res.Status, res.Body)
	}
	return email, e.verificationToken(email, 0)
}

func TestVerificationEndToEnd(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect)
		full := e.tokens["full"]
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.verifiedInvitationBody("Mail-Lynx-4821", 2)}).JSON(t)
		if inv["require_email_verification"] != true {
			t.Fatalf("verification is not on by default: %v", inv["require_email_verification"])
		}
		invPath := "/api/v1/invitations/" + inv["id"].(string)
		redeem := func(password string) *response {
			return e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": "Mail-Lynx-4821",
				"email": "Grace.Hopper@Example.com", "first_name": "Grace", "last_name": "Hopper", "password": password}})
		}
		const email = "grace.hopper@example.com"

		// Redeem: the seat is taken, pending, and nothing signs anyone in.
		res := redeem(storetest.Password)
		if res.Status != 201 {
			t.Fatalf("redeem: %d %s", res.Status, res.Body)
		}
		r := res.JSON(t)
		if r["status"] != "pending_verification" || r["tokens"] != nil || r["user"] != nil || r["email"] != email {
			t.Fatalf("a pending redemption answered %s", res.Body)
		}
		if len(r["enrollments"].([]any)) != 0 || r["verification_expires_at"] == nil {
			t.Fatalf("a pending redemption answered %s", res.Body)
		}
		if used := e.do(req{method: "GET", path: invPath, token: full}).JSON(t)["registrations_used"]; used != 1.0 {
			t.Fatalf("registrations_used = %v after a pending redemption, want 1", used)
		}
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/auth/login",
			body: map[string]any{"email": email, "password": storetest.Password}}), 401, lms.EUnauthorized)

		// The link arrives; asking again at once is refused and takes no
		// second seat.
		token := e.verificationToken(email, 0)
		again := redeem(storetest.Password + "x")
		wantProblem(t, again, 429, lms.ERateLimited)
		if again.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}

		// Opening the link takes the password given when registering, and
		// no other: then the account is made, enrolled and signed in.
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions/verify",
			body: map[string]any{"token": token, "password": "Someone-elses-passphrase-1"}}), 401, lms.EUnauthorized)
		res = e.do(req{method: "POST", path: "/api/v1/redemptions/verify", body: map[string]any{"token": token, "password": storetest.Password}})
		if res.Status != 200 {
			t.Fatalf("verify: %d %s", res.Status, res.Body)
		}
		v := res.JSON(t)
		if v["status"] != "active" || v["id"] != r["id"] || v["user"] == nil || v["tokens"] == nil || len(v["enrollments"].([]any)) != 1 {
			t.Fatalf("verify answered %s", res.Body)
		}
		access := v["tokens"].(map[string]any)["access_token"].(string)
		if me := e.do(req{method: "GET", path: "/api/v1/me", token: access}); me.Status != 200 {
			t.Fatalf("the verified learner's token: %d %s", me.Status, me.Body)
		}
		if login := e.do(req{method: "POST", path: "/api/v1/auth/login",
			body: map[string]any{"email": email, "password": storetest.Password}}); login.Status != 200 {
			t.Fatalf("login after verification: %d %s", login.Status, login.Body)
		}

		// A link works once; the seat stays one; the manager sees one
		// redemption.
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions/verify", body: map[string]any{"token": token, "password": storetest.Password}}),
			404, lms.EVerificationInvalid)
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions/verify", body: map[string]any{"token": "forged", "password": storetest.Password}}),
			404, lms.EVerificationInvalid)
		if used := e.do(req{method: "GET", path: invPath, token: full}).JSON(t)["registrations_used"]; used != 1.0 {
			t.Fatalf("registrations_used = %v after verification, want 1", used)
		}
		if list := e.do(req{method: "GET", path: invPath + "/redemptions", token: full}).JSON(t); len(list["data"].([]any)) != 1 {
			t.Fatalf("redemptions after verification: %v", list)
		}
		// Redeeming again with the account is a replay: 200, no seat.
		if res := redeem(storetest.Password); res.Status != 200 || res.JSON(t)["status"] != "active" {
			t.Fatalf("replay after verification: %d %s", res.Status, res.Body)
		}
	})
}

func TestVerificationHoldsExactlyTheSeats(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect)
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"],
			body: e.verifiedInvitationBody("Fifty-Seats-3318", 50)}).JSON(t)
		rs := make([]req, 200)
		for i := range rs {
			rs[i] = req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": "Fifty-Seats-3318",
				"email": fmt.Sprintf("rush%d@example.com", i), "first_name": "R", "last_name": "Ush", "password": storetest.Password}}
		}
		got := statuses(e.doAll(rs))
		if got[201] != 50 || got[409] != 150 {
			t.Fatalf("200 redemptions against 50 seats: %v, want 50 × 201 and 150 × 409", got)
		}
		if used := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: e.tokens["full"]}).JSON(t)["registrations_used"]; used != 50.0 {
			t.Fatalf("registrations_used = %v, want 50", used)
		}
		if n := len(e.mailbox.WaitFor(50, 30*time.Second)); n != 50 {
			t.Fatalf("%d verification emails, want 50", n)
		}
	})
}

func TestLookAlikesAndDomains(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		full := e.tokens["full"]
		if res := e.do(req{method: "POST", path: "/api/v1/users", token: full, body: map[string]any{"email": "kate@example.com",
			"first_name": "Kate", "last_name": "Bell", "role": "learner", "password": storetest.Password}}); res.Status != 201 {
			t.Fatalf("create kate: %d %s", res.Status, res.Body)
		}
		body := e.newInvitationBody("Look-Alike-6620", 5)
		body["allowed_email_domains"] = []string{"@Example.com", "example.org", "example.com"}
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: body}).JSON(t)
		if d := fmt.Sprint(inv["allowed_email_domains"]); d != "[example.com example.org]" {
			t.Fatalf("allowed_email_domains = %s, want them normalized", d)
		}
		redeem := func(email, password string) *response {
			return e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": "Look-Alike-6620",
				"email": email, "first_name": "K", "last_name": "B", "password": password}})
		}
		// Cyrillic а for Latin a: the same skeleton, another address.
		p := wantProblem(t, redeem("k\u0430te@example.com", storetest.Password), 409, lms.EConflict)
		if fmt.Sprint(p["errors"]) == "" {
			t.Fatal("no field named")
		}
		wantProblem(t, redeem("kate@ex\u0430mple.com", storetest.Password), 422, lms.EInvalid) // not an allowed domain either
		// Full-width letters are the address itself (NFKC): Kate's account.
		wantProblem(t, redeem("ｋａｔｅ@example.com", "not her password"), 401, lms.EUnauthorized)
		if res := redeem("ｋａｔｅ@example.com", storetest.Password); res.Status != 201 || res.JSON(t)["email"] != "kate@example.com" {
			t.Fatalf("Kate in full-width letters: %d %s", res.Status, res.Body)
		}
		// Only the allowed domains; a subdomain is not its parent.
		for _, addr := range []string{"new@other.example", "new@mail.example.com"} {
			p := wantProblem(t, redeem(addr, storetest.Password), 422, lms.EInvalid)
			if !strings.Contains(fmt.Sprint(p["errors"]), "example.com, example.org") {
				t.Fatalf("the refusal of %s does not say which domains: %v", addr, p["errors"])
			}
		}
		if res := redeem("New@EXAMPLE.org", storetest.Password); res.Status != 201 {
			t.Fatalf("an allowed domain in capitals: %d %s", res.Status, res.Body)
		}
		bad := e.newInvitationBody("", 1)
		bad["allowed_email_domains"] = []string{"example.com", "not a domain"}
		p = wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: bad}), 422, lms.EInvalid)
		if !strings.Contains(fmt.Sprint(p["errors"]), "allowed_email_domains[1]") {
			t.Fatalf("bad domain not named: %v", p["errors"])
		}
	})
}

// TestRedemptionDoesNotTellWhoHasAnAccount is finding 3: with a valid
// passcode, an address with an account and one without get the same
// answers, after the same password work, and every failure counts.
func TestRedemptionDoesNotTellWhoHasAnAccount(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect, func(o *api.Options) { o.Rules.LoginAccount.Limit = 4 })
		full := e.tokens["full"]
		if res := e.do(req{method: "POST", path: "/api/v1/users", token: full, body: map[string]any{"email": "kate@example.com",
			"first_name": "Kate", "last_name": "Bell", "role": "learner", "password": storetest.Password}}); res.Status != 201 {
			t.Fatalf("create kate: %d %s", res.Status, res.Body)
		}
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.verifiedInvitationBody("Quiet-Probe-8142", 5)}).JSON(t)
		attempt := func(email string, names bool) (*response, uint64) {
			body := map[string]any{"passcode": "Quiet-Probe-8142", "email": email, "password": "Some-other-passphrase-9"}
			if names {
				body["first_name"], body["last_name"] = "Eve", "Probe"
			}
			before := e.hasher.Stats().Derivations
			res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: body})
			return res, e.hasher.Stats().Derivations - before
		}
		// The shape of an answer: its status, code, fields and keys, without
		// the values that differ by address or request.
		shape := func(r *response) string {
			m := r.JSON(t)
			for _, k := range []string{"id", "email", "instance", "created_at", "verification_expires_at"} {
				if _, ok := m[k]; ok {
					m[k] = "…"
				}
			}
			return fmt.Sprint(r.Status, " ", m)
		}
		for _, names := range []bool{false, true} {
			known, knownWork := attempt("kate@example.com", names)
			unknown, unknownWork := attempt(fmt.Sprintf("nobody-%v@example.com", names), names)
			if shape(known) != shape(unknown) {
				t.Fatalf("names %v: an account's address answered\n  %s\nand an unknown one\n  %s", names, shape(known), shape(unknown))
			}
			if knownWork != 1 || unknownWork != 1 {
				t.Fatalf("names %v: %d and %d password derivations, want one each", names, knownWork, unknownWork)
			}
			want := 422
			if names {
				want = 201
			}
			if known.Status != want {
				t.Fatalf("names %v: status %d, want %d: %s", names, known.Status, want, known.Body)
			}
		}
		// Again at once: the same 429 for both.
		known, _ := attempt("kate@example.com", true)
		unknown, _ := attempt("nobody-true@example.com", true)
		if known.Status != 429 || unknown.Status != 429 || known.Header.Get("Retry-After") != unknown.Header.Get("Retry-After") {
			t.Fatalf("again at once: %d (%s) and %d (%s), want the same 429", known.Status, known.Header.Get("Retry-After"),
				unknown.Status, unknown.Header.Get("Retry-After"))
		}
		// Kate is told by email, with no link; her address's answer holds a
		// seat as the unknown address's pending redemption does, so the
		// seats left tell nothing either.
		if msgs := e.mailbox.WaitFor(2, 15*time.Second); len(e.mailbox.To("kate@example.com")) != 1 {
			t.Fatalf("kate got %d emails of %d", len(e.mailbox.To("kate@example.com")), len(msgs))
		}
		text, _, _ := e.mailbox.To("kate@example.com")[0].Parts()
		if verifyLink.MatchString(text) || !strings.Contains(text, "already has an account") {
			t.Fatalf("kate's email:\n%s", text)
		}
		if used := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: full}).JSON(t)["registrations_used"]; used != 2.0 {
			t.Fatalf("registrations_used = %v, want 2 (one for each address's pending answer)", used)
		}
		// Both addresses have had two attempts counted: the same answers
		// until the limit (4) is spent, the same 429 after it.
		for i := range 3 {
			known, _ := attempt("kate@example.com", true)
			unknown, _ := attempt("nobody-true@example.com", true)
			if known.Status != unknown.Status || known.JSON(t)["code"] != unknown.JSON(t)["code"] {
				t.Fatalf("attempt %d more: %d %s and %d %s", i+1, known.Status, known.Body, unknown.Status, unknown.Body)
			}
		}
		// Kate signing in with her password takes over the held seat.
		res := e.do(req{method: "POST", path: "/api/v1/redemptions", remote: "198.51.100.99:1", body: map[string]any{
			"passcode": "Quiet-Probe-8142", "email": "kate@example.com", "password": storetest.Password}})
		if res.Status != 201 || res.JSON(t)["status"] != "active" {
			t.Fatalf("kate with her password: %d %s", res.Status, res.Body)
		}
		if used := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: full}).JSON(t)["registrations_used"]; used != 2.0 {
			t.Fatalf("registrations_used = %v after kate redeemed, want still 2", used)
		}
		// Every failure counted: the fifth failure of an address, with an
		// account or without, is refused.
		for _, email := range []string{"kate@example.com", "nobody-false@example.com"} {
			var last *response
			for range 4 {
				last, _ = attempt(email, false)
			}
			if last.Status != 429 {
				t.Fatalf("%s: attempts without names were not counted (%d %s)", email, last.Status, last.Body)
			}
		}
	})
}
