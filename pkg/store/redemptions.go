package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

type redemption struct {
	ID             string
	InvitationID   string
	OrganizationID string
	UserID         string
	Email          string
	ClientIP       string
	UserAgent      string
	CreatedAt      time.Time
}

func errPasscodeInvalid() error {
	return lms.Errorf(lms.EPasscodeInvalid, "the passcode is not valid")
}

func errInvitationFull() error {
	return lms.Errorf(lms.EInvitationFull, "every registration of this invitation is taken")
}

// liveInvitation finds the invitation a passcode leads to, if people may
// redeem it now. Unknown, draft, paused, revoked and expired passcodes are
// one indistinguishable error, found by the same single indexed lookup.
func (s *Redemptions) liveInvitation(tx *gorm.DB, passcode string) (*invitation, error) {
	if !lms.CouldBePasscode(passcode) {
		return nil, errPasscodeInvalid()
	}
	var inv invitation
	err := tx.Where("passcode_claim = ?", s.passcodeHash(passcode)).Take(&inv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errPasscodeInvalid()
	} else if err != nil {
		return nil, err
	}
	if !inv.state().Live(s.now()) {
		return nil, errPasscodeInvalid()
	}
	return &inv, nil
}

// takeSeatSQL takes one seat of invitation @inv at @now, if it is
// redeemable.
const takeSeatSQL = `UPDATE invitations SET registrations_used = registrations_used + 1
	WHERE id = @inv AND ` + redeemableSQL

// takeSeat takes one seat of an invitation at now, or says why there was
// none (see noSeat).
func takeSeat(tx *gorm.DB, invitationID string, now time.Time) error {
	seat := tx.Exec(takeSeatSQL, map[string]any{"inv": invitationID, "now": now})
	if seat.Error != nil {
		return seat.Error
	}
	if seat.RowsAffected == 0 {
		return noSeat(tx, invitationID, now)
	}
	return nil
}

// invitationGroupRefs lists an invitation's user groups by name.
func invitationGroupRefs(tx *gorm.DB, invID string) ([]lms.GroupRef, error) {
	var groups []lms.GroupRef
	err := tx.Table("user_groups").Select("user_groups.id, user_groups.name").
		Joins("JOIN invitation_user_groups ON invitation_user_groups.user_group_id = user_groups.id").
		Where("invitation_user_groups.invitation_id = ?", invID).Order("user_groups.name_key, user_groups.id").Scan(&groups).Error
	return groups, err
}

// PreviewRedemption implements lms.RedemptionService.
func (s *Redemptions) PreviewRedemption(ctx context.Context, passcode string) (*lms.RedemptionPreview, error) {
	if err := lms.CheckPreviewPasscode(passcode); err != nil {
		return nil, err
	}
	q := s.q(ctx)
	inv, err := s.liveInvitation(q, passcode)
	if err != nil {
		return nil, err
	}
	orgName, err := s.organizationName(q, inv.OrganizationID)
	if err != nil {
		return nil, err
	}
	groups, err := invitationGroupRefs(q, inv.ID)
	if err != nil {
		return nil, err
	}
	var courses []lms.CourseRef
	err = q.Table("courses").Select("DISTINCT courses.id, courses.name, courses.name_key").
		Joins("JOIN user_group_courses ON user_group_courses.course_id = courses.id").
		Joins("JOIN invitation_user_groups ON invitation_user_groups.user_group_id = user_group_courses.user_group_id").
		Where("invitation_user_groups.invitation_id = ?", inv.ID).Order("courses.name_key, courses.id").Scan(&courses).Error
	if err != nil {
		return nil, err
	}
	return &lms.RedemptionPreview{OrganizationName: orgName, InvitationName: inv.Name, UserGroups: groups,
		Courses: courses, RegistrationsRemaining: inv.state().RegistrationsRemaining(), ExpiresAt: inv.ExpiresAt}, nil
}

// errRaced marks a transaction that lost a race on a unique key to a
// concurrent redemption; the redemption is then tried again from the top,
// where it sees the winner's rows.
var errRaced = errors.New("store: lost a redemption race")

