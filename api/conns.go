package api

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// ConnLimit bounds the connections an HTTP server holds open. Every open
// connection costs a goroutine and its buffers whether or not it carries a
// request, so under thousands of clients the connections, not the
// requests, are what fills memory. Past the bound, connections wait in the
// kernel's accept queue. So that they do not wait for keep-alive clients
// that hold their connections, a server at the bound closes each
// connection once its answer is sent (Connection: close, which the client
// is told of) and the connections idle for longer than idleGrace (which
// clients handle as they handle an idle timeout): the clients reconnect
// and queue in turn.
type ConnLimit struct {
	max int
	// open is read by every request (Full) without the lock.
	open atomic.Int64
	mu   sync.Mutex
	idle map[net.Conn]time.Time // since when
}

// idleGrace is how long a connection must have been idle before a server at
// its connection bound closes it: a client that sends its next request
// right away is not raced.
const idleGrace = time.Second

// NewConnLimit bounds a server to max open connections; 0 returns nil,
// which bounds nothing.
func NewConnLimit(max int) *ConnLimit {
	if max <= 0 {
		return nil
	}
	return &ConnLimit{max: max, idle: map[net.Conn]time.Time{}}
}

// Listener makes ln accept no more connections while max are open.
func (l *ConnLimit) Listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return netutil.LimitListener(ln, l.max)
}

// ConnState is the http.Server's ConnState hook that counts the open
// connections and, when a new one reaches the bound, closes those idle for
// longer than idleGrace.
func (l *ConnLimit) ConnState(c net.Conn, s http.ConnState) {
	if l == nil {
		return
	}
	var closing []net.Conn
	l.mu.Lock()
	switch s {
	case http.StateNew:
		if l.open.Add(1) >= int64(l.max) {
			for ic, since := range l.idle {
				if time.Since(since) >= idleGrace {
					closing = append(closing, ic)
					delete(l.idle, ic)
				}
			}
		}
	case http.StateIdle:
		l.idle[c] = time.Now()
	case http.StateActive:
		delete(l.idle, c)
	case http.StateClosed, http.StateHijacked:
		delete(l.idle, c)
		l.open.Add(-1)
	}
	l.mu.Unlock()
	// Closing makes the server report StateClosed, which takes the lock.
	for _, c := range closing {
		_ = c.Close()
	}
}

// Full reports whether the bound is reached: answers then close their
// connections.
func (l *ConnLimit) Full() bool {
	if l == nil {
		return false
	}
	return l.open.Load() >= int64(l.max)
}
