package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message as the test server got it.
type received struct {
	From string
	To   []string
	Data []byte
	User string // who authenticated, "" for nobody
}

// testBackend is an SMTP server backend that records what it accepts and
// can be told to reject recipients or require a password.
type testBackend struct {
	rcptErr  error  // returned for every RCPT when set
	user     string // accepted PLAIN credentials; "" for a server without AUTH
	password string
	// dataErr, when set, refuses every message at the end of its data;
	// dataDelay is how long the server takes before it replies there (and
	// keeps the message, whether the client is still waiting or not).
	dataErr   error
	dataDelay time.Duration

	mu           sync.Mutex
	messages     []received
	authAttempts int
}

func (b *testBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	s := &testSession{backend: b}
	if b.user != "" {
		return &authTestSession{s}, nil
	}
	return s, nil
}

func (b *testBackend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.messages...)
}

func (b *testBackend) authCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authAttempts
}

type testSession struct {
	backend *testBackend
	user    string
	from    string
	to      []string
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.backend.rcptErr != nil {
		return s.backend.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(s.backend.dataDelay)
	if s.backend.dataErr != nil {
		return s.backend.dataErr
	}
	s.backend.mu.Lock()
	defer s.backend.mu.Unlock()
	s.backend.messages = append(s.backend.messages, received{From: s.from, To: s.to, Data: data, User: s.user})
	return nil
}

func (s *testSession) Reset() {
	s.from, s.to = "", nil
}

func (s *testSession) Logout() error { return nil }

// authTestSession adds AUTH PLAIN; a separate type because go-smtp
// advertises AUTH for every session that has the methods.
type authTestSession struct{ *testSession }

func (s *authTestSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authTestSession) Auth(string) (sasl.Server, error) {
	b := s.backend
	b.mu.Lock()
	b.authAttempts++
	b.mu.Unlock()
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != b.user || password != b.password {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

// tlsMode says how a test server offers TLS.
type tlsMode int

const (
	noTLS tlsMode = iota
	startTLS
	implicitTLS
)

// startSMTPServer serves be on a free 127.0.0.1 port until the test ends and
// returns its address. AUTH is allowed without TLS so that refusing to send
// a password in clear is the client's decision, which the tests check. The
// cleanup waits for Serve to return, at most testWait.
func startSMTPServer(tb testing.TB, be smtp.Backend, mode tlsMode, serverTLS *tls.Config) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	switch mode {
	case startTLS:
		srv.TLSConfig = serverTLS
	case implicitTLS:
		ln = tls.NewListener(ln, serverTLS)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	addr := ln.Addr().String()
	tb.Cleanup(func() {
		// srv.Close only closes the listeners Serve has registered; if Serve
		// has not started yet, closing ours is what makes it return. It
		// cannot block, so it comes first, outside the bounded wait.
		_ = ln.Close()
		stopped := make(chan struct{})
		go func() {
			_ = srv.Close() // also closes the connections still open
			<-done
			close(stopped)
		}()
		timer := time.NewTimer(testWait)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			tb.Errorf("SMTP test server on %s still running %v after Close", addr, testWait)
		}
	})
	return addr
}

// mustNewSMTPSender allows plain text over smtp://, as for a local mail
// catcher; TestSMTPRequiresTLS checks the default.
func mustNewSMTPSender(tb testing.TB, rawURL string, clientTLS *tls.Config) *SMTPSender {
	tb.Helper()
	s, err := newSMTPSender(rawURL, clientTLS, true)
	if err != nil {
		tb.Fatalf("newSMTPSender(%q): %v", rawURL, err)
	}
	return s
}

func TestSMTPSenderDelivers(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	addr := startSMTPServer(t, be, noTLS, nil)
	sender, err := NewSMTPSender("smtp://"+addr, true)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	msg := mustRenderMessage(t)

	if err := send(t, sender, context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := be.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].From != "no-reply@enrollkit.example" || len(got[0].To) != 1 || got[0].To[0] != "grace@example.com" {
		t.Errorf("envelope = %q -> %q", got[0].From, got[0].To)
	}
	email := mustParseEmail(t, got[0].Data)
	if email.From != `"Enrollkit" <no-reply@enrollkit.example>` {
		t.Errorf("From = %q", email.From)
	}
	if email.To != "<grace@example.com>" {
		t.Errorf("To = %q", email.To)
	}
	if email.Subject != msg.Subject {
		t.Errorf("Subject = %q, want %q", email.Subject, msg.Subject)
	}
	if email.MessageID != "<delivery-42@enrollkit.example>" {
		t.Errorf("Message-ID = %q", email.MessageID)
	}
	if email.Text != msg.Text {
		t.Errorf("text part changed in transit:\n%s", email.Text)
	}
	if email.HTML != msg.HTML {
		t.Errorf("HTML part changed in transit:\n%s", email.HTML)
	}
	if !strings.Contains(email.Text, "K7QM-ZP4X") || !strings.Contains(email.HTML, "K7QM-ZP4X") {
		t.Error("a part lacks the passcode")
	}
}

func TestSMTPSenderIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	sender := mustNewSMTPSender(t, "smtp://"+startSMTPServer(t, be, noTLS, nil), nil)

	const n = 8
	// The messages are rendered here: a t.Fatal inside a goroutine would end
	// only that goroutine, and the loop below would wait for its result.
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = mustRenderMessage(t)
		msgs[i].To = fmt.Sprintf("learner%d@example.com", i)
		msgs[i].MessageID = fmt.Sprintf("delivery-%d", i)
	}
	errs := make(chan error, n)
	for _, m := range msgs {
		go func() { errs <- sender.Send(context.Background(), m) }()
	}
	for i := range n {
		if err := await(t, errs, fmt.Sprintf("Send %d of %d to return", i+1, n)); err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if got := len(be.received()); got != n {
		t.Errorf("server received %d messages, want %d", got, n)
	}
}

func TestSMTPSenderRejectedRecipient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         *smtp.SMTPError
		wantPermanent bool
	}{
		{"unknown mailbox", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, true},
		{"greylisted", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Try again later"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be := &testBackend{rcptErr: tt.reply}
			sender := mustNewSMTPSender(t, "smtp://"+startSMTPServer(t, be, noTLS, nil), nil)

			err := send(t, sender, context.Background(), mustRenderMessage(t))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.wantPermanent)
			}
			if len(be.received()) != 0 {
				t.Error("server received a message")
			}
		})
	}
}

func TestSMTPSenderConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	sender := mustNewSMTPSender(t, "smtp://"+closedPort(t), nil)
	err := send(t, sender, context.Background(), mustRenderMessage(t))
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false", err)
	}
	if IsOutcomeUnknown(err) {
		t.Errorf("IsOutcomeUnknown(%v) = true; nothing was handed over", err)
	}
}

func TestSMTPSenderInvalidAddressIsPermanent(t *testing.T) {
	t.Parallel()
	// Nothing listens: an invalid address must fail before any dialling.
	sender := mustNewSMTPSender(t, "smtp://"+closedPort(t), nil)
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"empty to", func(m *Message) { m.To = "" }},
		{"no domain", func(m *Message) { m.To = "grace" }},
		{"two recipients", func(m *Message) { m.To = "a@example.com, b@example.com" }},
		{"header injection", func(m *Message) { m.To = "a@example.com\r\nBcc: b@example.com" }},
		{"empty from", func(m *Message) { m.From = "" }},
		{"bad message ID", func(m *Message) { m.MessageID = "x\r\nBcc: b@example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustRenderMessage(t)
			tt.change(&m)
			err := send(t, sender, context.Background(), m)
			if !IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = false, want true", err)
			}
		})
	}
}

func TestSMTPSenderTLSAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := mustTestTLS(t)
	tests := []struct {
		name     string
		mode     tlsMode
		scheme   string
		userinfo string
		wantUser string // "" when sending must fail
	}{
		{"STARTTLS with password", startTLS, "smtp", "mailer:s3cret%2Fpass@", "mailer"},
		{"implicit TLS with password", implicitTLS, "smtps", "mailer:s3cret%2Fpass@", "mailer"},
		{"wrong password", implicitTLS, "smtps", "mailer:wrong@", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be := &testBackend{user: "mailer", password: "s3cret/pass"}
			addr := startSMTPServer(t, be, tt.mode, serverTLS)
			sender := mustNewSMTPSender(t, tt.scheme+"://"+tt.userinfo+addr, clientTLS)

			err := send(t, sender, context.Background(), mustRenderMessage(t))
			got := be.received()
			if tt.wantUser == "" {
				if err == nil || len(got) != 0 {
					t.Fatalf("Send = %v with %d messages received, want a failure", err, len(got))
				}
				if strings.Contains(err.Error(), "wrong") {
					t.Errorf("error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(got) != 1 || got[0].User != tt.wantUser {
				t.Fatalf("received %+v, want one message from user %q", got, tt.wantUser)
			}
		})
	}
}

