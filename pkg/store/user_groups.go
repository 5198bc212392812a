package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

type userGroup struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Name                string
	NameKey             string
	Description         string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// CourseCount and MemberCount are not columns: they are read, never
	// written, and filled only by queries built with withCounts.
	CourseCount int64 `gorm:"->"`
	MemberCount int64 `gorm:"->"`
}

func (g *userGroup) domain() *lms.UserGroup {
	return &lms.UserGroup{ID: g.ID, OrganizationID: g.OrganizationID, OrganizationGroupID: g.OrganizationGroupID,
		Name: g.Name, Description: g.Description, CourseCount: int(g.CourseCount), MemberCount: int(g.MemberCount),
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type userGroupCourse struct {
	UserGroupID string
	CourseID    string
	CreatedAt   time.Time
}

type userGroupMember struct {
	UserGroupID string
	UserID      string
	CreatedAt   time.Time
}

// withCounts selects user groups with their course and member counts. The
// correlated subqueries are part of the one query that reads a page, run
// only for the rows it returns, each an index-only count on a primary key:
// a page costs one query whatever its size.
func withCounts(tx *gorm.DB) *gorm.DB {
	return tx.Table("user_groups").Select(userGroupColumns)
}

// userGroupColumns are a user group's columns and its counts, in the order
// of userGroup's fields.
const userGroupColumns = "user_groups.id, user_groups.organization_id, user_groups.organization_group_id, " +
	"user_groups.name, user_groups.name_key, user_groups.description, user_groups.created_at, user_groups.updated_at, " +
	"(SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count, " +
	"(SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count"

func (*userGroup) columns() string { return userGroupColumns }

func (g *userGroup) fields(dst []any) []any {
	return append(dst[:0], &g.ID, &g.OrganizationID, &g.OrganizationGroupID, &g.Name, &g.NameKey, &g.Description,
		&g.CreatedAt, &g.UpdatedAt, &g.CourseCount, &g.MemberCount)
}

func errUserGroupNotFound() error { return lms.Errorf(lms.ENotFound, "user group not found") }

// findUserGroup loads a user group of the caller's organization. With lock,
// the row stays locked until the transaction ends (PostgreSQL; SQLite's
// writers are serialized anyway), so that adding members and adding courses
// to one group take turns: otherwise each could miss the other's rows and
// leave a member unenrolled in a course of the group.
func findUserGroup(tx *gorm.DB, org, id string, lock bool) (*userGroup, error) {
	if !lms.ValidID(id) {
		return nil, errUserGroupNotFound()
	}
	if lock {
		tx = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var g userGroup
	if err := tx.Where("organization_id = ? AND id = ?", org, id).Take(&g).Error; err != nil {
		return nil, translate(err, "user group")
	}
	return &g, nil
}

func findUserGroupCounted(tx *gorm.DB, org, id string) (*userGroup, error) {
	if !lms.ValidID(id) {
		return nil, errUserGroupNotFound()
	}
	var g userGroup
	if err := withCounts(tx).Where("organization_id = ? AND id = ?", org, id).Take(&g).Error; err != nil {
		return nil, translate(err, "user group")
	}
	return &g, nil
}

// FindUserGroupByID implements lms.UserGroupService.
func (s *UserGroups) FindUserGroupByID(ctx context.Context, id string) (*lms.UserGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	g, err := findUserGroupCounted(s.q(ctx), org, id)
	if err != nil {
		return nil, err
	}
	return g.domain(), nil
}

var userGroupSorts = map[string]sortSpec[userGroup]{
	"created_at":  {id: func(g *userGroup) string { return g.ID }},
	"-created_at": {desc: true, id: func(g *userGroup) string { return g.ID }},
	"name": {column: "name_key", key: func(g *userGroup) string { return g.NameKey },
		id: func(g *userGroup) string { return g.ID }},
}

// FindUserGroups implements lms.UserGroupService.
func (s *UserGroups) FindUserGroups(ctx context.Context, f lms.UserGroupFilter) (*lms.Page[*lms.UserGroup], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("created_at", "-created_at", "name"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Table("user_groups").Where("organization_id = ?", org) // find selects userGroupColumns
	if f.OrganizationGroupID != nil {
		if !lms.ValidID(*f.OrganizationGroupID) {
			return nil, lms.Errorf(lms.EBadRequest, "organization_group_id must be an ID")
		}
		q = q.Where("organization_group_id = ?", *f.OrganizationGroupID)
	}
	if err := lms.CheckQuery(f.Q); err != nil {
		return nil, err
	}
	if strings.TrimSpace(f.Q) != "" {
		q = q.Where(`name_key LIKE ? ESCAPE '\'`, searchPattern(f.Q))
	}
	return listPage(q, f.PageRequest, userGroupSorts[f.Sort], (*userGroup).domain)
}

// errUserGroupNameTaken is the conflict of a duplicate user group name.
func errUserGroupNameTaken() error {
	return lms.Errorf(lms.EConflict, "a user group with this name already exists in the organization group")
}

// CreateUserGroup implements lms.UserGroupService.
func (s *UserGroups) CreateUserGroup(ctx context.Context, in lms.NewUserGroup) (*lms.UserGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	g := userGroup{ID: newID(), OrganizationID: org, Name: in.Name,
		NameKey: strings.ToLower(in.Name), Description: in.Description, CreatedAt: now, UpdatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if g.OrganizationGroupID, err = groupOrRoot(tx, org, in.OrganizationGroupID, "organization_group_id"); err != nil {
			return err
		}
		if err := tx.Create(&g).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "user_group.create", "user_group", g.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errUserGroupNameTaken()
	}
	if err != nil {
		return nil, translate(err, "user group")
	}
	return g.domain(), nil
}

// UpdateUserGroup implements lms.UserGroupService.
func (s *UserGroups) UpdateUserGroup(ctx context.Context, id string, upd lms.UserGroupUpdate) (*lms.UserGroup, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	return s.updateUserGroup(ctx, id, func(g *lms.UserGroup) error {
		g.Apply(upd, s.now())
		return nil
	})
}

// updateUserGroup reads the user group locked, lets apply change it, and
// writes it back, in one transaction; it answers with the group's counts.
func (s *UserGroups) updateUserGroup(ctx context.Context, id string, apply func(*lms.UserGroup) error) (*lms.UserGroup, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	var row *userGroup
	err = s.tx(ctx, func(tx *gorm.DB) error {
		locked, err := findUserGroup(tx, org, id, true)
		if err != nil {
			return err
		}
		g := locked.domain()
		if err := apply(g); err != nil {
			return err
		}
		// A map, so that an emptied description is written.
		if err := tx.Model(&userGroup{}).Where("id = ?", id).Updates(map[string]any{"name": g.Name,
			"name_key": strings.ToLower(g.Name), "description": g.Description, "updated_at": g.UpdatedAt}).Error; err != nil {
			return err
		}
		if err := s.audit(ctx, tx, "user_group.update", "user_group", g.ID); err != nil {
			return err
		}
		row, err = findUserGroupCounted(tx, org, id)
		return err
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errUserGroupNameTaken()
	}
	if err != nil {
		return nil, translate(err, "user group")
	}
	return row.domain(), nil
}

// DeleteUserGroup implements lms.UserGroupService. The group's course and
// member lists go with it; the enrollments it made stay, no longer naming it.
func (s *UserGroups) DeleteUserGroup(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		g, err := findUserGroup(tx, org, id, true)
		if err != nil {
			return err
		}
		// Checked inside this transaction, after the lock above; an
		// invitation pointed at the group meanwhile is stopped by the
		// foreign key of invitation_user_groups.
		var live int64
		err = tx.Table("invitation_user_groups").
			Joins("JOIN invitations ON invitations.id = invitation_user_groups.invitation_id").
			Where("invitation_user_groups.user_group_id = ? AND invitations.status <> ?", g.ID, string(lms.InvitationRevoked)).
			Count(&live).Error
		if err != nil {
			return err
		}
		if live > 0 {
			return lms.Errorf(lms.EConflict, "an invitation that is not revoked targets this user group; revoke it first")
		}
		// Revoked invitations stay, without the group.
		if err := tx.Where("user_group_id = ?", g.ID).Delete(&invitationUserGroup{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", g.ID).Delete(&userGroup{}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "user_group.delete", "user_group", g.ID)
	})
	return translate(err, "user group")
}

// FindUserGroupCourses implements lms.UserGroupService.
func (s *UserGroups) FindUserGroupCourses(ctx context.Context, id string, p lms.PageRequest) (*lms.Page[*lms.Course], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize(courseSortKeys...); err != nil {
		return nil, err
	}
	db := s.q(ctx)
	if _, err := findUserGroup(db, org, id, false); err != nil {
		return nil, err
	}
	q := db.Where("organization_id = ? AND id IN (?)", org,
		db.Model(&userGroupCourse{}).Select("course_id").Where("user_group_id = ?", id))
	return listPage(q, p, courseSorts[p.Sort], (*course).domain)
}

// groupLink describes one side of a user group that additions fill:
// courses or members. The SQL is chosen by the code, never by the client;
// both statements take the same arguments in the same order.
type groupLink struct {
	field, what string // request field and object name, for errors
	action      string // the audit action, without .add or .remove
	model       any    // the objects added (course or user), to check they exist
	link        string // INSERT of the links: args group, now, org, ids
	enroll      string // INSERT of the enrollments: args now, group, org, ids
	table       any    // the link model, for removal
	column      string // the link column of the added object
	notIn       string // the 404 message of a removal
}

func (s *UserGroups) courseLink() groupLink {
	return groupLink{field: "course_ids", what: "course", action: "user_group.courses", model: &course{}, table: &userGroupCourse{}, column: "course_id",
		notIn: "the course is not in this user group",
		link: `INSERT INTO user_group_courses (user_group_id, course_id, created_at)
			SELECT ?, c.id, ? FROM courses c WHERE c.organization_id = ? AND c.id IN ?
			ON CONFLICT DO NOTHING`,
		enroll: enrollSQL(s.newIDSQL(), `c.organization_id, m.user_id, c.id, m.user_group_id, NULL, ?
			FROM user_group_members m CROSS JOIN courses c
			WHERE m.user_group_id = ? AND c.organization_id = ? AND c.id IN ?`)}
}

func (s *UserGroups) memberLink() groupLink {
	return groupLink{field: "user_ids", what: "user", action: "user_group.members", model: &user{}, table: &userGroupMember{}, column: "user_id",
		notIn: "the user is not a member of this user group",
		link: `INSERT INTO user_group_members (user_group_id, user_id, created_at)
			SELECT ?, u.id, ? FROM users u WHERE u.organization_id = ? AND u.id IN ?
			ON CONFLICT DO NOTHING`,
		enroll: enrollSQL(s.newIDSQL(), `u.organization_id, u.id, gc.course_id, gc.user_group_id, NULL, ?
			FROM users u CROSS JOIN user_group_courses gc
			WHERE gc.user_group_id = ? AND u.organization_id = ? AND u.id IN ?`)}
}

// addToUserGroup runs the same five statements whatever the size of the
// group: lock the group, check the objects, link them, enroll with one
// INSERT … SELECT that skips enrollments that already exist, and record
// the addition; one that links nothing new changes nothing and is not
// recorded.
func (s *UserGroups) addToUserGroup(ctx context.Context, id string, l groupLink, reqIDs []string) (*lms.UserGroupAddition, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	ids, index, err := lms.CheckIDList(l.field, reqIDs)
	if err != nil {
		return nil, err
	}
	res := &lms.UserGroupAddition{}
	now := s.now()
	err = s.tx(ctx, func(tx *gorm.DB) error {
		g, err := findUserGroup(tx, org, id, true)
		if err != nil {
			return err
		}
		var found []string
		if err := tx.Model(l.model).Where("organization_id = ? AND id IN ?", org, ids).Pluck("id", &found).Error; err != nil {
			return err
		}
		if err := lms.CheckAllFound(l.field, l.what, ids, index, found); err != nil {
			return err
		}
		linked := tx.Exec(l.link, g.ID, now, org, ids)
		if linked.Error != nil {
			return linked.Error
		}
		enrolled := tx.Exec(l.enroll, now, g.ID, org, ids)
		if enrolled.Error != nil {
			return enrolled.Error
		}
		res.Added, res.Enrolled = int(linked.RowsAffected), int(enrolled.RowsAffected)
		if res.Added == 0 {
			return nil
		}
		return s.audit(ctx, tx, l.action+".add", "user_group", g.ID)
	})
	if err != nil {
		return nil, translate(err, "user group")
	}
	return res, nil
}

// removeFromUserGroup removes one link. Enrollments stay: people keep the
// courses they were given.
func (s *UserGroups) removeFromUserGroup(ctx context.Context, id string, l groupLink, objID string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		g, err := findUserGroup(tx, org, id, true)
		if err != nil {
			return err
		}
		if !lms.ValidID(objID) {
			return lms.Errorf(lms.ENotFound, "%s", l.notIn)
		}
		del := tx.Where("user_group_id = ? AND "+l.column+" = ?", g.ID, objID).Delete(l.table)
		if del.Error == nil && del.RowsAffected == 0 {
			return lms.Errorf(lms.ENotFound, "%s", l.notIn)
		}
		if del.Error != nil {
			return del.Error
		}
		return s.audit(ctx, tx, l.action+".remove", "user_group", g.ID)
	})
	return translate(err, "user group")
}

// AddUserGroupCourses implements lms.UserGroupService: current members are
// enrolled in the courses.
func (s *UserGroups) AddUserGroupCourses(ctx context.Context, id string, courseIDs []string) (*lms.UserGroupAddition, error) {
	return s.addToUserGroup(ctx, id, s.courseLink(), courseIDs)
}

// RemoveUserGroupCourse implements lms.UserGroupService.
func (s *UserGroups) RemoveUserGroupCourse(ctx context.Context, id, courseID string) error {
	return s.removeFromUserGroup(ctx, id, s.courseLink(), courseID)
}

// FindUserGroupMembers implements lms.UserGroupService.
func (s *UserGroups) FindUserGroupMembers(ctx context.Context, id string, p lms.PageRequest) (*lms.Page[*lms.User], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("created_at", "-created_at", "email"); err != nil {
		return nil, err
	}
	db := s.q(ctx)
	if _, err := findUserGroup(db, org, id, false); err != nil {
		return nil, err
	}
	q := db.Where("organization_id = ? AND id IN (?)", org,
		db.Model(&userGroupMember{}).Select("user_id").Where("user_group_id = ?", id))
	return listPage(q, p, userSorts[p.Sort], (*user).domain)
}

// AddUserGroupMembers implements lms.UserGroupService: the members are
// enrolled in the group's courses.
func (s *UserGroups) AddUserGroupMembers(ctx context.Context, id string, userIDs []string) (*lms.UserGroupAddition, error) {
	return s.addToUserGroup(ctx, id, s.memberLink(), userIDs)
}

// RemoveUserGroupMember implements lms.UserGroupService.
func (s *UserGroups) RemoveUserGroupMember(ctx context.Context, id, userID string) error {
	return s.removeFromUserGroup(ctx, id, s.memberLink(), userID)
}
