package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

type invitation struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Name                string
	Search              string
	PasscodeHash        string
	// PasscodeClaim equals PasscodeHash while the invitation holds its
	// passcode; a unique index on it keeps live passcodes unique. It is
	// cleared on revoke, and an expired holder gives it up when another
	// invitation wants the passcode.
	PasscodeClaim     *string
	PasscodeSealed    string
	MaxRegistrations  int
	RegistrationsUsed int
	Message           string
	Status            string
	ExpiresAt         *time.Time
	// RequireEmailVerification and AllowedEmailDomains (comma-separated,
	// sorted; empty allows every domain) judge the accounts redemptions
	// make.
	RequireEmailVerification bool
	AllowedEmailDomains      string
	CreatedBy                *string
	CreatedAt                time.Time
	UpdatedAt                time.Time
}

// allowedDomains returns the invitation's allowed email domains.
func (i *invitation) allowedDomains() []string {
	if i.AllowedEmailDomains == "" {
		return []string{}
	}
	return strings.Split(i.AllowedEmailDomains, ",")
}

// state is the part of the row the invitation's rules judge: its status,
// seats and expiry.
func (i *invitation) state() *lms.Invitation {
	return &lms.Invitation{Status: lms.InvitationStatus(i.Status), MaxRegistrations: i.MaxRegistrations,
		RegistrationsUsed: i.RegistrationsUsed, ExpiresAt: i.ExpiresAt}
}

// The invitation rules of lms.Invitation that SQL states again, over the
// invitations table at the named argument @now: the seat UPDATE must judge
// the row's latest version itself, so that no seat is ever given twice,
// and lists filter by derived status in the database. TestSeatRuleMatchesDomain
// holds each to the Go rule.
const (
	// notExpiredSQL: no expiry, or a later one.
	notExpiredSQL = "(expires_at IS NULL OR expires_at > @now)"
	// liveSQL is lms.Invitation.Live.
	liveSQL = "status = 'active' AND " + notExpiredSQL
	// redeemableSQL is lms.Invitation.Redeemable: EffectiveStatus active.
	redeemableSQL = liveSQL + " AND registrations_used < max_registrations"
	// fullSQL is EffectiveStatus full.
	fullSQL = liveSQL + " AND registrations_used >= max_registrations"
	// sendableSQL is lms.Invitation.Sendable: neither revoked nor expired.
	sendableSQL = "status <> 'revoked' AND " + notExpiredSQL
	// expiredSQL is EffectiveStatus expired.
	expiredSQL = "status <> 'revoked' AND expires_at <= @now"
)

func (*invitation) columns() string {
	return "id, organization_id, organization_group_id, name, search, passcode_hash, passcode_claim, passcode_sealed, " +
		"max_registrations, registrations_used, message, status, expires_at, require_email_verification, allowed_email_domains, " +
		"created_by, created_at, updated_at"
}

func (i *invitation) fields(dst []any) []any {
	return append(dst[:0], &i.ID, &i.OrganizationID, &i.OrganizationGroupID, &i.Name, &i.Search, &i.PasscodeHash, &i.PasscodeClaim,
		&i.PasscodeSealed, &i.MaxRegistrations, &i.RegistrationsUsed, &i.Message, &i.Status, &i.ExpiresAt,
		&i.RequireEmailVerification, &i.AllowedEmailDomains, &i.CreatedBy,
		&i.CreatedAt, &i.UpdatedAt)
}

type invitationUserGroup struct {
	InvitationID string
	UserGroupID  string
}

func (*invitationUserGroup) columns() string { return "invitation_id, user_group_id" }

func (l *invitationUserGroup) fields(dst []any) []any {
	return append(dst[:0], &l.InvitationID, &l.UserGroupID)
}

func (s *core) passcodeHash(passcode string) string {
	return auth.KeyedHash(s.passcodeKey, lms.NormalizePasscode(passcode))
}

// enrollURL is the frontend's enrollment page with the passcode prefilled.
func (s *core) enrollURL(passcode string) string {
	return s.publicURL + "/enroll?passcode=" + url.QueryEscape(passcode)
}

