package lms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Course is an entry of an organization's catalog. Code is "" when the
// course has none; when set it is unique in the organization,
// case-insensitively.
type Course struct {
	ID             string
	OrganizationID string
	Name           string
	Code           string
	Description    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CourseFilter narrows a list of courses. Q matches name and code,
// case-insensitively, as a plain substring (% and _ are not wildcards).
type CourseFilter struct {
	PageRequest
	Q string
}

// NewCourse is the input of CreateCourse and one row of ImportCourses. Line
// is where the row came from (a CSV line), reported back when the row is
// rejected; CreateCourse ignores it.
type NewCourse struct {
	Name        string
	Code        string
	Description string
	Line        int
}

// CourseUpdate holds the fields a PATCH may change; nil means unchanged. An
// empty Code removes the code, an empty Description clears it.
type CourseUpdate struct {
	Name        *string
	Code        *string
	Description *string
}

// ImportRejection is one row ImportCourses did not insert, and why.
type ImportRejection struct {
	Line   int
	Reason string
}

// ImportResult is what ImportCourses did: how many courses it created and
// which rows it refused, in line order.
type ImportResult struct {
	Created  int
	Rejected []ImportRejection
}

// Reject records that the row of line was refused, and why.
func (r *ImportResult) Reject(line int, format string, args ...any) {
	r.Rejected = append(r.Rejected, ImportRejection{Line: line, Reason: fmt.Sprintf(format, args...)})
}

// RejectInvalid records that the row of line was refused for the fields
// err, a validation_failed error, names: each field and its problem.
func (r *ImportResult) RejectInvalid(line int, err error) {
	var e *Error
	if !errors.As(err, &e) {
		r.Reject(line, "%s", ErrorMessage(err))
		return
	}
	reasons := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		reasons[i] = f.Field + " " + f.Message
	}
	r.Reject(line, "%s", strings.Join(reasons, "; "))
}

// UserGroup gathers people of one organization group who take the same
// courses. CourseCount and MemberCount are counted when the group is read.
type UserGroup struct {
	ID                  string
	OrganizationID      string
	OrganizationGroupID string
	Name                string
	Description         string
	CourseCount         int
	MemberCount         int
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// UserGroupFilter narrows a list of user groups. Q matches the name,
// case-insensitively, as a plain substring.
type UserGroupFilter struct {
	PageRequest
	Q                   string
	OrganizationGroupID *string
}

// NewUserGroup is the input of CreateUserGroup.
type NewUserGroup struct {
	Name                string
	OrganizationGroupID string
	Description         string
}

// UserGroupUpdate holds the fields a PATCH may change; nil means unchanged.
type UserGroupUpdate struct {
	Name        *string
	Description *string
}

// UserGroupAddition is what adding courses or members to a user group did:
// how many were new to the group (re-adding is not an error and counts
// nothing) and how many enrollments that created.
type UserGroupAddition struct {
	Added    int
	Enrolled int
}

// MaxUserGroupAddition bounds the IDs of one request that adds courses or
// members to a user group.
const MaxUserGroupAddition = 500

// Enrollment is a user's place in a course. UserGroupID names the user
// group that enrolled the user; it is nil once that group is deleted (the
// enrollment stays).
type Enrollment struct {
	ID             string
	OrganizationID string
	UserID         string
	CourseID       string
	CourseName     string
	CourseCode     string
	UserGroupID    *string
	CreatedAt      time.Time
}

// CourseService manages the caller's organization's catalog.
type CourseService interface {
	// Returns not_found.
	FindCourseByID(ctx context.Context, id string) (*Course, error)
	// Returns bad_request for a bad page request.
	FindCourses(ctx context.Context, f CourseFilter) (*Page[*Course], error)
	// Returns validation_failed and conflict (code taken).
	CreateCourse(ctx context.Context, in NewCourse) (*Course, error)
	// Returns validation_failed, not_found and conflict (code taken).
	UpdateCourse(ctx context.Context, id string, upd CourseUpdate) (*Course, error)
	// Removes the course from every user group too.
	// Returns not_found and conflict (the course has enrollments).
	DeleteCourse(ctx context.Context, id string) error
}

// CourseImporter loads a catalog in bulk, for the command line (there is no
// caller in the context: the organization is named explicitly).
type CourseImporter interface {
	// ImportCourses creates the valid rows in one transaction and reports
	// the others: invalid fields, a code repeated in rows, or a code the
	// organization already has. An error means nothing was created.
	// Returns not_found (organization) and conflict (a code was taken
	// concurrently).
	ImportCourses(ctx context.Context, orgID string, rows []NewCourse) (*ImportResult, error)
}

// UserGroupService manages the caller's organization's user groups, their
// courses and their members. Adding a course enrolls the group's members;
// adding members enrolls them in the group's courses; removing either
// leaves enrollments as they are.
type UserGroupService interface {
	// Returns not_found.
	FindUserGroupByID(ctx context.Context, id string) (*UserGroup, error)
	// Returns bad_request.
	FindUserGroups(ctx context.Context, f UserGroupFilter) (*Page[*UserGroup], error)
	// Returns validation_failed (also for an organization group that is
	// not the caller's) and conflict (name taken in the organization group).
	CreateUserGroup(ctx context.Context, in NewUserGroup) (*UserGroup, error)
	// Returns validation_failed, not_found and conflict.
	UpdateUserGroup(ctx context.Context, id string, upd UserGroupUpdate) (*UserGroup, error)
	// Returns not_found.
	DeleteUserGroup(ctx context.Context, id string) error

	// Returns not_found (user group) and bad_request.
	FindUserGroupCourses(ctx context.Context, id string, p PageRequest) (*Page[*Course], error)
	// Adds courses and enrolls the group's members in them.
	// Returns validation_failed (bad IDs, or courses that are not the
	// caller's, each listed) and not_found (user group).
	AddUserGroupCourses(ctx context.Context, id string, courseIDs []string) (*UserGroupAddition, error)
	// Returns not_found (user group, or the course is not in it).
	RemoveUserGroupCourse(ctx context.Context, id, courseID string) error

	// Returns not_found (user group) and bad_request.
	FindUserGroupMembers(ctx context.Context, id string, p PageRequest) (*Page[*User], error)
	// Adds members and enrolls them in the group's courses.
	// Returns validation_failed (bad IDs, or users that are not the
	// caller's, each listed) and not_found (user group).
	AddUserGroupMembers(ctx context.Context, id string, userIDs []string) (*UserGroupAddition, error)
	// Returns not_found (user group, or the user is not a member).
	RemoveUserGroupMember(ctx context.Context, id, userID string) error
}

// EnrollmentService shows people what they are enrolled in.
type EnrollmentService interface {
	// FindMyEnrollments lists the calling user's enrollments.
	// Returns bad_request and insufficient_role (integration clients,
	// which are not people and have no enrollments).
	FindMyEnrollments(ctx context.Context, p PageRequest) (*Page[*Enrollment], error)
}
