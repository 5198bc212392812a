package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
)

type invitationDelivery struct {
	ID             string
	InvitationID   string
	OrganizationID string
	Recipient      string
	Copy           bool
	Status         string
	Attempts       int
	LastError      *string
	RequestedBy    *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	SentAt         *time.Time
	// ScheduledAt is nil for deliveries made before emails were paced.
	ScheduledAt *time.Time
}

func (d *invitationDelivery) domain() *lms.Delivery {
	out := &lms.Delivery{ID: d.ID, InvitationID: d.InvitationID, Recipient: d.Recipient, Copy: d.Copy,
		Status: lms.DeliveryStatus(d.Status), Attempts: d.Attempts, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, SentAt: d.SentAt}
	if d.LastError != nil {
		out.LastError = *d.LastError
	}
	out.ScheduledAt = d.CreatedAt
	if d.ScheduledAt != nil {
		out.ScheduledAt = *d.ScheduledAt
	}
	return out
}

// renderInvitation renders the email of an invitation of org from the
// database as it is now. Preview and delivery both call it, so the preview
// is exactly what is sent.
func (s *Store) renderInvitation(tx *gorm.DB, org, id string) (*lms.Email, error) {
	inv, err := s.loadInvitation(tx, org, id)
	if err != nil {
		return nil, err
	}
	orgName, err := s.organizationName(tx, org)
	if err != nil {
		return nil, err
	}
	groups, err := invitationGroupRefs(tx, inv.ID)
	if err != nil {
		return nil, err
	}
	var courses []struct{ UserGroupID, Name string }
	err = tx.Table("user_group_courses").Select("user_group_courses.user_group_id, courses.name").
		Joins("JOIN courses ON courses.id = user_group_courses.course_id").
		Where("user_group_courses.user_group_id IN ?", inv.UserGroupIDs).Order("courses.name_key, courses.id").Scan(&courses).Error
	if err != nil {
		return nil, err
	}
	m := mail.Invitation{OrganizationName: orgName, InvitationName: inv.Name, Message: inv.Message,
		Passcode: inv.Passcode, EnrollURL: inv.EnrollURL, ExpiresAt: inv.ExpiresAt}
	if inv.CreatedBy != "" {
		var u user
		if err := tx.Select("first_name", "last_name").Where("id = ?", inv.CreatedBy).Take(&u).Error; err == nil {
			m.ManagerName = strings.TrimSpace(u.FirstName + " " + u.LastName)
		}
	}
	for _, g := range groups {
		mg := mail.Group{Name: g.Name}
		for _, c := range courses {
			if c.UserGroupID == g.ID {
				mg.Courses = append(mg.Courses, c.Name)
			}
		}
		m.Groups = append(m.Groups, mg)
	}
	r, err := mail.RenderInvitation(m)
	if err != nil {
		return nil, err
	}
	return &lms.Email{Subject: r.Subject, Text: r.Text, HTML: r.HTML}, nil
}

// InvitationEmail implements lms.DeliveryService.
func (s *Store) InvitationEmail(ctx context.Context, id string) (*lms.Email, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	return s.renderInvitation(s.q(ctx), org, id)
}

// DeliveryArgs is the durable job that sends one invitation email.
type DeliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job in River.
func (DeliveryArgs) Kind() string { return "invitation_delivery" }