func (s *Invitations) invitationDomain(inv *invitation, groups []string) (*lms.Invitation, error) {
	passcode, err := auth.Open(s.sealKey, inv.PasscodeSealed)
	if err != nil {
		return nil, err
	}
	by := ""
	if inv.CreatedBy != nil {
		by = *inv.CreatedBy
	}
	if groups == nil {
		groups = []string{}
	}
	return &lms.Invitation{ID: inv.ID, OrganizationID: inv.OrganizationID, OrganizationGroupID: inv.OrganizationGroupID,
		Name: inv.Name, Passcode: passcode, MaxRegistrations: inv.MaxRegistrations, RegistrationsUsed: inv.RegistrationsUsed,
		UserGroupIDs: groups, Message: inv.Message, Status: lms.InvitationStatus(inv.Status), ExpiresAt: inv.ExpiresAt,
		RequireEmailVerification: inv.RequireEmailVerification, AllowedEmailDomains: inv.allowedDomains(),
		EnrollURL: s.enrollURL(passcode), CreatedBy: by, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt}, nil
}

// invitationGroups loads the user group IDs of several invitations in one
// query.
func invitationGroups(tx *gorm.DB, ids []string) (map[string][]string, error) {
	links, err := find[invitationUserGroup](tx.Where("invitation_id IN ?", ids).Order("user_group_id"), 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(ids))
	for _, l := range links {
		out[l.InvitationID] = append(out[l.InvitationID], l.UserGroupID)
	}
	return out, nil
}

func findInvitation(tx *gorm.DB, org, id string) (*invitation, error) {
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "invitation not found")
	}
	inv, err := take[invitation](tx.Where("organization_id = ? AND id = ?", org, id))
	if err != nil {
		return nil, translate(err, "invitation")
	}
	return inv, nil
}

// lockInvitation loads an invitation for update: concurrent changes to it
// (a revoke racing an activation) are serialized, so each is judged
// against the status the other left.
func lockInvitation(tx *gorm.DB, org, id string) (*invitation, error) {
	return findInvitation(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), org, id)
}

func (s *Invitations) loadInvitation(tx *gorm.DB, org, id string) (*lms.Invitation, error) {
	inv, err := findInvitation(tx, org, id)
	if err != nil {
		return nil, err
	}
	groups, err := invitationGroups(tx, []string{inv.ID})
	if err != nil {
		return nil, err
	}
	return s.invitationDomain(inv, groups[inv.ID])
}

// FindInvitationByID implements lms.InvitationService.
func (s *Invitations) FindInvitationByID(ctx context.Context, id string) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "invitation not found")
	}
	// The two statements are built once: this is the hot read of an
	// invitation (a frontend polls it for the seats used).
	get, err := buildOnce[invitation](s.core, "invitation in organization", 2, func(q *gorm.DB) *gorm.DB {
		return q.Table("invitations").Where("organization_id = ? AND id = ?", "", "").Limit(1)
	})
	if err != nil {
		return nil, err
	}
	found, err := readBuilt[invitation](ctx, s.core, get, 1, org, id)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, lms.Errorf(lms.ENotFound, "invitation not found")
	}
	links, err := buildOnce[invitationUserGroup](s.core, "user groups of an invitation", 1, func(q *gorm.DB) *gorm.DB {
		return q.Table("invitation_user_groups").Where("invitation_id = ?", "").Order("user_group_id")
	})
	if err != nil {
		return nil, err
	}
	groups, err := readBuilt[invitationUserGroup](ctx, s.core, links, 4, id)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.UserGroupID
	}
	return s.invitationDomain(&found[0], ids)
}

var invitationSorts = map[string]sortSpec[invitation]{
	"-created_at": {desc: true, id: func(i *invitation) string { return i.ID }},
	"created_at":  {id: func(i *invitation) string { return i.ID }},
	"name":        {column: "search", key: func(i *invitation) string { return i.Search }, id: func(i *invitation) string { return i.ID }},
}

