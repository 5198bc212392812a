package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// received is one request a test receiver answered.
type received struct {
	id, typ string
	status  int
	// verified lists the secrets (by index in receiver.secrets) whose
	// signature the request carried, checked by the Standard Webhooks
	// library, not by the server's code.
	verified []int
	body     map[string]any
}

// receiver is a webhook receiver on 127.0.0.1 that refuses the first fail
// requests of each webhook-id with 500 and accepts the rest.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	fail int
	mu   sync.Mutex
	// secrets verify each request; set after the endpoint is created.
	secrets []string
	got     []received
	tries   map[string]int
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{t: t, fail: fail, tries: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := received{id: req.Header.Get("webhook-id"), status: http.StatusOK}
	for i, s := range r.secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			r.t.Errorf("secret %d: %v", i, err)
			continue
		}
		if wh.Verify(body, req.Header) == nil {
			rec.verified = append(rec.verified, i)
		}
	}
	if err := json.Unmarshal(body, &rec.body); err != nil {
		r.t.Errorf("payload %q: %v", body, err)
	}
	rec.typ, _ = rec.body["type"].(string)
	r.tries[rec.id]++
	if r.tries[rec.id] <= r.fail {
		rec.status = http.StatusInternalServerError
	}
	r.got = append(r.got, rec)
	w.WriteHeader(rec.status)
	io.WriteString(w, "noted")
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = s
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// wait waits until done holds for the requests so far.
func (r *receiver) wait(done func([]received) bool) []received {
	r.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := r.requests()
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the receiver did not get what was expected; it got %+v", got)
		}
	}
}

// accepted counts the accepted requests of type typ.
func accepted(got []received, typ string) int {
	n := 0
	for _, g := range got {
		if g.typ == typ && g.status == http.StatusOK {
			n++
		}
	}
	return n
}

// webhookQueue starts a queue on st that sends webhooks with retries from
// base and sends no email.
func webhookQueue(t *testing.T, st *store.Store, base, disableAfter time.Duration) *store.Queue {
	t.Helper()
	q, err := st.NewQueue(store.QueueOptions{Work: true, Sender: mail.NewFileSender(t.TempDir(), func(string) {}),
		PollInterval: 50 * time.Millisecond, WebhookRetryBase: base, WebhookTimeout: 5 * time.Second, WebhookDisableAfter: disableAfter})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopQueue(q) })
	return q
}

func stopQueue(q *store.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Stop(ctx)
}

