package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// Webhooks keeps the organization's webhook endpoints and what was sent to
// them. The events themselves are written by every service, with emit, in
// the transaction of their change.
type Webhooks struct{ *core }

var _ lms.WebhookEndpointService = (*Webhooks)(nil)

// The statuses of a webhook message: one event's sending to one endpoint.
const (
	messageQueued    = "queued"
	messageDelivered = "delivered"
	messageFailed    = "failed"
)

type webhookEndpoint struct {
	ID                      string
	OrganizationID          string
	URL                     string
	Description             string
	EventTypes              string
	Enabled                 bool
	DisabledReason          *string
	SecretSealed            string
	PreviousSecretSealed    *string
	PreviousSecretExpiresAt *time.Time
	FailingSince            *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// eventTypesColumn is the stored form of a list of event types: spaces
// between and around them, so that a subscription is a LIKE '% type %'.
func eventTypesColumn(types []string) string { return " " + strings.Join(types, " ") + " " }

func (e *webhookEndpoint) domain() *lms.WebhookEndpoint {
	out := &lms.WebhookEndpoint{ID: e.ID, OrganizationID: e.OrganizationID, URL: e.URL, Description: e.Description,
		EventTypes: strings.Fields(e.EventTypes), Enabled: e.Enabled, FailingSince: e.FailingSince,
		PreviousSecretExpiresAt: e.PreviousSecretExpiresAt, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if e.DisabledReason != nil {
		out.DisabledReason = *e.DisabledReason
	}
	return out
}

// fill writes a domain endpoint's changeable fields back into the row.
func (e *webhookEndpoint) fill(d *lms.WebhookEndpoint) {
	e.URL, e.Description, e.EventTypes, e.Enabled = d.URL, d.Description, eventTypesColumn(d.EventTypes), d.Enabled
	e.FailingSince, e.UpdatedAt = d.FailingSince, d.UpdatedAt
	e.DisabledReason = nil
	if d.DisabledReason != "" {
		e.DisabledReason = &d.DisabledReason
	}
}

type webhookEvent struct {
	ID             string
	OrganizationID string
	Type           string
	Payload        string
	CreatedAt      time.Time
}

type webhookMessage struct {
	EventID        string
	EndpointID     string
	OrganizationID string
	Status         string
	Attempts       int
	Generation     int
	UpdatedAt      time.Time
}

type webhookAttempt struct {
	ID             string
	EventID        string
	EndpointID     string
	OrganizationID string
	EventType      string
	Attempt        int
	StatusCode     int
	DurationMS     int64 `gorm:"column:duration_ms"`
	Error          *string
	Response       string
	CreatedAt      time.Time
}

func (a *webhookAttempt) domain() *lms.WebhookAttempt {
	out := &lms.WebhookAttempt{ID: a.ID, EndpointID: a.EndpointID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Attempt,
		StatusCode: a.StatusCode, Duration: time.Duration(a.DurationMS) * time.Millisecond, Response: a.Response, CreatedAt: a.CreatedAt}
	if a.Error != nil {
		out.Error = *a.Error
	}
	return out
}

// WebhookArgs is the job that sends one event to one endpoint.
type WebhookArgs struct {
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	// Generation is the message's generation the job was queued for: a
	// redelivery starts the next, and the jobs of earlier ones stop.
	Generation int `json:"generation,omitempty"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return "webhook" }

// webhookQueue is the River queue of webhooks, apart from the emails', so
// that slow receivers never hold an invitation email back.
const webhookQueue = "webhooks"

// webhookMaxAttempts is how often an event is tried: with retries 10 s,
// 40 s, 160 s and so on, each four times the last up to 12 h, the ninth
// comes some 27 hours after the first, past the day after which an
// endpoint that accepted nothing is disabled.
const webhookMaxAttempts = 9

// webhookStaleQueued is how long a queued message may go untouched before
// a redelivery may queue it again: its tries are at most 12 h apart and
// each one updates it, so one untouched for longer has lost its job (a
// last try that crashed, say), and without this it would be queued, and
// refused a redelivery, for ever. A job of it that is still alive after
// all finds the next generation and stops.
const webhookStaleQueued = 13 * time.Hour

// InsertOpts implements river.JobArgsWithInsertOpts.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: webhookQueue, MaxAttempts: webhookMaxAttempts}
}

// subscribers are the enabled endpoints of one organization, by the event
// types they take.
type subscribers map[string][]string

// subscribersOf reads org's enabled endpoints: one indexed read, which is
// all an organization without webhooks pays for its events.
func subscribersOf(q *gorm.DB, org string) (subscribers, error) {
	var rows []webhookEndpoint
	if err := q.Select("id", "event_types").Where("organization_id = ? AND enabled = ?", org, true).Find(&rows).Error; err != nil {
		return nil, err
	}
	subs := subscribers{}
	for _, r := range rows {
		for _, t := range strings.Fields(r.EventTypes) {
			subs[t] = append(subs[t], r.ID)
		}
	}
	return subs, nil
}

// any reports whether an endpoint takes one of the types.
func (s subscribers) any(types ...string) bool {
	for _, t := range types {
		if len(s[t]) > 0 {
			return true
		}
	}
	return false
}

// emit records an event of org in tx, the transaction of the change it
// tells of, with one message and one job for each endpoint in subs that
// takes its type: the event exists, and will be sent, exactly when the
// change does (the outbox pattern, with River's jobs as the outbox). data
// is the event's "data" object.
func (s *core) emit(ctx context.Context, tx *gorm.DB, subs subscribers, org, typ string, data any) error {
	ids := subs[typ]
	if len(ids) == 0 {
		return nil
	}
	now := s.now()
	payload, err := json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{typ, now.UTC().Format(time.RFC3339Nano), data})
	if err != nil {
		return err
	}
	ev := webhookEvent{ID: newID(), OrganizationID: org, Type: typ, Payload: string(payload), CreatedAt: now}
	if err := tx.Create(&ev).Error; err != nil {
		return err
	}
	// The messages go to the endpoints that are still there and enabled
	// when the change commits: subs may have been read before its
	// transaction, and an endpoint deleted since must not fail the change
	// by a foreign key. On PostgreSQL the key-share lock waits for a
	// delete under way and then skips the row it removed.
	lock := ""
	if s.db.dialect == Postgres {
		lock = " FOR KEY SHARE"
	}
	var sent []string
	err = tx.Raw(`INSERT INTO webhook_messages (event_id, endpoint_id, organization_id, status, attempts, generation, updated_at)
SELECT ?, id, organization_id, ?, 0, 0, ? FROM webhook_endpoints
WHERE organization_id = ? AND id IN ? AND enabled = ?`+lock+`
RETURNING endpoint_id`, ev.ID, messageQueued, now, org, ids, true).Scan(&sent).Error
	if err != nil {
		return err
	}
	jobs := make([]river.InsertManyParams, len(sent))
	for i, id := range sent {
		jobs[i] = river.InsertManyParams{Args: WebhookArgs{EventID: ev.ID, EndpointID: id}}
	}
	return s.enqueueJobs(ctx, tx, jobs)
}

// emitFor is emit for a change that reads its subscribers itself.
func (s *core) emitFor(ctx context.Context, tx *gorm.DB, org, typ string, data any) error {
	subs, err := subscribersOf(tx, org)
	if err != nil {
		return err
	}
	return s.emit(ctx, tx, subs, org, typ, data)
}

// enqueueJobs inserts jobs in tx, the transaction of the rows they are
// about. Without a queue (a command that sends nothing) the rows stay
// queued, and nothing works them.
func (s *core) enqueueJobs(ctx context.Context, tx *gorm.DB, jobs []river.InsertManyParams) error {
	if s.queue == nil || len(jobs) == 0 {
		return nil
	}
	return insertJobs(ctx, s.queue.client, tx, jobs)
}

// lockOrganization locks org's row until tx ends, to serialize changes
// that count or check across the organization (its send quota, its
// group tree, its webhook endpoints). NO KEY: the organization's other
// writes, whose foreign keys take a KEY SHARE lock on the row, go on.
// SQLite serializes its writes already.
func (s *core) lockOrganization(tx *gorm.DB, org string) error {
	if s.db.dialect != Postgres {
		return nil
	}
	return tx.Exec("SELECT id FROM organizations WHERE id = ? FOR NO KEY UPDATE", org).Error
}

// insertJobs inserts jobs with client in tx.
func insertJobs(ctx context.Context, client *river.Client[*sql.Tx], tx *gorm.DB, jobs []river.InsertManyParams) error {
	sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return errors.New("store: jobs must be queued inside a database transaction")
	}
	_, err := client.InsertManyTx(ctx, sqlTx, jobs)
	return err
}

// The data of each event type, as the payload's "data" object.
type (
	redemptionEventData struct {
		ID           string `json:"id"`
		InvitationID string `json:"invitation_id"`
		UserID       string `json:"user_id"`
		Email        string `json:"email"`
		CreatedAt    string `json:"created_at"`
	}
	userEventData struct {
		ID                  string `json:"id"`
		Email               string `json:"email"`
		FirstName           string `json:"first_name"`
		LastName            string `json:"last_name"`
		Role                string `json:"role"`
		OrganizationGroupID string `json:"organization_group_id"`
		CreatedAt           string `json:"created_at"`
	}
	invitationEventData struct {
		ID                string `json:"id"`
		Name              string `json:"name"`
		Status            string `json:"status"`
		PreviousStatus    string `json:"previous_status,omitempty"`
		MaxRegistrations  int    `json:"max_registrations"`
		RegistrationsUsed int    `json:"registrations_used"`
	}
	deliveryEventData struct {
		ID           string  `json:"id"`
		InvitationID string  `json:"invitation_id"`
		Recipient    string  `json:"recipient"`
		Status       string  `json:"status"`
		Attempts     int     `json:"attempts"`
		LastError    *string `json:"last_error"`
	}
)

func stampOf(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func userData(u *user) userEventData {
	return userEventData{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Role: u.Role,
		OrganizationGroupID: u.OrganizationGroupID, CreatedAt: stampOf(u.CreatedAt)}
}

func redemptionData(r *redemption) redemptionEventData {
	return redemptionEventData{ID: r.ID, InvitationID: r.InvitationID, UserID: r.UserID, Email: r.Email, CreatedAt: stampOf(r.CreatedAt)}
}

// emitRedemption records what one redemption did: the account it made
// (user.created, when new) and redemption.created. The seat it took is
// told of where it is taken (emitIfFull).
func (s *core) emitRedemption(ctx context.Context, tx *gorm.DB, subs subscribers, red *redemption, u *user, isNew bool) error {
	if isNew {
		if err := s.emit(ctx, tx, subs, red.OrganizationID, lms.EventUserCreated, userData(u)); err != nil {
			return err
		}
	}
	return s.emit(ctx, tx, subs, red.OrganizationID, lms.EventRedemptionCreated, redemptionData(red))
}

// emitIfFull records invitation.full when the invitation's seats are all
// taken: called by the change that took the last one, in its transaction,
// whose seat UPDATE holds the row until it commits, so only that change
// finds it full.
func (s *core) emitIfFull(ctx context.Context, tx *gorm.DB, subs subscribers, org, invID string) error {
	if !subs.any(lms.EventInvitationFull) {
		return nil
	}
	var inv invitation
	if err := tx.Select("id", "name", "status", "max_registrations", "registrations_used").Where("id = ?", invID).Take(&inv).Error; err != nil {
		return err
	}
	if inv.RegistrationsUsed < inv.MaxRegistrations {
		return nil
	}
	return s.emit(ctx, tx, subs, org, lms.EventInvitationFull, invitationEventData{ID: inv.ID, Name: inv.Name, Status: inv.Status,
		MaxRegistrations: inv.MaxRegistrations, RegistrationsUsed: inv.RegistrationsUsed})
}

// emitIfFullFor is emitIfFull for a change that reads its subscribers
// itself.
func (s *core) emitIfFullFor(ctx context.Context, tx *gorm.DB, org, invID string) error {
	subs, err := subscribersOf(tx, org)
	if err != nil {
		return err
	}
	return s.emitIfFull(ctx, tx, subs, org, invID)
}

// The orders of the lists.
var (
	webhookEndpointSorts = map[string]sortSpec[webhookEndpoint]{
		"created_at":  {id: func(e *webhookEndpoint) string { return e.ID }},
		"-created_at": {desc: true, id: func(e *webhookEndpoint) string { return e.ID }},
	}
	webhookAttemptSorts = map[string]sortSpec[webhookAttempt]{
		"-created_at": {desc: true, id: func(a *webhookAttempt) string { return a.ID }},
		"created_at":  {id: func(a *webhookAttempt) string { return a.ID }},
	}
)

// FindWebhookEndpoints implements lms.WebhookEndpointService.
func (s *Webhooks) FindWebhookEndpoints(ctx context.Context, p lms.PageRequest) (*lms.Page[*lms.WebhookEndpoint], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("created_at", "-created_at"); err != nil {
		return nil, err
	}
	return listPage(s.q(ctx).Where("organization_id = ?", org), p, webhookEndpointSorts[p.Sort], (*webhookEndpoint).domain)
}

// findEndpoint reads one endpoint of org; not_found for an ID of another
// organization's.
func findEndpoint(q *gorm.DB, org, id string) (*webhookEndpoint, error) {
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "webhook endpoint not found")
	}
	var e webhookEndpoint
	if err := q.Where("organization_id = ? AND id = ?", org, id).Take(&e).Error; err != nil {
		return nil, translate(err, "webhook endpoint")
	}
	return &e, nil
}

// FindWebhookEndpoint implements lms.WebhookEndpointService.
func (s *Webhooks) FindWebhookEndpoint(ctx context.Context, id string) (*lms.WebhookEndpoint, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	e, err := findEndpoint(s.q(ctx), org, id)
	if err != nil {
		return nil, err
	}
	return e.domain(), nil
}

// checkURL asks the guard whether the URL may be contacted, resolving its
// host: a refusal is the url field's validation error.
func (s *core) checkURL(ctx context.Context, url string) error {
	err := s.guard.CheckURL(ctx, url)
	var refused *webhook.URLError
	if errors.As(err, &refused) {
		return lms.Invalid("url", refused.Reason)
	}
	return err
}

// CreateWebhookEndpoint implements lms.WebhookEndpointService.
func (s *Webhooks) CreateWebhookEndpoint(ctx context.Context, in lms.NewWebhookEndpoint) (*lms.WebhookEndpointSecret, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkURL(ctx, in.URL); err != nil {
		return nil, err
	}
	secret, sealed, err := s.newSecret()
	if err != nil {
		return nil, err
	}
	now := s.now()
	e := webhookEndpoint{ID: newID(), OrganizationID: org, URL: in.URL, Description: in.Description,
		EventTypes: eventTypesColumn(in.EventTypes), Enabled: in.Enabled == nil || *in.Enabled, SecretSealed: sealed,
		CreatedAt: now, UpdatedAt: now}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		// The organization's row, locked, orders concurrent creates, so
		// that two of them cannot both count one place left.
		if err := s.lockOrganization(tx, org); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&webhookEndpoint{}).Where("organization_id = ?", org).Count(&n).Error; err != nil {
			return err
		}
		if n >= lms.MaxWebhookEndpointsPerOrg {
			return lms.ErrTooManyWebhookEndpoints()
		}
		if err := tx.Create(&e).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook_endpoint.create", "webhook_endpoint", e.ID)
	})
	if err != nil {
		return nil, translate(err, "webhook endpoint")
	}
	return &lms.WebhookEndpointSecret{Endpoint: e.domain(), Secret: secret}, nil
}

// UpdateWebhookEndpoint implements lms.WebhookEndpointService.
func (s *Webhooks) UpdateWebhookEndpoint(ctx context.Context, id string, upd lms.WebhookEndpointUpdate) (*lms.WebhookEndpoint, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	if upd.URL != nil {
		if err := s.checkURL(ctx, *upd.URL); err != nil {
			return nil, err
		}
	}
	return s.update(ctx, org, id, "webhook_endpoint.update", func(e *webhookEndpoint) {
		d := e.domain()
		d.Apply(upd, s.now())
		e.fill(d)
	})
}

// update changes an endpoint of org over its locked row, in one
// transaction with the audit event of the action.
func (s *Webhooks) update(ctx context.Context, org, id, action string, change func(*webhookEndpoint)) (*lms.WebhookEndpoint, error) {
	var out *lms.WebhookEndpoint
	err := s.tx(ctx, func(tx *gorm.DB) error {
		e, err := findEndpoint(tx.Clauses(lockRow), org, id)
		if err != nil {
			return err
		}
		change(e)
		if err := tx.Save(e).Error; err != nil {
			return err
		}
		out = e.domain()
		return s.audit(ctx, tx, action, "webhook_endpoint", e.ID)
	})
	if err != nil {
		return nil, translate(err, "webhook endpoint")
	}
	return out, nil
}

// newSecret makes a signing secret and its sealed form, the one stored.
func (s *Webhooks) newSecret() (secret, sealed string, err error) {
	if secret, err = webhook.NewSecret(); err != nil {
		return "", "", err
	}
	sealed, err = auth.Seal(s.webhookKey, secret)
	return secret, sealed, err
}

// DeleteWebhookEndpoint implements lms.WebhookEndpointService. Its
// messages and attempts go with it; a job still queued for it finds no
// message and ends.
func (s *Webhooks) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	if !lms.ValidID(id) {
		return lms.Errorf(lms.ENotFound, "webhook endpoint not found")
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("organization_id = ? AND id = ?", org, id).Delete(&webhookEndpoint{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return lms.Errorf(lms.ENotFound, "webhook endpoint not found")
		}
		return s.audit(ctx, tx, "webhook_endpoint.delete", "webhook_endpoint", id)
	})
}

// RotateWebhookSecret implements lms.WebhookEndpointService. The current
// secret becomes the previous one, which signs too for a day; a previous
// one still in its day is dropped, so at most two ever sign.
func (s *Webhooks) RotateWebhookSecret(ctx context.Context, id string) (*lms.WebhookEndpointSecret, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	secret, sealed, err := s.newSecret()
	if err != nil {
		return nil, err
	}
	out, err := s.update(ctx, org, id, "webhook_endpoint.secret.rotate", func(e *webhookEndpoint) {
		now := s.now()
		until := now.Add(lms.WebhookSecretRotationOverlap)
		previous := e.SecretSealed
		e.PreviousSecretSealed, e.PreviousSecretExpiresAt = &previous, &until
		e.SecretSealed, e.UpdatedAt = sealed, now
	})
	if err != nil {
		return nil, err
	}
	return &lms.WebhookEndpointSecret{Endpoint: out, Secret: secret}, nil
}

// FindWebhookAttempts implements lms.WebhookEndpointService.
func (s *Webhooks) FindWebhookAttempts(ctx context.Context, id string, p lms.PageRequest) (*lms.Page[*lms.WebhookAttempt], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("-created_at", "created_at"); err != nil {
		return nil, err
	}
	q := s.q(ctx)
	if _, err := findEndpoint(q, org, id); err != nil {
		return nil, err
	}
	return listPage(q.Where("endpoint_id = ?", id), p, webhookAttemptSorts[p.Sort], (*webhookAttempt).domain)
}

// RedeliverWebhookEvent implements lms.WebhookEndpointService: the
// message is queued again, with a new job, in one transaction over its
// locked row, so two redeliveries at once queue it once.
func (s *Webhooks) RedeliverWebhookEvent(ctx context.Context, id, eventID string) (*lms.WebhookMessage, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		return nil, errors.New("store: redelivering needs the job queue")
	}
	var out *lms.WebhookMessage
	err = s.tx(ctx, func(tx *gorm.DB) error {
		e, err := findEndpoint(tx, org, id)
		if err != nil {
			return err
		}
		if !e.Enabled {
			return lms.Errorf(lms.EConflict, "the webhook endpoint is disabled; enable it before redelivering")
		}
		var m webhookMessage
		if !lms.ValidID(eventID) {
			return lms.Errorf(lms.ENotFound, "no such event for this webhook endpoint")
		}
		if err := tx.Clauses(lockRow).Where("endpoint_id = ? AND event_id = ?", id, eventID).Take(&m).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return lms.Errorf(lms.ENotFound, "no such event for this webhook endpoint")
		} else if err != nil {
			return err
		}
		if m.Status == messageQueued && m.UpdatedAt.After(s.now().Add(-webhookStaleQueued)) {
			return lms.Errorf(lms.EConflict, "the event is queued for this endpoint already")
		}
		// The next generation: a job still scheduled for an earlier one
		// (a message failed when its endpoint was disabled keeps its retry
		// job) finds it superseded and stops, so one chain of jobs sends.
		m.Status, m.Generation, m.UpdatedAt = messageQueued, m.Generation+1, s.now()
		if err := tx.Model(&webhookMessage{}).Where("endpoint_id = ? AND event_id = ?", id, eventID).
			Updates(map[string]any{"status": m.Status, "generation": m.Generation, "updated_at": m.UpdatedAt}).Error; err != nil {
			return err
		}
		var typ string
		if err := tx.Model(&webhookEvent{}).Select("type").Where("id = ?", eventID).Scan(&typ).Error; err != nil {
			return err
		}
		out = &lms.WebhookMessage{EndpointID: id, EventID: eventID, EventType: typ, Status: m.Status, Attempts: m.Attempts, UpdatedAt: m.UpdatedAt}
		if err := s.enqueueJobs(ctx, tx, []river.InsertManyParams{{Args: WebhookArgs{EventID: eventID, EndpointID: id, Generation: m.Generation}}}); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook_endpoint.event.redeliver", "webhook_endpoint", id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
