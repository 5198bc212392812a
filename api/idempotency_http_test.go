package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// TestIdempotencyKeyOverHTTP: twenty concurrent POSTs of one invitation
// with one key create one invitation; the others are told it is in
// progress or get its answer; a repeat later replays the same body; the
// key with another body is 422; a bad key is 400.
func TestIdempotencyKeyOverHTTP(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) { idempotencyKeyOverHTTP(t, dialect) })
}

func idempotencyKeyOverHTTP(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	full := e.tokens["full"]
	body := e.newInvitationBody("Retry-Safe-Owl-51", 3)
	key := map[string]string{"Idempotency-Key": "0190f0c2-6b1e-7cc3-a1f0-3a0c2b9b8e11"}
	rs := make([]req, 20)
	for i := range rs {
		rs[i] = req{method: "POST", path: "/api/v1/invitations", token: full, body: body, header: key}
	}
	created, replayed, busy := 0, 0, 0
	var first []byte
	for _, res := range e.doAll(rs) {
		switch {
		case res.Status == http.StatusCreated && res.Header.Get("Idempotent-Replayed") == "true":
			replayed++
		case res.Status == http.StatusCreated:
			created++
			first = res.Body
		case res.Status == http.StatusConflict && wantProblem(t, res, 409, "idempotency_in_progress") != nil:
			busy++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("in progress without Retry-After")
			}
		default:
			t.Fatalf("answer %d: %s", res.Status, res.Body)
		}
	}
	if created != 1 || replayed+busy != 19 {
		t.Fatalf("%d created, %d replayed, %d in progress; want 1 created", created, replayed, busy)
	}
	list := e.do(req{method: "GET", path: "/api/v1/invitations", token: full}).JSON(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("%d invitations, want 1", n)
	}

	again := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: body, header: key})
	if again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body, first) {
		t.Fatalf("repeat: %d %v %s, want the first answer replayed", again.Status, again.Header, again.Body)
	}
	other := e.newInvitationBody("Other-Body-Lark-77", 3)
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: other, header: key}), 422, "idempotency_key_reused")
	// Another caller's key of the same name is its own.
	limited := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["limited"], body: body, header: key})
	wantProblem(t, limited, 403, "insufficient_role")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: other,
		header: map[string]string{"Idempotency-Key": "has spaces"}}), 400, "bad_request")
}

// TestIdempotencyKeyKeepsNoCredential: an integration client's creation
// with a key is not repeated, and its secret is neither kept nor shown
// again: the repeat is 409 naming the client the first request made.
func TestIdempotencyKeyKeepsNoCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	key := map[string]string{"Idempotency-Key": "client-create-1"}
	body := map[string]string{"name": "Payroll", "role": "limited_manager"}
	first := e.do(req{method: "POST", path: "/api/v1/integration-clients", token: e.tokens["full"], body: body, header: key})
	if first.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Status, first.Body)
	}
	secret, _ := first.JSON(t)["client_secret"].(string)
	again := e.do(req{method: "POST", path: "/api/v1/integration-clients", token: e.tokens["full"], body: body, header: key})
	p := wantProblem(t, again, 409, "conflict")
	if again.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(p["detail"].(string), first.JSON(t)["id"].(string)) {
		t.Fatalf("repeat: %v %v, want it replayed, naming the client", again.Header, p)
	}
	if secret == "" || bytes.Contains(again.Body, []byte(secret)) {
		t.Fatalf("the repeat shows the secret: %s", again.Body)
	}
	var kept int64
	if err := e.st.DB().Gorm().Raw("SELECT count(*) FROM idempotency_keys WHERE body LIKE ?", "%"+secret+"%").Scan(&kept).Error; err != nil || kept != 0 {
		t.Fatalf("%d kept answers hold the secret (%v)", kept, err)
	}
	list := e.do(req{method: "GET", path: "/api/v1/integration-clients", token: e.tokens["full"]}).JSON(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("%d integration clients, want 1", n)
	}
}
