package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// IntegrationClientResponse is an HR system's credential, without its secret.
type IntegrationClientResponse struct {
	ID string `json:"id" format:"uuid"`
	// The client_id to send to /api/v1/oauth/token (the same as id).
	ClientID  string `json:"client_id" format:"uuid"`
	Name      string `json:"name" example:"Workday sync"`
	Role      string `json:"role" enums:"full_manager,limited_manager"`
	CreatedAt string `json:"created_at" format:"date-time"`
} // @name IntegrationClient

func integrationClientResponse(ic *lms.IntegrationClient) IntegrationClientResponse {
	return IntegrationClientResponse{ID: ic.ID, ClientID: ic.ID, Name: ic.Name, Role: string(ic.Role), CreatedAt: stamp(ic.CreatedAt)}
}

// IntegrationClientCreated is a new client with its secret, shown only once.
type IntegrationClientCreated struct {
	IntegrationClientResponse
	ClientSecret string `json:"client_secret"`
} // @name IntegrationClientCreated

// IntegrationClientList is a page of integration clients.
type IntegrationClientList struct {
	Data       []IntegrationClientResponse `json:"data"`
	NextCursor *string                     `json:"next_cursor" extensions:"x-nullable"`
} // @name IntegrationClientList

// CreateIntegrationClientRequest creates credentials for an HR system.
type CreateIntegrationClientRequest struct {
	Name string `json:"name" example:"Workday sync"`
	Role string `json:"role" enums:"full_manager,limited_manager"`
} // @name CreateIntegrationClientRequest

// listIntegrationClients godoc
//
//	@Summary     Integration clients
//	@Description Full Managers only. The organization's integration clients, without their secrets, oldest first unless sort says otherwise. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        integration clients
//	@Produce     json
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at)
//	@Success     200    {object} IntegrationClientList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Security    BearerAuth
//	@ID          listIntegrationClients
//	@Router  /api/v1/integration-clients [get]
func (s *Server) listIntegrationClients(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.IntegrationClients.FindIntegrationClients(c.Request.Context(), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, integrationClientResponse)
}

// createIntegrationClient godoc
//
//	@Summary     Create an integration client
//	@Description Full Managers only. Creates credentials for an HR system, acting with the given role (full_manager or limited_manager) in the caller's organization; it exchanges client_id and client_secret for access tokens at POST /oauth/token. The client_secret is returned once and stored only as a hash: it cannot be read again, so a lost one means a new client. Names need not be unique.
//	@Tags        integration clients
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateIntegrationClientRequest true "the client"
//	@Success     201  {object} IntegrationClientCreated
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank, too long or control-character name, or a role other than full_manager or limited_manager"
//	@Security    BearerAuth
//	@ID          createIntegrationClient
//	@Router      /api/v1/integration-clients [post]
func (s *Server) createIntegrationClient(c *gin.Context) {
	var req CreateIntegrationClientRequest
	if !bindJSON(c, &req) {
		return
	}
	created, err := s.Services.IntegrationClients.CreateIntegrationClient(c.Request.Context(),
		lms.NewIntegrationClient{Name: req.Name, Role: lms.Role(req.Role)})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, IntegrationClientCreated{integrationClientResponse(created.Client), created.Secret})
}

// deleteIntegrationClient godoc
//
//	@Summary     Delete an integration client
//	@Description Full Managers only (an integration client may delete itself). Its credentials stop working at once, and tokens already issued to it stop working on their next request. Not idempotent: deleting it again is 404.
//	@Tags        integration clients
//	@Param       id path string true "integration client ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such integration client in the caller's organization (or it was deleted already)"
//	@Security    BearerAuth
//	@ID          deleteIntegrationClient
//	@Router      /api/v1/integration-clients/{id} [delete]
func (s *Server) deleteIntegrationClient(c *gin.Context) {
	if err := s.Services.IntegrationClients.DeleteIntegrationClient(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
