package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// hookSink is a receiver on 127.0.0.1 that accepts everything and keeps
// what it was sent.
type hookSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []sunk
}

type sunk struct {
	header http.Header
	body   []byte
}

func newHookSink(t *testing.T) *hookSink {
	s := &hookSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, sunk{r.Header.Clone(), body})
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// wait returns the first request whose body holds want.
func (s *hookSink) wait(t *testing.T, want string) sunk {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		for _, g := range s.got {
			if strings.Contains(string(g.body), want) {
				s.mu.Unlock()
				return g
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the receiver was not sent %q", want)
		}
	}
}

// clearWebhookEndpoints deletes the first organization's endpoints, so
// that a table of calls never reaches the per-organization bound.
func (e *env) clearWebhookEndpoints() {
	page, err := e.st.FindWebhookEndpoints(e.org.Ctx, lms.PageRequest{Limit: lms.MaxPageLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ep := range page.Items {
		if err := e.st.DeleteWebhookEndpoint(e.org.Ctx, ep.ID); err != nil {
			e.t.Fatal(err)
		}
	}
}

// withWebhookEndpoint fills :id with a fresh endpoint of the first
// organization, on a port where nothing listens.
func withWebhookEndpoint(e *env, route string) string {
	e.clearWebhookEndpoints()
	ep, err := e.st.CreateWebhookEndpoint(e.org.Ctx, lms.NewWebhookEndpoint{URL: "http://127.0.0.1:9/hooks",
		EventTypes: []string{lms.EventInvitationFull}})
	if err != nil {
		e.t.Fatal(err)
	}
	return fill(route, ep.Endpoint.ID)
}

// withWebhookEvent fills :id and :event_id with an endpoint and an event
// delivered to it (env's queue must work).
func withWebhookEvent(e *env, route string) string {
	e.clearWebhookEndpoints()
	sink := newHookSink(e.t)
	ep, err := e.st.CreateWebhookEndpoint(e.org.Ctx, lms.NewWebhookEndpoint{URL: sink.srv.URL, EventTypes: []string{lms.EventUserCreated}})
	if err != nil {
		e.t.Fatal(err)
	}
	u := storetest.MustCreateUser(e.t, e.st, e.org, lms.RoleLearner)
	got := sink.wait(e.t, u.ID)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := e.st.FindWebhookAttempts(e.org.Ctx, ep.Endpoint.ID, lms.PageRequest{})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(page.Items) == 1 || time.Now().After(deadline) {
			break
		}
	}
	return fill(route, ep.Endpoint.ID, got.header.Get("webhook-id"))
}

// TestWebhookEndpointsOverHTTP: the endpoints' routes as a Full Manager
// uses them, every answer held to the document: the secret shown once,
// refused URLs (production's guard too), rotation, attempts, redelivery and
// deletion.
func TestWebhookEndpointsOverHTTP(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		full := e.tokens["full"]
		body := map[string]any{"url": "http://127.0.0.1:9/hooks", "event_types": []string{"user.created", "redemption.created"},
			"description": "Workday"}
		res := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: full, body: body})
		if res.Status != http.StatusCreated || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %v %s", res.Status, res.Header, res.Body)
		}
		created := res.JSON(t)
		id := created["id"].(string)
		if s, _ := created["secret"].(string); !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("secret %q", created["secret"])
		}
		if _, err := standardwebhooks.NewWebhook(created["secret"].(string)); err != nil {
			t.Fatalf("the secret is not one the Standard Webhooks library takes: %v", err)
		}
		got := e.do(req{method: "GET", path: "/api/v1/webhook-endpoints/" + id, token: full}).JSON(t)
		if _, shown := got["secret"]; shown || got["enabled"] != true {
			t.Fatalf("GET shows %v", got)
		}
		list := e.do(req{method: "GET", path: "/api/v1/webhook-endpoints", token: full}).JSON(t)
		if data := list["data"].([]any); len(data) != 1 {
			t.Fatalf("list %v", list)
		}

		// Blocked even in development.
		for _, url := range []string{"http://10.0.0.1/hooks", "http://169.254.169.254/latest/meta-data", "ftp://127.0.0.1/x"} {
			p := wantProblem(t, e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: full,
				body: map[string]any{"url": url, "event_types": []string{"user.created"}}}), 422, lms.EInvalid)
			if fieldMessage(p, "url") == "" {
				t.Errorf("%s: %v", url, p)
			}
		}
		// Production's guard: no loopback, and https only.
		e.guard.AllowLoopback = false
		for _, url := range []string{"https://127.0.0.1/hooks", "https://[::1]/hooks", "https://10.0.0.1/hooks",
			"https://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/hooks"} {
			p := wantProblem(t, e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: full,
				body: map[string]any{"url": url, "event_types": []string{"user.created"}}}), 422, lms.EInvalid)
			if fieldMessage(p, "url") == "" {
				t.Errorf("%s: %v", url, p)
			}
		}
		wantProblem(t, e.do(req{method: "PATCH", path: "/api/v1/webhook-endpoints/" + id, token: full,
			body: map[string]any{"url": "https://[::1]:8443/"}}), 422, lms.EInvalid)
		e.guard.AllowLoopback = true

		p := wantProblem(t, e.do(req{method: "PATCH", path: "/api/v1/webhook-endpoints/" + id, token: full,
			body: map[string]any{"event_types": []string{"user.deleted"}}}), 422, lms.EInvalid)
		if fieldMessage(p, "event_types") == "" {
			t.Errorf("unknown event type: %v", p)
		}
		upd := e.do(req{method: "PATCH", path: "/api/v1/webhook-endpoints/" + id, token: full, body: map[string]any{"enabled": false}}).JSON(t)
		if upd["enabled"] != false || upd["description"] != "Workday" {
			t.Errorf("PATCH enabled=false: %v", upd)
		}

		rot := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints/" + id + "/rotate-secret", token: full})
		if rot.Status != http.StatusOK || rot.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate: %d %s", rot.Status, rot.Body)
		}
		if r := rot.JSON(t); r["secret"] == created["secret"] || r["previous_secret_expires_at"] == nil {
			t.Errorf("rotate: %v", r)
		}

		attempts := e.do(req{method: "GET", path: "/api/v1/webhook-endpoints/" + id + "/attempts", token: full}).JSON(t)
		if data := attempts["data"].([]any); len(data) != 0 {
			t.Errorf("attempts %v", attempts)
		}
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/webhook-endpoints/" + id + "/events/" + uuid.NewString() + "/redeliver",
			token: full}), 409, lms.EConflict) // disabled
		e.do(req{method: "PATCH", path: "/api/v1/webhook-endpoints/" + id, token: full, body: map[string]any{"enabled": true}})
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/webhook-endpoints/" + id + "/events/" + uuid.NewString() + "/redeliver",
			token: full}), 404, lms.ENotFound)

		// A retried create with its key does not show the secret again.
		key := map[string]string{"Idempotency-Key": "hook-create-" + dialect}
		first := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: full, body: body, header: key})
		again := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: full, body: body, header: key})
		if first.Status != http.StatusCreated || again.Status != http.StatusConflict || strings.Contains(string(again.Body), "whsec_") {
			t.Errorf("create with a key, twice: %d then %d %s", first.Status, again.Status, again.Body)
		}

		if res := e.do(req{method: "DELETE", path: "/api/v1/webhook-endpoints/" + id, token: full}); res.Status != http.StatusNoContent {
			t.Fatalf("delete: %d", res.Status)
		}
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/webhook-endpoints/" + id, token: full}), 404, lms.ENotFound)
		events := e.do(req{method: "GET", path: "/api/v1/audit-events?target_id=" + id + "&sort=created_at", token: full}).JSON(t)
		var actions []string
		for _, ev := range events["data"].([]any) {
			actions = append(actions, ev.(map[string]any)["action"].(string))
		}
		if strings.Join(actions, " ") != "webhook_endpoint.create webhook_endpoint.update webhook_endpoint.secret.rotate webhook_endpoint.update webhook_endpoint.delete" {
			t.Errorf("audit actions %v", actions)
		}
	})
}