// Redeem implements lms.RedemptionService. The seat is taken last, by one
// conditional UPDATE, so the hot invitation row stays locked only for the
// end of the transaction, and never more seats are used than exist.
func (s *Redemptions) Redeem(ctx context.Context, in lms.NewRedemption) (*lms.Redemption, bool, error) {
	if err := in.Validate(auth.CheckPassword); err != nil {
		return nil, false, err
	}
	for attempt := 0; ; attempt++ {
		r, created, err := s.redeemOnce(ctx, in)
		in.OnPasscode = nil // judged once: a retry's lookup is the same attempt
		if errors.Is(err, errRaced) && attempt < 3 {
			continue
		}
		if errors.Is(err, errRaced) {
			return nil, false, lms.Errorf(lms.EConflict, "the redemption collided with concurrent ones; try again")
		}
		return r, created, err
	}
}

func (s *Redemptions) redeemOnce(ctx context.Context, in lms.NewRedemption) (*lms.Redemption, bool, error) {
	inv, err := s.liveInvitation(s.q(ctx), in.Passcode)
	if in.OnPasscode != nil && (err == nil || lms.ErrorCode(err) == lms.EPasscodeInvalid) {
		if err := in.OnPasscode(ctx, err == nil); err != nil {
			return nil, false, err
		}
	}
	if err != nil {
		return nil, false, err
	}
	if err := lms.CheckEmailDomain(in.Email, inv.allowedDomains()); err != nil {
		return nil, false, err
	}
	// The password work happens before the transaction: it is the slowest
	// step and must not hold locks.
	var existing []user
	if err := s.q(ctx).Where("organization_id = ? AND email = ?", inv.OrganizationID, in.Email).Limit(1).Find(&existing).Error; err != nil {
		return nil, false, err
	}
	if len(existing) == 0 {
		return s.redeemNew(ctx, inv, in)
	}
	u, err := s.auth.verifyAny(ctx, existing, in.Password)
	switch {
	case err != nil:
		return nil, false, err
	case u != nil:
		return s.redeemSeat(ctx, inv, in, u, false)
	case !in.Named():
		// As for an address without an account, in redeemNew.
		return nil, false, &lms.Concealed{Err: errBadCredentials(), Shown: in.NamesRequired()}
	case inv.RequireEmailVerification:
		return s.redeemPending(ctx, inv, in, true)
	}
	// Without verification, registering is instant, so an account's wrong
	// password cannot be answered as a registration.
	return nil, false, errBadCredentials()
}

// redeemNew is the redemption of an address without an account.
func (s *Redemptions) redeemNew(ctx context.Context, inv *invitation, in lms.NewRedemption) (*lms.Redemption, bool, error) {
	if !in.Named() {
		// The same work and answer as for an account's wrong password.
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return nil, false, err
		}
		return nil, false, &lms.Concealed{Err: errBadCredentials(), Shown: in.NamesRequired()}
	}
	if err := checkLookAlike(s.q(ctx), inv.OrganizationID, in.Email); err != nil {
		return nil, false, err
	}
	if inv.RequireEmailVerification {
		return s.redeemPending(ctx, inv, in, false)
	}
	// A new person cannot be replaying an earlier redemption, so a full
	// invitation turns them away before the hash, the one expensive step:
	// once the seats of an all-hands invitation are gone, the rest of the
	// rush costs a lookup each. The seat UPDATE still decides, so a seat
	// freed meanwhile is not missed for long and none is ever given twice.
	if inv.state().RegistrationsRemaining() == 0 {
		return nil, false, errInvitationFull()
	}
	// The rush may take the last seat while this request waits for a
	// hashing slot: after a wait the seats are read again, so it is told
	// "full" at once, not "retry" after the wait, and spends no hash.
	hash, err := s.hasher.HashIfStill(ctx, in.Password, func(ctx context.Context) error { return s.seatLeft(ctx, inv, in.Email) })
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	u := &user{ID: newID(), OrganizationID: inv.OrganizationID, OrganizationGroupID: inv.OrganizationGroupID,
		Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, Search: userSearch(in.Email, in.FirstName, in.LastName),
		Role: string(lms.RoleLearner), Status: string(lms.UserActive), PasswordHash: &hash, CreatedAt: now, UpdatedAt: now}
	return s.redeemSeat(ctx, inv, in, u, true)
}

