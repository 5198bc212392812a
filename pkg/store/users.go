package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

func findUser(tx *gorm.DB, org, id string) (*user, error) {
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "user not found")
	}
	var u user
	if err := tx.Where("organization_id = ? AND id = ?", org, id).Take(&u).Error; err != nil {
		return nil, translate(err, "user")
	}
	return &u, nil
}

// FindUserByID implements lms.UserService.
func (s *Organizations) FindUserByID(ctx context.Context, id string) (*lms.User, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	u, err := findUser(s.q(ctx), org, id)
	if err != nil {
		return nil, err
	}
	return u.domain(), nil
}

var userSorts = map[string]sortSpec[user]{
	"created_at":  {id: func(u *user) string { return u.ID }},
	"-created_at": {desc: true, id: func(u *user) string { return u.ID }},
	"email":       {column: "email", key: func(u *user) string { return u.Email }, id: func(u *user) string { return u.ID }},
}

// FindUsers implements lms.UserService.
func (s *Organizations) FindUsers(ctx context.Context, f lms.UserFilter) (*lms.Page[*lms.User], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("created_at", "-created_at", "email"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	if f.Role != nil {
		if !f.Role.Valid() {
			return nil, lms.Errorf(lms.EBadRequest, "role must be full_manager, limited_manager or learner")
		}
		q = q.Where("role = ?", string(*f.Role))
	}
	if err := lms.CheckQuery(f.Q); err != nil {
		return nil, err
	}
	if strings.TrimSpace(f.Q) != "" {
		q = q.Where(`search LIKE ? ESCAPE '\'`, searchPattern(f.Q))
	}
	return listPage(q, f.PageRequest, userSorts[f.Sort], (*user).domain)
}

// groupOrRoot returns the organization group id of org, or its root when id
// is empty, reporting a missing one as a field error.
func groupOrRoot(tx *gorm.DB, org, id, field string) (string, error) {
	q := tx.Model(&organizationGroup{}).Where("organization_id = ?", org)
	if id == "" {
		q = q.Where("parent_id IS NULL")
	} else {
		q = q.Where("id = ?", id)
	}
	var found string
	if err := q.Select("id").Take(&found).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return "", lms.ErrNoSuchOrganizationGroup(field)
	} else if err != nil {
		return "", err
	}
	return found, nil
}

