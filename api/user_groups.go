package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// UserGroupResponse is a group of people who take the same courses.
type UserGroupResponse struct {
	ID                  string `json:"id" format:"uuid"`
	OrganizationID      string `json:"organization_id" format:"uuid"`
	OrganizationGroupID string `json:"organization_group_id" format:"uuid"`
	Name                string `json:"name" example:"New hires"`
	Description         string `json:"description" example:"Everyone in their first month."`
	// How many courses the group has, counted when it is read.
	CourseCount int `json:"course_count" example:"3"`
	// How many members the group has, counted when it is read.
	MemberCount int    `json:"member_count" example:"42"`
	CreatedAt   string `json:"created_at" format:"date-time"`
	UpdatedAt   string `json:"updated_at" format:"date-time"`
} // @name UserGroup

func userGroupResponse(g *lms.UserGroup) UserGroupResponse {
	return UserGroupResponse{ID: g.ID, OrganizationID: g.OrganizationID, OrganizationGroupID: g.OrganizationGroupID,
		Name: g.Name, Description: g.Description, CourseCount: g.CourseCount, MemberCount: g.MemberCount,
		CreatedAt: stamp(g.CreatedAt), UpdatedAt: stamp(g.UpdatedAt)}
}

// UserGroupList is a page of user groups.
type UserGroupList struct {
	Data       []UserGroupResponse `json:"data"`
	NextCursor *string             `json:"next_cursor" extensions:"x-nullable"`
} // @name UserGroupList

// CreateUserGroupRequest adds a user group to an organization group.
type CreateUserGroupRequest struct {
	// Unique in its organization group, case-insensitively.
	Name string `json:"name" example:"New hires"`
	// One of the caller's organization groups; it cannot be changed later.
	OrganizationGroupID string `json:"organization_group_id" format:"uuid"`
	// Optional; at most 10000 characters.
	Description string `json:"description,omitempty"`
} // @name CreateUserGroupRequest

// UpdateUserGroupRequest renames a user group or changes its description;
// absent fields stay as they are.
type UpdateUserGroupRequest struct {
	Name *string `json:"name,omitempty"`
	// An empty string clears the description.
	Description *string `json:"description,omitempty"`
} // @name UpdateUserGroupRequest

// AddUserGroupCoursesRequest adds courses to a user group.
type AddUserGroupCoursesRequest struct {
	// 1 to 500 IDs of the organization's courses; repeats and courses the group has are ignored.
	CourseIDs []string `json:"course_ids" format:"uuid"`
} // @name AddUserGroupCoursesRequest

// AddUserGroupMembersRequest adds people to a user group.
type AddUserGroupMembersRequest struct {
	// 1 to 500 IDs of the organization's users; repeats and existing members are ignored.
	UserIDs []string `json:"user_ids" format:"uuid"`
} // @name AddUserGroupMembersRequest

// UserGroupAdditionResponse tells what adding courses or members did.
type UserGroupAdditionResponse struct {
	// Courses or members new to the group (0 when all were there already).
	Added int `json:"added" example:"2"`
	// Enrollments created: each member in each added course, unless enrolled in it already.
	Enrolled int `json:"enrolled" example:"84"`
} // @name UserGroupAddition

func userGroupAdditionResponse(a *lms.UserGroupAddition) UserGroupAdditionResponse {
	return UserGroupAdditionResponse{Added: a.Added, Enrolled: a.Enrolled}
}

// listUserGroups godoc
//
//	@Summary     User groups of the organization
//	@Description Full and Limited Managers. The user groups of the caller's organization, each with course_count and member_count counted when it is read, oldest first unless sort says otherwise. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        user groups
//	@Produce     json
//	@Param       q                     query    string false "case-insensitive substring of the name (% and _ match themselves)"
//	@Param       organization_group_id query    string false "only user groups of this organization group" format(uuid)
//	@Param       limit                 query    int    false "page size (1-200, default 50)"
//	@Param       cursor                query    string false "next_cursor of the previous page"
//	@Param       sort                  query    string false "order" Enums(created_at, -created_at, name)
//	@Success     200                   {object} UserGroupList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, an organization_group_id that is not a UUID, a q longer than 200 characters or with control characters, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Security    BearerAuth
//	@ID          listUserGroups
//	@Router  /api/v1/user-groups [get]
func (s *Server) listUserGroups(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.UserGroups.FindUserGroups(c.Request.Context(), lms.UserGroupFilter{PageRequest: p,
		Q: c.Query("q"), OrganizationGroupID: optionalString(c, "organization_group_id")})
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, userGroupResponse)
}

