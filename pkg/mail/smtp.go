package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTPCommandTimeout bounds the dial, the session's setup (greeting, EHLO,
// STARTTLS, AUTH) and every command up to the end of the message data, so a
// relay that stops answering ties up a queue worker for seconds, not for
// good. Nothing has been handed over while these run, so a send that runs
// out of it can be tried again.
const SMTPCommandTimeout = 10 * time.Second

// SMTPDataTimeout bounds the wait for the relay's reply to the end of the
// message data: RFC 5321 (section 4.5.3.2.6) gives a relay 10 minutes for
// it, since that is when it takes responsibility for the message, and it
// may be scanning or relaying the message meanwhile. A shorter limit gives
// up on relays that are slow but working, and the copy they then deliver
// is not known to have been sent.
const SMTPDataTimeout = 10 * time.Minute

var _ Sender = (*SMTPSender)(nil)

// SMTPSender delivers messages through an SMTP relay, one connection per
// message. It is safe for concurrent use.
type SMTPSender struct {
	client         *gomail.Client
	commandTimeout time.Duration
	dataTimeout    time.Duration
}

// SMTPOption changes an SMTPSender's limits.
type SMTPOption func(*SMTPSender)

// WithSMTPCommandTimeout replaces SMTPCommandTimeout, for tests that must
// not wait seconds for a relay to fail.
func WithSMTPCommandTimeout(d time.Duration) SMTPOption {
	return func(s *SMTPSender) { s.commandTimeout = d }
}

// WithSMTPDataTimeout replaces SMTPDataTimeout, for tests that must not
// wait minutes for a relay to fail. A job queue's timeout must exceed it.
func WithSMTPDataTimeout(d time.Duration) SMTPOption {
	return func(s *SMTPSender) { s.dataTimeout = d }
}

// NewSMTPSender returns a Sender for a URL of the form
// smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port].
//
// smtp:// requires STARTTLS: a server that does not offer it (or a
// connection stripped of the offer on the way) gets nothing, since
// invitation emails carry passcodes. Only with allowPlaintext (the
// ENROLLKIT_SMTP_INSECURE setting, for a local mail catcher) does smtp://
// fall back to sending in clear. The port defaults to 587. smtps:// uses
// implicit TLS; the port defaults to 465.
// Certificates are verified against the system roots.
//
// With user info in the URL, the client authenticates with the strongest
// mechanism the server offers. PLAIN and LOGIN are only used over TLS: on a
// connection in clear, sending fails rather than expose the password.
//
// The URL is checked here, so a typo in the configuration stops start-up
// instead of every delivery; nothing is dialled until Send. Errors never
// repeat the password.
func NewSMTPSender(rawURL string, allowPlaintext bool, opts ...SMTPOption) (*SMTPSender, error) {
	return newSMTPSender(rawURL, nil, allowPlaintext, opts...)
}

// newSMTPSender lets tests trust their own certificate authority; production
// code always verifies against the system roots.
func newSMTPSender(rawURL string, tlsConfig *tls.Config, allowPlaintext bool, options ...SMTPOption) (*SMTPSender, error) {
	s := &SMTPSender{commandTimeout: SMTPCommandTimeout, dataTimeout: SMTPDataTimeout}
	for _, o := range options {
		o(s)
	}
	if s.commandTimeout <= 0 || s.dataTimeout <= 0 {
		return nil, errors.New("mail: SMTP timeouts must be positive")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the
		// reason.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("mail: invalid SMTP URL: %w", err)
	}

	host, opts, err := smtpEndpoint(u, allowPlaintext)
	if err != nil {
		return nil, err
	}
	opts = append(opts, gomail.WithTimeout(s.commandTimeout))
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		// Nothing is read from them, so a setting written there would be
		// ignored without a word.
		return nil, errors.New("mail: SMTP URL cannot have a path, query or fragment")
	}

	if u.User != nil {
		password, _ := u.User.Password()
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()),
			gomail.WithPassword(password),
		)
	}
	if tlsConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(tlsConfig))
	}

	client, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: configuring SMTP client: %w", err)
	}
	s.client = client
	return s, nil
}

// Send delivers m over a new connection. go-mail dials and sets up the
// session (STARTTLS and AUTH as configured); Send then runs the message's
// transaction itself, so that each stage gets its own limit and its own
// meaning when it fails:
//
//   - the dial, the setup and MAIL, RCPT, DATA and the message data are
//     each bounded by the command timeout, and ctx is checked between
//     them. Whatever fails here fails before the relay could have the
//     message: another attempt is safe.
//   - the end of the data (the lone "." line) hands the message over; the
//     relay's reply to it is awaited for the data timeout, and ctx is no
//     longer watched, since giving up early only turns a delivery into one
//     whose outcome is unknown. If no reply comes (a timeout, a lost
//     connection), the error is ErrOutcomeUnknown: the relay may have
//     accepted the message, and sending it again could deliver it twice.
//
// Once the relay has accepted the message, Send reports success without
// waiting for the session to end (QUIT runs on behind it), and whether
// ending it fails or not: the relay owns the message, and an error would
// make the caller send it a second time.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := buildMsg(m, time.Now())
	if err != nil {
		return err
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return fmt.Errorf("%w: from %q: %w", ErrInvalidAddress, m.From, err)
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return fmt.Errorf("%w: to %q: %w", ErrInvalidAddress, m.To, err)
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("mail: SMTP delivery: connecting: %w", err)
	}
	inStep, err := s.transact(ctx, c, msg, from, rcpts)
	end := func() {
		// Only a session where the relay answered every command can end
		// politely; any other is just closed.
		if !inStep || c.UpdateDeadline(s.commandTimeout) != nil || c.Quit() != nil {
			_ = c.Close()
		}
	}
	if err == nil {
		// The caller records the success at once, not after a relay slow
		// to say goodbye: until it has, a crash leaves the outcome unknown.
		go end()
		return nil
	}
	end()
	return err
}

