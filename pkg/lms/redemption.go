package lms

import (
	"context"
	"time"
)

// NewRedemption is an employee's passcode with the account to register or
// sign in with. ClientIP and UserAgent are recorded with the redemption.
type NewRedemption struct {
	Passcode  string
	Email     string
	FirstName string
	LastName  string
	Password  string
	ClientIP  string
	UserAgent string
	// OnPasscode, when set, is called once per Redeem, as soon as the
	// passcode has been looked up and before any password work, with
	// whether it leads to a redeemable invitation. An error it returns
	// ends the redemption with that error, and nothing is written. The
	// API's per-client passcode throttle judges the attempt here, so that
	// correct attempts never wait on one another's password hashing.
	OnPasscode func(ctx context.Context, live bool) error
}

// GroupRef names a user group.
type GroupRef struct {
	ID   string
	Name string
}

// RedemptionStatus tells whether a redemption's account is in use yet.
type RedemptionStatus string

// Redemption statuses.
const (
	// RedemptionActive: the account exists, is in the invitation's user
	// groups and enrolled in their courses.
	RedemptionActive RedemptionStatus = "active"
	// RedemptionPendingVerification: the seat is taken, and the account,
	// memberships and enrollments are made when the link sent to the
	// address is opened, before VerificationExpiresAt; after it the seat
	// is given back.
	RedemptionPendingVerification RedemptionStatus = "pending_verification"
)

// DefaultVerificationTTL is how long a pending redemption waits for its
// address to be verified.
const DefaultVerificationTTL = 48 * time.Hour

// Redemption is one person's use of an invitation: one seat.
type Redemption struct {
	ID           string
	InvitationID string
	Status       RedemptionStatus
	// User is nil while the redemption is pending; Email, FirstName and
	// LastName are then the account to be made.
	User        *User
	Email       string
	FirstName   string
	LastName    string
	UserGroups  []GroupRef
	Enrollments []*Enrollment
	CreatedAt   time.Time
	// VerificationExpiresAt is set while the redemption is pending.
	VerificationExpiresAt *time.Time
	// Tokens sign the learner in at once; nil while pending, and when a
	// verified address turned out to have an account of its own by then
	// (its owner signs in with its password).
	Tokens *TokenPair
}

// RedemptionRecord is a redemption as managers list it.
type RedemptionRecord struct {
	ID         string
	UserID     string
	Email      string
	FirstName  string
	LastName   string
	UserGroups []GroupRef
	CreatedAt  time.Time
}

// CourseRef names a course.
type CourseRef struct {
	ID   string
	Name string
}

// RedemptionPreview is what a passcode leads to, shown before registering.
type RedemptionPreview struct {
	OrganizationName       string
	InvitationName         string
	UserGroups             []GroupRef
	Courses                []CourseRef
	RegistrationsRemaining int
	ExpiresAt              *time.Time
}

// RedemptionService is the public side of invitations.
type RedemptionService interface {
	// PreviewRedemption consumes nothing. Returns passcode_invalid.
	PreviewRedemption(ctx context.Context, passcode string) (*RedemptionPreview, error)
	// Redeem takes one seat and registers, enrolls and signs in the
	// employee, atomically; for a new account of an invitation that
	// requires email verification, the seat is taken as pending and a
	// verification link is sent instead. created is false when the same
	// email had already redeemed the invitation: the original redemption
	// is returned (a pending one with a new password and a new link) and
	// no seat is taken. Returns validation_failed, passcode_invalid,
	// invitation_full, conflict (a look-alike of an address of the
	// organization), rate_limited (a new link was sent a moment ago) and
	// unauthorized (existing account, wrong password). Where an answer
	// would tell whether the address has an account, the error is a
	// *Concealed: missing names are validation_failed whether or not the
	// address has an account, and on an invitation that verifies
	// addresses, an account's wrong password is answered as a pending
	// redemption while its owner is emailed.
	Redeem(ctx context.Context, in NewRedemption) (r *Redemption, created bool, err error)
	// VerifyRedemption completes a pending redemption with the token of
	// its link and the password it was last given: the account,
	// memberships and enrollments are made, once. Returns
	// verification_invalid (unknown, used or expired token, or a revoked
	// invitation) and unauthorized (another password).
	VerifyRedemption(ctx context.Context, token, password string) (*Redemption, error)
	// FindRedemptions lists an invitation's redemptions for its managers.
	// Returns not_found and bad_request.
	FindRedemptions(ctx context.Context, invitationID string, p PageRequest) (*Page[*RedemptionRecord], error)
}

// Concealed is a failed redemption answered as another outcome, so that the
// answer does not tell whether an address has an account: Err is what
// happened, and what throttles count (errors.As and ErrorCode see it);
// Shown, when not nil, is the error to answer, and otherwise Answer is the
// redemption to answer, new when Created.
type Concealed struct {
	Err     error
	Shown   error
	Answer  *Redemption
	Created bool
}

func (c *Concealed) Error() string { return "concealed: " + c.Err.Error() }

// Unwrap returns what happened.
func (c *Concealed) Unwrap() error { return c.Err }
