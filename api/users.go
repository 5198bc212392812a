package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// UserResponse is a person of the organization.
type UserResponse struct {
	ID                  string `json:"id" format:"uuid"`
	Email               string `json:"email" example:"ada@example.com"`
	FirstName           string `json:"first_name" example:"Ada"`
	LastName            string `json:"last_name" example:"Lovelace"`
	Role                string `json:"role" enums:"full_manager,limited_manager,learner"`
	Status              string `json:"status" enums:"active,disabled"`
	OrganizationID      string `json:"organization_id" format:"uuid"`
	OrganizationGroupID string `json:"organization_group_id" format:"uuid"`
	CreatedAt           string `json:"created_at" format:"date-time"`
	UpdatedAt           string `json:"updated_at" format:"date-time"`
} // @name User

func userResponse(u *lms.User) UserResponse {
	return UserResponse{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		Role: string(u.Role), Status: string(u.Status), OrganizationID: u.OrganizationID,
		OrganizationGroupID: u.OrganizationGroupID, CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt)}
}

// UserList is a page of users.
type UserList struct {
	Data       []UserResponse `json:"data"`
	NextCursor *string        `json:"next_cursor" extensions:"x-nullable"`
} // @name UserList

// CreateUserRequest adds a person to the organization.
type CreateUserRequest struct {
	Email     string `json:"email" example:"ada@example.com"`
	FirstName string `json:"first_name" example:"Ada"`
	LastName  string `json:"last_name" example:"Lovelace"`
	Role      string `json:"role" enums:"full_manager,limited_manager,learner"`
	// Optional: without one the account cannot sign in until one is set.
	Password string `json:"password,omitempty"`
	// Optional: defaults to the organization's root group.
	OrganizationGroupID string `json:"organization_group_id,omitempty" format:"uuid"`
} // @name CreateUserRequest

// UpdateUserRequest changes a person; absent fields stay as they are.
type UpdateUserRequest struct {
	FirstName           *string `json:"first_name,omitempty"`
	LastName            *string `json:"last_name,omitempty"`
	Role                *string `json:"role,omitempty" enums:"full_manager,limited_manager,learner"`
	Status              *string `json:"status,omitempty" enums:"active,disabled"`
	OrganizationGroupID *string `json:"organization_group_id,omitempty" format:"uuid"`
	// Setting a password ends the user's other sessions.
	Password *string `json:"password,omitempty"`
} // @name UpdateUserRequest

// listUsers godoc
//
//	@Summary     Users of the organization
//	@Description Full and Limited Managers. Every person of the caller's organization, managers and learners, active and disabled (integration clients are listed apart), oldest first unless sort says otherwise. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        users
//	@Produce     json
//	@Param       q      query    string false "case-insensitive substring of email, first or last name"
//	@Param       role   query    string false "only this role" Enums(full_manager, limited_manager, learner)
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at, email)
//	@Success     200    {object} UserList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown role or sort, a q longer than 200 characters or with control characters, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Security    BearerAuth
//	@ID          listUsers
//	@Router  /api/v1/users [get]
func (s *Server) listUsers(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	f := lms.UserFilter{PageRequest: p, Q: c.Query("q")}
	if r := optionalString(c, "role"); r != nil {
		role := lms.Role(*r)
		f.Role = &role
	}
	page, err := s.Services.Users.FindUsers(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	// People's names and emails: no shared or browser cache keeps them.
	c.Header("Cache-Control", "no-store")
	writePage(c, page, userResponse)
}

// createUser godoc
//
//	@Summary     Add a user
//	@Description Full Managers only. Adds an active person with the given role to an organization group (the root when omitted) and answers it with a Location header; no email is sent. Without a password the account cannot sign in (nor redeem an invitation as that account) until a manager sets one; a given password must pass the password policy (422). The email must be new to the organization (409); it cannot be changed later.
//	@Tags        users
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateUserRequest true "the user"
//	@Success     201  {object} UserResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     409 {object} Problem "conflict: a user with this email already exists in the organization"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: an invalid email, a blank or too long name, an unknown role, a password the policy refuses, or an organization group that is not the caller's"
//	@Failure     503 {object} Problem "unavailable: a password was given and no password-hashing slot freed within ENROLLKIT_PASSWORD_WAIT; nothing was written, retry after Retry-After"
//	@Header      503 {integer} Retry-After "seconds to wait before trying again"
//	@Security    BearerAuth
//	@ID          createUser
//	@Router  /api/v1/users [post]
func (s *Server) createUser(c *gin.Context) {
	var req CreateUserRequest
	if !bindJSON(c, &req) {
		return
	}
	u, err := s.Services.Users.CreateUser(c.Request.Context(), lms.NewUser{Email: req.Email, FirstName: req.FirstName,
		LastName: req.LastName, Role: lms.Role(req.Role), Password: req.Password, OrganizationGroupID: req.OrganizationGroupID})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+u.ID)
	writeJSON(c, http.StatusCreated, userResponse(u))
}

