package lms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The events an organization's webhook endpoints may subscribe to. Each is
// written in the transaction of the change it tells of, so an event exists
// exactly when its change does.
const (
	EventRedemptionCreated       = "redemption.created"
	EventInvitationFull          = "invitation.full"
	EventInvitationStatusChanged = "invitation.status_changed"
	EventDeliverySent            = "delivery.sent"
	EventDeliveryFailed          = "delivery.failed"
	EventUserCreated             = "user.created"
)

// Limits of webhook endpoints.
const (
	// MaxWebhookEndpointsPerOrg bounds an organization's endpoints.
	MaxWebhookEndpointsPerOrg = 20
	// MaxWebhookURLLen bounds an endpoint's URL, as webhook.MaxURLLen
	// does (the domain imports no project package; a test holds the two
	// equal).
	MaxWebhookURLLen = 2048
	// MaxWebhookDescriptionLen bounds an endpoint's description.
	MaxWebhookDescriptionLen = 500
	// WebhookSecretRotationOverlap is how long a rotated-out secret still
	// signs, so that a receiver can switch without losing an event.
	WebhookSecretRotationOverlap = 24 * time.Hour
)

var webhookEventTypesRule = "must list one to six of " + strings.Join(WebhookEventTypes, ", ")

// WebhookEventTypes lists every event type, in the order the document
// shows them.
var WebhookEventTypes = []string{EventRedemptionCreated, EventInvitationFull, EventInvitationStatusChanged,
	EventDeliverySent, EventDeliveryFailed, EventUserCreated}

// WebhookEndpoint is a URL of an HR system that is told of an
// organization's events, signed as Standard Webhooks says.
type WebhookEndpoint struct {
	ID             string
	OrganizationID string
	URL            string
	Description    string
	EventTypes     []string
	// Enabled endpoints are sent their events; one failing for a day is
	// disabled, with DisabledReason saying so.
	Enabled        bool
	DisabledReason string
	// FailingSince is when the endpoint's current run of failures began;
	// nil while it accepts its events.
	FailingSince *time.Time
	// PreviousSecretExpiresAt is set during a secret rotation: until then
	// every message is signed with the old secret as well.
	PreviousSecretExpiresAt *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// NewWebhookEndpoint is the input of CreateWebhookEndpoint.
type NewWebhookEndpoint struct {
	URL         string
	EventTypes  []string
	Description string
	// Enabled defaults to true.
	Enabled *bool
}

// WebhookEndpointUpdate changes the fields that are not nil. Enabling a
// disabled endpoint starts its failures' count again.
type WebhookEndpointUpdate struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Enabled     *bool
}

// WebhookEndpointSecret is an endpoint with its signing secret, shown when
// the endpoint is created and when its secret is rotated, and never again.
type WebhookEndpointSecret struct {
	Endpoint *WebhookEndpoint
	Secret   string
}

// WebhookAttempt is one try at sending an event to an endpoint.
type WebhookAttempt struct {
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	// Attempt counts the tries of this event at this endpoint, from 1.
	Attempt int
	// StatusCode is the receiver's answer; 0 when none came.
	StatusCode int
	Duration   time.Duration
	// Error says why the try failed; "" when the receiver accepted it.
	Error string
	// Response is the start of the receiver's answer.
	Response  string
	CreatedAt time.Time
}

// Succeeded reports whether the receiver accepted the event.
func (a *WebhookAttempt) Succeeded() bool { return a.Error == "" }

// Validate trims in's fields and judges them. The URL's reachability
// (https, no private address) is judged by the store's guard, which
// resolves it.
func (in *NewWebhookEndpoint) Validate() error {
	var v Validation
	checkWebhookURL(&v, &in.URL)
	checkWebhookEventTypes(&v, &in.EventTypes)
	in.Description = strings.TrimSpace(in.Description)
	v.Text("description", in.Description, MaxWebhookDescriptionLen, false)
	return v.Err()
}

