// Package mailtest runs a real SMTP server on 127.0.0.1 inside a test, to
// receive what enrollkit sends. It can be told to refuse mail for a while,
// to refuse connections until it is opened, and to be slow to accept a
// message, to test retries and timeouts.
package mailtest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one received email.
type Message struct {
	From string
	To   []string
	Raw  []byte
	// Header is the parsed header; Body the raw MIME body.
	Header mail.Header
	Body   []byte
}

// Parts returns the decoded text and HTML parts of a multipart message
// (quoted-printable undone), or its whole body when it is not multipart.
func (m Message) Parts() (text, html string, err error) {
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return "", "", err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return string(m.Body), "", nil
	}
	r := multipart.NewReader(bytes.NewReader(m.Body), params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return text, html, nil
		} else if err != nil {
			return "", "", err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", "", err
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		} else {
			text = string(b)
		}
	}
}

// To returns the messages that arrived for addr so far.
func (s *Server) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Server is an SMTP server that keeps what it receives.
type Server struct {
	Addr string
	mu   sync.Mutex
	msgs []Message
	down bool
	// dataDelay is how long the server takes to accept a message.
	dataDelay time.Duration
	// changed is signalled on every received message.
	changed chan struct{}
	// listen starts a server made by NewClosedServer; nil once done.
	listen func() (net.Listener, error)
	tb     testing.TB
}

// NewServer starts a server on a free loopback port, closed when tb ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), changed: make(chan struct{}, 1), tb: tb}
	s.serve(ln)
	return s
}

// NewClosedServer returns a server whose address refuses connections, as a
// relay that is down does, until Open. Nothing else can take the port
// meanwhile (on Unix: elsewhere it is only closed, and could be given to
// another listener before Open).
func NewClosedServer(tb testing.TB) *Server {
	tb.Helper()
	addr, listen := reserve(tb)
	return &Server{Addr: addr, changed: make(chan struct{}, 1), listen: listen, tb: tb}
}

// Open makes a server from NewClosedServer accept connections.
func (s *Server) Open() {
	s.tb.Helper()
	if s.listen == nil {
		s.tb.Fatal("mailtest: Open on a server that is open already")
	}
	ln, err := s.listen()
	s.listen = nil
	if err != nil {
		s.tb.Fatal(err)
	}
	s.serve(ln)
}

// serve answers SMTP on ln until the test ends.
func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(ln)
	// Close the listener too: if cleanup runs before Serve registered it,
	// srv.Close alone would leave Serve blocked in Accept.
	s.tb.Cleanup(func() {
		srv.Close()
		ln.Close()
	})
}

// URL is the ENROLLKIT_SMTP_URL of the server.
func (s *Server) URL() string { return "smtp://" + s.Addr }

// SetDown makes the server answer every message with a temporary failure
// (421) until it is set up again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDataDelay makes the server wait d after the end of a message's data
// before it accepts the message and replies, as a relay that scans or
// relays a message before taking responsibility for it does. The message
// is kept, and counted as arrived, only when the wait is over, whether the
// client is still there to hear the reply or not: as with a real relay, a
// client that gave up cannot know whether the message will be delivered.
func (s *Server) SetDataDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataDelay = d
}

// Messages returns what arrived so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until n messages arrived or timeout passes, and returns
// what arrived.
func (s *Server) WaitFor(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.changed:
		case <-deadline:
			return s.Messages()
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

var errDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "service temporarily unavailable"}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	se.s.mu.Lock()
	down := se.s.down
	se.s.mu.Unlock()
	if down {
		return errDown
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: se.from, To: se.to, Raw: raw}
	if parsed, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header = parsed.Header
		m.Body, _ = io.ReadAll(parsed.Body)
	} else {
		return errors.New("unparseable message")
	}
	se.s.mu.Lock()
	delay := se.s.dataDelay
	se.s.mu.Unlock()
	time.Sleep(delay)
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, m)
	se.s.mu.Unlock()
	select {
	case se.s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }
