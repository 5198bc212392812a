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
//	@Summary     Organization groups
//	@Description Full and Limited Managers. The caller's organization's tree as a flat list, the root (parent_id null) included, oldest first unless sort says otherwise; parent_id keeps one group's direct children. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        organization groups
//	@Produce     json
//	@Param       parent_id query    string false "only children of this group" format(uuid)
//	@Param       limit     query    int    false "page size (1-200, default 50)"
//	@Param       cursor    query    string false "next_cursor of the previous page"
//	@Param       sort      query    string false "order" Enums(created_at, -created_at, name)
//	@Success     200       {object} OrganizationGroupList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, a parent_id that is not a UUID, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Security    BearerAuth
//	@ID          listOrganizationGroups
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
//	@Summary     Add an organization group
//	@Description Full Managers only. Adds a group under parent_id (the root when omitted) and answers it with a Location header; a parent that is not the caller's is 422. The name is trimmed and must be unique among its siblings, case-insensitively (409).
//	@Tags        organization groups
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateOrganizationGroupRequest true "the group"
//	@Success     201  {object} OrganizationGroupResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     409 {object} Problem "conflict: the parent has a group with this name already"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank, too long or control-character name, or a parent that is not a group of the caller's organization"
//	@Security    BearerAuth
//	@ID          createOrganizationGroup
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
//	@Summary     An organization group
//	@Description Full and Limited Managers. One group of the caller's organization's tree.
//	@Tags        organization groups
//	@Produce     json
//	@Param       id  path     string true "organization group ID" format(uuid)
//	@Success     200 {object} OrganizationGroupResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such organization group in the caller's organization"
//	@Security    BearerAuth
//	@ID          getOrganizationGroup
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
//	@Summary     Rename or move an organization group
//	@Description Full Managers only. Absent fields, and null ones, stay as they are. parent_id moves the group, with everything in it, under another group of the organization: not under itself or its own subtree (422), and never the root (409). The name must stay unique among the siblings, case-insensitively (409).
//	@Tags        organization groups
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                         true "organization group ID" format(uuid)
//	@Param       body body     UpdateOrganizationGroupRequest true "fields to change"
//	@Success     200  {object} OrganizationGroupResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such organization group in the caller's organization"
//	@Failure     409 {object} Problem "conflict: the root cannot be moved, or the new parent has a group with this name"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank, too long or control-character name, or a parent that is unknown, the group itself or inside its subtree"
//	@Security    BearerAuth
//	@ID          updateOrganizationGroup
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
//	@Description Full Managers only. Only an empty group can go: refused with 409 for the root group and for a group that still holds groups, users, user groups or invitations (revoked ones included). Not idempotent: deleting it again is 404.
//	@Tags        organization groups
//	@Param       id path string true "organization group ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such organization group in the caller's organization (or it was deleted already)"
//	@Failure     409 {object} Problem "conflict: the root group, or a group that still holds groups, users, user groups or invitations"
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
