package lms

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// InvitationStatus is the state of an invitation. Draft, active, paused and
// revoked are stored; expired and full are derived when it is read.
type InvitationStatus string

// Invitation statuses.
const (
	InvitationDraft   InvitationStatus = "draft"
	InvitationActive  InvitationStatus = "active"
	InvitationPaused  InvitationStatus = "paused"
	InvitationRevoked InvitationStatus = "revoked"
	InvitationExpired InvitationStatus = "expired"
	InvitationFull    InvitationStatus = "full"
)

// Limits of an invitation.
const (
	MinPasscodeLen = 6
	MaxPasscodeLen = 64
	// MaxPasscodeInputLen bounds a passcode as typed, with the spaces and
	// dashes that MaxPasscodeLen does not count.
	MaxPasscodeInputLen = 4 * MaxPasscodeLen
	MaxRegistrations    = 100_000
	MaxInvitationGroups = 50
	MaxMessageLen       = 10_000
)

// Invitation lets employees self-register with a passcode, up to
// MaxRegistrations of them, into its user groups.
type Invitation struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Name                string
	Passcode            string
	MaxRegistrations    int
	RegistrationsUsed   int
	UserGroupIDs        []string
	Message             string
	// Status is the stored status; see EffectiveStatus.
	Status    InvitationStatus
	ExpiresAt *time.Time
	// RequireEmailVerification makes a redemption that creates an account
	// take its seat as pending until the address is verified.
	RequireEmailVerification bool
	// AllowedEmailDomains, when not empty, are the only domains whose
	// addresses may redeem (lower case, without "@").
	AllowedEmailDomains []string
	EnrollURL           string
	CreatedBy           string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// RegistrationsRemaining is the number of seats left.
func (inv *Invitation) RegistrationsRemaining() int {
	return max(0, inv.MaxRegistrations-inv.RegistrationsUsed)
}

// EffectiveStatus is the status a client sees at now: revoked is final,
// then expiry, then a used-up invitation is full.
func (inv *Invitation) EffectiveStatus(now time.Time) InvitationStatus {
	switch {
	case inv.Status == InvitationRevoked:
		return InvitationRevoked
	case inv.ExpiresAt != nil && !now.Before(*inv.ExpiresAt):
		return InvitationExpired
	case inv.Status == InvitationActive && inv.RegistrationsUsed >= inv.MaxRegistrations:
		return InvitationFull
	}
	return inv.Status
}

// CanTransition reports whether a stored status may change from one to
// another. Setting the same status again is allowed and changes nothing.
func CanTransition(from, to InvitationStatus) bool {
	if from == to {
		return from != InvitationRevoked || to == InvitationRevoked
	}
	switch from {
	case InvitationDraft:
		return to == InvitationActive || to == InvitationRevoked
	case InvitationActive:
		return to == InvitationPaused || to == InvitationRevoked
	case InvitationPaused:
		return to == InvitationActive || to == InvitationRevoked
	}
	return false
}

// PasscodeClaimGrace is how long after it expires an invitation keeps its
// passcode from invitations of other organizations, so that its owner can
// still extend it and nobody else can catch its employees meanwhile.
const PasscodeClaimGrace = 90 * 24 * time.Hour

