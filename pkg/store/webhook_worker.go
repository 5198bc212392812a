package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// webhookWorker sends one event to one endpoint per job, and records the
// attempt. Delivery is at least once: a receiver may see an event twice
// (an answer lost, a process killed mid-request), always with the same
// webhook-id, by which it deduplicates.
type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	store  *Webhooks
	client *http.Client
	log    *slog.Logger
	// base is the first retry's delay; each further one is four times the
	// last, up to 12 h.
	base time.Duration
	// disableAfter is how long an endpoint may fail every attempt before
	// it is disabled.
	disableAfter time.Duration
}

// NextRetry implements river.Worker: 10 s, 40 s, 160 s… by default.
func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	d := w.base << (2 * min(max(job.Attempt-1, 0), 12)) // 4¹² × base is past the cap already
	return time.Now().Add(min(d, 12*time.Hour))
}

// Timeout implements river.Worker: the request's own timeout bounds it,
// with room to record the attempt.
func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration {
	return w.client.Timeout + time.Minute
}

// Work implements river.Worker.
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	err := w.work(ctx, job)
	var cancel *river.JobCancelError
	if err != nil && !errors.As(err, &cancel) && job.Attempt >= job.MaxAttempts {
		// The last attempt ended before its outcome was written (a
		// database error, a secret that no longer opens): fail the message,
		// which a redelivery can then queue again, instead of leaving it
		// queued with no job behind it.
		if gerr := w.giveUp(ctx, job.Args, err.Error()); gerr != nil && !errors.As(gerr, &cancel) {
			return errors.Join(err, gerr)
		}
	}
	return err
}

func (w *webhookWorker) work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	s := w.store
	var m webhookMessage
	err := s.q(ctx).Where("event_id = ? AND endpoint_id = ?", job.Args.EventID, job.Args.EndpointID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return river.JobCancel(err) // the endpoint was deleted
	} else if err != nil {
		return err
	}
	if m.Generation != job.Args.Generation || m.Status != messageQueued {
		return nil // sent, failed or queued again by a redelivery, whose job sends it
	}
	var e webhookEndpoint
	if err := s.q(ctx).Where("id = ?", m.EndpointID).Take(&e).Error; err != nil {
		return err
	}
	if !e.Enabled {
		return w.giveUp(ctx, job.Args, "the endpoint is disabled")
	}
	var ev webhookEvent
	if err := s.q(ctx).Where("id = ?", m.EventID).Take(&ev).Error; err != nil {
		return err
	}
	secrets, err := s.secretsOf(&e)
	if err != nil {
		return err
	}
	res := webhook.Send(ctx, w.client, e.URL, webhook.Message{ID: ev.ID, Timestamp: time.Now(), Body: []byte(ev.Payload), Secrets: secrets})
	final := job.Attempt >= job.MaxAttempts
	disabled, err := w.record(ctx, &m, &e, &ev, res, final)
	if err != nil {
		return err
	}
	if res.OK() {
		w.log.Info("webhook delivered", "event_id", ev.ID, "endpoint_id", e.ID, "type", ev.Type, "attempt", m.Attempts+1)
		return nil
	}
	w.log.Warn("webhook not delivered", "event_id", ev.ID, "endpoint_id", e.ID, "type", ev.Type, "attempt", m.Attempts+1,
		"final", final, "error", res.Err)
	if final || disabled {
		// No retry: a disabled endpoint's events are sent again only by a
		// redelivery, which starts a chain of jobs of its own.
		return river.JobCancel(errors.New(res.Err))
	}
	return errors.New(res.Err)
}

// secretsOf opens the endpoint's signing secrets: the current one, and the
// previous one while its rotation's day lasts.
func (s *core) secretsOf(e *webhookEndpoint) ([]string, error) {
	current, err := auth.Open(s.webhookKey, e.SecretSealed)
	if err != nil {
		return nil, err
	}
	secrets := []string{current}
	if e.PreviousSecretSealed != nil && e.PreviousSecretExpiresAt != nil && e.PreviousSecretExpiresAt.After(s.now()) {
		previous, err := auth.Open(s.webhookKey, *e.PreviousSecretSealed)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, previous)
	}
	return secrets, nil
}

