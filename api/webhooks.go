package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// WebhookEndpointResponse is a URL told of the organization's events.
type WebhookEndpointResponse struct {
	ID  string `json:"id" format:"uuid"`
	URL string `json:"url" example:"https://hr.example.com/hooks/enrollkit"`
	// The events sent to it, sorted.
	EventTypes  []string `json:"event_types" enums:"redemption.created,invitation.full,invitation.status_changed,delivery.sent,delivery.failed,user.created"`
	Description string   `json:"description" example:"Workday: new hires"`
	// Disabled endpoints are sent nothing; the server disables one that failed every attempt for a day.
	Enabled bool `json:"enabled"`
	// Why the server disabled it; null while enabled or when a manager disabled it.
	DisabledReason *string `json:"disabled_reason" extensions:"x-nullable"`
	// When its current run of failed attempts began; null while it accepts its events.
	FailingSince *string `json:"failing_since" format:"date-time" extensions:"x-nullable"`
	// Until when the secret before the last rotation signs too; null outside a rotation.
	PreviousSecretExpiresAt *string `json:"previous_secret_expires_at" format:"date-time" extensions:"x-nullable"`
	CreatedAt               string  `json:"created_at" format:"date-time"`
	UpdatedAt               string  `json:"updated_at" format:"date-time"`
} // @name WebhookEndpoint

func webhookEndpointResponse(e *lms.WebhookEndpoint) WebhookEndpointResponse {
	out := WebhookEndpointResponse{ID: e.ID, URL: e.URL, EventTypes: e.EventTypes, Description: e.Description, Enabled: e.Enabled,
		FailingSince: stampPtr(e.FailingSince), PreviousSecretExpiresAt: stampPtr(e.PreviousSecretExpiresAt),
		CreatedAt: stamp(e.CreatedAt), UpdatedAt: stamp(e.UpdatedAt)}
	if e.DisabledReason != "" {
		out.DisabledReason = &e.DisabledReason
	}
	return out
}