// createUserGroup godoc
//
//	@Summary     Add a user group
//	@Description Full Managers only. Adds a user group without courses or members to one of the caller's organization groups, for good (it cannot move later), and answers it with a Location header; an organization group that is not the caller's is a validation error (422) on organization_group_id. The name is trimmed and must be unique in its organization group, case-insensitively (409).
//	@Tags        user groups
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateUserGroupRequest true "the user group"
//	@Success     201  {object} UserGroupResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     409 {object} Problem "conflict: a user group with this name already exists in the organization group"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank, too long or control-character name, a description over 10000 characters, or an organization group that is not the caller's"
//	@Security    BearerAuth
//	@ID          createUserGroup
//	@Router      /api/v1/user-groups [post]
func (s *Server) createUserGroup(c *gin.Context) {
	var req CreateUserGroupRequest
	if !bindJSON(c, &req) {
		return
	}
	g, err := s.Services.UserGroups.CreateUserGroup(c.Request.Context(), lms.NewUserGroup{Name: req.Name,
		OrganizationGroupID: req.OrganizationGroupID, Description: req.Description})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/user-groups/"+g.ID)
	writeJSON(c, http.StatusCreated, userGroupResponse(g))
}

// getUserGroup godoc
//
//	@Summary     A user group
//	@Description Full and Limited Managers. The user group, with course_count and member_count counted when it is read.
//	@Tags        user groups
//	@Produce     json
//	@Param       id  path     string true "user group ID" format(uuid)
//	@Success     200 {object} UserGroupResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Security    BearerAuth
//	@ID          getUserGroup
//	@Router  /api/v1/user-groups/{id} [get]
func (s *Server) getUserGroup(c *gin.Context) {
	g, err := s.Services.UserGroups.FindUserGroupByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userGroupResponse(g))
}

// updateUserGroup godoc
//
//	@Summary     Rename a user group or change its description
//	@Description Full Managers only. Absent fields, and null ones, stay as they are, and an empty description clears it; the organization group cannot change (the field is unknown here: 400). A new name is trimmed and must be unique in the organization group, case-insensitively (409).
//	@Tags        user groups
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                 true "user group ID" format(uuid)
//	@Param       body body     UpdateUserGroupRequest true "fields to change"
//	@Success     200  {object} UserGroupResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Failure     409 {object} Problem "conflict: another user group of the organization group has this name"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank, too long or control-character name, or a description over 10000 characters"
//	@Security    BearerAuth
//	@ID          updateUserGroup
//	@Router  /api/v1/user-groups/{id} [patch]
func (s *Server) updateUserGroup(c *gin.Context) {
	var req UpdateUserGroupRequest
	if !bindJSON(c, &req) {
		return
	}
	g, err := s.Services.UserGroups.UpdateUserGroup(c.Request.Context(), c.Param("id"),
		lms.UserGroupUpdate{Name: req.Name, Description: req.Description})
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userGroupResponse(g))
}