// transact runs the message's transaction on a session c has set up. It
// reports whether client and relay still agree on where the session stands
// (every command had its reply), which is when QUIT may be sent.
func (s *SMTPSender) transact(ctx context.Context, c *smtp.Client, msg *gomail.Msg, from string, rcpts []string) (inStep bool, err error) {
	command := func(name string, run func() error) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mail: SMTP delivery: before %s: %w", name, err)
		}
		if err := c.UpdateDeadline(s.commandTimeout); err != nil {
			return fmt.Errorf("mail: SMTP delivery: %w", err)
		}
		if err := run(); err != nil {
			return replyError(name, err)
		}
		return nil
	}
	if err := command("MAIL FROM", func() error { return c.Mail(from) }); err != nil {
		return isReply(err), err
	}
	for _, rcpt := range rcpts {
		if err := command("RCPT TO", func() error { return c.Rcpt(rcpt) }); err != nil {
			return isReply(err), err
		}
	}
	var data io.WriteCloser
	if err := command("DATA", func() (err error) { data, err = c.Data(); return err }); err != nil {
		return isReply(err), err
	}
	// The data is written through a buffer; its end, the "." line, is only
	// written by Close. A failure before then leaves the relay with an
	// unfinished message, which it must discard.
	if err := c.UpdateDeadline(s.commandTimeout); err != nil {
		return false, fmt.Errorf("mail: SMTP delivery: %w", err)
	}
	if _, err := msg.WriteTo(data); err != nil {
		return false, fmt.Errorf("mail: SMTP delivery: writing the message: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mail: SMTP delivery: before the end of the message: %w", err)
	}
	if err := c.UpdateDeadline(s.dataTimeout); err != nil {
		return false, fmt.Errorf("mail: SMTP delivery: %w", err)
	}
	err = data.Close()
	var reply *textproto.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &reply) && reply.Code/100 == 2:
		// A success reply other than 250 is still a success: the relay
		// took the message.
		return true, nil
	case errors.As(err, &reply):
		return true, &refusedError{command: "the end of the message data", reply: reply}
	default:
		return false, fmt.Errorf("%w: no reply to the end of the message data: %w", ErrOutcomeUnknown, err)
	}
}

// replyError gives a failed command's error its meaning: a reply of the
// relay refusing the transaction, or a failure of the connection.
func replyError(command string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &refusedError{command: command, reply: reply}
	}
	return fmt.Errorf("mail: SMTP delivery: %s: %w", command, err)
}

func isReply(err error) bool {
	var refused *refusedError
	return errors.As(err, &refused)
}

// refusedError is the relay refusing the message's own transaction with a
// reply: to MAIL FROM, RCPT TO, DATA or the end of the message data. Such a
// reply means the relay did not take the message.
type refusedError struct {
	command string
	reply   *textproto.Error
}

func (e *refusedError) Error() string {
	return "mail: the SMTP server refused " + e.command + ": " + e.reply.Error()
}

func (e *refusedError) Unwrap() error { return e.reply }

// smtpEndpoint reads the relay's host, its port and TLS policy from u.
func smtpEndpoint(u *url.URL, allowPlaintext bool) (string, []gomail.Option, error) {
	var opts []gomail.Option
	var port int
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSMandatory
		if allowPlaintext {
			policy = gomail.TLSOpportunistic
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
		port = gomail.DefaultPortTLS
	case "smtps":
		opts = append(opts, gomail.WithSSL())
		port = gomail.DefaultPortSSL
	default:
		return "", nil, fmt.Errorf("mail: SMTP URL scheme must be smtp or smtps, not %q", u.Scheme)
	}

	host := u.Hostname()
	if host == "" {
		return "", nil, errors.New("mail: SMTP URL has no host")
	}
	if strings.Contains(host, ":") {
		// go-mail joins host and port with a bare colon, which an IPv6
		// literal cannot survive.
		return "", nil, errors.New("mail: SMTP URL host cannot be an IPv6 literal; use a host name")
	}
	if p := u.Port(); p != "" {
		var err error
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", nil, fmt.Errorf("mail: SMTP URL port %q is not a port number", p)
		}
	}
	return host, append(opts, gomail.WithPort(port)), nil
}
