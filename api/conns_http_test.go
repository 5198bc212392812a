package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/api"
)

// connServer serves e's routes on 127.0.0.1 under a bound of max open
// connections, and reports how many are open and the most it saw open at
// once, counted beneath the bound's listener: from the accept to the close.
func connServer(t *testing.T, max int) (e *env, base string, open, most *atomic.Int32) {
	t.Helper()
	conns := api.NewConnLimit(max)
	e = newEnv(t, "sqlite", func(o *api.Options) { o.Conns = conns })
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 5 * time.Second, ConnState: conns.ConnState}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: ln, open: new(atomic.Int32), most: new(atomic.Int32)}
	go func() { _ = srv.Serve(conns.Listener(counted)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e, "http://" + ln.Addr().String(), counted.open, counted.most
}

// countingListener counts the connections it accepted and not yet closed.
type countingListener struct {
	net.Listener
	open, most *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for m := l.most.Load(); n > m && !l.most.CompareAndSwap(m, n); m = l.most.Load() {
	}
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int32
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.open.Add(-1) })
	return err
}

// get sends a GET of path with the full manager's token over client and
// validates the answer against the spec; closed reports whether the
// answer closed its connection.
func (e *env) get(client *http.Client, base, path string) (r *response, closed bool, err error) {
	hr, body := newRequest(req{method: "GET", path: path, token: e.tokens["full"]})
	out, err := http.NewRequestWithContext(context.Background(), "GET", base+path, nil)
	if err != nil {
		return nil, false, err
	}
	out.Header = hr.Header.Clone()
	res, err := client.Do(out)
	if err != nil {
		return nil, false, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, false, err
	}
	r = &response{Status: res.StatusCode, Header: res.Header, Body: b}
	validateResponse(e.t, hr, body, r)
	return r, res.Close, nil
}

// TestConnectionBound: twenty keep-alive clients at once on a server bound
// to four connections are all served, never more than four connections are
// open, and answers at the bound close their connection so that the
// waiting clients get their turn.
func TestConnectionBound(t *testing.T) {
	t.Parallel()
	e, base, _, most := connServer(t, 4)
	var wg sync.WaitGroup
	var closed atomic.Int32
	var mu sync.Mutex
	var errs []error
	for range 20 {
		wg.Go(func() {
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for range 5 {
				r, c, err := e.get(client, base, "/api/v1/user-groups?limit=5")
				if err == nil && r.Status != http.StatusOK {
					err = errors.New(string(r.Body))
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if c {
					closed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d clients failed, e.g. %v", len(errs), errs[0])
	}
	if n := most.Load(); n > 4 {
		t.Fatalf("%d connections open at once; the bound is 4", n)
	}
	if closed.Load() == 0 {
		t.Fatal("no answer closed its connection at the bound")
	}
}

// TestConnectionBoundClosesIdle: keep-alive connections left idle (the
// server has no idle timeout here) are closed when a new connection
// reaches the bound, so that they cannot hold it.
func TestConnectionBoundClosesIdle(t *testing.T) {
	t.Parallel()
	e, base, open, _ := connServer(t, 3)
	var holders []*http.Client
	for range 2 {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		// Answered below the bound: the connections stay open.
		if r, closed, err := e.get(c, base, "/healthz"); err != nil || r.Status != http.StatusOK || closed {
			t.Fatalf("holder: %v %v %v", r, closed, err)
		}
		holders = append(holders, c)
	}
	time.Sleep(1200 * time.Millisecond) // longer than the idle grace
	if n := open.Load(); n != 2 {
		t.Fatalf("%d connections open; want the 2 idle ones", n)
	}
	late := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer late.CloseIdleConnections()
	if r, _, err := e.get(late, base, "/api/v1/user-groups?limit=1"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("the client at the bound: %v, %v", r, err)
	}
	// The idle ones made room: the late one is below the bound and keeps
	// its connection.
	for deadline := time.Now().Add(2 * time.Second); open.Load() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open; the idle ones were not closed at the bound", open.Load())
		}
	}
	// The holders reconnect as a client does after an idle timeout.
	for _, c := range holders {
		if r, _, err := e.get(c, base, "/healthz"); err != nil || r.Status != http.StatusOK {
			t.Fatalf("holder again: %v %v", r, err)
		}
	}
}