// seatLeft reads the invitation's seats again: errInvitationFull when none
// is left (or the invitation is gone, which the seat UPDATE answers). A copy
// of this very request may have taken the last seat while this one waited:
// then the address has an account now, and errRaced has the retry answer
// as a replay, not as "full".
func (s *Redemptions) seatLeft(ctx context.Context, inv *invitation, email string) error {
	var now invitation
	err := s.q(ctx).Select("max_registrations", "registrations_used").Where("id = ?", inv.ID).Take(&now).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if now.state().RegistrationsRemaining() > 0 {
		return nil
	}
	var accounts int64
	if err := s.q(ctx).Table("users").Where("organization_id = ? AND email = ?", inv.OrganizationID, email).Count(&accounts).Error; err != nil {
		return err
	}
	if accounts > 0 {
		return errRaced
	}
	return errInvitationFull()
}

// redeemSeat takes a seat of inv for u, a new account (isNew) or one whose
// password was checked: on PostgreSQL a new account's redemption is one
// statement, otherwise one transaction of several.
func (s *Redemptions) redeemSeat(ctx context.Context, inv *invitation, in lms.NewRedemption, u *user, isNew bool) (*lms.Redemption, bool, error) {
	var red redemption
	var tokens *lms.TokenPair
	replay := false
	var out *lms.Redemption
	newRedemption := func() {
		red = redemption{ID: newID(), InvitationID: inv.ID, OrganizationID: inv.OrganizationID, UserID: u.ID,
			Email: in.Email, ClientIP: truncate(in.ClientIP, maxClientIPLen), UserAgent: truncate(in.UserAgent, maxUserAgentLen), CreatedAt: s.now()}
	}
	// The events of a redemption are written in its transaction: an
	// organization with endpoints that take them has its redemptions take
	// the step-by-step path, which has one.
	subs, err := subscribersOf(s.q(ctx), inv.OrganizationID)
	if err != nil {
		return nil, false, err
	}
	hooked := subs.any(lms.EventRedemptionCreated, lms.EventUserCreated, lms.EventInvitationFull)
	if isNew && s.db.dialect == Postgres && !hooked {
		newRedemption()
		var rt *refreshToken
		if tokens, rt, err = s.auth.newTokens(u, newID()); err != nil {
			return nil, false, err
		}
		// One statement is atomic by itself: no BEGIN and COMMIT round trips
		// around it.
		out, err = s.redeemNewInOneStatement(s.q(ctx), inv, u, &red, rt)
	} else {
		err = s.tx(ctx, func(tx *gorm.DB) error {
			newRedemption()
			var err error
			tokens, replay, err = s.redeemStepByStep(ctx, tx, inv, u, isNew, &red, subs)
			if err != nil || replay || !hooked {
				return err
			}
			return s.emitRedemption(ctx, tx, subs, &red, u, isNew)
		})
	}
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return nil, false, errPasscodeInvalid() // the invitation was deleted meanwhile
	}
	if err != nil {
		return nil, false, translate(err, "redemption")
	}
	if out == nil {
		if out, err = s.redemptionResult(ctx, &red, u); err != nil {
			return nil, false, err
		}
	}
	out.Tokens = tokens
	out.Status = lms.RedemptionActive
	return out, !replay, nil
}

// redeemStepByStep is a redemption as several statements of tx: on SQLite,
// and for people who already have an account (who may be replaying their
// own redemption). The seat is taken last, so the invitation row is locked
// only for the end of the transaction. For a replay, red becomes the
// earlier redemption.
func (s *Redemptions) redeemStepByStep(ctx context.Context, tx *gorm.DB, inv *invitation, u *user, isNew bool,
	red *redemption, subs subscribers) (*lms.TokenPair, bool, error) {
	now := red.CreatedAt
	heldSeat := false
	if isNew {
		// No account, so no earlier redemption by this email: if a
		// replay of this very request registered the account meanwhile,
		// the INSERT collides and the retry finds both.
		if err := tx.Create(u).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, errRaced
		} else if err != nil {
			return nil, false, err
		}
	} else {
		// Into a zero value: GORM would add the primary key of a
		// filled one to the conditions.
		var earlier redemption
		err := tx.Where("invitation_id = ? AND email = ?", inv.ID, red.Email).Take(&earlier).Error
		if err == nil {
			*red = earlier
			tokens, err := s.auth.issueTokens(ctx, tx, u, newID())
			return tokens, true, err
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, false, err
		}
		// A pending redemption of this address (a wrong password answered
		// as pending, or a link not opened before the address got its
		// account) holds a seat already: this redemption takes it over.
		held := tx.Where("invitation_id = ? AND email = ?", inv.ID, red.Email).Delete(&pendingRedemption{})
		if held.Error != nil {
			return nil, false, held.Error
		}
		heldSeat = held.RowsAffected == 1
		if !heldSeat && inv.state().RegistrationsRemaining() == 0 {
			return nil, false, errInvitationFull()
		}
	}
	if err := tx.Create(red).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, false, errRaced // a concurrent replay of this email won
	} else if err != nil {
		return nil, false, err
	}
	if err := joinInvitation(tx, s.newIDSQL(), inv.OrganizationID, inv.ID, u.ID, now); err != nil {
		return nil, false, err
	}
	tokens, err := s.auth.issueTokens(ctx, tx, u, newID())
	if err != nil {
		return nil, false, err
	}
	if heldSeat {
		return tokens, false, nil
	}
	if err := takeSeat(tx, inv.ID, now); err != nil {
		return nil, false, err
	}
	return tokens, false, s.emitIfFull(ctx, tx, subs, inv.OrganizationID, inv.ID)
}

