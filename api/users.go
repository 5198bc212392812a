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
//	@Summary Users of the organization
//	@Tags    users
//	@Produce json
//	@Param   q      query    string false "case-insensitive substring of email, first or last name"
//	@Param   role   query    string false "only this role" Enums(full_manager, limited_manager, learner)
//	@Param   limit  query    int    false "page size (1-200, default 50)"
//	@Param   cursor query    string false "next_cursor of the previous page"
//	@Param   sort   query    string false "order" Enums(created_at, -created_at, email)
//	@Success 200    {object} UserList
//	@Failure 400,401,403 {object} Problem
//	@Security BearerAuth
//	@ID      listUsers
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
//	@Summary Add a user
//	@Tags    users
//	@Accept  json
//	@Produce json
//	@Param   body body     CreateUserRequest true "the user"
//	@Success 201  {object} UserResponse
//	@Failure 400,401,403,409,413,415,422,503 {object} Problem
//	@Security BearerAuth
//	@ID      createUser
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
//	@Summary A user
//	@Tags    users
//	@Produce json
//	@Param   id  path     string true "user ID" format(uuid)
//	@Success 200 {object} UserResponse
//	@Failure 401,403,404 {object} Problem
//	@Security BearerAuth
//	@ID      getUser
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
//	@Description Disabling the user, changing its role or setting its password ends every session of the user at once: its access tokens are refused on their next request and its refresh tokens are revoked (re-enabling brings none back; the user signs in again, with the new role). The organization always keeps one active full manager (409 otherwise).
//	@Tags        users
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string            true "user ID" format(uuid)
//	@Param       body body     UpdateUserRequest true "fields to change"
//	@Success     200  {object} UserResponse
//	@Failure     400,401,403,404,409,413,415,422,503 {object} Problem
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
//	@Summary Remove a user
//	@Tags    users
//	@Param   id path string true "user ID" format(uuid)
//	@Success 204
//	@Failure 401,403,404,409 {object} Problem
//	@Security BearerAuth
//	@ID      deleteUser
//	@Router  /api/v1/users/{id} [delete]
func (s *Server) deleteUser(c *gin.Context) {
	if err := s.Services.Users.DeleteUser(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
