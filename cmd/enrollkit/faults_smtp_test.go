//go:build faults

package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// faultMail is an SMTP server on a fixed loopback address that counts the
// messages it accepted per recipient. Unlike mailtest's, it can be closed
// (nothing listens on its port, as when the mail host is down) and opened
// again on the same address, and it can hold its reply to DATA, so that a
// send is in flight for as long as a scenario needs.
type faultMail struct {
	addr string
	mu   sync.Mutex
	got  map[string]int
	srv  *smtp.Server
	// hold delays each reply to DATA; the message counts once replied to.
	hold time.Duration
	// inData counts the messages received and not yet replied to.
	inData atomic.Int32
}

// newFaultMail reserves a loopback address for a mail server, closed until
// open; it is closed when the test ends.
func newFaultMail(t *testing.T) *faultMail {
	t.Helper()
	m := &faultMail{addr: freeAddr(t), got: map[string]int{}}
	t.Cleanup(m.close)
	return m
}

// url is the server's ENROLLKIT_SMTP_URL.
func (m *faultMail) url() string { return "smtp://" + m.addr }

// open starts listening on the server's address.
func (m *faultMail) open(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was free when reserved; a connection of the last open may
	// still hold it for a moment.
	for attempt := 0; attempt < 50; attempt++ {
		if ln, err = net.Listen("tcp", m.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("open the mail server on %s: %v", m.addr, err)
	}
	srv := smtp.NewServer(faultMailBackend{m})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	go srv.Serve(ln)
}

// close stops listening and drops every connection: the mail host is down.
func (m *faultMail) close() {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// setHold makes every later reply to DATA wait d.
func (m *faultMail) setHold(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hold = d
}

// sending is the number of messages whose reply to DATA is being held.
func (m *faultMail) sending() int { return int(m.inData.Load()) }

// counts returns the messages accepted so far, per recipient.
func (m *faultMail) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.got))
	for k, v := range m.got {
		out[k] = v
	}
	return out
}

// total is the number of messages accepted so far, counted per recipient.
func (m *faultMail) total() int {
	n := 0
	for _, v := range m.counts() {
		n += v
	}
	return n
}

// each tells how many of addrs got exactly one message, none, and more
// than one.
func (m *faultMail) each(addrs []string) (one, none, more int) {
	got := m.counts()
	for _, a := range addrs {
		switch got[strings.ToLower(a)] {
		case 0:
			none++
		case 1:
			one++
		default:
			more++
		}
	}
	return
}

type faultMailBackend struct{ m *faultMail }

func (b faultMailBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &faultMailConn{m: b.m}, nil
}

type faultMailConn struct {
	m  *faultMail
	to []string
}

func (s *faultMailConn) Mail(string, *smtp.MailOptions) error { return nil }

func (s *faultMailConn) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

func (s *faultMailConn) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.m.inData.Add(1)
	defer s.m.inData.Add(-1)
	s.m.mu.Lock()
	hold := s.m.hold
	s.m.mu.Unlock()
	if hold > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), hold)
		<-ctx.Done()
		cancel()
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.to {
		s.m.got[to]++
	}
	return nil
}

func (s *faultMailConn) Reset()        { s.to = nil }
func (s *faultMailConn) Logout() error { return nil }