func TestSMTPSenderKeepsPasswordOffCleartext(t *testing.T) {
	t.Parallel()
	be := &testBackend{user: "mailer", password: "s3cret"}
	sender := mustNewSMTPSender(t, "smtp://mailer:s3cret@"+startSMTPServer(t, be, noTLS, nil), nil)

	err := send(t, sender, context.Background(), mustRenderMessage(t))
	if err == nil {
		t.Fatal("Send succeeded over a connection in clear with a password, want an error")
	}
	if n := be.authCount(); n != 0 {
		t.Errorf("client tried AUTH %d times without TLS", n)
	}
	if len(be.received()) != 0 {
		t.Error("server received a message")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true; a configuration problem is not the message's fault", err)
	}
}

func TestSMTPSenderHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	sender := mustNewSMTPSender(t, "smtp://"+startSMTPServer(t, be, noTLS, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := send(t, sender, ctx, mustRenderMessage(t))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if IsPermanent(err) || IsOutcomeUnknown(err) {
		t.Errorf("a send cancelled before dialling is permanent or of unknown outcome: %v", err)
	}
	if len(be.received()) != 0 {
		t.Error("server received a message")
	}
}

// TestSMTPSenderAcceptedMessageIsDelivered checks that a relay hanging up
// after it accepted the message (250 after DATA) does not make Send fail:
// the caller would retry and the learner get the invitation twice.
func TestSMTPSenderAcceptedMessageIsDelivered(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan bool, 1)
	go func() {
		accepted <- serveUntilDataAccepted(ln)
	}()

	sender := mustNewSMTPSender(t, "smtp://"+ln.Addr().String(), nil)
	err = send(t, sender, context.Background(), mustRenderMessage(t))
	// Send has returned, so its connection has been made or never will be:
	// close the listener now, not in the cleanup, to end an Accept still
	// waiting. If Send failed before connecting (dial timeout under load, a
	// connect or socket error), the server would otherwise wait in Accept
	// for a client that never comes, and this test for the server, while the
	// cleanup that closes the listener runs only once the test has returned.
	_ = ln.Close()
	if err != nil {
		t.Errorf("Send: %v", err)
	}
	if !await(t, accepted, "the test server to finish") {
		t.Error("the server never accepted the message")
	}
}

// serveUntilDataAccepted serves connections on ln one after another until
// one has had a message accepted, and reports whether one had. It gives up
// when ln is closed or after testWait, so it always returns; a stray
// connection that delivers nothing does not take the client's place.
func serveUntilDataAccepted(ln net.Listener) bool {
	if l, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = l.SetDeadline(time.Now().Add(testWait))
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return false
		}
		if acceptDataThenHangUp(conn) {
			return true
		}
	}
}

// acceptDataThenHangUp speaks just enough SMTP to accept a message, then
// closes the connection instead of answering RSET or QUIT. It reports
// whether it accepted a message.
func acceptDataThenHangUp(conn net.Conn) bool {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(s string) bool {
		_, err := io.WriteString(conn, s+"\r\n")
		return err == nil
	}
	if !reply("220 localhost ESMTP test") {
		return false
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false
		}
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-localhost\r\n250 8BITMIME")
		case "HELO", "NOOP", "MAIL", "RCPT":
			reply("250 OK")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return false
				}
				if line == ".\r\n" {
					return reply("250 Queued")
				}
			}
		default:
			reply("502 Command not implemented")
		}
	}
}

func TestNewSMTPSenderRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"",
		"mail.example.com:587",
		"http://mail.example.com",
		"smtp://",
		"smtp://user:topsecret@:25",
		"smtp://mail.example.com:0",
		"smtp://mail.example.com:70000",
		"smtp://user:topsecret@mail.example.com:abc",
		"smtp://mail.example.com/relay",
		"smtp://mail.example.com?tls=off",
		"smtp://[::1]:25",
		"smtp://user:topsecret@mail example.com",
	} {
		_, err := NewSMTPSender(raw, false)
		if err == nil {
			t.Errorf("NewSMTPSender(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("NewSMTPSender(%q) error repeats the password: %v", raw, err)
		}
	}
	for _, raw := range []string{
		"smtp://127.0.0.1:1025",
		"smtp://localhost",
		"smtps://user:p%40ss@mail.example.com",
		"smtp://mail.example.com:587/",
	} {
		if _, err := NewSMTPSender(raw, false); err != nil {
			t.Errorf("NewSMTPSender(%q): %v", raw, err)
		}
	}
}

// TestSMTPRequiresTLS: by default smtp:// sends nothing to a server that
// does not offer STARTTLS, and sends over STARTTLS to one that does.
func TestSMTPRequiresTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := mustTestTLS(t)
	clear := &testBackend{}
	sender, err := newSMTPSender("smtp://"+startSMTPServer(t, clear, noTLS, nil), clientTLS, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, sender, context.Background(), mustRenderMessage(t)); err == nil || len(clear.received()) != 0 {
		t.Fatalf("Send to a server without STARTTLS = %v with %d messages received, want a failure and none", err, len(clear.received()))
	}
	secure := &testBackend{}
	sender, err = newSMTPSender("smtp://"+startSMTPServer(t, secure, startTLS, serverTLS), clientTLS, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, sender, context.Background(), mustRenderMessage(t)); err != nil || len(secure.received()) != 1 {
		t.Fatalf("Send over STARTTLS = %v with %d messages received, want one", err, len(secure.received()))
	}
}

// mustNewFastSMTPSender is mustNewSMTPSender with limits of a test's scale:
// command for the dial and each command, data for the reply to the end of
// the message data.
func mustNewFastSMTPSender(tb testing.TB, addr string, command, data time.Duration) *SMTPSender {
	tb.Helper()
	s, err := newSMTPSender("smtp://"+addr, nil, true, WithSMTPCommandTimeout(command), WithSMTPDataTimeout(data))
	if err != nil {
		tb.Fatalf("newSMTPSender: %v", err)
	}
	return s
}

// TestSMTPSenderWaitsForTheDataReply: a relay that takes longer than the
// command timeout to accept the message, but less than the data timeout,
// is waited for, and gets the message once.
func TestSMTPSenderWaitsForTheDataReply(t *testing.T) {
	t.Parallel()
	be := &testBackend{dataDelay: time.Second}
	sender := mustNewFastSMTPSender(t, startSMTPServer(t, be, noTLS, nil), 200*time.Millisecond, 20*time.Second)

	start := time.Now()
	if err := send(t, sender, context.Background(), mustRenderMessage(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("Send returned after %v, before the relay replied", took)
	}
	if n := len(be.received()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

// TestSMTPSenderDataReplyTimeoutIsOutcomeUnknown: when the reply to the end
// of the data does not come in time, the relay may still deliver the
// message (here it does), so the error says the outcome is unknown and is
// neither permanent nor a failure that retrying would cure.
func TestSMTPSenderDataReplyTimeoutIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	be := &testBackend{dataDelay: 2 * time.Second}
	sender := mustNewFastSMTPSender(t, startSMTPServer(t, be, noTLS, nil), 5*time.Second, 300*time.Millisecond)

	start := time.Now()
	err := send(t, sender, context.Background(), mustRenderMessage(t))
	if !IsOutcomeUnknown(err) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Send = %v, want ErrOutcomeUnknown", err)
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send waited %v, past its data timeout", took)
	}
	for deadline := time.Now().Add(testWait); len(be.received()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the relay never kept the message")
		}
	}
}