// TestRedemptionWebhookOverHTTP: an employee's redemption through the API
// reaches the HR system's receiver as a redemption.created whose signature
// the Standard Webhooks library verifies, and the attempt is listed.
func TestRedemptionWebhookOverHTTP(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect)
		sink := newHookSink(t)
		created := e.do(req{method: "POST", path: "/api/v1/webhook-endpoints", token: e.tokens["full"],
			body: map[string]any{"url": sink.srv.URL + "/enrollkit", "event_types": []string{"redemption.created"}}}).JSON(t)
		inv := e.activeInvitation()
		red := e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]any{"passcode": inv.Passcode,
			"email": "web.hook@example.com", "first_name": "Web", "last_name": "Hook", "password": storetest.Password}})
		if red.Status != http.StatusCreated {
			t.Fatalf("redeem: %d %s", red.Status, red.Body)
		}
		got := sink.wait(t, red.JSON(t)["id"].(string))
		wh, err := standardwebhooks.NewWebhook(created["secret"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Fatalf("signature: %v (headers %v)", err, got.header)
		}
		if !strings.Contains(string(got.body), `"type":"redemption.created"`) || got.header.Get("Content-Type") != "application/json" {
			t.Fatalf("payload %s", got.body)
		}
		path := "/api/v1/webhook-endpoints/" + created["id"].(string) + "/attempts"
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			data := e.do(req{method: "GET", path: path, token: e.tokens["full"]}).JSON(t)["data"].([]any)
			if len(data) == 1 {
				a := data[0].(map[string]any)
				if a["succeeded"] != true || a["status_code"] != float64(200) || a["event_id"] != got.header.Get("webhook-id") {
					t.Fatalf("attempt %v", a)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the attempt was not listed")
			}
		}
	})
}