// CreateDeliveries implements lms.DeliveryService.
func (s *Store) CreateDeliveries(ctx context.Context, id string, sendCopy bool, recipients []string) ([]*lms.Delivery, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		return nil, errors.New("store: no job queue configured")
	}
	actor := lms.ActorFromContext(ctx)
	addrs, err := lms.CheckSend(recipients, sendCopy, actor.Kind == lms.ActorUser, s.mailQuota)
	if err != nil {
		return nil, err
	}
	var out []*lms.Delivery
	err = s.tx(ctx, func(tx *gorm.DB) error {
		inv, err := findInvitation(tx, org, id)
		if err != nil {
			return err
		}
		if now := s.now(); !inv.state().Sendable(now) {
			return lms.Errorf(lms.EConflict, "the invitation is %s; it cannot be sent", inv.state().EffectiveStatus(now))
		}
		now := s.now()
		var rows []invitationDelivery
		if sendCopy {
			var me user
			if err := tx.Select("email").Where("id = ?", actor.ID).Take(&me).Error; err != nil {
				return err
			}
			rows = append(rows, invitationDelivery{Recipient: me.Email, Copy: true})
		}
		for _, a := range addrs {
			rows = append(rows, invitationDelivery{Recipient: a})
		}
		start, err := s.mailSlot(tx, org, len(rows), now)
		if err != nil {
			return err
		}
		interval := time.Duration(float64(time.Second) / s.mailQuota.Rate)
		params := make([]river.InsertManyParams, len(rows))
		for i := range rows {
			r := &rows[i]
			r.ID, r.InvitationID, r.OrganizationID, r.Status, r.CreatedAt, r.UpdatedAt = newID(), inv.ID, org, string(lms.DeliveryQueued), now, now
			at := start.Add(time.Duration(i) * interval)
			r.ScheduledAt = &at
			if actor.Kind == lms.ActorUser {
				r.RequestedBy = &actor.ID
			}
			// River schedules by the wall clock, the store by its own.
			params[i] = river.InsertManyParams{Args: DeliveryArgs{DeliveryID: r.ID},
				InsertOpts: &river.InsertOpts{ScheduledAt: time.Now().Add(at.Sub(now))}}
		}
		if err := tx.CreateInBatches(&rows, 200).Error; err != nil {
			return err
		}
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("store: deliveries must be queued inside a database transaction")
		}
		if _, err := s.queue.client.InsertManyTx(ctx, sqlTx, params); err != nil {
			return err
		}
		for i := range rows {
			out = append(out, rows[i].domain())
		}
		return s.audit(ctx, tx, "invitation.send", "invitation", inv.ID)
	})
	if err != nil {
		return nil, translate(err, "invitation")
	}
	return out, nil
}

// mailSlot judges n more invitation emails of org against its quota and
// returns when the first of them is due: at once, or after the
// organization's emails already waiting, at its pace. Its deliveries are
// counted and scheduled under a lock of the organization's row (on
// PostgreSQL; SQLite runs one write at a time), so concurrent sends can
// neither pass the quota together nor share a slot.
func (s *Store) mailSlot(tx *gorm.DB, org string, n int, now time.Time) (time.Time, error) {
	if s.db.dialect == Postgres {
		// NO KEY: the lock serializes sends, not the organization's other
		// writes, whose foreign keys take a KEY SHARE lock on the row.
		if err := tx.Exec("SELECT id FROM organizations WHERE id = ? FOR NO KEY UPDATE", org).Error; err != nil {
			return time.Time{}, err
		}
	}
	var wait time.Duration
	for _, w := range []struct {
		limit  int
		window time.Duration
	}{{s.mailQuota.PerHour, time.Hour}, {s.mailQuota.PerDay, 24 * time.Hour}} {
		since := now.Add(-w.window)
		var sent int64
		if err := tx.Model(&invitationDelivery{}).Where("organization_id = ? AND created_at > ?", org, since).Count(&sent).Error; err != nil {
			return time.Time{}, err
		}
		over := int(sent) + n - w.limit
		if over <= 0 {
			continue
		}
		if over > int(sent) {
			// More than the whole quota: no wait makes room (CreateDeliveries
			// refuses such a send before; a quota lowered since may not).
			return time.Time{}, lms.ErrTooManyRecipients(w.limit)
		}
		// Room comes back as the window's oldest emails leave it: the
		// over-th oldest is the last that must.
		var oldest []time.Time
		if err := tx.Model(&invitationDelivery{}).Where("organization_id = ? AND created_at > ?", org, since).
			Order("created_at").Offset(over-1).Limit(1).Pluck("created_at", &oldest).Error; err != nil {
			return time.Time{}, err
		}
		if len(oldest) == 1 {
			wait = max(wait, oldest[0].Add(w.window).Sub(now))
		}
	}
	if wait > 0 {
		return time.Time{}, s.mailQuota.ErrOver(wait)
	}
	var last []time.Time
	if err := tx.Model(&invitationDelivery{}).Where("organization_id = ? AND scheduled_at IS NOT NULL", org).
		Order("scheduled_at DESC").Limit(1).Pluck("scheduled_at", &last).Error; err != nil {
		return time.Time{}, err
	}
	start := now
	if len(last) == 1 {
		start = maxTime(start, last[0].Add(time.Duration(float64(time.Second)/s.mailQuota.Rate)))
	}
	return start, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FindDeliveries implements lms.DeliveryService.
func (s *Store) FindDeliveries(ctx context.Context, id string, p lms.PageRequest) (*lms.Page[*lms.Delivery], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("created_at", "-created_at"); err != nil {
		return nil, err
	}
	if _, err := findInvitation(s.q(ctx), org, id); err != nil {
		return nil, err
	}
	spec := sortSpec[invitationDelivery]{desc: p.Sort == "-created_at", id: func(d *invitationDelivery) string { return d.ID }}
	rows, next, err := paginate(s.q(ctx).Where("invitation_id = ?", id), p, spec)
	if err != nil {
		return nil, err
	}
	page := &lms.Page[*lms.Delivery]{NextCursor: next, Items: make([]*lms.Delivery, len(rows))}
	for i := range rows {
		page.Items[i] = rows[i].domain()
	}
	return page, nil
}

// deliveryWorker sends one invitation email per job. The delivery row is
// the source of truth: a job whose delivery is already sent does nothing,
// so a retried job cannot send twice once the send was recorded.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	store  *Store
	sender mail.Sender
	from   string
	log    *slog.Logger
}