func createEndpoint(t *testing.T, st *store.Store, ctx context.Context, url string, types ...string) *lms.WebhookEndpointSecret {
	t.Helper()
	e, err := st.CreateWebhookEndpoint(ctx, lms.NewWebhookEndpoint{URL: url, EventTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func countEvents(t *testing.T, db *store.DB, typ string) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Raw("SELECT count(*) FROM webhook_events WHERE type = ?", typ).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhookSurvivesFailuresAndRestart: a redemption makes exactly one
// redemption.created, which reaches a receiver that refuses it twice,
// across a restart of the server's queue after the first refusal; every
// try carries the same webhook-id and a signature the Standard Webhooks
// library accepts, and the attempts list tells the story.
func TestWebhookSurvivesFailuresAndRestart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		rcv := newReceiver(t, 2)
		ep := createEndpoint(t, f.st, f.org.Ctx, rcv.srv.URL+"/hooks", lms.EventRedemptionCreated, lms.EventUserCreated, lms.EventInvitationFull)
		rcv.setSecrets(ep.Secret)
		inv := f.invite(t, "Hook-Heron-52", 1, lms.InvitationActive)
		// A retry a second after the first refusal: time for the restart.
		first := webhookQueue(t, f.st, time.Second, 24*time.Hour)
		red, _, err := redeemAs(f.st, inv.Passcode, "hooked@example.com")
		if err != nil {
			t.Fatal(err)
		}
		rcv.wait(func(got []received) bool { return len(got) >= 1 })
		stopQueue(first)
		before := len(rcv.requests())

		restarted := storetest.NewStoreWith(t, db, f.hasher, func(*store.Deps) {})
		webhookQueue(t, restarted, time.Second, 24*time.Hour)
		got := rcv.wait(func(got []received) bool {
			return accepted(got, lms.EventRedemptionCreated) == 1 && accepted(got, lms.EventUserCreated) == 1 &&
				accepted(got, lms.EventInvitationFull) == 1
		})
		if before >= len(got) {
			t.Fatalf("nothing was sent after the restart: %d requests before, %d in all", before, len(got))
		}
		byType := map[string][]received{}
		for _, g := range got {
			byType[g.typ] = append(byType[g.typ], g)
			if len(g.verified) != 1 {
				t.Errorf("request %s (%s): signature verified by secrets %v, want the one", g.id, g.typ, g.verified)
			}
		}
		for typ, reqs := range byType {
			if len(reqs) != 3 || reqs[0].id != reqs[1].id || reqs[1].id != reqs[2].id {
				t.Errorf("%s: %d requests %+v, want 3 with one webhook-id", typ, len(reqs), reqs)
			}
		}
		data := byType[lms.EventRedemptionCreated][2].body["data"].(map[string]any)
		if data["id"] != red.ID || data["email"] != "hooked@example.com" || data["invitation_id"] != inv.ID {
			t.Errorf("redemption.created data = %v", data)
		}
		for _, typ := range []string{lms.EventRedemptionCreated, lms.EventUserCreated, lms.EventInvitationFull} {
			if n := countEvents(t, db, typ); n != 1 {
				t.Errorf("%d %s events, want 1", n, typ)
			}
		}
		// A second, replayed redemption is no new event.
		if _, _, err := redeemAs(f.st, inv.Passcode, "hooked@example.com"); err != nil {
			t.Fatal(err)
		}
		if n := countEvents(t, db, lms.EventRedemptionCreated); n != 1 {
			t.Errorf("after a replay, %d redemption.created events, want 1", n)
		}

		attempts, err := f.st.FindWebhookAttempts(f.org.Ctx, ep.Endpoint.ID, lms.PageRequest{Limit: 50, Sort: "created_at"})
		if err != nil {
			t.Fatal(err)
		}
		var story []string
		for _, a := range attempts.Items {
			if a.EventID == byType[lms.EventRedemptionCreated][0].id {
				story = append(story, a.Error)
				if a.Attempt != len(story) {
					t.Errorf("attempt %d numbered %d", len(story), a.Attempt)
				}
			}
		}
		if strings.Join(story, "|") != "status 500|status 500|" {
			t.Errorf("attempts' errors = %q", story)
		}
		after, err := f.st.FindWebhookEndpoint(f.org.Ctx, ep.Endpoint.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.FailingSince != nil || !after.Enabled {
			t.Errorf("after a success, endpoint %+v, want enabled and not failing", after)
		}
	})
}

// TestWebhookSecretRotation: after a rotation every message is signed with
// the new secret and the old one, each verified by the Standard Webhooks
// library, until the day of overlap has passed; then with the new only.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		rcv := newReceiver(t, 0)
		ep := createEndpoint(t, f.st, f.org.Ctx, rcv.srv.URL, lms.EventUserCreated)
		rotated, err := f.st.RotateWebhookSecret(f.org.Ctx, ep.Endpoint.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rotated.Secret == ep.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Endpoint.PreviousSecretExpiresAt == nil {
			t.Fatalf("rotation gave %+v", rotated)
		}
		rcv.setSecrets(ep.Secret, rotated.Secret)
		first := webhookQueue(t, f.st, 20*time.Millisecond, 24*time.Hour)
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		got := rcv.wait(func(got []received) bool { return len(got) == 1 })
		if len(got[0].verified) != 2 {
			t.Fatalf("during the overlap, verified by secrets %v, want old and new", got[0].verified)
		}
		// The clock is the database's: nothing else may use it meanwhile.
		stopQueue(first)

		later := storetest.NewStoreWith(t, db, f.hasher, func(*store.Deps) {})
		store.AdvanceClock(later, lms.WebhookSecretRotationOverlap+time.Minute)
		webhookQueue(t, later, 20*time.Millisecond, 24*time.Hour)
		if _, err := later.CreateUser(f.org.Ctx, lms.NewUser{Email: "after.rotation@example.com", FirstName: "A", LastName: "R",
			Role: lms.RoleLearner, Password: storetest.Password}); err != nil {
			t.Fatal(err)
		}
		got = rcv.wait(func(got []received) bool { return len(got) == 2 })
		if len(got[1].verified) != 1 || got[1].verified[0] != 1 {
			t.Fatalf("after the overlap, verified by secrets %v, want the new one only", got[1].verified)
		}
	})
}

