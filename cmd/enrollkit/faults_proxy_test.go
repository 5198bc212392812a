//go:build faults

package main

import (
	"net"
	"sync"
	"testing"
)

// dbProxy forwards TCP from a loopback port to the database, and can take
// the database away: refuse drops every connection and resets new ones, as
// a database host that went down; hold accepts and keeps connections but
// forwards nothing, as a network that stalls; restore brings it back.
type dbProxy struct {
	addr   string
	target string
	ln     net.Listener
	mu     sync.Mutex
	mode   proxyMode
	conns  map[net.Conn]struct{}
	resume chan struct{} // closed when a hold ends
}

type proxyMode int

const (
	proxyForward proxyMode = iota
	proxyRefuse
	proxyHold
)

// newDBProxy starts a proxy to target, closed when the test ends.
func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.restore()
		p.dropAll()
	})
	return p
}

func (p *dbProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *dbProxy) handle(client net.Conn) {
	if !p.gate(client) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	if !p.track(client, up) {
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(up, client, done)
	go p.pipe(client, up, done)
	<-done
	client.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, up)
	p.mu.Unlock()
}

// gate waits out a hold and refuses c (a new connection, or nil for one
// already forwarding) while the database is refused; it tells whether the
// connection may go on.
func (p *dbProxy) gate(c net.Conn) bool {
	for {
		p.mu.Lock()
		mode, resume := p.mode, p.resume
		if mode != proxyHold {
			p.mu.Unlock()
			if mode == proxyRefuse {
				reset(c)
				return false
			}
			return true
		}
		// A held new connection is dropped with the others by refuse.
		if c != nil {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		<-resume
		if c != nil {
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}
	}
}

// track registers a connection pair, unless the database was refused in
// the meantime.
func (p *dbProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == proxyRefuse {
		for _, c := range conns {
			reset(c)
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst; what it read during a hold waits for the end of
// the hold, so nothing is lost, only late.
func (p *dbProxy) pipe(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(nil) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// refuse drops every connection and resets new ones until restore.
func (p *dbProxy) refuse() {
	p.mu.Lock()
	p.endHold()
	p.mode = proxyRefuse
	p.mu.Unlock()
	p.dropAll()
}

// hold stops forwarding until restore: connections stay open, new ones are
// accepted, and nothing passes either way.
func (p *dbProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != proxyHold {
		p.mode, p.resume = proxyHold, make(chan struct{})
	}
}

// restore forwards again.
func (p *dbProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endHold()
	p.mode = proxyForward
}

// endHold releases what a hold kept; p.mu is held.
func (p *dbProxy) endHold() {
	if p.mode == proxyHold {
		close(p.resume)
	}
}

func (p *dbProxy) dropAll() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		reset(c)
	}
}

// reset closes c with a TCP reset, as a host that went away.
func reset(c net.Conn) {
	if c == nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
