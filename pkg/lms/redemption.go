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

// Redemption is one person's use of an invitation: one seat.
type Redemption struct {
	ID           string
	InvitationID string
	User         *User
	UserGroups   []GroupRef
	Enrollments  []*Enrollment
	CreatedAt    time.Time
	// Tokens sign the learner in at once.
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
	// employee, atomically. created is false when the same email had
	// already redeemed the invitation: the original redemption is returned
	// and no seat is taken. Returns validation_failed, passcode_invalid,
	// invitation_full and unauthorized (existing account, wrong password).
	Redeem(ctx context.Context, in NewRedemption) (r *Redemption, created bool, err error)
	// FindRedemptions lists an invitation's redemptions for its managers.
	// Returns not_found and bad_request.
	FindRedemptions(ctx context.Context, invitationID string, p PageRequest) (*Page[*RedemptionRecord], error)
}