// getUser godoc
//
//	@Summary     A user
//	@Description Full and Limited Managers. One person of the caller's organization.
//	@Tags        users
//	@Produce     json
//	@Param       id  path     string true "user ID" format(uuid)
//	@Success     200 {object} UserResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such user in the caller's organization"
//	@Security    BearerAuth
//	@ID          getUser
//	@Router  /api/v1/users/{id} [get]
func (s *Server) getUser(c *gin.Context) {
	u, err := s.Services.Users.FindUserByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userResponse(u))
}

// updateUser godoc
//
//	@Summary     Change a user
//	@Description Full Managers only. Absent fields, and null ones, stay as they are; the email cannot be changed (the field is unknown here: 400), and a new password must pass the password policy (422). Disabling the user, changing its role or setting its password ends every session of the user at once: its access tokens are refused on their next request and its refresh tokens are revoked (re-enabling brings none back; the user signs in again, with the new role). The organization always keeps one active full manager (409 otherwise).
//	@Tags        users
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string            true "user ID" format(uuid)
//	@Param       body body     UpdateUserRequest true "fields to change"
//	@Success     200  {object} UserResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user in the caller's organization"
//	@Failure     409 {object} Problem "conflict: the change would leave the organization without an active full_manager"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank or too long name, an unknown role or status, a password the policy refuses, or an organization group that is not the caller's"
//	@Failure     503 {object} Problem "unavailable: a password was given and no password-hashing slot freed within ENROLLKIT_PASSWORD_WAIT; nothing was written, retry after Retry-After"
//	@Header      503 {integer} Retry-After "seconds to wait before trying again"
//	@Security    BearerAuth
//	@ID          updateUser
//	@Router      /api/v1/users/{id} [patch]
func (s *Server) updateUser(c *gin.Context) {
	var req UpdateUserRequest
	if !bindJSON(c, &req) {
		return
	}
	upd := lms.UserUpdate{FirstName: req.FirstName, LastName: req.LastName,
		OrganizationGroupID: req.OrganizationGroupID, Password: req.Password}
	if req.Role != nil {
		r := lms.Role(*req.Role)
		upd.Role = &r
	}
	if req.Status != nil {
		st := lms.UserStatus(*req.Status)
		upd.Status = &st
	}
	u, err := s.Services.Users.UpdateUser(c.Request.Context(), c.Param("id"), upd)
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, userResponse(u))
}

// deleteUser godoc
//
//	@Summary     Remove a user
//	@Description Full Managers only. Deletes the person with their sessions, group memberships, enrollments and redemption records (the seats they took stay taken); to keep the history, disable them instead. A manager cannot delete their own account, and the organization keeps one active full manager (409). Not idempotent: deleting them again is 404.
//	@Tags        users
//	@Param       id path string true "user ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such user in the caller's organization (or it was deleted already)"
//	@Failure     409 {object} Problem "conflict: the caller's own account, or the organization's last active full_manager"
//	@Security    BearerAuth
//	@ID          deleteUser
//	@Router  /api/v1/users/{id} [delete]
func (s *Server) deleteUser(c *gin.Context) {
	if err := s.Services.Users.DeleteUser(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