// WebhookEndpointCreated is an endpoint with its signing secret, shown only
// here: when the endpoint is created and when its secret is rotated.
type WebhookEndpointCreated struct {
	WebhookEndpointResponse
	// The Standard Webhooks signing secret: "whsec_" and the base64 of 32 random bytes.
	Secret string `json:"secret" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
} // @name WebhookEndpointCreated

// WebhookEndpointList is a page of webhook endpoints.
type WebhookEndpointList struct {
	Data       []WebhookEndpointResponse `json:"data"`
	NextCursor *string                   `json:"next_cursor" extensions:"x-nullable"`
} // @name WebhookEndpointList

// CreateWebhookEndpointRequest registers a URL for some of the
// organization's events.
type CreateWebhookEndpointRequest struct {
	// In production an https URL whose host resolves to public addresses only.
	URL        string   `json:"url" example:"https://hr.example.com/hooks/enrollkit"`
	EventTypes []string `json:"event_types" enums:"redemption.created,invitation.full,invitation.status_changed,delivery.sent,delivery.failed,user.created"`
	// Up to 500 characters, for the managers' own use.
	Description string `json:"description,omitempty" example:"Workday: new hires"`
	// Default true.
	Enabled *bool `json:"enabled,omitempty"`
} // @name CreateWebhookEndpointRequest

// UpdateWebhookEndpointRequest changes an endpoint; absent fields stay as
// they are.
type UpdateWebhookEndpointRequest struct {
	URL        *string   `json:"url,omitempty"`
	EventTypes *[]string `json:"event_types,omitempty" enums:"redemption.created,invitation.full,invitation.status_changed,delivery.sent,delivery.failed,user.created"`
	// An empty string clears it.
	Description *string `json:"description,omitempty"`
	// true enables a disabled endpoint and starts its count of failures again.
	Enabled *bool `json:"enabled,omitempty"`
} // @name UpdateWebhookEndpointRequest

// WebhookAttemptResponse is one try at sending an event to an endpoint.
type WebhookAttemptResponse struct {
	ID        string `json:"id" format:"uuid"`
	EventID   string `json:"event_id" format:"uuid"`
	EventType string `json:"event_type" enums:"redemption.created,invitation.full,invitation.status_changed,delivery.sent,delivery.failed,user.created"`
	// The tries of this event at this endpoint, counted from 1.
	Attempt int `json:"attempt" minimum:"1"`
	// The receiver's answer; null when none came (refused address, timeout, connection error).
	StatusCode *int  `json:"status_code" extensions:"x-nullable"`
	DurationMS int64 `json:"duration_ms" minimum:"0"`
	// true when the receiver answered 2xx.
	Succeeded bool `json:"succeeded"`
	// Why the try failed; null when it succeeded.
	Error *string `json:"error" extensions:"x-nullable"`
	// The first 512 bytes of the receiver's answer.
	Response  string `json:"response"`
	CreatedAt string `json:"created_at" format:"date-time"`
} // @name WebhookAttempt

func webhookAttemptResponse(a *lms.WebhookAttempt) WebhookAttemptResponse {
	out := WebhookAttemptResponse{ID: a.ID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Attempt,
		DurationMS: a.Duration.Milliseconds(), Succeeded: a.Succeeded(), Response: a.Response, CreatedAt: stamp(a.CreatedAt)}
	if a.StatusCode != 0 {
		out.StatusCode = &a.StatusCode
	}
	if a.Error != "" {
		out.Error = &a.Error
	}
	return out
}

// WebhookAttemptList is a page of attempts.
type WebhookAttemptList struct {
	Data       []WebhookAttemptResponse `json:"data"`
	NextCursor *string                  `json:"next_cursor" extensions:"x-nullable"`
} // @name WebhookAttemptList

// WebhookMessageResponse is an event's sending to one endpoint.
type WebhookMessageResponse struct {
	EndpointID string `json:"endpoint_id" format:"uuid"`
	EventID    string `json:"event_id" format:"uuid"`
	EventType  string `json:"event_type" enums:"redemption.created,invitation.full,invitation.status_changed,delivery.sent,delivery.failed,user.created"`
	Status     string `json:"status" enums:"queued,delivered,failed"`
	// The tries so far.
	Attempts  int    `json:"attempts" minimum:"0"`
	UpdatedAt string `json:"updated_at" format:"date-time"`
} // @name WebhookMessage

// listWebhookEndpoints godoc
//
//	@Summary     Webhook endpoints
//	@Description Full Managers only. The organization's webhook endpoints, without their secrets, oldest first unless sort says otherwise. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        webhooks
//	@Produce     json
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at)
//	@Success     200    {object} WebhookEndpointList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Security    BearerAuth
//	@ID          listWebhookEndpoints
//	@Router      /api/v1/webhook-endpoints [get]
func (s *Server) listWebhookEndpoints(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.Webhooks.FindWebhookEndpoints(c.Request.Context(), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, webhookEndpointResponse)
}

// createWebhookEndpoint godoc
//
//	@Summary     Create a webhook endpoint
//	@Description Full Managers only. Registers a URL to be sent the organization's events of the given types, as Standard Webhooks (https://www.standardwebhooks.com) says: a JSON POST {type, timestamp, data} with the headers webhook-id (the event's ID, the same on every retry), webhook-timestamp (Unix seconds) and webhook-signature ("v1," and the base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" keyed by the secret's base64-decoded part after "whsec_"; during a rotation two signatures, space-separated). A 2xx answer within 10 seconds accepts an event; anything else (redirects are not followed) is retried after 10 s, 40 s, 160 s and so on, each four times the last up to 12 hours, nine tries in some 27 hours; an endpoint that failed every try for a day is disabled, which the audit log records. Delivery is at least once, so receivers deduplicate by webhook-id. In production the URL must be https and its host must resolve to public addresses only (no loopback, private, link-local or cloud-metadata address), judged now and again at each send; development allows http and loopback. The secret is returned once; GET never shows it. At most 20 endpoints per organization.
//	@Tags        webhooks
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateWebhookEndpointRequest true "the endpoint"
//	@Success     201  {object} WebhookEndpointCreated
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     409 {object} Problem "conflict: the organization has 20 endpoints already"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a URL that is not absolute https (http in development), that does not resolve or resolves to a loopback, private, link-local or metadata address; no or unknown event types; a description over 500 characters"
//	@Security    BearerAuth
//	@ID          createWebhookEndpoint
//	@Router      /api/v1/webhook-endpoints [post]
func (s *Server) createWebhookEndpoint(c *gin.Context) {
	var req CreateWebhookEndpointRequest
	if !bindJSON(c, &req) {
		return
	}
	created, err := s.Services.Webhooks.CreateWebhookEndpoint(c.Request.Context(), lms.NewWebhookEndpoint{URL: req.URL,
		EventTypes: req.EventTypes, Description: req.Description, Enabled: req.Enabled})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, WebhookEndpointCreated{webhookEndpointResponse(created.Endpoint), created.Secret})
}

// getWebhookEndpoint godoc
//
//	@Summary     A webhook endpoint
//	@Description Full Managers only. Without its secret.
//	@Tags        webhooks
//	@Produce     json
//	@Param       id  path     string true "webhook endpoint ID" format(uuid)
//	@Success     200 {object} WebhookEndpointResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization"
//	@Security    BearerAuth
//	@ID          getWebhookEndpoint
//	@Router      /api/v1/webhook-endpoints/{id} [get]
func (s *Server) getWebhookEndpoint(c *gin.Context) {
	e, err := s.Services.Webhooks.FindWebhookEndpoint(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, webhookEndpointResponse(e))
}

// updateWebhookEndpoint godoc
//
//	@Summary     Change a webhook endpoint
//	@Description Full Managers only. Absent fields, and null ones, stay as they are. A new URL is judged as at creation. Enabling a disabled endpoint starts its count of failures again; events that failed while it was disabled can be sent again with the redeliver route.
//	@Tags        webhooks
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string                       true "webhook endpoint ID" format(uuid)
//	@Param       body body     UpdateWebhookEndpointRequest true "fields to change"
//	@Success     200  {object} WebhookEndpointResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: as at creation"
//	@Security    BearerAuth
//	@ID          updateWebhookEndpoint
//	@Router      /api/v1/webhook-endpoints/{id} [patch]
func (s *Server) updateWebhookEndpoint(c *gin.Context) {
	var req UpdateWebhookEndpointRequest
	if !bindJSON(c, &req) {
		return
	}
	e, err := s.Services.Webhooks.UpdateWebhookEndpoint(c.Request.Context(), c.Param("id"), lms.WebhookEndpointUpdate{URL: req.URL,
		EventTypes: req.EventTypes, Description: req.Description, Enabled: req.Enabled})
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, webhookEndpointResponse(e))
}

// deleteWebhookEndpoint godoc
//
//	@Summary     Delete a webhook endpoint
//	@Description Full Managers only. Events not yet sent to it are dropped, with its attempts. Not idempotent: deleting it again is 404.
//	@Tags        webhooks
//	@Param       id path string true "webhook endpoint ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization (or it was deleted already)"
//	@Security    BearerAuth
//	@ID          deleteWebhookEndpoint
//	@Router      /api/v1/webhook-endpoints/{id} [delete]
func (s *Server) deleteWebhookEndpoint(c *gin.Context) {
	if err := s.Services.Webhooks.DeleteWebhookEndpoint(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// rotateWebhookSecret godoc
//
//	@Summary     Rotate a webhook endpoint's secret
//	@Description Full Managers only. Returns a new secret, shown only here. For 24 hours every event is signed with the old secret too (webhook-signature lists both), so the receiver can switch without losing one; a second rotation within the day drops the oldest.
//	@Tags        webhooks
//	@Produce     json
//	@Param       id  path     string true "webhook endpoint ID" format(uuid)
//	@Success     200 {object} WebhookEndpointCreated
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization"
//	@Security    BearerAuth
//	@ID          rotateWebhookSecret
//	@Router      /api/v1/webhook-endpoints/{id}/rotate-secret [post]
func (s *Server) rotateWebhookSecret(c *gin.Context) {
	rotated, err := s.Services.Webhooks.RotateWebhookSecret(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, WebhookEndpointCreated{webhookEndpointResponse(rotated.Endpoint), rotated.Secret})
}

// listWebhookAttempts godoc
//
//	@Summary     A webhook endpoint's attempts
//	@Description Full Managers only. Every try at sending an event to the endpoint, newest first unless sort says otherwise: the receiver's status code, how long it took, why it failed and the start of its answer. Keyset-paginated like every list.
//	@Tags        webhooks
//	@Produce     json
//	@Param       id     path     string true  "webhook endpoint ID" format(uuid)
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(-created_at, created_at)
//	@Success     200    {object} WebhookAttemptList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization"
//	@Security    BearerAuth
//	@ID          listWebhookAttempts
//	@Router      /api/v1/webhook-endpoints/{id}/attempts [get]
func (s *Server) listWebhookAttempts(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.Webhooks.FindWebhookAttempts(c.Request.Context(), c.Param("id"), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, webhookAttemptResponse)
}

// redeliverWebhookEvent godoc
//
//	@Summary     Send an event to an endpoint again
//	@Description Full Managers only. Queues an event the endpoint was sent, or failed to be sent, once more, with the same webhook-id, and with retries as for a new event. 409 while it is queued for the endpoint already (unless untouched for 13 hours, longer than any retry waits: its job was lost), or while the endpoint is disabled. A retry still scheduled from before is dropped, so one chain of tries sends it.
//	@Tags        webhooks
//	@Produce     json
//	@Param       id       path     string true "webhook endpoint ID" format(uuid)
//	@Param       event_id path     string true "event ID (an attempt's event_id, the webhook-id header)" format(uuid)
//	@Success     202      {object} WebhookMessageResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such webhook endpoint in the caller's organization, or no such event for it"
//	@Failure     409 {object} Problem "conflict: the event is queued for the endpoint already, or the endpoint is disabled"
//	@Security    BearerAuth
//	@ID          redeliverWebhookEvent
//	@Router      /api/v1/webhook-endpoints/{id}/events/{event_id}/redeliver [post]
func (s *Server) redeliverWebhookEvent(c *gin.Context) {
	m, err := s.Services.Webhooks.RedeliverWebhookEvent(c.Request.Context(), c.Param("id"), c.Param("event_id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusAccepted, WebhookMessageResponse{EndpointID: m.EndpointID, EventID: m.EventID, EventType: m.EventType,
		Status: m.Status, Attempts: m.Attempts, UpdatedAt: stamp(m.UpdatedAt)})
}