// FindInvitations implements lms.InvitationService.
func (s *Invitations) FindInvitations(ctx context.Context, f lms.InvitationFilter) (*lms.Page[*lms.Invitation], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("-created_at", "created_at", "name"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	if f.Status != nil {
		at := map[string]any{"now": s.now(), "status": string(*f.Status)}
		switch *f.Status {
		case lms.InvitationRevoked:
			q = q.Where("status = ?", "revoked")
		case lms.InvitationExpired:
			q = q.Where(expiredSQL, at)
		case lms.InvitationFull:
			q = q.Where(fullSQL, at)
		case lms.InvitationActive:
			q = q.Where(redeemableSQL, at)
		case lms.InvitationDraft, lms.InvitationPaused:
			q = q.Where("status = @status AND "+notExpiredSQL, at)
		default:
			return nil, lms.Errorf(lms.EBadRequest, "status must be draft, active, paused, revoked, expired or full")
		}
	}
	if err := lms.CheckQuery(f.Q); err != nil {
		return nil, err
	}
	if strings.TrimSpace(f.Q) != "" {
		q = q.Where(`search LIKE ? ESCAPE '\'`, searchPattern(f.Q))
	}
	rows, next, err := paginate(q, f.PageRequest, invitationSorts[f.Sort])
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	groups, err := invitationGroups(s.q(ctx), ids)
	if err != nil {
		return nil, err
	}
	return mapPage(rows, next, func(inv *invitation) (*lms.Invitation, error) {
		return s.invitationDomain(inv, groups[inv.ID])
	})
}

// checkUserGroups verifies that every group belongs to the organization and
// to the invitation's organization group.
func checkUserGroups(tx *gorm.DB, org, orgGroup string, ids []string) error {
	var found []string
	err := tx.Table("user_groups").Where("organization_id = ? AND organization_group_id = ? AND id IN ?", org, orgGroup, ids).
		Pluck("id", &found).Error
	if err != nil {
		return err
	}
	if len(found) != len(ids) {
		return lms.Invalid("user_group_ids", "every user group must exist and belong to the invitation's organization group")
	}
	return nil
}

// claimPasscode makes inv the holder of its passcode. A live holder keeps
// it (conflict). An expired one gives it up to an invitation of its own
// organization at once, but to another organization only
// lms.PasscodeClaimGrace after it expired: until then its owner may still
// extend it, and its employees, who know the passcode, would otherwise
// register with another organization and hand it their details. Revoking or
// deleting releases a claim at once. Two concurrent claims are settled by
// the unique index.
func (s *Invitations) claimPasscode(tx *gorm.DB, inv *invitation) error {
	var holder invitation
	err := tx.Select("id", "organization_id", "expires_at").Where("passcode_claim = ? AND id <> ?", inv.PasscodeHash, inv.ID).Take(&holder).Error
	now := s.now()
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
	case err != nil:
		return err
	case holder.ExpiresAt != nil && !holder.ExpiresAt.After(now) &&
		(holder.OrganizationID == inv.OrganizationID || !holder.ExpiresAt.Add(lms.PasscodeClaimGrace).After(now)):
		if err := tx.Model(&invitation{}).Where("id = ?", holder.ID).Update("passcode_claim", nil).Error; err != nil {
			return err
		}
	default:
		return errPasscodeTaken()
	}
	inv.PasscodeClaim = &inv.PasscodeHash
	return nil
}

func errPasscodeTaken() error {
	return &lms.Error{Code: lms.EConflict, Message: "the passcode is already used by another invitation; choose another",
		Fields: []lms.FieldError{{Field: "passcode", Message: "already in use"}}}
}

func (s *core) organizationName(tx *gorm.DB, org string) (string, error) {
	var name string
	err := tx.Model(&organization{}).Where("id = ?", org).Pluck("name", &name).Error
	return name, err
}

// CreateInvitation implements lms.InvitationService.
func (s *Invitations) CreateInvitation(ctx context.Context, in lms.NewInvitation) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(s.now()); err != nil {
		return nil, err
	}
	orgName, err := s.organizationName(s.q(ctx), org)
	if err != nil {
		return nil, err
	}
	generated := in.Passcode == ""
	if !generated {
		in.Passcode = strings.TrimSpace(in.Passcode)
		if err := lms.CheckPasscode(in.Passcode, in.Name, orgName); err != nil {
			return nil, err
		}
	}
	now := s.now()
	inv := invitation{ID: newID(), OrganizationID: org, OrganizationGroupID: in.OrganizationGroupID, Name: in.Name,
		Search: strings.ToLower(in.Name), MaxRegistrations: in.MaxRegistrations, Message: in.Message,
		Status: string(in.Status), ExpiresAt: in.ExpiresAt, RequireEmailVerification: in.RequireEmailVerification == nil || *in.RequireEmailVerification,
		AllowedEmailDomains: strings.Join(in.AllowedEmailDomains, ","), CreatedAt: now, UpdatedAt: now}
	if a := lms.ActorFromContext(ctx); a != nil && a.Kind == lms.ActorUser {
		inv.CreatedBy = &a.ID
	}
	for attempt := 0; ; attempt++ {
		if generated {
			if in.Passcode, err = lms.GeneratePasscode(); err != nil {
				return nil, err
			}
		}
		err = s.insertInvitation(ctx, &inv, in.Passcode, in.UserGroupIDs)
		if generated && lms.ErrorCode(err) == lms.EConflict && attempt < 5 {
			continue // a generated passcode collided: draw another
		}
		break
	}
	if err != nil {
		return nil, translate(err, "invitation")
	}
	return s.invitationDomain(&inv, in.UserGroupIDs)
}

