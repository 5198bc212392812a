package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds the dial and every SMTP command, so a relay that stops
// answering ties up a queue worker for seconds, not for good.
const smtpTimeout = 10 * time.Second

var _ Sender = (*SMTPSender)(nil)

// SMTPSender delivers messages through an SMTP relay, one connection per
// message. It is safe for concurrent use.
type SMTPSender struct {
	client *gomail.Client
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
func NewSMTPSender(rawURL string, allowPlaintext bool) (*SMTPSender, error) {
	return newSMTPSender(rawURL, nil, allowPlaintext)
}

// newSMTPSender lets tests trust their own certificate authority; production
// code always verifies against the system roots.
func newSMTPSender(rawURL string, tlsConfig *tls.Config, allowPlaintext bool) (*SMTPSender, error) {
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

	opts := []gomail.Option{gomail.WithTimeout(smtpTimeout)}
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
		return nil, fmt.Errorf("mail: SMTP URL scheme must be smtp or smtps, not %q", u.Scheme)
	}

	host := u.Hostname()
	if host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	if strings.Contains(host, ":") {
		// go-mail joins host and port with a bare colon, which an IPv6
		// literal cannot survive.
		return nil, errors.New("mail: SMTP URL host cannot be an IPv6 literal; use a host name")
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL port %q is not a port number", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
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
	return &SMTPSender{client: client}, nil
}

// Send delivers m over a new connection. ctx bounds dialling (with smtps://
// the TLS handshake too); go-mail does not watch it afterwards, so each
// later command is bounded by its own 10-second limit instead.
//
// Once the server has accepted the message after DATA, Send reports success
// even if closing the session then fails: the relay owns the message, and
// an error would make the caller send it a second time.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := buildMsg(m, time.Now())
	if err != nil {
		return err
	}
	err = s.client.DialAndSendWithContext(ctx, msg)
	if err != nil && !msg.IsDelivered() {
		return fmt.Errorf("mail: SMTP delivery: %w", err)
	}
	return nil
}