// noSeat explains a seat UPDATE that matched no row: the invitation is
// full, or it was paused, revoked or expired after it was looked up.
func noSeat(tx *gorm.DB, invitationID string, now time.Time) error {
	var cur invitation
	if err := tx.Where("id = ?", invitationID).Take(&cur).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return errPasscodeInvalid() // deleted meanwhile
	} else if err != nil {
		return err
	}
	if cur.state().Live(now) {
		return errInvitationFull()
	}
	return errPasscodeInvalid()
}

// Bounds of what a redemption records of its client: enough for any IP
// address, and for the user agents browsers send.
const (
	maxClientIPLen  = 64
	maxUserAgentLen = 512
)

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// redemptionResult reads what a redemption gave its learner: the groups and
// the enrollments in their courses.
func (s *Redemptions) redemptionResult(ctx context.Context, red *redemption, u *user) (*lms.Redemption, error) {
	q := s.q(ctx)
	groups, err := invitationGroupRefs(q, red.InvitationID)
	if err != nil {
		return nil, err
	}
	var rows []enrollment
	err = q.Table("enrollments").
		Select("enrollments.id, enrollments.organization_id, enrollments.user_id, enrollments.course_id, enrollments.user_group_id, enrollments.created_at, courses.name AS course_name, courses.code AS course_code").
		Joins("JOIN courses ON courses.id = enrollments.course_id").
		Where("enrollments.user_id = ? AND enrollments.course_id IN (?)", u.ID,
			q.Table("user_group_courses").Select("user_group_courses.course_id").
				Joins("JOIN invitation_user_groups ON invitation_user_groups.user_group_id = user_group_courses.user_group_id").
				Where("invitation_user_groups.invitation_id = ?", red.InvitationID)).
		Order("courses.name_key, enrollments.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := &lms.Redemption{ID: red.ID, InvitationID: red.InvitationID, User: u.domain(), UserGroups: groups,
		CreatedAt: red.CreatedAt, Enrollments: make([]*lms.Enrollment, len(rows))}
	if out.UserGroups == nil {
		out.UserGroups = []lms.GroupRef{}
	}
	for i := range rows {
		out.Enrollments[i] = rows[i].domain()
	}
	return out, nil
}

// FindRedemptions implements lms.RedemptionService.
func (s *Redemptions) FindRedemptions(ctx context.Context, invitationID string, p lms.PageRequest) (*lms.Page[*lms.RedemptionRecord], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("created_at", "-created_at"); err != nil {
		return nil, err
	}
	q := s.q(ctx)
	if _, err := findInvitation(q, org, invitationID); err != nil {
		return nil, err
	}
	groups, err := invitationGroupRefs(q, invitationID)
	if err != nil {
		return nil, err
	}
	type row struct {
		ID, UserID, Email, FirstName, LastName string
		CreatedAt                              time.Time
	}
	spec := sortSpec[row]{desc: p.Sort == "-created_at", id: func(r *row) string { return r.ID }}
	joined := q.Table("redemptions").Select("redemptions.*, users.first_name, users.last_name").
		Joins("JOIN users ON users.id = redemptions.user_id").Where("redemptions.invitation_id = ?", invitationID)
	return listPage(q.Table("(?) AS r", joined), p, spec, func(r *row) *lms.RedemptionRecord {
		return &lms.RedemptionRecord{ID: r.ID, UserID: r.UserID, Email: r.Email, FirstName: r.FirstName,
			LastName: r.LastName, UserGroups: groups, CreatedAt: r.CreatedAt}
	})
}