// insertInvitation writes a new invitation with passcode and its user
// groups in one transaction, once the passcode is claimed.
func (s *Invitations) insertInvitation(ctx context.Context, inv *invitation, passcode string, groups []string) error {
	inv.PasscodeHash = s.passcodeHash(passcode)
	var err error
	if inv.PasscodeSealed, err = auth.Seal(s.sealKey, passcode); err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := groupOrRoot(tx, inv.OrganizationID, inv.OrganizationGroupID, "organization_group_id"); err != nil {
			return err
		}
		if err := checkUserGroups(tx, inv.OrganizationID, inv.OrganizationGroupID, groups); err != nil {
			return err
		}
		if err := s.claimPasscode(tx, inv); err != nil {
			return err
		}
		if err := tx.Create(inv).Error; err != nil {
			return err
		}
		if err := linkUserGroups(tx, inv.ID, groups); err != nil {
			return err
		}
		return s.audit(ctx, tx, "invitation.create", "invitation", inv.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return errPasscodeTaken()
	}
	return err
}

func linkUserGroups(tx *gorm.DB, invID string, groups []string) error {
	links := make([]invitationUserGroup, len(groups))
	for i, g := range groups {
		links[i] = invitationUserGroup{InvitationID: invID, UserGroupID: g}
	}
	return tx.Create(&links).Error
}

// UpdateInvitation implements lms.InvitationService: the invitation's
// rules decide (lms.Invitation.Apply), the store claims the passcode and
// writes, under the row's lock.
func (s *Invitations) UpdateInvitation(ctx context.Context, id string, upd lms.InvitationUpdate) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate(s.now()); err != nil {
		return nil, err
	}
	orgName := ""
	if upd.SetsPasscode() {
		// A passcode may not contain the organization's name, which never
		// changes.
		if orgName, err = s.organizationName(s.q(ctx), org); err != nil {
			return nil, err
		}
	}
	now := s.now()
	out, err := s.updateInvitation(ctx, org, id, upd, func(inv *lms.Invitation) error {
		return inv.Apply(upd, now, orgName)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errPasscodeTaken()
	}
	if err != nil {
		return nil, translate(err, "invitation")
	}
	return out, nil
}

// updateInvitation reads the invitation locked, lets apply change it, and
// writes the fields upd names, in one transaction. A new passcode, or a
// revived expired invitation that gave its passcode up (a later expiry or
// none), (re)claims the passcode before the seats are judged.
func (s *Invitations) updateInvitation(ctx context.Context, org, id string, upd lms.InvitationUpdate,
	apply func(*lms.Invitation) error) (*lms.Invitation, error) {
	var out *lms.Invitation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		row, err := lockInvitation(tx, org, id)
		if err != nil {
			return err
		}
		groups, err := invitationGroups(tx, []string{row.ID})
		if err != nil {
			return err
		}
		inv, err := s.invitationDomain(row, groups[row.ID])
		if err != nil {
			return err
		}
		if err := apply(inv); err != nil {
			return err
		}
		if err := s.writeInvitation(tx, row, inv, upd); err != nil {
			return err
		}
		if upd.UserGroupIDs != nil {
			if err := relinkUserGroups(tx, org, inv); err != nil {
				return err
			}
		}
		action := "invitation.update"
		if string(inv.Status) != row.Status {
			action = "invitation.status." + string(inv.Status)
			err := s.emitFor(ctx, tx, org, lms.EventInvitationStatusChanged, invitationEventData{ID: inv.ID, Name: inv.Name,
				Status: string(inv.Status), PreviousStatus: row.Status, MaxRegistrations: inv.MaxRegistrations,
				RegistrationsUsed: row.RegistrationsUsed})
			if err != nil {
				return err
			}
		}
		if err := s.audit(ctx, tx, action, "invitation", inv.ID); err != nil {
			return err
		}
		out, err = s.loadInvitation(tx, org, inv.ID)
		return err
	})
	return out, err
}

