package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

type organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

type organizationGroup struct {
	ID             string
	OrganizationID string
	ParentID       *string
	Name           string
	NameKey        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (g *organizationGroup) domain() *lms.OrganizationGroup {
	return &lms.OrganizationGroup{ID: g.ID, OrganizationID: g.OrganizationID, ParentID: g.ParentID,
		Name: g.Name, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type user struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Email               string
	FirstName           string
	LastName            string
	Search              string
	Role                string
	Status              string
	PasswordHash        *string
	TokenVersion        int
	// EmailSkeleton is lms.EmailSkeleton(Email), set by BeforeCreate: the
	// address is never changed afterwards.
	EmailSkeleton *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// BeforeCreate is GORM's hook: every account made through GORM records the
// skeleton its look-alikes are found by.
func (u *user) BeforeCreate(*gorm.DB) error {
	sk := lms.EmailSkeleton(u.Email)
	u.EmailSkeleton = &sk
	return nil
}

func (u *user) domain() *lms.User {
	return &lms.User{ID: u.ID, OrganizationID: u.OrganizationID, OrganizationGroupID: u.OrganizationGroupID,
		Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Role: lms.Role(u.Role),
		Status: lms.UserStatus(u.Status), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// userSearch is the lower-cased text that ?q= on users matches.
func userSearch(email, first, last string) string {
	return strings.ToLower(email + " " + first + " " + last)
}

type integrationClient struct {
	ID             string
	OrganizationID string
	Name           string
	Role           string
	SecretHash     string
	CreatedBy      *string
	CreatedAt      time.Time
}

func (c *integrationClient) domain() *lms.IntegrationClient {
	by := ""
	if c.CreatedBy != nil {
		by = *c.CreatedBy
	}
	return &lms.IntegrationClient{ID: c.ID, OrganizationID: c.OrganizationID, Name: c.Name,
		Role: lms.Role(c.Role), CreatedBy: by, CreatedAt: c.CreatedAt}
}

// CreateOrganization implements lms.OrganizationService.
func (s *Organizations) CreateOrganization(ctx context.Context, in lms.NewOrganization) (*lms.OrganizationSetup, error) {
	if err := in.Validate(auth.CheckPassword); err != nil {
		return nil, err
	}
	email := in.ManagerEmail
	hash, err := s.hasher.Hash(ctx, in.ManagerPassword)
	if err != nil {
		return nil, err
	}
	now := s.now()
	org := organization{ID: newID(), Name: strings.TrimSpace(in.Name), CreatedAt: now}
	root := organizationGroup{ID: newID(), OrganizationID: org.ID, Name: org.Name,
		NameKey: strings.ToLower(org.Name), CreatedAt: now, UpdatedAt: now}
	mgr := user{ID: newID(), OrganizationID: org.ID, OrganizationGroupID: root.ID, Email: email,
		FirstName: in.ManagerFirstName, LastName: in.ManagerLastName,
		Search: userSearch(email, in.ManagerFirstName, in.ManagerLastName),
		Role:   string(lms.RoleFullManager), Status: string(lms.UserActive), PasswordHash: &hash,
		CreatedAt: now, UpdatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&org).Error; err != nil {
			return err
		}
		if err := tx.Create(&root).Error; err != nil {
			return err
		}
		return tx.Create(&mgr).Error
	})
	if err != nil {
		return nil, translate(err, "organization")
	}
	return &lms.OrganizationSetup{OrganizationID: org.ID, OrganizationGroupID: root.ID, ManagerID: mgr.ID}, nil
}

// CountOrganizations implements lms.OrganizationService.
func (s *Organizations) CountOrganizations(ctx context.Context) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&organization{}).Count(&n).Error
	return n, err
}

// findOrganizationGroup loads a group of the caller's organization.
func findOrganizationGroup(tx *gorm.DB, org, id string) (*organizationGroup, error) {
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "organization group not found")
	}
	var g organizationGroup
	if err := tx.Where("organization_id = ? AND id = ?", org, id).Take(&g).Error; err != nil {
		return nil, translate(err, "organization group")
	}
	return &g, nil
}

// FindOrganizationGroupByID implements lms.OrganizationGroupService.
func (s *Organizations) FindOrganizationGroupByID(ctx context.Context, id string) (*lms.OrganizationGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	g, err := findOrganizationGroup(s.q(ctx), org, id)
	if err != nil {
		return nil, err
	}
	return g.domain(), nil
}

var organizationGroupSorts = map[string]sortSpec[organizationGroup]{
	"created_at":  {id: func(g *organizationGroup) string { return g.ID }},
	"-created_at": {desc: true, id: func(g *organizationGroup) string { return g.ID }},
	"name": {column: "name_key", key: func(g *organizationGroup) string { return g.NameKey },
		id: func(g *organizationGroup) string { return g.ID }},
}

