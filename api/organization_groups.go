package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// OrganizationGroupResponse is a node of the organization tree.
type OrganizationGroupResponse struct {
	ID             string `json:"id" format:"uuid"`
	OrganizationID string `json:"organization_id" format:"uuid"`
	// Null for the root group.
	ParentID  *string `json:"parent_id" format:"uuid" extensions:"x-nullable"`
	Name      string  `json:"name" example:"Sales"`
	CreatedAt string  `json:"created_at" format:"date-time"`
	UpdatedAt string  `json:"updated_at" format:"date-time"`
} // @name OrganizationGroup

func organizationGroupResponse(g *lms.OrganizationGroup) OrganizationGroupResponse {
	return OrganizationGroupResponse{ID: g.ID, OrganizationID: g.OrganizationID, ParentID: g.ParentID,
		Name: g.Name, CreatedAt: stamp(g.CreatedAt), UpdatedAt: stamp(g.UpdatedAt)}
}

// OrganizationGroupList is a page of organization groups.
type OrganizationGroupList struct {
	Data       []OrganizationGroupResponse `json:"data"`
	NextCursor *string                     `json:"next_cursor" extensions:"x-nullable"`
} // @name OrganizationGroupList

// CreateOrganizationGroupRequest adds a group to the tree.
type CreateOrganizationGroupRequest struct {
	Name string `json:"name" example:"Sales"`
	// Optional: defaults to the root group.
	ParentID string `json:"parent_id,omitempty" format:"uuid"`
} // @name CreateOrganizationGroupRequest

// UpdateOrganizationGroupRequest renames or moves a group.
type UpdateOrganizationGroupRequest struct {
	Name     *string `json:"name,omitempty"`
	ParentID *string `json:"parent_id,omitempty" format:"uuid"`
} // @name UpdateOrganizationGroupRequest

// listOrganizationGroups godoc
//
//	@Summary Organization groups
//	@Tags    organization groups
//	@Produce json
//	@Param   parent_id query    string false "only children of this group" format(uuid)
//	@Param   limit     query    int    false "page size (1-200, default 50)"
//	@Param   cursor    query    string false "next_cursor of the previous page"
//	@Param   sort      query    string false "order" Enums(created_at, -created_at, name)
//	@Success 200       {object} OrganizationGroupList
//	@Failure 400,401,403 {object} Problem
//	@Security BearerAuth
//	@ID      listOrganizationGroups
//	@Router  /api/v1/organization-groups [get]
func (s *Server) listOrganizationGroups(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.OrganizationGroups.FindOrganizationGroups(c.Request.Context(),
		lms.OrganizationGroupFilter{PageRequest: p, ParentID: optionalString(c, "parent_id")})
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, organizationGroupResponse)
}

// createOrganizationGroup godoc
//
//	@Summary Add an organization group
//	@Tags    organization groups
//	@Accept  json
//	@Produce json
//	@Param   body body     CreateOrganizationGroupRequest true "the group"
//	@Success 201  {object} OrganizationGroupResponse
//	@Failure 400,401,403,409,413,415,422 {object} Problem
//	@Security BearerAuth
//	@ID      createOrganizationGroup
//	@Router  /api/v1/organization-groups [post]
func (s *Server) createOrganizationGroup(c *gin.Context) {
	var req CreateOrganizationGroupRequest
	if !bindJSON(c, &req) {
		return
	}
	g, err := s.Services.OrganizationGroups.CreateOrganizationGroup(c.Request.Context(), req.Name, req.ParentID)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/organization-groups/"+g.ID)
	writeJSON(c, http.StatusCreated, organizationGroupResponse(g))
}

// getOrganizationGroup godoc
//
//	@Summary An organization group
//	@Tags    organization groups
//	@Produce json
//	@Param   id  path     string true "organization group ID" format(uuid)
//	@Success 200 {object} OrganizationGroupResponse
//	@Failure 401,403,404 {object} Problem
//	@Security BearerAuth
//	@ID      getOrganizationGroup
//	@Router  /api/v1/organization-groups/{id} [get]
func (s *Server) getOrganizationGroup(c *gin.Context) {
	g, err := s.Services.OrganizationGroups.FindOrganizationGroupByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, organizationGroupResponse(g))
}

// updateOrganizationGroup godoc
//
//	@Summary Rename or move an organization group
//	@Tags    organization groups
//	@Accept  json
//	@Produce json
//	@Param   id   path     string                         true "organization group ID" format(uuid)
//	@Param   body body     UpdateOrganizationGroupRequest true "fields to change"
//	@Success 200  {object} OrganizationGroupResponse
//	@Failure 400,401,403,404,409,413,415,422 {object} Problem
//	@Security BearerAuth
//	@ID      updateOrganizationGroup
//	@Router  /api/v1/organization-groups/{id} [patch]
func (s *Server) updateOrganizationGroup(c *gin.Context) {
	var req UpdateOrganizationGroupRequest
	if !bindJSON(c, &req) {
		return
	}
	g, err := s.Services.OrganizationGroups.UpdateOrganizationGroup(c.Request.Context(), c.Param("id"),
		lms.OrganizationGroupUpdate{Name: req.Name, ParentID: req.ParentID})
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, organizationGroupResponse(g))
}

// deleteOrganizationGroup godoc
//
//	@Summary     Remove an organization group
//	@Description Refused with 409 for the root group and for a group that still holds groups, users or user groups.
//	@Tags        organization groups
//	@Param       id path string true "organization group ID" format(uuid)
//	@Success     204
//	@Failure     401,403,404,409 {object} Problem
//	@Security    BearerAuth
//	@ID          deleteOrganizationGroup
//	@Router      /api/v1/organization-groups/{id} [delete]
func (s *Server) deleteOrganizationGroup(c *gin.Context) {
	if err := s.Services.OrganizationGroups.DeleteOrganizationGroup(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
