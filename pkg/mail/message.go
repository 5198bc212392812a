package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email to send.
type Message struct {
	// From and To are single RFC 5322 addresses, optionally with a display
	// name ("Enrollkit <no-reply@example.com>").
	From string
	To   string
	// Subject is sent on one line: line breaks in it become spaces.
	Subject string
	Text    string
	// HTML is optional; when set, the email is multipart/alternative with
	// Text as the fallback.
	HTML string
	// MessageID is optional. Give the same value on every attempt to deliver
	// the same email (for example derived from the delivery's ID) so that a
	// retry after an unclear failure carries the Message-ID receivers use to
	// spot duplicates. Without angle brackets; without an "@", the From
	// address's domain is appended.
	MessageID string
}

// Sender delivers messages. Implementations are safe for concurrent use, so
// one Sender can serve every worker of a job queue.
type Sender interface {
	// Send delivers m or returns why not. IsOutcomeUnknown on the error
	// tells whether the server may have the message all the same (another
	// attempt could deliver a second copy); any other error was met before
	// the message was handed over, and IsPermanent tells whether another
	// attempt could succeed.
	Send(ctx context.Context, m Message) error
}

// ErrInvalidAddress is returned (wrapped) by the senders when From or To is
// not a valid single address. No retry can fix it, so IsPermanent reports
// true for it.
var ErrInvalidAddress = errors.New("mail: invalid address")

// ErrOutcomeUnknown is returned (wrapped) when the whole message was handed
// to the server but its answer never came: the reply to the end of the
// data timed out or the connection was lost while it was awaited. The
// server may have accepted the message and be delivering it, or not;
// sending it again could deliver it twice.
var ErrOutcomeUnknown = errors.New("mail: the server may or may not have accepted the message")

// errInvalidMessageID marks a Message-ID that would corrupt the header; it
// is the caller's mistake, so it counts as permanent too.
var errInvalidMessageID = errors.New("mail: invalid message ID")

// IsOutcomeUnknown reports whether err left it open whether the message was
// delivered (ErrOutcomeUnknown). A job queue must not simply retry such a
// send. Every other error of a Sender was met before the server could have
// the message, so retrying it never delivers a second copy.
func IsOutcomeUnknown(err error) bool {
	return errors.Is(err, ErrOutcomeUnknown)
}

// IsPermanent reports whether err is a failure that retrying will not fix:
// an invalid address or Message-ID, or a 5xx reply from the server to the
// message's own transaction (MAIL FROM, RCPT TO, DATA, the end of the
// data), such as 550 for an unknown mailbox. A job queue stops retrying on
// true.
//
// It reports false for everything else: 4xx replies, refused or broken
// connections, timeouts, cancelled contexts, failures while setting up
// the session (greeting, STARTTLS, AUTH), since those describe the relay or
// its configuration rather than the message and succeed once that is fixed,
// and errors whose outcome is unknown (see IsOutcomeUnknown).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidAddress) || errors.Is(err, errInvalidMessageID) {
		return true
	}
	var refused *refusedError
	if !errors.As(err, &refused) {
		return false
	}
	return refused.reply.Code >= 500 && refused.reply.Code <= 599
}

// buildMsg turns m into a go-mail message, validating the addresses first so
// that a bad one fails before any connection is made and is reported as
// permanent.
func buildMsg(m Message, now time.Time) (*gomail.Msg, error) {
	// No User-Agent: naming the library and its version tells a reader
	// nothing and tells an attacker which parser to aim at.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("%w: from %q: %w", ErrInvalidAddress, m.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: to %q: %w", ErrInvalidAddress, m.To, err)
	}
	msg.Subject(singleLine(m.Subject))
	msg.SetDateWithValue(now)
	if m.MessageID != "" {
		id, err := messageID(m.MessageID, msg.GetFrom()[0].Address)
		if err != nil {
			return nil, err
		}
		msg.SetMessageIDWithValue(id)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID checks a caller's Message-ID and completes it with the sender's
// domain when it has none, since RFC 5322 wants "left@right" and go-mail
// writes the value into the header unchecked.
func messageID(id, from string) (string, error) {
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	left, right, hasAt := strings.Cut(id, "@")
	if !hasAt {
		right = from[strings.LastIndexByte(from, '@')+1:]
	} else if !isDotAtom(right) {
		return "", fmt.Errorf("%w: %q", errInvalidMessageID, id)
	}
	if !isDotAtom(left) {
		return "", fmt.Errorf("%w: %q", errInvalidMessageID, id)
	}
	return left + "@" + right, nil
}

// isDotAtom reports whether s is RFC 5322 dot-atom-text: atext characters
// separated by single dots, which is what a Message-ID half may hold.
func isDotAtom(s string) bool {
	if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		default:
			return false
		}
	}
	return true
}
