package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// devClient is the client of a development server, the only kind that may
// reach the httptest receivers on 127.0.0.1.
func devClient(timeout time.Duration) *http.Client {
	return (&webhook.Guard{AllowLoopback: true}).Client(timeout)
}

// MustNewSecret returns a new signing secret or ends the test.
func MustNewSecret(tb testing.TB) string {
	tb.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// newMessage returns a message for event evt_01 signed with secrets.
func newMessage(secrets ...string) webhook.Message {
	return webhook.Message{
		ID:        "evt_01",
		Timestamp: time.Now(),
		Body:      []byte(`{"type":"redemption.created","data":{"id":"red_1"}}`),
		Secrets:   secrets,
	}
}

// receivedRequest is what a test receiver saw, for the test to judge once
// Send has returned.
type receivedRequest struct {
	header http.Header
	body   []byte
	method string
}

func TestSendSignaturesVerify(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := MustNewSecret(t), MustNewSecret(t)
	got := make(chan receivedRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- receivedRequest{header: r.Header.Clone(), body: body, method: r.Method}
		_, _ = io.WriteString(w, "thanks")
	}))
	defer srv.Close()

	m := newMessage(oldSecret, newSecret)
	res := webhook.Send(context.Background(), devClient(5*time.Second), srv.URL+"/hooks", m)
	if !res.OK() || res.Err != "" || res.StatusCode != http.StatusOK || res.Response != "thanks" {
		t.Fatalf("Send = %+v, want a 200 with Response thanks and no Err", res)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want it positive", res.Duration)
	}
	req := <-got
	if req.method != http.MethodPost || string(req.body) != string(m.Body) {
		t.Errorf("received %s %q, want POST %q", req.method, req.body, m.Body)
	}
	checkHeaders(t, req.header, m)
	for _, secret := range []string{oldSecret, newSecret} {
		if err := verify(t, secret, req); err != nil {
			t.Errorf("a receiver holding one of the secrets refuses the message: %v", err)
		}
	}
	if err := verify(t, MustNewSecret(t), req); err == nil {
		t.Error("a receiver holding an unrelated secret accepts the message")
	}
}

// checkHeaders checks the headers every webhook request carries.
func checkHeaders(t *testing.T, h http.Header, m webhook.Message) {
	t.Helper()
	want := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "enrollkit-webhooks/1",
		"webhook-id":        m.ID,
		"webhook-timestamp": strconv.FormatInt(m.Timestamp.Unix(), 10),
	}
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("header %s = %q, want %q", name, got, v)
		}
	}
	if sigs := strings.Fields(h.Get("webhook-signature")); len(sigs) != len(m.Secrets) {
		t.Errorf("webhook-signature lists %d signatures, want %d", len(sigs), len(m.Secrets))
	}
}

// verify checks req as a receiver holding secret would, with the published
// Standard Webhooks library rather than this package's own code.
func verify(t *testing.T, secret string, req receivedRequest) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(req.body, req.header)
}

func TestSendServerError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	}))
	defer srv.Close()

	res := webhook.Send(context.Background(), devClient(5*time.Second), srv.URL, newMessage(MustNewSecret(t)))
	if res.OK() || res.StatusCode != http.StatusInternalServerError || res.Err != "status 500" {
		t.Errorf("Send = %+v, want StatusCode 500 and Err %q", res, "status 500")
	}
	if res.Response != "database down\n" {
		t.Errorf("Response = %q, want the receiver's answer", res.Response)
	}
}

func TestSendRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var targetHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(http.ResponseWriter, *http.Request) { targetHits.Add(1) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res := webhook.Send(context.Background(), devClient(5*time.Second), srv.URL+"/hook", newMessage(MustNewSecret(t)))
	if res.OK() || res.StatusCode != http.StatusFound || res.Err != "redirect not followed (status 302)" {
		t.Errorf("Send = %+v, want StatusCode 302 and Err %q", res, "redirect not followed (status 302)")
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target was requested %d times, want 0", n)
	}
}

func TestSendLargeResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("é", 512<<10))) // 1 MiB
	}))
	defer srv.Close()

	res := webhook.Send(context.Background(), devClient(5*time.Second), srv.URL, newMessage(MustNewSecret(t)))
	if !res.OK() || res.Err != "" {
		t.Fatalf("Send = %+v, want a 200", res)
	}
	if len(res.Response) > webhook.ResponseSnippetLen || len(res.Response) < webhook.ResponseSnippetLen-3 {
		t.Errorf("len(Response) = %d, want the first %d bytes", len(res.Response), webhook.ResponseSnippetLen)
	}
	if !utf8.ValidString(res.Response) || strings.Trim(res.Response, "é") != "" {
		t.Errorf("Response = %q, want whole characters only", res.Response)
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The server notices the client hanging up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer srv.Close()

	res := webhook.Send(context.Background(), devClient(200*time.Millisecond), srv.URL, newMessage(MustNewSecret(t)))
	if res.OK() || res.StatusCode != 0 || res.Err != "timeout after 200ms" {
		t.Errorf("Send = %+v, want no StatusCode and Err %q", res, "timeout after 200ms")
	}
	if res.Duration >= 2*time.Second {
		t.Errorf("Duration = %v, want the client to give up at its timeout", res.Duration)
	}
}

func TestSendCancelled(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := webhook.Send(ctx, devClient(5*time.Second), srv.URL, newMessage(MustNewSecret(t)))
	if res.OK() || !strings.Contains(res.Err, "cancel") {
		t.Errorf("Send = %+v, want a cancellation", res)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the receiver was reached %d times, want 0", n)
	}
}

// TestSendRefusesLoopback sends to 127.0.0.1 with the production guard: the
// plain http server is refused for its scheme and the TLS one for its
// address, and neither is ever reached.
func TestSendRefusesLoopback(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	handler := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	plain := httptest.NewServer(handler)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()

	client := (&webhook.Guard{}).Client(5 * time.Second)
	tests := []struct{ url, wantErr string }{
		{plain.URL, "refused: must use https"},
		{tlsSrv.URL, "refused: resolves to a loopback address (127.0.0.1)"},
	}
	for _, tt := range tests {
		res := webhook.Send(context.Background(), client, tt.url, newMessage(MustNewSecret(t)))
		if res.OK() || res.StatusCode != 0 || res.Err != tt.wantErr {
			t.Errorf("Send(%s) = %+v, want Err %q", tt.url, res, tt.wantErr)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the receivers were reached %d times, want 0", n)
	}
}

func TestSendUnsendableMessage(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	const malformed = "whsec_not base64!"
	tests := []struct {
		name    string
		url     string
		secrets []string
		wantErr string
	}{
		{"no secret", srv.URL, nil, "no signing secret"},
		{"malformed secret", srv.URL, []string{MustNewSecret(t), malformed}, "malformed signing secret"},
		{"invalid URL", "http://127.0.0.1:%zz/", []string{MustNewSecret(t)}, "invalid URL"},
	}
	for _, tt := range tests {
		res := webhook.Send(context.Background(), devClient(5*time.Second), tt.url, newMessage(tt.secrets...))
		if res.OK() || res.Err != tt.wantErr {
			t.Errorf("%s: Send = %+v, want Err %q", tt.name, res, tt.wantErr)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the receiver was reached %d times, want 0", n)
	}
}

func TestResultOK(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]bool{0: false, 199: false, 200: true, 204: true, 299: true, 302: false, 500: false} {
		if got := (webhook.Result{StatusCode: code}).OK(); got != want {
			t.Errorf("Result{StatusCode: %d}.OK() = %v, want %v", code, got, want)
		}
	}
}
