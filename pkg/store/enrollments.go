package store

import (
	"context"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// enrollment is a row of enrollments read with its course's name and code.
type enrollment struct {
	ID             string
	OrganizationID string
	UserID         string
	CourseID       string
	UserGroupID    *string
	CreatedAt      time.Time
	CourseName     string
	CourseCode     *string
}

func (e *enrollment) domain() *lms.Enrollment {
	code := ""
	if e.CourseCode != nil {
		code = *e.CourseCode
	}
	return &lms.Enrollment{ID: e.ID, OrganizationID: e.OrganizationID, UserID: e.UserID, CourseID: e.CourseID,
		CourseName: e.CourseName, CourseCode: code, UserGroupID: e.UserGroupID, CreatedAt: e.CreatedAt}
}

var enrollmentSorts = map[string]sortSpec[enrollment]{
	"created_at":  {id: func(e *enrollment) string { return e.ID }},
	"-created_at": {desc: true, id: func(e *enrollment) string { return e.ID }},
}

// FindMyEnrollments implements lms.EnrollmentService. The course's name and
// code are read by subqueries of the page's one query, for its rows only.
func (s *Catalog) FindMyEnrollments(ctx context.Context, p lms.PageRequest) (*lms.Page[*lms.Enrollment], error) {
	a := lms.ActorFromContext(ctx)
	if a == nil || a.Kind != lms.ActorUser {
		return nil, lms.Errorf(lms.EInsufficientRole, "only people have enrollments; integration clients have none")
	}
	if err := p.Normalize("created_at", "-created_at"); err != nil {
		return nil, err
	}
	q := s.q(ctx).Table("enrollments").Select("enrollments.*, "+
		"(SELECT c.name FROM courses c WHERE c.id = enrollments.course_id) AS course_name, "+
		"(SELECT c.code FROM courses c WHERE c.id = enrollments.course_id) AS course_code").
		Where("organization_id = ? AND user_id = ?", a.OrganizationID, a.ID)
	return listPage(q, p, enrollmentSorts[p.Sort], (*enrollment).domain)
}

// enrollSQL is the one statement that enrolls people: every row that
// selected yields (a FROM clause and what follows, after the values
// organization, user, course, user group, invitation and time, in that
// order) becomes an enrollment with a new ID, unless the person already
// has the course, which stays as it was. Adding a course or members to a
// group and joining an invitation's groups all enroll through it.
func enrollSQL(newIDSQL, selected string) string {
	return `INSERT INTO enrollments (id, organization_id, user_id, course_id, user_group_id, invitation_id, created_at)
		SELECT ` + newIDSQL + `, ` + selected + `
		ON CONFLICT (user_id, course_id) DO NOTHING`
}
