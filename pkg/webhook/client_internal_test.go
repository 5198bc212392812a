package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// rebindingResolver answers first on the first lookup and later on every
// one after, as a name does whose owner changes its records between the
// check and the send.
type rebindingResolver struct {
	first, later string
	lookups      atomic.Int32
}

func (r *rebindingResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	ip := r.later
	if r.lookups.Add(1) == 1 {
		ip = r.first
	}
	return []net.IPAddr{{IP: net.ParseIP(ip)}}, nil
}

// recordingDialer records every address the client dials. It connects only
// to loopback addresses, and only when loopback is set, so a guard that let
// a blocked address through would fail the test without sending a packet.
type recordingDialer struct {
	loopback bool
	mu       sync.Mutex
	addrs    []string
}

func (d *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !d.loopback || !ap.Addr().IsLoopback() {
		return nil, errors.New("test dialer: not connecting to " + addr)
	}
	return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
}

func (d *recordingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func TestClientRefusesDNSRebinding(t *testing.T) {
	t.Parallel()
	resolver := &rebindingResolver{first: "93.184.216.34", later: "10.0.0.1"}
	dialer := &recordingDialer{}
	g := &Guard{Resolver: resolver, dialer: dialer}
	const url = "https://rebind.example.com/hook"

	if err := g.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("CheckURL while the name is public = %v, want nil", err)
	}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	res := Send(context.Background(), g.Client(5*time.Second), url,
		Message{ID: "evt_01", Timestamp: time.Now(), Body: []byte("{}"), Secrets: []string{secret}})
	if want := "refused: resolves to a private address (10.0.0.1)"; res.Err != want || res.StatusCode != 0 {
		t.Errorf("Send after the name turned private = %+v, want Err %q", res, want)
	}
	if n := resolver.lookups.Load(); n != 2 {
		t.Errorf("the name was resolved %d times, want 2 (the check and the send)", n)
	}
	if got := dialer.dialed(); len(got) != 0 {
		t.Errorf("the client dialed %v, want no connection attempted", got)
	}
}

// TestClientDialsCheckedLiteral shows the address dialed is the one the
// guard resolved and checked, never the name, which the system would
// resolve again.
func TestClientDialsCheckedLiteral(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]

	dialer := &recordingDialer{loopback: true}
	g := &Guard{AllowLoopback: true, Resolver: &rebindingResolver{first: "127.0.0.1", later: "127.0.0.1"}, dialer: dialer}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	res := Send(context.Background(), g.Client(5*time.Second), "http://receiver.example.com:"+port+"/hook",
		Message{ID: "evt_01", Timestamp: time.Now(), Body: []byte("{}"), Secrets: []string{secret}})
	if !res.OK() || hits.Load() != 1 {
		t.Fatalf("Send = %+v with %d requests received, want one 200", res, hits.Load())
	}
	if got, want := dialer.dialed(), []string{"127.0.0.1:" + port}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("dialed %v, want %v", got, want)
	}
}

func TestClientSettings(t *testing.T) {
	t.Parallel()
	c := (&Guard{}).Client(10 * time.Second)
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want *http.Transport", c.Transport)
	}
	if tr.Proxy != nil {
		t.Error("the transport uses a proxy, which would resolve names itself")
	}
	if c.Timeout != 10*time.Second || tr.ResponseHeaderTimeout != 10*time.Second {
		t.Errorf("Timeout = %v, ResponseHeaderTimeout = %v, want both 10s", c.Timeout, tr.ResponseHeaderTimeout)
	}
	if tr.TLSHandshakeTimeout <= 0 || tr.TLSHandshakeTimeout > 5*time.Second || dialTimeout > 5*time.Second {
		t.Errorf("TLSHandshakeTimeout = %v, dial timeout = %v, want each in (0, 5s]", tr.TLSHandshakeTimeout, dialTimeout)
	}
	if tr.MaxIdleConnsPerHost < 1 || tr.MaxIdleConnsPerHost > 4 {
		t.Errorf("MaxIdleConnsPerHost = %d, want a small number", tr.MaxIdleConnsPerHost)
	}
	if c.CheckRedirect == nil || !errors.Is(c.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
		t.Error("the client follows redirects")
	}
}

// countingBody is an endless answer body that counts what is read of it.
type countingBody struct {
	read   atomic.Int64
	closed atomic.Bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	b.read.Add(int64(len(p)))
	return len(p), nil
}

func (b *countingBody) Close() error {
	b.closed.Store(true)
	return nil
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendReadsAtMostMaxResponseRead(t *testing.T) {
	t.Parallel()
	body := &countingBody{}
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: body, Header: http.Header{}, Request: r}, nil
	})}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	res := Send(context.Background(), client, "https://hooks.example.com/x",
		Message{ID: "evt_01", Timestamp: time.Now(), Body: []byte("{}"), Secrets: []string{secret}})
	if !res.OK() || len(res.Response) != ResponseSnippetLen {
		t.Errorf("Send = %d with %d bytes of Response, want 200 with %d", res.StatusCode, len(res.Response), ResponseSnippetLen)
	}
	if n := body.read.Load(); n > MaxResponseRead {
		t.Errorf("read %d bytes of the answer, want at most %d", n, MaxResponseRead)
	}
	if !body.closed.Load() {
		t.Error("the answer's body was not closed")
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		n    int
		want string
	}{
		{"short", "ok", 10, "ok"},
		{"cut", "abcdef", 4, "abcd"},
		{"invalid bytes replaced", "a\xffb", 10, "a\uFFFDb"},
		{"cut before a split character", "abé", 3, "ab"},
		{"replacement counted in the bound", "ab\xff", 3, "ab"},
		{"empty", "", 10, ""},
	}
	for _, tt := range tests {
		got := snippet([]byte(tt.body), tt.n)
		if got != tt.want || !utf8.ValidString(got) || len(got) > tt.n {
			t.Errorf("%s: snippet(%q, %d) = %q, want %q", tt.name, tt.body, tt.n, got, tt.want)
		}
	}
}

// TestDescribeErrorHidesURL keeps the endpoint's URL, whose query may hold
// the receiver's own token, out of the attempt log.
func TestDescribeErrorHidesURL(t *testing.T) {
	t.Parallel()
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection reset by peer")
	})}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	res := Send(context.Background(), client, "https://hooks.example.com/x?token=s3cr3t",
		Message{ID: "evt_01", Timestamp: time.Now(), Body: []byte("{}"), Secrets: []string{secret}})
	if res.Err != "connection reset by peer" {
		t.Errorf("Err = %q, want the cause alone", res.Err)
	}
	if strings.Contains(res.Err, "s3cr3t") || strings.Contains(res.Err, secret) {
		t.Errorf("Err %q contains a secret", res.Err)
	}
}

// TestClientRejectsBadDialAddress covers an address the transport would
// never pass, so the dialer fails closed rather than dialing it.
func TestClientRejectsBadDialAddress(t *testing.T) {
	t.Parallel()
	dialer := &recordingDialer{}
	g := &Guard{dialer: dialer}
	for _, addr := range []string{"no-port", "93.184.216.34:0", "93.184.216.34:99999"} {
		if conn, err := g.dialContext(context.Background(), "tcp", addr); err == nil {
			_ = conn.Close()
			t.Errorf("dialContext(%q) succeeded, want an error", addr)
		}
	}
	if got := dialer.dialed(); len(got) != 0 {
		t.Errorf("dialed %v, want nothing", got)
	}
}

// countingBody stands where a transport's answer body would.
var _ io.ReadCloser = (*countingBody)(nil)