// giveUp fails a queued message of the job's generation without an
// attempt.
func (w *webhookWorker) giveUp(ctx context.Context, job WebhookArgs, why string) error {
	err := w.store.q(context.WithoutCancel(ctx)).Model(&webhookMessage{}).
		Where("event_id = ? AND endpoint_id = ? AND generation = ? AND status = ?", job.EventID, job.EndpointID, job.Generation, messageQueued).
		Updates(map[string]any{"status": messageFailed, "updated_at": w.store.now()}).Error
	if err != nil {
		return err
	}
	return river.JobCancel(errors.New(why))
}

// record writes one attempt and its consequences in one transaction, even
// if the job's context ended: the attempt's row; the message delivered,
// failed (final) or still queued; the endpoint's run of failures ended or
// extended, and the endpoint disabled, with an audit event, once that run
// has lasted disableAfter.
func (w *webhookWorker) record(ctx context.Context, m *webhookMessage, e *webhookEndpoint, ev *webhookEvent, res webhook.Result,
	final bool) (disabled bool, err error) {
	s := w.store
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	a := webhookAttempt{ID: newID(), EventID: ev.ID, EndpointID: e.ID, OrganizationID: e.OrganizationID, EventType: ev.Type,
		Attempt: m.Attempts + 1, StatusCode: res.StatusCode, DurationMS: res.Duration.Milliseconds(), Response: res.Response, CreatedAt: now}
	// The message moves only within the job's generation: a redelivery
	// made while this attempt was under way owns it now. A delivery is
	// recorded even over a message failed meanwhile (its endpoint
	// disabled), since the receiver has it; a failure never turns a
	// failed message back into a queued one.
	status := messageDelivered
	which := "event_id = ? AND endpoint_id = ? AND generation = ?"
	if !res.OK() {
		a.Error = &res.Err
		status = messageQueued
		if final {
			status = messageFailed
		}
		which += " AND status = '" + messageQueued + "'"
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		// The endpoint's row first, then its messages, in every record as
		// in failing: two attempts recorded at once, one of them disabling
		// the endpoint and failing the other's message, would otherwise
		// lock the two rows in opposite orders and deadlock.
		var locked webhookEndpoint
		if err := tx.Clauses(lockRow).Select("id").Where("id = ?", e.ID).Take(&locked).Error; err != nil {
			return err
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		err := tx.Model(&webhookMessage{}).Where(which, m.EventID, m.EndpointID, m.Generation).
			Updates(map[string]any{"status": status, "attempts": gorm.Expr("attempts + 1"), "updated_at": now}).Error
		if err != nil {
			return err
		}
		if res.OK() {
			return tx.Model(&webhookEndpoint{}).Where("id = ? AND failing_since IS NOT NULL", e.ID).Update("failing_since", nil).Error
		}
		disabled, err = w.failing(ctx, tx, e, res.Err, now)
		return err
	})
	return disabled, err
}

// failing extends the endpoint's run of failures, and disables it once
// the run has lasted w.disableAfter, failing its queued events.
func (w *webhookWorker) failing(ctx context.Context, tx *gorm.DB, e *webhookEndpoint, why string, now time.Time) (disabled bool, err error) {
	if err := tx.Model(&webhookEndpoint{}).Where("id = ? AND failing_since IS NULL", e.ID).Update("failing_since", now).Error; err != nil {
		return false, err
	}
	reason := fmt.Sprintf("disabled after failing every attempt for %s; the last: %s", w.disableAfter, why)
	res := tx.Model(&webhookEndpoint{}).Where("id = ? AND enabled = ? AND failing_since <= ?", e.ID, true, now.Add(-w.disableAfter)).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": now})
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	// Its queued events, this one included, are failed with it: a
	// redelivery sends them once it is enabled again.
	err = tx.Model(&webhookMessage{}).Where("endpoint_id = ? AND status = ?", e.ID, messageQueued).
		Updates(map[string]any{"status": messageFailed, "updated_at": now}).Error
	if err != nil {
		return false, err
	}
	w.log.Warn("webhook endpoint disabled", "endpoint_id", e.ID, "organization_id", e.OrganizationID, "failing_for", w.disableAfter)
	return true, w.store.auditCommand(ctx, tx, e.OrganizationID, "webhook_endpoint.disabled", "webhook_endpoint", e.ID)
}
