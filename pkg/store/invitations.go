package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
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

func (s *Store) passcodeHash(passcode string) string {
	return auth.KeyedHash(s.passcodeKey, lms.NormalizePasscode(passcode))
}

// enrollURL is the frontend's enrollment page with the passcode prefilled.
func (s *Store) enrollURL(passcode string) string {
	return s.publicURL + "/enroll?passcode=" + url.QueryEscape(passcode)
}

func (s *Store) invitationDomain(inv *invitation, groups []string) (*lms.Invitation, error) {
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

func (s *Store) loadInvitation(tx *gorm.DB, org, id string) (*lms.Invitation, error) {
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
func (s *Store) FindInvitationByID(ctx context.Context, id string) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "invitation not found")
	}
	// The two statements are built once: this is the hot read of an
	// invitation (a frontend polls it for the seats used).
	get, err := buildOnce[invitation](s, "invitation in organization", 2, func(q *gorm.DB) *gorm.DB {
		return q.Table("invitations").Where("organization_id = ? AND id = ?", "", "").Limit(1)
	})
	if err != nil {
		return nil, err
	}
	found, err := readBuilt[invitation](ctx, s, get, 1, org, id)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, lms.Errorf(lms.ENotFound, "invitation not found")
	}
	links, err := buildOnce[invitationUserGroup](s, "user groups of an invitation", 1, func(q *gorm.DB) *gorm.DB {
		return q.Table("invitation_user_groups").Where("invitation_id = ?", "").Order("user_group_id")
	})
	if err != nil {
		return nil, err
	}
	groups, err := readBuilt[invitationUserGroup](ctx, s, links, 4, id)
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
func (s *Store) FindInvitations(ctx context.Context, f lms.InvitationFilter) (*lms.Page[*lms.Invitation], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("-created_at", "created_at", "name"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	if f.Status != nil {
		now := s.now()
		live := "(expires_at IS NULL OR expires_at > ?)"
		switch *f.Status {
		case lms.InvitationRevoked:
			q = q.Where("status = ?", "revoked")
		case lms.InvitationExpired:
			q = q.Where("status <> ? AND expires_at <= ?", "revoked", now)
		case lms.InvitationFull:
			q = q.Where("status = ? AND registrations_used >= max_registrations AND "+live, "active", now)
		case lms.InvitationActive:
			q = q.Where("status = ? AND registrations_used < max_registrations AND "+live, "active", now)
		case lms.InvitationDraft, lms.InvitationPaused:
			q = q.Where("status = ? AND "+live, string(*f.Status), now)
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
	page := &lms.Page[*lms.Invitation]{NextCursor: next, Items: make([]*lms.Invitation, len(rows))}
	for i := range rows {
		if page.Items[i], err = s.invitationDomain(&rows[i], groups[rows[i].ID]); err != nil {
			return nil, err
		}
	}
	return page, nil
}

func invalidField(field, message string) *lms.Error {
	return &lms.Error{Code: lms.EInvalid, Message: "the request has invalid fields",
		Fields: []lms.FieldError{{Field: field, Message: message}}}
}

// checkInvitationFields validates what create and update share.
func (s *Store) checkInvitationFields(v *lms.Validation, name *string, maxReg *int, groups *[]string, message *string, expires *time.Time, domains *[]string) {
	if domains != nil {
		norm, bad := lms.NormalizeEmailDomains(*domains)
		switch {
		case len(*domains) > lms.MaxAllowedEmailDomains:
			v.Add("allowed_email_domains", fmt.Sprintf("must list at most %d domains", lms.MaxAllowedEmailDomains))
		case bad >= 0:
			v.Add(fmt.Sprintf("allowed_email_domains[%d]", bad), "must be a domain name such as example.com")
		default:
			*domains = norm
		}
	}
	if name != nil {
		*name = strings.TrimSpace(*name)
		v.Name("name", *name, lms.MaxNameLen)
	}
	if maxReg != nil {
		v.Check(*maxReg >= 1 && *maxReg <= lms.MaxRegistrations, "max_registrations", fmt.Sprintf("must be from 1 to %d", lms.MaxRegistrations))
	}
	if groups != nil {
		ok := len(*groups) >= 1 && len(*groups) <= lms.MaxInvitationGroups
		for _, id := range *groups {
			ok = ok && lms.ValidID(id)
		}
		v.Check(ok, "user_group_ids", "must list 1 to 50 user group IDs")
		slices.Sort(*groups)
		*groups = slices.Compact(*groups)
	}
	if message != nil {
		v.Text("message", *message, lms.MaxMessageLen, true)
	}
	if expires != nil {
		// Stored in UTC: SQLite compares times as text, so every stored
		// time must share one offset.
		*expires = expires.UTC().Truncate(time.Microsecond)
		v.Check(expires.After(s.now()), "expires_at", "must be in the future")
	}
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
		return invalidField("user_group_ids", "every user group must exist and belong to the invitation's organization group")
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
func (s *Store) claimPasscode(tx *gorm.DB, inv *invitation) error {
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

func (s *Store) organizationName(tx *gorm.DB, org string) (string, error) {
	var name string
	err := tx.Model(&organization{}).Where("id = ?", org).Pluck("name", &name).Error
	return name, err
}

// CreateInvitation implements lms.InvitationService.
func (s *Store) CreateInvitation(ctx context.Context, in lms.NewInvitation) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = lms.InvitationDraft
	}
	var v lms.Validation
	s.checkInvitationFields(&v, &in.Name, &in.MaxRegistrations, &in.UserGroupIDs, &in.Message, in.ExpiresAt, &in.AllowedEmailDomains)
	if in.UserGroupIDs == nil {
		v.Add("user_group_ids", "must list 1 to 50 user group IDs")
	}
	v.Check(lms.ValidID(in.OrganizationGroupID), "organization_group_id", "must be an organization group ID")
	v.Check(in.Status == lms.InvitationDraft || in.Status == lms.InvitationActive, "status", "must be draft or active")
	if err := v.Err(); err != nil {
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
		inv.PasscodeHash = s.passcodeHash(in.Passcode)
		if inv.PasscodeSealed, err = auth.Seal(s.sealKey, in.Passcode); err != nil {
			return nil, err
		}
		err = s.tx(ctx, func(tx *gorm.DB) error {
			if _, err := groupOrRoot(tx, org, in.OrganizationGroupID, "organization_group_id"); err != nil {
				return err
			}
			if err := checkUserGroups(tx, org, in.OrganizationGroupID, in.UserGroupIDs); err != nil {
				return err
			}
			if err := s.claimPasscode(tx, &inv); err != nil {
				return err
			}
			if err := tx.Create(&inv).Error; err != nil {
				return err
			}
			if err := linkUserGroups(tx, inv.ID, in.UserGroupIDs); err != nil {
				return err
			}
			return s.audit(ctx, tx, "invitation.create", "invitation", inv.ID)
		})
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			err = errPasscodeTaken()
		}
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

func linkUserGroups(tx *gorm.DB, invID string, groups []string) error {
	links := make([]invitationUserGroup, len(groups))
	for i, g := range groups {
		links[i] = invitationUserGroup{InvitationID: invID, UserGroupID: g}
	}
	return tx.Create(&links).Error
}

// UpdateInvitation implements lms.InvitationService.
func (s *Store) UpdateInvitation(ctx context.Context, id string, upd lms.InvitationUpdate) (*lms.Invitation, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	var v lms.Validation
	s.checkInvitationFields(&v, upd.Name, upd.MaxRegistrations, upd.UserGroupIDs, upd.Message, upd.ExpiresAt, upd.AllowedEmailDomains)
	if upd.Status != nil {
		st := *upd.Status
		v.Check(st == lms.InvitationDraft || st == lms.InvitationActive || st == lms.InvitationPaused || st == lms.InvitationRevoked,
			"status", "must be draft, active, paused or revoked")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *lms.Invitation
	err = s.tx(ctx, func(tx *gorm.DB) error {
		inv, err := lockInvitation(tx, org, id)
		if err != nil {
			return err
		}
		if inv.Status == string(lms.InvitationRevoked) {
			return lms.Errorf(lms.EConflict, "the invitation is revoked; revoked invitations cannot change")
		}
		changes := map[string]any{"updated_at": s.now()}
		if upd.Name != nil {
			changes["name"], changes["search"] = *upd.Name, strings.ToLower(*upd.Name)
			inv.Name = *upd.Name
		}
		if upd.Message != nil {
			changes["message"] = *upd.Message
		}
		if upd.RequireEmailVerification != nil {
			// Redemptions pending already stay pending: their links were sent.
			changes["require_email_verification"] = *upd.RequireEmailVerification
		}
		if upd.AllowedEmailDomains != nil {
			changes["allowed_email_domains"] = strings.Join(*upd.AllowedEmailDomains, ",")
		}
		if upd.ExpiresAt != nil {
			changes["expires_at"] = *upd.ExpiresAt
			inv.ExpiresAt = upd.ExpiresAt
		} else if upd.ClearExpiry {
			changes["expires_at"] = nil
			inv.ExpiresAt = nil
		}
		if upd.Status != nil {
			if !lms.CanTransition(lms.InvitationStatus(inv.Status), *upd.Status) {
				return lms.Errorf(lms.EConflict, "an invitation cannot go from %s to %s", inv.Status, *upd.Status)
			}
			changes["status"] = string(*upd.Status)
			if *upd.Status == lms.InvitationRevoked {
				changes["passcode_claim"] = nil
			}
		}
		if upd.Passcode != nil && (upd.Status == nil || *upd.Status != lms.InvitationRevoked) {
			orgName, err := s.organizationName(tx, org)
			if err != nil {
				return err
			}
			p := strings.TrimSpace(*upd.Passcode)
			if err := lms.CheckPasscode(p, inv.Name, orgName); err != nil {
				return err
			}
			inv.PasscodeHash = s.passcodeHash(p)
			if inv.PasscodeSealed, err = auth.Seal(s.sealKey, p); err != nil {
				return err
			}
			changes["passcode_hash"], changes["passcode_sealed"] = inv.PasscodeHash, inv.PasscodeSealed
		}
		revived := (upd.ExpiresAt != nil || upd.ClearExpiry) && inv.PasscodeClaim == nil &&
			changes["status"] != string(lms.InvitationRevoked) && inv.Status != string(lms.InvitationRevoked)
		if _, ok := changes["passcode_hash"]; ok || revived {
			// A new passcode, or a revived expired invitation that gave its
			// passcode up (a later expiry or none), must (re)claim it.
			if err := s.claimPasscode(tx, inv); err != nil {
				return err
			}
			changes["passcode_claim"] = inv.PasscodeHash
		}
		q := tx.Model(&invitation{}).Where("id = ?", inv.ID)
		if upd.MaxRegistrations != nil {
			changes["max_registrations"] = *upd.MaxRegistrations
			// Conditional, so a redemption racing this change cannot leave
			// more seats used than exist.
			q = q.Where("registrations_used <= ?", *upd.MaxRegistrations)
		}
		res := q.Updates(changes)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return lms.Errorf(lms.EConflict, "max_registrations cannot be below the %d registrations already used", inv.RegistrationsUsed)
		}
		if upd.UserGroupIDs != nil {
			if err := checkUserGroups(tx, org, inv.OrganizationGroupID, *upd.UserGroupIDs); err != nil {
				return err
			}
			if err := tx.Where("invitation_id = ?", inv.ID).Delete(&invitationUserGroup{}).Error; err != nil {
				return err
			}
			if err := linkUserGroups(tx, inv.ID, *upd.UserGroupIDs); err != nil {
				return err
			}
		}
		action := "invitation.update"
		if upd.Status != nil && string(*upd.Status) != inv.Status {
			action = "invitation.status." + string(*upd.Status)
		}
		if err := s.audit(ctx, tx, action, "invitation", inv.ID); err != nil {
			return err
		}
		out, err = s.loadInvitation(tx, org, inv.ID)
		return err
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errPasscodeTaken()
	}
	if err != nil {
		return nil, translate(err, "invitation")
	}
	return out, nil
}

// DeleteInvitation implements lms.InvitationService.
func (s *Store) DeleteInvitation(ctx context.Context, id string) error {
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

type auditEvent struct {
	ID             string
	OrganizationID string
	ActorID        *string
	ActorKind      string
	Action         string
	TargetType     string
	TargetID       string
	RequestID      string
	CreatedAt      time.Time
}

// audit records who did what to which object, in the transaction of the
// change itself, so that an event exists exactly when the change does.
func (s *Store) audit(ctx context.Context, tx *gorm.DB, action, targetType, targetID string) error {
	ev := auditEvent{ID: newID(), Action: action, TargetType: targetType, TargetID: targetID,
		RequestID: lms.RequestIDFromContext(ctx), CreatedAt: s.now(), ActorKind: "system"}
	if a := lms.ActorFromContext(ctx); a != nil {
		ev.OrganizationID, ev.ActorID, ev.ActorKind = a.OrganizationID, &a.ID, string(a.Kind)
	}
	return tx.Create(&ev).Error
}