// deleteUserGroup godoc
//
//	@Summary     Remove a user group
//	@Description Full Managers only. The group's course and member lists go with it; the enrollments it made stay (their user_group_id becomes null), and revoked invitations that targeted it no longer list it. Refused with 409 while an invitation that is not revoked targets the group, expired ones included. Not idempotent: deleting it again is 404.
//	@Tags        user groups
//	@Param       id path string true "user group ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization (or it was deleted already)"
//	@Failure     409 {object} Problem "conflict: an invitation that is not revoked targets the user group; revoke it first"
//	@Security    BearerAuth
//	@ID          deleteUserGroup
//	@Router      /api/v1/user-groups/{id} [delete]
func (s *Server) deleteUserGroup(c *gin.Context) {
	if err := s.Services.UserGroups.DeleteUserGroup(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listUserGroupCourses godoc
//
//	@Summary     Courses of a user group
//	@Description Full and Limited Managers. The catalog courses attached to the user group, in the order of the courses' own created_at or name (not of when they joined the group). Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        user groups
//	@Produce     json
//	@Param       id     path     string true  "user group ID" format(uuid)
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order (created_at is the course's)" Enums(created_at, -created_at, name)
//	@Success     200    {object} CourseList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Security    BearerAuth
//	@ID          listUserGroupCourses
//	@Router  /api/v1/user-groups/{id}/courses [get]
func (s *Server) listUserGroupCourses(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.UserGroups.FindUserGroupCourses(c.Request.Context(), c.Param("id"), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, courseResponse)
}

// addUserGroupCourses godoc
//
//	@Summary     Add courses to a user group
//	@Description Full Managers only. Idempotent: courses the group has already are skipped, and added and enrolled count only what this request changed (0 and 0 when it is repeated). Every current member is enrolled in the added courses, unless enrolled in them already. IDs that are not the organization's courses are listed as errors (422) and nothing is added.
//	@Tags        user groups
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                     true "user group ID" format(uuid)
//	@Param       body body     AddUserGroupCoursesRequest true "the courses"
//	@Success     200  {object} UserGroupAdditionResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: not 1 to 500 IDs, or entries that are not UUIDs or not courses of the organization, each named in errors"
//	@Security    BearerAuth
//	@ID          addUserGroupCourses
//	@Router      /api/v1/user-groups/{id}/courses [post]
func (s *Server) addUserGroupCourses(c *gin.Context) {
	var req AddUserGroupCoursesRequest
	if !bindJSON(c, &req) {
		return
	}
	res, err := s.Services.UserGroups.AddUserGroupCourses(c.Request.Context(), c.Param("id"), req.CourseIDs)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userGroupAdditionResponse(res))
}

// removeUserGroupCourse godoc
//
//	@Summary     Remove a course from a user group
//	@Description Full Managers only. The course leaves the group's list; the members' enrollments in it stay. 404 when the course is not in the group, so removing it again is 404.
//	@Tags        user groups
//	@Param       id        path string true "user group ID" format(uuid)
//	@Param       course_id path string true "course ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization, or the course is not in it"
//	@Security    BearerAuth
//	@ID          removeUserGroupCourse
//	@Router      /api/v1/user-groups/{id}/courses/{course_id} [delete]
func (s *Server) removeUserGroupCourse(c *gin.Context) {
	if err := s.Services.UserGroups.RemoveUserGroupCourse(c.Request.Context(), c.Param("id"), c.Param("course_id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listUserGroupMembers godoc
//
//	@Summary     Members of a user group
//	@Description Full and Limited Managers. The users who are members of the user group, in the order of the users' own created_at or email (not of when they joined the group). Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        user groups
//	@Produce     json
//	@Param       id     path     string true  "user group ID" format(uuid)
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order (created_at is the user's)" Enums(created_at, -created_at, email)
//	@Success     200    {object} UserList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Security    BearerAuth
//	@ID          listUserGroupMembers
//	@Router  /api/v1/user-groups/{id}/members [get]
func (s *Server) listUserGroupMembers(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.UserGroups.FindUserGroupMembers(c.Request.Context(), c.Param("id"), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, userResponse)
}

// addUserGroupMembers godoc
//
//	@Summary     Add members to a user group
//	@Description Full Managers only. Idempotent: existing members are skipped, and added and enrolled count only what this request changed (0 and 0 when it is repeated). Any user of the organization may be added, whatever its role, status or organization group, and is enrolled in every course of the group, unless enrolled in it already. IDs that are not the organization's users are listed as errors (422) and nothing is added.
//	@Tags        user groups
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                     true "user group ID" format(uuid)
//	@Param       body body     AddUserGroupMembersRequest true "the people"
//	@Success     200  {object} UserGroupAdditionResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: not 1 to 500 IDs, or entries that are not UUIDs or not users of the organization, each named in errors"
//	@Security    BearerAuth
//	@ID          addUserGroupMembers
//	@Router      /api/v1/user-groups/{id}/members [post]
func (s *Server) addUserGroupMembers(c *gin.Context) {
	var req AddUserGroupMembersRequest
	if !bindJSON(c, &req) {
		return
	}
	res, err := s.Services.UserGroups.AddUserGroupMembers(c.Request.Context(), c.Param("id"), req.UserIDs)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userGroupAdditionResponse(res))
}

// removeUserGroupMember godoc
//
//	@Summary     Remove a member from a user group
//	@Description Full Managers only. The person leaves the group and keeps the enrollments the group gave. 404 when the user is not a member, so removing them again is 404.
//	@Tags        user groups
//	@Param       id      path string true "user group ID" format(uuid)
//	@Param       user_id path string true "user ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user group in the caller's organization, or the user is not a member of it"
//	@Security    BearerAuth
//	@ID          removeUserGroupMember
//	@Router      /api/v1/user-groups/{id}/members/{user_id} [delete]
func (s *Server) removeUserGroupMember(c *gin.Context) {
	if err := s.Services.UserGroups.RemoveUserGroupMember(c.Request.Context(), c.Param("id"), c.Param("user_id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