// Work implements river.Worker.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	s := w.store
	var d invitationDelivery
	if err := s.q(ctx).Where("id = ?", job.Args.DeliveryID).Take(&d).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return river.JobCancel(err) // the invitation was deleted
		}
		return err
	}
	if d.Status != string(lms.DeliveryQueued) {
		return nil
	}
	now := s.now()
	var inv invitation
	if err := s.q(ctx).Select("status", "expires_at").Where("id = ?", d.InvitationID).Take(&inv).Error; err != nil {
		return err
	}
	if !inv.state().Sendable(now) {
		// Its passcode may already serve another invitation: never send it.
		err := errors.New("the invitation was revoked or expired before the email was sent")
		return w.finish(ctx, &d, map[string]any{"status": string(lms.DeliveryFailed), "last_error": err.Error(), "updated_at": now}, river.JobCancel(err))
	}
	email, err := s.renderInvitation(s.q(ctx), d.OrganizationID, d.InvitationID)
	if err == nil {
		err = w.sender.Send(ctx, mail.Message{From: w.from, To: d.Recipient, Subject: email.Subject,
			Text: email.Text, HTML: email.HTML, MessageID: d.ID + "@enrollkit"})
	}
	changes := map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": now}
	if err == nil {
		changes["status"], changes["sent_at"], changes["last_error"] = string(lms.DeliverySent), now, nil
		w.log.Info("invitation email sent", "delivery_id", d.ID, "invitation_id", d.InvitationID, "attempt", job.Attempt)
		return w.finish(ctx, &d, changes, nil)
	}
	permanent := mail.IsPermanent(err)
	final := permanent || lms.ErrorCode(err) == lms.ENotFound || job.Attempt >= job.MaxAttempts
	// The raw error (hosts, addresses, SQL) is logged; clients see a
	// classified message.
	w.log.Warn("invitation email not sent", "delivery_id", d.ID, "attempt", job.Attempt, "final", final, "error", err.Error())
	switch {
	case permanent:
		changes["last_error"] = "the mail server refused the message or its address"
	case final:
		changes["last_error"] = fmt.Sprintf("not delivered after %d attempts: the mail server was unavailable", job.Attempt)
	default:
		changes["last_error"] = "the mail server was unavailable; retrying"
	}
	if final {
		changes["status"] = string(lms.DeliveryFailed)
		return w.finish(ctx, &d, changes, river.JobCancel(err))
	}
	return w.finish(ctx, &d, changes, err)
}

// finish records the outcome of an attempt, even if the job's context
// ended, and returns result to River.
func (w *deliveryWorker) finish(ctx context.Context, d *invitationDelivery, changes map[string]any, result error) error {
	if err := w.store.q(context.WithoutCancel(ctx)).Model(&invitationDelivery{}).Where("id = ?", d.ID).Updates(changes).Error; err != nil {
		return err
	}
	return result
}