// Validate trims the fields upd changes and judges them.
func (upd *WebhookEndpointUpdate) Validate() error {
	var v Validation
	if upd.URL != nil {
		checkWebhookURL(&v, upd.URL)
	}
	if upd.EventTypes != nil {
		checkWebhookEventTypes(&v, upd.EventTypes)
	}
	if upd.Description != nil {
		*upd.Description = strings.TrimSpace(*upd.Description)
		v.Text("description", *upd.Description, MaxWebhookDescriptionLen, false)
	}
	return v.Err()
}

// Apply changes e as upd says, at now. Enabling an endpoint clears its
// failures.
func (e *WebhookEndpoint) Apply(upd WebhookEndpointUpdate, now time.Time) {
	set(&e.URL, upd.URL)
	set(&e.EventTypes, upd.EventTypes)
	set(&e.Description, upd.Description)
	if upd.Enabled != nil {
		if *upd.Enabled && !e.Enabled {
			e.FailingSince, e.DisabledReason = nil, ""
		}
		e.Enabled = *upd.Enabled
	}
	e.UpdatedAt = now
}

func checkWebhookURL(v *Validation, u *string) {
	*u = strings.TrimSpace(*u)
	v.Check(*u != "" && len(*u) <= MaxWebhookURLLen && ValidText(*u, false), "url",
		fmt.Sprintf("must be an absolute URL of at most %d characters", MaxWebhookURLLen))
}

// checkWebhookEventTypes sorts and deduplicates the list, which must name
// known event types only.
func checkWebhookEventTypes(v *Validation, types *[]string) {
	ok := len(*types) > 0 && len(*types) <= len(WebhookEventTypes)
	for _, t := range *types {
		ok = ok && slices.Contains(WebhookEventTypes, t)
	}
	v.Check(ok, "event_types", webhookEventTypesRule)
	slices.Sort(*types)
	*types = slices.Compact(*types)
}

// ErrTooManyWebhookEndpoints is the error of a create past
// MaxWebhookEndpointsPerOrg.
func ErrTooManyWebhookEndpoints() error {
	return Errorf(EConflict, "the organization has %d webhook endpoints, the most allowed", MaxWebhookEndpointsPerOrg)
}

// WebhookMessage is the state of one event's sending to one endpoint, as a
// redelivery answers it.
type WebhookMessage struct {
	EndpointID string
	EventID    string
	EventType  string
	// Status is queued, delivered or failed.
	Status    string
	Attempts  int
	UpdatedAt time.Time
}

// WebhookEndpointService manages an organization's webhook endpoints. Only
// Full Managers reach it.
type WebhookEndpointService interface {
	// Oldest first. Returns bad_request.
	FindWebhookEndpoints(ctx context.Context, p PageRequest) (*Page[*WebhookEndpoint], error)
	// Returns not_found.
	FindWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error)
	// Returns validation_failed (a URL the guard refuses included) and
	// conflict past MaxWebhookEndpointsPerOrg.
	CreateWebhookEndpoint(ctx context.Context, in NewWebhookEndpoint) (*WebhookEndpointSecret, error)
	// Returns not_found and validation_failed.
	UpdateWebhookEndpoint(ctx context.Context, id string, upd WebhookEndpointUpdate) (*WebhookEndpoint, error)
	// Returns not_found. Events not yet sent to it are dropped.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// RotateWebhookSecret gives the endpoint a new secret; the old one
	// signs as well for WebhookSecretRotationOverlap. Returns not_found.
	RotateWebhookSecret(ctx context.Context, id string) (*WebhookEndpointSecret, error)
	// Newest first. Returns not_found and bad_request.
	FindWebhookAttempts(ctx context.Context, id string, p PageRequest) (*Page[*WebhookAttempt], error)
	// RedeliverWebhookEvent sends an event the endpoint was sent (or was
	// to be sent) again, with the same webhook-id. Returns not_found and
	// conflict while the event is still queued for it.
	RedeliverWebhookEvent(ctx context.Context, id, eventID string) (*WebhookMessage, error)
}