// TestWebhookEndpointDisabledAfterFailing: an endpoint that refuses every
// attempt for the configured time is disabled, with an audit event, and
// its message is failed; enabling it again clears its failures, and a
// redelivery sends the event once more with the same webhook-id.
func TestWebhookEndpointDisabledAfterFailing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		rcv := newReceiver(t, 1000)
		ep := createEndpoint(t, f.st, f.org.Ctx, rcv.srv.URL, lms.EventUserCreated)
		webhookQueue(t, f.st, 20*time.Millisecond, 200*time.Millisecond)
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		var e *lms.WebhookEndpoint
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if e, err = f.st.FindWebhookEndpoint(f.org.Ctx, ep.Endpoint.ID); err != nil {
				t.Fatal(err)
			}
			if !e.Enabled || time.Now().After(deadline) {
				break
			}
		}
		if e.Enabled || !strings.Contains(e.DisabledReason, "status 500") || e.FailingSince == nil {
			t.Fatalf("endpoint %+v, want disabled for its failures", e)
		}
		tries := len(rcv.requests())
		events, err := f.st.FindAuditEvents(f.org.Ctx, lms.AuditEventFilter{Action: ptr("webhook_endpoint.disabled")})
		if err != nil {
			t.Fatal(err)
		}
		if len(events.Items) != 1 || events.Items[0].TargetID != e.ID || events.Items[0].ActorKind != lms.ActorSystem {
			t.Fatalf("audit events %+v, want one disabled by the system", events.Items)
		}
		eventID := rcv.requests()[0].id
		if _, err := f.st.RedeliverWebhookEvent(f.org.Ctx, e.ID, eventID); lms.ErrorCode(err) != lms.EConflict {
			t.Fatalf("redelivery to a disabled endpoint: %v, want conflict", err)
		}
		time.Sleep(100 * time.Millisecond)
		if n := len(rcv.requests()); n != tries {
			t.Fatalf("a disabled endpoint was sent %d more requests", n-tries)
		}

		rcv.mu.Lock()
		rcv.fail = 0
		rcv.mu.Unlock()
		if e, err = f.st.UpdateWebhookEndpoint(f.org.Ctx, e.ID, lms.WebhookEndpointUpdate{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if !e.Enabled || e.FailingSince != nil || e.DisabledReason != "" {
			t.Fatalf("enabled again: %+v", e)
		}
		m, err := f.st.RedeliverWebhookEvent(f.org.Ctx, e.ID, eventID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != "queued" || m.EventType != lms.EventUserCreated {
			t.Fatalf("redelivery: %+v", m)
		}
		got := rcv.wait(func(got []received) bool { return accepted(got, lms.EventUserCreated) == 1 })
		if last := got[len(got)-1]; last.id != eventID {
			t.Fatalf("redelivered with webhook-id %s, want %s", last.id, eventID)
		}
		if _, err := f.st.RedeliverWebhookEvent(f.org.Ctx, e.ID, "019cae11-7f00-7b2a-a1c4-9d8e7f6a5b4c"); lms.ErrorCode(err) != lms.ENotFound {
			t.Fatalf("redelivery of an unknown event: %v, want not_found", err)
		}
	})
}