// CreateUser implements lms.UserService.
func (s *Organizations) CreateUser(ctx context.Context, in lms.NewUser) (*lms.User, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(auth.CheckPassword); err != nil {
		return nil, err
	}
	email := in.Email
	var hash *string
	if in.Password != "" {
		h, err := s.hasher.Hash(ctx, in.Password)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	now := s.now()
	u := user{ID: newID(), OrganizationID: org, Email: email, FirstName: in.FirstName, LastName: in.LastName,
		Search: userSearch(email, in.FirstName, in.LastName), Role: string(in.Role), Status: string(lms.UserActive),
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if u.OrganizationGroupID, err = groupOrRoot(tx, org, in.OrganizationGroupID, "organization_group_id"); err != nil {
			return err
		}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		if err := s.emitFor(ctx, tx, org, lms.EventUserCreated, userData(&u)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "user.create", "user", u.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, lms.Errorf(lms.EConflict, "a user with this email already exists in the organization")
	}
	if err != nil {
		return nil, translate(err, "user")
	}
	return u.domain(), nil
}

// UpdateUser implements lms.UserService. Changing the password or disabling
// the account bumps the token version and revokes the refresh tokens, so
// every session ends.
func (s *Organizations) UpdateUser(ctx context.Context, id string, upd lms.UserUpdate) (*lms.User, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	var u *lms.User
	err = s.tx(ctx, func(tx *gorm.DB) error {
		row, err := findUser(tx, org, id)
		if err != nil {
			return err
		}
		if err := upd.ValidatePassword(row.Email, auth.CheckPassword); err != nil {
			return err
		}
		u = row.domain()
		wasFull := u.ActiveFullManager()
		// Every request reads the caller's row too, so a role is never
		// judged from a token alone.
		endSessions := u.Apply(upd, s.now())
		if wasFull && !u.ActiveFullManager() {
			if err := keepOneFullManager(tx, org, u.ID); err != nil {
				return err
			}
		}
		if upd.OrganizationGroupID != nil {
			if u.OrganizationGroupID, err = groupOrRoot(tx, org, *upd.OrganizationGroupID, "organization_group_id"); err != nil {
				return err
			}
		}
		changes, err := s.userChanges(tx, row, u, upd, endSessions)
		if err != nil {
			return err
		}
		if err := tx.Model(&user{}).Where("id = ?", u.ID).Updates(changes).Error; err != nil {
			return err
		}
		// As for invitations, a change of status is named by the status.
		action := "user.update"
		if string(u.Status) != row.Status {
			action = "user.status." + string(u.Status)
		}
		return s.audit(ctx, tx, action, "user", u.ID)
	})
	if err != nil {
		return nil, translate(err, "user")
	}
	return u, nil
}

// userChanges are the columns of row that upd changes, with their values
// in u: a new password hashed, and, when the change ends u's sessions, a
// new token version with every refresh token revoked.
func (s *Organizations) userChanges(tx *gorm.DB, row *user, u *lms.User, upd lms.UserUpdate, endSessions bool) (map[string]any, error) {
	changes := map[string]any{"updated_at": u.UpdatedAt, "search": userSearch(u.Email, u.FirstName, u.LastName)}
	if upd.FirstName != nil {
		changes["first_name"] = u.FirstName
	}
	if upd.LastName != nil {
		changes["last_name"] = u.LastName
	}
	if upd.Role != nil {
		changes["role"] = string(u.Role)
	}
	if string(u.Status) != row.Status {
		changes["status"] = string(u.Status)
	}
	if upd.OrganizationGroupID != nil {
		changes["organization_group_id"] = u.OrganizationGroupID
	}
	if upd.Password != nil {
		// Hashing inside the transaction would hold a write lock for the
		// length of a hash; it is short and rare enough here.
		hash, err := s.hasher.Hash(tx.Statement.Context, *upd.Password)
		if err != nil {
			return nil, err
		}
		changes["password_hash"] = hash
	}
	if endSessions {
		changes["token_version"] = gorm.Expr("token_version + 1")
		if err := revokeUserRefreshTokens(tx, u.ID, s.now()); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// keepOneFullManager refuses a change that would leave the organization with
// no active Full Manager, since nobody could then manage it.
func keepOneFullManager(tx *gorm.DB, org, except string) error {
	// Lock the organization first: two managers demoting each other at
	// once would otherwise each count the other and both succeed.
	var locked organization
	if err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Select("id").
		Where("id = ?", org).Take(&locked).Error; err != nil {
		return err
	}
	var n int64
	err := tx.Model(&user{}).Where("organization_id = ? AND role = ? AND status = ? AND id <> ?",
		org, string(lms.RoleFullManager), string(lms.UserActive), except).Count(&n).Error
	if err != nil {
		return err
	}
	if n == 0 {
		return lms.Errorf(lms.EConflict, "the organization must keep at least one active full manager")
	}
	return nil
}

// DeleteUser implements lms.UserService.
func (s *Organizations) DeleteUser(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	if a := lms.ActorFromContext(ctx); a != nil && a.Kind == lms.ActorUser && a.ID == id {
		return lms.Errorf(lms.EConflict, "you cannot delete your own account")
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		u, err := findUser(tx, org, id)
		if err != nil {
			return err
		}
		if u.Role == string(lms.RoleFullManager) && u.Status == string(lms.UserActive) {
			if err := keepOneFullManager(tx, org, u.ID); err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", id).Delete(&user{}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "user.delete", "user", u.ID)
	})
	return translate(err, "user")
}