// FindOrganizationGroups implements lms.OrganizationGroupService.
func (s *Organizations) FindOrganizationGroups(ctx context.Context, f lms.OrganizationGroupFilter) (*lms.Page[*lms.OrganizationGroup], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("created_at", "-created_at", "name"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	if f.ParentID != nil {
		if !lms.ValidID(*f.ParentID) {
			return nil, lms.Errorf(lms.EBadRequest, "parent_id must be an ID")
		}
		q = q.Where("parent_id = ?", *f.ParentID)
	}
	return listPage(q, f.PageRequest, organizationGroupSorts[f.Sort], (*organizationGroup).domain)
}

// CreateOrganizationGroup implements lms.OrganizationGroupService. An empty
// parentID places the group under the organization's root.
func (s *Organizations) CreateOrganizationGroup(ctx context.Context, name, parentID string) (*lms.OrganizationGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := lms.ValidateOrganizationGroup(&name, parentID); err != nil {
		return nil, err
	}
	now := s.now()
	g := organizationGroup{ID: newID(), OrganizationID: org, Name: name, NameKey: strings.ToLower(name), CreatedAt: now, UpdatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var parent organizationGroup
		q := tx.Where("organization_id = ?", org)
		if parentID == "" {
			q = q.Where("parent_id IS NULL")
		} else {
			q = q.Where("id = ?", parentID)
		}
		if err := q.Take(&parent).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return lms.ErrNoSuchOrganizationGroup("parent_id")
		} else if err != nil {
			return err
		}
		g.ParentID = &parent.ID
		if err := tx.Create(&g).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "organization_group.create", "organization_group", g.ID)
	})
	if err != nil {
		return nil, translate(err, "organization group")
	}
	return g.domain(), nil
}

// UpdateOrganizationGroup implements lms.OrganizationGroupService.
func (s *Organizations) UpdateOrganizationGroup(ctx context.Context, id string, upd lms.OrganizationGroupUpdate) (*lms.OrganizationGroup, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	return s.updateOrganizationGroup(ctx, id, func(g *lms.OrganizationGroup) error {
		return g.Apply(upd, s.now())
	})
}

// updateOrganizationGroup reads the group locked, lets apply change it,
// checks a move against the organization's tree, and writes the group
// back, in one transaction.
func (s *Organizations) updateOrganizationGroup(ctx context.Context, id string,
	apply func(*lms.OrganizationGroup) error) (*lms.OrganizationGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	var out *lms.OrganizationGroup
	err = s.tx(ctx, func(tx *gorm.DB) error {
		row, err := findOrganizationGroup(tx.Clauses(lockRow), org, id)
		if err != nil {
			return err
		}
		g := row.domain()
		if err := apply(g); err != nil {
			return err
		}
		if g.ParentID != nil && (row.ParentID == nil || *g.ParentID != *row.ParentID) {
			if err := s.checkMove(tx, org, id, *g.ParentID); err != nil {
				return err
			}
		}
		out = g
		if err := tx.Model(&organizationGroup{}).Where("id = ?", id).Updates(map[string]any{"name": g.Name,
			"name_key": strings.ToLower(g.Name), "parent_id": g.ParentID, "updated_at": g.UpdatedAt}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "organization_group.update", "organization_group", g.ID)
	})
	if err != nil {
		return nil, translate(err, "organization group")
	}
	return out, nil
}

// checkMove refuses to move group id under newParent when that would make
// a cycle. Moves of one organization's groups take turns: two moves that
// each pass the cycle check on their own (A under B, B under A) would
// together make a cycle. SQLite's writes are serialized already; on
// PostgreSQL the organization's row is the lock.
func (s *Organizations) checkMove(tx *gorm.DB, org, id, newParent string) error {
	if err := s.lockOrganization(tx, org); err != nil {
		return err
	}
	return checkNoCycle(tx, org, id, newParent)
}

// checkNoCycle refuses to move group id under newParent when newParent is the
// group itself or one of its descendants.
func checkNoCycle(tx *gorm.DB, org, id, newParent string) error {
	for cur, depth := newParent, 0; ; depth++ {
		if cur == id || depth > 1000 {
			return lms.ErrOrganizationGroupCycle()
		}
		p, err := findOrganizationGroup(tx, org, cur)
		if lms.ErrorCode(err) == lms.ENotFound {
			return lms.ErrNoSuchOrganizationGroup("parent_id")
		} else if err != nil {
			return err
		}
		if p.ParentID == nil {
			return nil
		}
		cur = *p.ParentID
	}
}

// DeleteOrganizationGroup implements lms.OrganizationGroupService.
func (s *Organizations) DeleteOrganizationGroup(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		g, err := findOrganizationGroup(tx, org, id)
		if err != nil {
			return err
		}
		if g.ParentID == nil {
			return lms.Errorf(lms.EConflict, "the root organization group cannot be deleted")
		}
		if err := tx.Where("id = ?", id).Delete(&organizationGroup{}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "organization_group.delete", "organization_group", g.ID)
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return lms.Errorf(lms.EConflict, "the organization group still has groups, users or user groups in it")
	}
	return translate(err, "organization group")
}