// TestWebhookRedeliveryOutrunsAnOldRetry: an endpoint disabled by one
// event's failures fails its other queued event, whose retry job stays
// scheduled; redelivering both once it is enabled again sends each once,
// and the old job, run at once, sends nothing.
func TestWebhookRedeliveryOutrunsAnOldRetry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		rcv := newReceiver(t, 1000)
		ep := createEndpoint(t, f.st, f.org.Ctx, rcv.srv.URL, lms.EventUserCreated)
		q := webhookQueue(t, f.st, 20*time.Millisecond, 200*time.Millisecond)
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			e, err := f.st.FindWebhookEndpoint(f.org.Ctx, ep.Endpoint.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Enabled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the endpoint was not disabled")
			}
		}
		// No try is under way (one that began before the endpoint was
		// disabled could otherwise reach the receiver once it accepts);
		// both messages are failed, whether or not the receiver saw the
		// second before the first disabled the endpoint.
		for deadline := time.Now().Add(10 * time.Second); store.WebhookJobsRunning(t, q) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("webhook jobs kept running")
			}
		}
		var rows []struct{ EventID, Status string }
		if err := db.Gorm().Raw("SELECT event_id, status FROM webhook_messages").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, r := range rows {
			if r.Status != "failed" {
				t.Fatalf("messages %+v, want both failed with their endpoint", rows)
			}
			ids[r.EventID] = true
		}
		if len(ids) != 2 {
			t.Fatalf("messages %+v, want 2", rows)
		}
		rcv.mu.Lock()
		rcv.fail = 0
		rcv.mu.Unlock()
		if _, err := f.st.UpdateWebhookEndpoint(f.org.Ctx, ep.Endpoint.ID, lms.WebhookEndpointUpdate{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		for id := range ids {
			if _, err := f.st.RedeliverWebhookEvent(f.org.Ctx, ep.Endpoint.ID, id); err != nil {
				t.Fatalf("redeliver %s: %v", id, err)
			}
		}
		rcv.wait(func(got []received) bool { return accepted(got, lms.EventUserCreated) == 2 })
		// Every job still waiting runs now, until none is left to run.
		for deadline := time.Now().Add(10 * time.Second); store.RetryWebhookJobsNow(t, q) > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("webhook jobs kept waiting for a retry")
			}
		}
		got := rcv.requests()
		perEvent := map[string]int{}
		for _, r := range got {
			if r.status == http.StatusOK {
				perEvent[r.id]++
			}
		}
		for id := range ids {
			if perEvent[id] != 1 {
				t.Fatalf("event %s was accepted %d times, want once; requests %+v", id, perEvent[id], got)
			}
		}
		page, err := f.st.FindWebhookAttempts(f.org.Ctx, ep.Endpoint.ID, lms.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != len(got) {
			t.Fatalf("%d attempts listed, the receiver saw %d requests", len(page.Items), len(got))
		}
	})
}