// NormalizePasscode returns the form in which passcodes are matched:
// upper-cased rune by rune (with no other Unicode normalization), without
// white space and without the dashes -, U+2010 and U+2013.
//
// Its output is what the store hashes into every invitation's stored
// lookup hash (the passcode_hash and passcode_claim columns), and a
// redemption finds its invitation by the hash of the normalized passcode
// typed. Changing what it returns for any input therefore silently
// orphans every stored passcode that input normalizes differently: those
// invitations can no longer be redeemed and their passcodes no longer
// collide with new ones. Such a change needs a data migration that
// rehashes the stored passcodes (from their sealed copies); the table in
// passcode_test.go pins the current output.
func NormalizePasscode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '‐' || r == '–' {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// passcodeAlphabet has no characters that are easy to confuse (0/O, 1/I/L),
// since people copy passcodes from emails and paper.
const passcodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// GeneratePasscode returns a random passcode such as "KX7P-M3QD": eight
// characters from a 31-letter alphabet, about 39 bits.
func GeneratePasscode() (string, error) {
	b := make([]byte, 0, 9)
	for i := range 8 {
		if i == 4 {
			b = append(b, '-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passcodeAlphabet))))
		if err != nil {
			return "", err
		}
		b = append(b, passcodeAlphabet[n.Int64()])
	}
	return string(b), nil
}

// commonPasscodeWords are refused anywhere in a passcode.
var commonPasscodeWords = []string{"PASSWORD", "PASSCODE", "WELCOME", "LETMEIN", "QWERTY", "AZERTY", "ADMIN",
	"INVITE", "INVITATION", "ENROLL", "SECRET", "CHANGEME", "TRAINING", "COURSE", "123456", "ABC123", "111111",
	"ILOVEYOU", "MONKEY", "DRAGON", "SUNSHINE", "FOOTBALL", "BASEBALL", "MASTER", "HELLO", "LOGIN", "SUMMER",
	"WINTER", "SPRING", "AUTUMN", "TEST", "DEMO", "COMPANY", "EMPLOYEE", "STAFF"}

// CheckPasscode judges a passcode chosen by a manager. It returns a
// passcode_weak or validation_failed error, or nil. names are the
// invitation's and organization's names, which a guesser would try first.
func CheckPasscode(passcode string, names ...string) error {
	n := NormalizePasscode(passcode)
	l := len([]rune(n))
	if !ValidText(passcode, false) {
		return Invalid("passcode", TextRule)
	}
	if l < MinPasscodeLen || l > MaxPasscodeLen || utf8.RuneCountInString(passcode) > MaxPasscodeInputLen {
		return Invalid("passcode", fmt.Sprintf(
			"must be %d to %d characters, not counting spaces and dashes, and at most %d with them",
			MinPasscodeLen, MaxPasscodeLen, MaxPasscodeInputLen))
	}
	weak := func(why string) error {
		return &Error{Code: EPasscodeWeak, Message: "the passcode is too easy to guess: " + why,
			Fields: []FieldError{{Field: "passcode", Message: why}}}
	}
	if periodic(n) {
		return weak("it repeats the same characters")
	}
	if sequential(n) {
		return weak("it is a sequence like 123456 or ABCDEF")
	}
	for _, w := range commonPasscodeWords {
		if strings.Contains(n, w) {
			return weak("it contains a common word")
		}
	}
	for _, name := range names {
		for _, word := range strings.FieldsFunc(NormalizePasscode(name), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len(word) >= 4 && strings.Contains(n, word) {
				return weak("it contains the invitation's or organization's name")
			}
		}
		if whole := NormalizePasscode(name); len(whole) >= 4 && strings.Contains(n, whole) {
			return weak("it contains the invitation's or organization's name")
		}
	}
	if distinct(n) < 4 {
		return weak("it uses fewer than 4 different characters")
	}
	return nil
}

// periodic reports whether s is one short block repeated, like AAAAAA or
// ABABAB.
func periodic(s string) bool {
	r := []rune(s)
	for p := 1; p <= len(r)/2; p++ {
		if len(r)%p != 0 {
			continue
		}
		same := true
		for i := p; i < len(r) && same; i++ {
			same = r[i] == r[i-p]
		}
		if same {
			return true
		}
	}
	return false
}

// sequential reports whether every character is one more (or one less)
// than the one before.
func sequential(s string) bool {
	r := []rune(s)
	up, down := true, true
	for i := 1; i < len(r); i++ {
		up = up && r[i] == r[i-1]+1
		down = down && r[i] == r[i-1]-1
	}
	return up || down
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// NewInvitation is the input of CreateInvitation. An empty Passcode is
// generated; an empty Status is draft.
type NewInvitation struct {
	Name                string
	Passcode            string
	MaxRegistrations    int
	OrganizationGroupID string
	UserGroupIDs        []string
	Message             string
	ExpiresAt           *time.Time
	Status              InvitationStatus
	// RequireEmailVerification is true when nil.
	RequireEmailVerification *bool
	AllowedEmailDomains      []string
}

// InvitationUpdate holds the fields a PATCH may change; nil means unchanged.
// ClearExpiry removes the expiry.
type InvitationUpdate struct {
	Name             *string
	Passcode         *string
	MaxRegistrations *int
	UserGroupIDs     *[]string
	Message          *string
	ExpiresAt        *time.Time
	ClearExpiry      bool
	Status           *InvitationStatus

	RequireEmailVerification *bool
	AllowedEmailDomains      *[]string
}

// MaxAllowedEmailDomains bounds an invitation's allowed email domains.
const MaxAllowedEmailDomains = 50

// NormalizeEmailDomains returns domains lower-cased, trimmed, without a
// leading "@", sorted and without duplicates, or the index of the first
// that is not a domain name.
func NormalizeEmailDomains(domains []string) ([]string, int) {
	out := make([]string, 0, len(domains))
	for i, d := range domains {
		d = strings.TrimPrefix(strings.ToLower(norm.NFKC.String(strings.TrimSpace(d))), "@")
		if !ValidEmail("a@" + d) {
			return nil, i
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out), -1
}

// EmailDomainAllowed reports whether email may redeem an invitation that
// allows domains (all when there are none). A subdomain is not its parent.
func EmailDomainAllowed(email string, domains []string) bool {
	if len(domains) == 0 {
		return true
	}
	at := strings.LastIndex(email, "@")
	return at >= 0 && slices.Contains(domains, email[at+1:])
}

// InvitationFilter narrows a list of invitations. Status may name a derived
// status (expired, full).
type InvitationFilter struct {
	PageRequest
	Status *InvitationStatus
	Q      string
}

// InvitationService manages the invitations of the caller's organization.
// Only Full Managers reach it.
type InvitationService interface {
	// Returns not_found.
	FindInvitationByID(ctx context.Context, id string) (*Invitation, error)
	// Returns bad_request.
	FindInvitations(ctx context.Context, f InvitationFilter) (*Page[*Invitation], error)
	// Returns validation_failed, passcode_weak and conflict (passcode in use).
	CreateInvitation(ctx context.Context, in NewInvitation) (*Invitation, error)
	// Returns validation_failed, passcode_weak, not_found and conflict
	// (passcode in use, illegal status transition, seats below those used).
	UpdateInvitation(ctx context.Context, id string, upd InvitationUpdate) (*Invitation, error)
	// Returns not_found and conflict (it has redemptions: revoke instead).
	DeleteInvitation(ctx context.Context, id string) error
}

// Email is a rendered invitation email.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// DeliveryStatus tells where one invitation email stands. An email goes
// from queued to sending, and from sending to sent, failed or unknown, or
// back to queued when an attempt failed before the mail server could have
// the message. Sent and failed are final, and unknown too (but that the
// attempt it is about may still record the server's late acceptance as
// sent): no email is sent twice because an attempt's end went unrecorded.
type DeliveryStatus string

// Delivery statuses.
const (
	// DeliveryQueued is an email waiting for its turn, or for its next
	// attempt after one that failed before the mail server had the message.
	DeliveryQueued DeliveryStatus = "queued"
	// DeliverySending is an email an attempt is sending now. It is recorded
	// before the mail server is contacted, so an attempt cut off by a crash
	// leaves it so, and the next attempt ends it as DeliveryUnknown instead
	// of sending a second copy.
	DeliverySending DeliveryStatus = "sending"
	// DeliverySent is an email the mail server accepted.
	DeliverySent DeliveryStatus = "sent"
	// DeliveryFailed is an email that was not delivered: refused by the
	// mail server, undeliverable after every attempt, or left unsent because
	// its invitation was revoked or expired.
	DeliveryFailed DeliveryStatus = "failed"
	// DeliveryUnknown is an email the mail server may or may not have
	// accepted: its attempt was cut off while sending (a crash or a lost
	// process), or the server's answer to the whole message never came. It
	// is not retried, since the recipient may have it already; last_error
	// says what happened.
	DeliveryUnknown DeliveryStatus = "unknown"
)

// Resendable reports whether an email in status st may be queued again by
// a manager: not while it waits or is being sent, since that would queue a
// second copy of an email that is on its way.
func (st DeliveryStatus) Resendable() bool {
	return st != DeliveryQueued && st != DeliverySending
}

// MaxRecipients bounds the addresses of one send.
const MaxRecipients = 1000

// MaxRecipientRows bounds the rows of one recipient file (a CSV upload): a
// whole department's staff list, at most ten hours of the default hourly
// quota, and well inside the default body limit at normal lengths.
const MaxRecipientRows = 10_000

// Recipient is one row of a recipient file: the address and, when the file
// has them, the names the email greets the person by. Line is the row's
// line in the file, which a rejection names.
type Recipient struct {
	Email     string
	FirstName string
	LastName  string
	Line      int
}

// RecipientRejection is a row of a recipient file that was not queued:
// its line, its email cell as written, and why.
type RecipientRejection struct {
	Line   int
	Email  string
	Reason string
}

// RecipientSend is what CreateRecipientDeliveries did: the deliveries it
// queued, in the file's order, and the rows it refused, in line order.
type RecipientSend struct {
	Deliveries []*Delivery
	Rejected   []RecipientRejection
}

// MailQuota bounds the invitation emails of one organization: at most
// PerHour in any hour and PerDay in any day (more is rate_limited, with how
// long to wait), sent at most Rate a second, so that the mail queue serves
// every organization in turn.
type MailQuota struct {
	PerHour int
	PerDay  int
	Rate    float64
}

// DefaultMailQuota is the quota when none is configured.
var DefaultMailQuota = MailQuota{PerHour: 1000, PerDay: 5000, Rate: 10}

// Delivery is one invitation email to one address.
type Delivery struct {
	ID           string
	InvitationID string
	Recipient    string
	// FirstName and LastName are the recipient's names when the send
	// gave them (a recipient file with those columns), else "".
	FirstName string
	LastName  string
	// Copy marks the "send me a copy" email to the manager who sent it.
	Copy      bool
	Status    DeliveryStatus
	Attempts  int
	LastError string
	// ScheduledAt is when the email is due to go out: the organization's
	// emails are paced (see MailQuota).
	ScheduledAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SentAt      *time.Time
}

// DeliveryService renders and sends invitation emails.
type DeliveryService interface {
	// InvitationEmail renders exactly what a delivery would send now.
	// Returns not_found.
	InvitationEmail(ctx context.Context, invitationID string) (*Email, error)
	// CreateDeliveries queues one email per address, each with a durable
	// job written in the same transaction. Returns validation_failed,
	// not_found and conflict (revoked or expired invitation).
	CreateDeliveries(ctx context.Context, invitationID string, sendCopy bool, recipients []string) ([]*Delivery, error)
	// CreateRecipientDeliveries is CreateDeliveries for the rows of a
	// recipient file: rows that are not a valid, new address are rejected
	// one by one (CheckRecipients) and the others queued in one
	// transaction. Returns validation_failed (no row to queue, more than
	// the quota could ever take), not_found, conflict (revoked or expired
	// invitation) and rate_limited.
	CreateRecipientDeliveries(ctx context.Context, invitationID string, rows []Recipient) (*RecipientSend, error)
	// ResendDelivery queues a delivery that is sent, failed or unknown
	// again, with a new job and its attempts kept, paced and counted like a
	// send of one. Returns not_found, conflict (the delivery is queued or
	// sending, the invitation revoked or expired) and rate_limited.
	ResendDelivery(ctx context.Context, deliveryID string) (*Delivery, error)
	// Returns not_found and bad_request.
	FindDeliveries(ctx context.Context, invitationID string, p PageRequest) (*Page[*Delivery], error)
}