// writeInvitation writes the columns of row that upd changes to their
// values in inv, claiming the passcode first when it must be.
func (s *Invitations) writeInvitation(tx *gorm.DB, row *invitation, inv *lms.Invitation, upd lms.InvitationUpdate) error {
	changes := invitationChanges(inv, upd)
	if upd.SetsPasscode() {
		row.PasscodeHash = s.passcodeHash(inv.Passcode)
		var err error
		if row.PasscodeSealed, err = auth.Seal(s.sealKey, inv.Passcode); err != nil {
			return err
		}
		changes["passcode_hash"], changes["passcode_sealed"] = row.PasscodeHash, row.PasscodeSealed
	}
	revived := upd.SetsExpiry() && row.PasscodeClaim == nil && !upd.Revokes()
	if upd.SetsPasscode() || revived {
		if err := s.claimPasscode(tx, row); err != nil {
			return err
		}
		changes["passcode_claim"] = row.PasscodeHash
	}
	if err := inv.CheckSeats(); err != nil {
		return err
	}
	q := tx.Model(&invitation{}).Where("id = ?", row.ID)
	if upd.MaxRegistrations != nil {
		// Conditional as well, so that a redemption racing this change
		// could never leave more seats used than exist.
		q = q.Where("registrations_used <= ?", inv.MaxRegistrations)
	}
	res := q.Updates(changes)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return lms.ErrSeatsBelowUsed(row.RegistrationsUsed)
	}
	return nil
}

// invitationChanges are the columns upd changes, with their values in inv
// (the passcode's aside).
func invitationChanges(inv *lms.Invitation, upd lms.InvitationUpdate) map[string]any {
	changes := map[string]any{"updated_at": inv.UpdatedAt}
	if upd.Name != nil {
		changes["name"], changes["search"] = inv.Name, strings.ToLower(inv.Name)
	}
	if upd.Message != nil {
		changes["message"] = inv.Message
	}
	if upd.RequireEmailVerification != nil {
		changes["require_email_verification"] = inv.RequireEmailVerification
	}
	if upd.AllowedEmailDomains != nil {
		changes["allowed_email_domains"] = strings.Join(inv.AllowedEmailDomains, ",")
	}
	if upd.SetsExpiry() {
		changes["expires_at"] = nil
		if inv.ExpiresAt != nil {
			changes["expires_at"] = *inv.ExpiresAt
		}
	}
	if upd.Status != nil {
		changes["status"] = string(inv.Status)
		if upd.Revokes() {
			changes["passcode_claim"] = nil
		}
	}
	if upd.MaxRegistrations != nil {
		changes["max_registrations"] = inv.MaxRegistrations
	}
	return changes
}

// relinkUserGroups replaces the user groups of inv with inv.UserGroupIDs,
// which must belong to its organization group.
func relinkUserGroups(tx *gorm.DB, org string, inv *lms.Invitation) error {
	if err := checkUserGroups(tx, org, inv.OrganizationGroupID, inv.UserGroupIDs); err != nil {
		return err
	}
	if err := tx.Where("invitation_id = ?", inv.ID).Delete(&invitationUserGroup{}).Error; err != nil {
		return err
	}
	return linkUserGroups(tx, inv.ID, inv.UserGroupIDs)
}

// DeleteInvitation implements lms.InvitationService.
func (s *Invitations) DeleteInvitation(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		inv, err := lockInvitation(tx, org, id)
		if err != nil {
			return err
		}
		if inv.RegistrationsUsed > 0 {
			return lms.Errorf(lms.EConflict, "the invitation has redemptions; revoke it instead")
		}
		if err := tx.Where("id = ?", inv.ID).Delete(&invitation{}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "invitation.delete", "invitation", inv.ID)
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return lms.Errorf(lms.EConflict, "the invitation has redemptions; revoke it instead")
	}
	return translate(err, "invitation")
}