// TestWebhookRedeliveryOfAStuckMessage: a queued message is not queued
// again while its job may still send it, but one untouched for longer
// than any retry's delay is, and then it is sent once, though its first
// job is still there.
func TestWebhookRedeliveryOfAStuckMessage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		rcv := newReceiver(t, 0)
		ep := createEndpoint(t, f.st, f.org.Ctx, rcv.srv.URL, lms.EventUserCreated)
		if _, err := f.st.NewQueue(store.QueueOptions{}); err != nil { // it queues, and nothing works
			t.Fatal(err)
		}
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		var eventID string
		if err := db.Gorm().Raw("SELECT event_id FROM webhook_messages").Scan(&eventID).Error; err != nil || eventID == "" {
			t.Fatalf("message: %q, %v", eventID, err)
		}
		if _, err := f.st.RedeliverWebhookEvent(f.org.Ctx, ep.Endpoint.ID, eventID); lms.ErrorCode(err) != lms.EConflict {
			t.Fatalf("redelivery of a fresh queued message: %v, want conflict", err)
		}

		later := storetest.NewStoreWith(t, db, f.hasher, func(*store.Deps) {})
		store.AdvanceClock(later, 13*time.Hour+time.Minute)
		if _, err := later.NewQueue(store.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := later.RedeliverWebhookEvent(f.org.Ctx, ep.Endpoint.ID, eventID); err != nil {
			t.Fatalf("redelivery of a message untouched for 13 h: %v", err)
		}
		worker := storetest.NewStoreWith(t, db, f.hasher, func(*store.Deps) {})
		q := webhookQueue(t, worker, 20*time.Millisecond, 24*time.Hour)
		rcv.wait(func(got []received) bool { return accepted(got, lms.EventUserCreated) == 1 })
		for deadline := time.Now().Add(10 * time.Second); store.RetryWebhookJobsNow(t, q) > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("webhook jobs kept waiting")
			}
		}
		if got := rcv.requests(); len(got) != 1 {
			t.Fatalf("the receiver got %d requests, want 1: %+v", len(got), got)
		}
	})
}

// fakeResolver answers names from a table, each call taking the next
// answer, the last one repeated: a name can change its answer.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	calls   atomic.Int32
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.calls.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.answers[host]
	if len(list) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ips := list[0]
	if len(list) > 1 {
		r.answers[host] = list[1:]
	}
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

// TestWebhookGuardInProduction: production's guard refuses URLs of
// loopback, private, link-local and metadata addresses, as literals or by
// name, and plain http; a name that resolved to a public address when the
// endpoint was made and to a private one at the send is not contacted.
func TestWebhookGuardInProduction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		dns := &fakeResolver{answers: map[string][][]string{
			"internal.example.com": {{"10.0.0.1"}},
			"metadata.example.com": {{"169.254.169.254"}},
			"rebind.example.com":   {{"93.184.216.34"}, {"10.0.0.1"}},
		}}
		f := newInvitationFixtureWith(t, db, func(d *store.Deps) { d.WebhookGuard = &webhook.Guard{Resolver: dns} })
		for _, url := range []string{"https://127.0.0.1/hooks", "https://10.0.0.1/hooks", "https://169.254.169.254/latest/meta-data",
			"https://[::1]/hooks", "https://internal.example.com/hooks", "https://metadata.example.com/", "http://rebind.example.com/hooks",
			"https://nowhere.example.com/"} {
			_, err := f.st.CreateWebhookEndpoint(f.org.Ctx, lms.NewWebhookEndpoint{URL: url, EventTypes: []string{lms.EventUserCreated}})
			var le *lms.Error
			if lms.ErrorCode(err) != lms.EInvalid || !errors.As(err, &le) || len(le.Fields) != 1 || le.Fields[0].Field != "url" {
				t.Errorf("%s: %v, want validation_failed on url", url, err)
			}
		}
		ep := createEndpoint(t, f.st, f.org.Ctx, "https://rebind.example.com/hooks", lms.EventUserCreated)
		webhookQueue(t, f.st, time.Hour, 24*time.Hour)
		storetest.MustCreateUser(t, f.st, f.org, lms.RoleLearner)
		var attempts *lms.Page[*lms.WebhookAttempt]
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if attempts, err = f.st.FindWebhookAttempts(f.org.Ctx, ep.Endpoint.ID, lms.PageRequest{}); err != nil {
				t.Fatal(err)
			}
			if len(attempts.Items) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(attempts.Items) != 1 {
			t.Fatalf("%d attempts, want 1", len(attempts.Items))
		}
		a := attempts.Items[0]
		if a.StatusCode != 0 || !strings.Contains(a.Error, "10.0.0.1") || a.Succeeded() {
			t.Fatalf("attempt %+v, want refused before any connection to 10.0.0.1", a)
		}
	})
}