// TestSMTPSenderCommandTimeoutIsShortAndSafe: a relay that stops answering
// before the message is handed over is given up on after the command
// timeout, not the data timeout, and the error is one retrying is safe for.
func TestSMTPSenderCommandTimeoutIsShortAndSafe(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"MAIL", "RCPT", "DATA"} {
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			addr := startRawRelay(t, func(conn net.Conn) { silentFrom(conn, verb, false) })
			sender := mustNewFastSMTPSender(t, addr, 300*time.Millisecond, time.Minute)

			start := time.Now()
			err := send(t, sender, context.Background(), mustRenderMessage(t))
			if err == nil {
				t.Fatal("Send succeeded, want a timeout")
			}
			if IsOutcomeUnknown(err) || IsPermanent(err) {
				t.Errorf("Send = %v: unknown %v, permanent %v; want a failure safe to retry", err, IsOutcomeUnknown(err), IsPermanent(err))
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Send waited %v for a silent %s", took, verb)
			}
		})
	}
}

// TestSMTPSenderLostAfterTheDataIsOutcomeUnknown: a connection lost while
// the reply to the end of the data is awaited leaves the outcome unknown;
// one lost before the data's end is safe to retry.
func TestSMTPSenderLostAfterTheDataIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at          string
		wantUnknown bool
	}{
		{"DATA", false},
		{".", true},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			t.Parallel()
			addr := startRawRelay(t, func(conn net.Conn) { silentFrom(conn, tt.at, true) })
			sender := mustNewFastSMTPSender(t, addr, 5*time.Second, time.Minute)
			err := send(t, sender, context.Background(), mustRenderMessage(t))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if IsOutcomeUnknown(err) != tt.wantUnknown || IsPermanent(err) {
				t.Errorf("Send = %v: unknown %v, permanent %v; want unknown %v", err, IsOutcomeUnknown(err), IsPermanent(err), tt.wantUnknown)
			}
		})
	}
}

// TestSMTPSenderRefusedAtTheEndOfData: a reply refusing the message at the
// end of its data is a known outcome: the relay did not take it.
func TestSMTPSenderRefusedAtTheEndOfData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         *smtp.SMTPError
		wantPermanent bool
	}{
		{"rejected as spam", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected"}, true},
		{"queue full", &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient storage"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			be := &testBackend{dataErr: tt.reply}
			sender := mustNewSMTPSender(t, "smtp://"+startSMTPServer(t, be, noTLS, nil), nil)
			err := send(t, sender, context.Background(), mustRenderMessage(t))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if IsOutcomeUnknown(err) {
				t.Errorf("IsOutcomeUnknown(%v) = true for a reply", err)
			}
			if got := IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.wantPermanent)
			}
		})
	}
}

// startRawRelay serves each connection to a free 127.0.0.1 port with serve
// until the test ends.
func startRawRelay(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()
	return ln.Addr().String()
}

// silentFrom speaks SMTP as acceptDataThenHangUp does until the command
// verb, or with "." the end of the message data, and then answers nothing:
// it hangs up with hangUp, and otherwise keeps the connection open until the
// client leaves (at most testWait).
func silentFrom(conn net.Conn, verb string, hangUp bool) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testWait))
	r := bufio.NewReader(conn)
	reply := func(s string) { _, _ = io.WriteString(conn, s+"\r\n") }
	silent := func() {
		if !hangUp {
			_, _ = io.Copy(io.Discard, r)
		}
	}
	reply("220 localhost ESMTP test")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		cmd = strings.ToUpper(cmd)
		if cmd == verb {
			silent()
			return
		}
		switch cmd {
		case "EHLO":
			reply("250-localhost\r\n250 8BITMIME")
		case "HELO", "NOOP", "MAIL", "RCPT", "RSET":
			reply("250 OK")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if line == ".\r\n" {
					break
				}
			}
			if verb == "." {
				silent()
				return
			}
			reply("250 Queued")
		case "QUIT":
			reply("221 Bye")
			return
		default:
			reply("502 Command not implemented")
		}
	}
}