// TestWebhookEndpointRules: validation, the per-organization bound, the
// tenant wall, and events only for the types an endpoint takes.
func TestWebhookEndpointRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		ctx := f.org.Ctx
		for _, in := range []lms.NewWebhookEndpoint{
			{URL: "http://127.0.0.1:9/x"},
			{URL: "http://127.0.0.1:9/x", EventTypes: []string{"user.deleted"}},
			{URL: "", EventTypes: []string{lms.EventUserCreated}},
			{URL: "http://127.0.0.1:9/x", EventTypes: []string{lms.EventUserCreated}, Description: strings.Repeat("d", lms.MaxWebhookDescriptionLen+1)},
		} {
			if _, err := f.st.CreateWebhookEndpoint(ctx, in); lms.ErrorCode(err) != lms.EInvalid {
				t.Errorf("%+v: %v, want validation_failed", in, err)
			}
		}
		e := createEndpoint(t, f.st, ctx, " http://127.0.0.1:9/x ", lms.EventUserCreated, lms.EventDeliverySent, lms.EventUserCreated)
		if e.Endpoint.URL != "http://127.0.0.1:9/x" || strings.Join(e.Endpoint.EventTypes, ",") != "delivery.sent,user.created" || !e.Endpoint.Enabled {
			t.Errorf("created %+v", e.Endpoint)
		}
		other := storetest.MustCreateOrganization(t, f.st, "Other")
		if _, err := f.st.FindWebhookEndpoint(other.Ctx, e.Endpoint.ID); lms.ErrorCode(err) != lms.ENotFound {
			t.Errorf("another organization reads the endpoint: %v", err)
		}
		if err := f.st.DeleteWebhookEndpoint(other.Ctx, e.Endpoint.ID); lms.ErrorCode(err) != lms.ENotFound {
			t.Errorf("another organization deletes the endpoint: %v", err)
		}
		for i := 1; i < lms.MaxWebhookEndpointsPerOrg; i++ {
			createEndpoint(t, f.st, ctx, "http://127.0.0.1:9/x", lms.EventUserCreated)
		}
		if _, err := f.st.CreateWebhookEndpoint(ctx, lms.NewWebhookEndpoint{URL: "http://127.0.0.1:9/x",
			EventTypes: []string{lms.EventUserCreated}}); lms.ErrorCode(err) != lms.EConflict {
			t.Errorf("endpoint past the bound: %v, want conflict", err)
		}
		// Not subscribed: an invitation's status change makes no event.
		inv := f.invite(t, "Still-Quiet-18", 3, lms.InvitationActive)
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationPaused)}); err != nil {
			t.Fatal(err)
		}
		if n := countEvents(t, db, lms.EventInvitationStatusChanged); n != 0 {
			t.Errorf("%d status events without a subscriber", n)
		}
		if _, err := f.st.UpdateWebhookEndpoint(ctx, e.Endpoint.ID, lms.WebhookEndpointUpdate{
			EventTypes: &[]string{lms.EventInvitationStatusChanged}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationActive)}); err != nil {
			t.Fatal(err)
		}
		if n := countEvents(t, db, lms.EventInvitationStatusChanged); n != 1 {
			t.Errorf("%d status events, want 1", n)
		}
		if err := f.st.DeleteWebhookEndpoint(ctx, e.Endpoint.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.FindWebhookAttempts(ctx, e.Endpoint.ID, lms.PageRequest{}); lms.ErrorCode(err) != lms.ENotFound {
			t.Errorf("attempts of a deleted endpoint: %v", err)
		}
	})
}
