package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
)

type invitationDelivery struct {
	ID             string
	InvitationID   string
	OrganizationID string
	Recipient      string
	FirstName      *string
	LastName       *string
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
	if d.FirstName != nil {
		out.FirstName = *d.FirstName
	}
	if d.LastName != nil {
		out.LastName = *d.LastName
	}
	out.ScheduledAt = d.CreatedAt
	if d.ScheduledAt != nil {
		out.ScheduledAt = *d.ScheduledAt
	}
	return out
}

// renderInvitation renders the email of an invitation of org from the
// database as it is now, greeting the recipient by firstName when it is
// known. Preview and delivery both call it, so the preview is exactly what
// is sent to a recipient whose name is not known.
func (s *Deliveries) renderInvitation(tx *gorm.DB, org, id, firstName string) (*lms.Email, error) {
	inv, err := s.invitations.loadInvitation(tx, org, id)
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
	m := mail.Invitation{OrganizationName: orgName, InvitationName: inv.Name, FirstName: firstName, Message: inv.Message,
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
func (s *Deliveries) InvitationEmail(ctx context.Context, id string) (*lms.Email, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	return s.renderInvitation(s.q(ctx), org, id, "")
}

// DeliveryArgs is the durable job that sends one invitation email.
type DeliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job in River.
func (DeliveryArgs) Kind() string { return "invitation_delivery" }

// CreateDeliveries implements lms.DeliveryService.
func (s *Deliveries) CreateDeliveries(ctx context.Context, id string, sendCopy bool, recipients []string) ([]*lms.Delivery, error) {
	if _, err := orgID(ctx); err != nil {
		return nil, err
	}
	actor := lms.ActorFromContext(ctx)
	addrs, err := lms.CheckSend(recipients, sendCopy, actor.Kind == lms.ActorUser, s.mailQuota)
	if err != nil {
		return nil, err
	}
	rows := make([]lms.Recipient, len(addrs))
	for i, a := range addrs {
		rows[i] = lms.Recipient{Email: a}
	}
	return s.send(ctx, id, sendCopy, rows)
}

// CreateRecipientDeliveries implements lms.DeliveryService.
func (s *Deliveries) CreateRecipientDeliveries(ctx context.Context, id string, rows []lms.Recipient) (*lms.RecipientSend, error) {
	kept, rejected, err := lms.CheckRecipients(rows, s.mailQuota)
	if err != nil {
		return nil, err
	}
	ds, err := s.send(ctx, id, false, kept)
	if err != nil {
		return nil, err
	}
	return &lms.RecipientSend{Deliveries: ds, Rejected: rejected}, nil
}

// send queues the invitation email to each of recipients, already judged,
// and to the sending manager first when sendCopy: the deliveries and their
// jobs in one transaction, scheduled at the organization's pace.
func (s *Deliveries) send(ctx context.Context, id string, sendCopy bool, recipients []lms.Recipient) ([]*lms.Delivery, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		return nil, errors.New("store: no job queue configured")
	}
	actor := lms.ActorFromContext(ctx)
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
		rows := make([]invitationDelivery, 0, len(recipients)+1)
		if sendCopy {
			var me user
			if err := tx.Select("email").Where("id = ?", actor.ID).Take(&me).Error; err != nil {
				return err
			}
			rows = append(rows, invitationDelivery{Recipient: me.Email, Copy: true})
		}
		for _, r := range recipients {
			rows = append(rows, invitationDelivery{Recipient: r.Email, FirstName: nullable(r.FirstName), LastName: nullable(r.LastName)})
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
			params[i] = deliveryJob(r.ID, at, now)
		}
		if err := tx.CreateInBatches(&rows, 200).Error; err != nil {
			return err
		}
		if err := s.enqueueJobs(ctx, tx, params); err != nil {
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

// deliveryJob is the job that sends delivery id when it is due, at, as the
// store's clock tells it at now.
func deliveryJob(id string, at, now time.Time) river.InsertManyParams {
	// River schedules by the wall clock, the store by its own.
	return river.InsertManyParams{Args: DeliveryArgs{DeliveryID: id},
		InsertOpts: &river.InsertOpts{ScheduledAt: time.Now().Add(at.Sub(now))}}
}

// deliveryResend is one resend of a delivery, kept so that the
// organization's quota counts its email as it counts a new delivery's.
type deliveryResend struct {
	ID             string
	DeliveryID     string
	OrganizationID string
	RequestedBy    *string
	CreatedAt      time.Time
}

// ResendDelivery implements lms.DeliveryService. The delivery is locked
// (PostgreSQL; SQLite runs one write at a time), so that two resends, or a
// resend and its worker's claim, are judged one after the other: only one
// of two resends at once finds it sendable again.
func (s *Deliveries) ResendDelivery(ctx context.Context, id string) (*lms.Delivery, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		return nil, errors.New("store: no job queue configured")
	}
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "delivery not found")
	}
	actor := lms.ActorFromContext(ctx)
	var out *lms.Delivery
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var d invitationDelivery
		if err := tx.Clauses(lockRow).Where("organization_id = ? AND id = ?", org, id).Take(&d).Error; err != nil {
			return translate(err, "delivery")
		}
		if st := lms.DeliveryStatus(d.Status); !st.Resendable() {
			return lms.Errorf(lms.EConflict, "the delivery is %s; it can be sent again once it is sent, failed or unknown", st)
		}
		inv, err := findInvitation(tx, org, d.InvitationID)
		if err != nil {
			return err
		}
		now := s.now()
		if !inv.state().Sendable(now) {
			return lms.Errorf(lms.EConflict, "the invitation is %s; it cannot be sent", inv.state().EffectiveStatus(now))
		}
		at, err := s.mailSlot(tx, org, 1, now)
		if err != nil {
			return err
		}
		// The attempts go on counting; what the last send ended with no
		// longer describes the delivery.
		changes := map[string]any{"status": string(lms.DeliveryQueued), "last_error": nil, "sent_at": nil,
			"scheduled_at": at, "updated_at": now}
		res := tx.Model(&invitationDelivery{}).Where("id = ? AND status = ?", d.ID, d.Status).Updates(changes)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return lms.Errorf(lms.EConflict, "the delivery changed while it was being sent again; look at it and retry")
		}
		d.Status, d.LastError, d.SentAt, d.ScheduledAt, d.UpdatedAt = string(lms.DeliveryQueued), nil, nil, &at, now
		resend := deliveryResend{ID: newID(), DeliveryID: d.ID, OrganizationID: org, CreatedAt: now}
		if actor != nil && actor.Kind == lms.ActorUser {
			resend.RequestedBy = &actor.ID
		}
		if err := tx.Create(&resend).Error; err != nil {
			return err
		}
		if err := s.enqueueJobs(ctx, tx, []river.InsertManyParams{deliveryJob(d.ID, at, now)}); err != nil {
			return err
		}
		out = d.domain()
		return s.audit(ctx, tx, "delivery.resend", "delivery", d.ID)
	})
	if err != nil {
		return nil, translate(err, "delivery")
	}
	return out, nil
}

// mailSlot judges n more invitation emails of org against its quota and
// returns when the first of them is due: at once, or after the
// organization's emails already waiting, at its pace. Its deliveries are
// counted and scheduled under a lock of the organization's row (on
// PostgreSQL; SQLite runs one write at a time), so concurrent sends can
// neither pass the quota together nor share a slot.
func (s *Deliveries) mailSlot(tx *gorm.DB, org string, n int, now time.Time) (time.Time, error) {
	if err := s.lockOrganization(tx, org); err != nil {
		return time.Time{}, err
	}
	var wait time.Duration
	for _, w := range []struct {
		limit  int
		window time.Duration
	}{{s.mailQuota.PerHour, time.Hour}, {s.mailQuota.PerDay, 24 * time.Hour}} {
		since := now.Add(-w.window)
		// An email is a delivery made, or one sent again, in the window.
		var made, resent int64
		if err := tx.Model(&invitationDelivery{}).Where("organization_id = ? AND created_at > ?", org, since).Count(&made).Error; err != nil {
			return time.Time{}, err
		}
		if err := tx.Model(&deliveryResend{}).Where("organization_id = ? AND created_at > ?", org, since).Count(&resent).Error; err != nil {
			return time.Time{}, err
		}
		sent := int(made + resent)
		over := sent + n - w.limit
		if over <= 0 {
			continue
		}
		if over > sent {
			// More than the whole quota: no wait makes room (CreateDeliveries
			// refuses such a send before; a quota lowered since may not).
			return time.Time{}, lms.ErrTooManyRecipients(w.limit)
		}
		// Room comes back as the window's oldest emails leave it: the
		// over-th oldest is the last that must.
		oldest, err := s.oldestSent(tx, org, since, over, resent > 0)
		if err != nil {
			return time.Time{}, err
		}
		if !oldest.IsZero() {
			wait = max(wait, oldest.Add(w.window).Sub(now))
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

// oldestSent returns when the k-th oldest email of org sent after since
// was queued, or the zero time when there are fewer. Without resends in
// the window (withResends false, the usual case) the deliveries alone are
// read, by index; with them, the k oldest of each are merged.
func (s *Deliveries) oldestSent(tx *gorm.DB, org string, since time.Time, k int, withResends bool) (time.Time, error) {
	made := tx.Model(&invitationDelivery{}).Where("organization_id = ? AND created_at > ?", org, since).Order("created_at")
	var times []time.Time
	if !withResends {
		if err := made.Offset(k-1).Limit(1).Pluck("created_at", &times).Error; err != nil || len(times) == 0 {
			return time.Time{}, err
		}
		return times[0], nil
	}
	var resent []time.Time
	if err := made.Limit(k).Pluck("created_at", &times).Error; err != nil {
		return time.Time{}, err
	}
	if err := tx.Model(&deliveryResend{}).Where("organization_id = ? AND created_at > ?", org, since).
		Order("created_at").Limit(k).Pluck("created_at", &resent).Error; err != nil {
		return time.Time{}, err
	}
	times = append(times, resent...)
	if len(times) < k {
		return time.Time{}, nil
	}
	slices.SortFunc(times, time.Time.Compare)
	return times[k-1], nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FindDeliveries implements lms.DeliveryService.
func (s *Deliveries) FindDeliveries(ctx context.Context, id string, p lms.PageRequest) (*lms.Page[*lms.Delivery], error) {
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
	return listPage(s.q(ctx).Where("invitation_id = ?", id), p, spec, (*invitationDelivery).domain)
}

// deliveryWorker sends one invitation email per job. The delivery row is
// the source of truth, and it is written before the mail server is: an
// attempt first moves the row from queued to sending and counts itself,
// committed, and only then talks SMTP. A job that finds its delivery
// sending belongs to an attempt that never recorded its end (the process
// died, or River rescued the job as stuck) and may have handed the message
// over, so it records the outcome as unknown instead of sending it again;
// a job that finds it sent, failed or unknown does nothing. An attempt
// writes its outcome only over its own sending row (the same attempts
// count), never over another's.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	store  *Deliveries
	sender mail.Sender
	from   string
	log    *slog.Logger
	// every is how often an attempt in progress refreshes its delivery.
	every time.Duration
}

// What deliveries whose outcome is unknown say, in last_error.
const (
	errInterrupted = "the previous attempt was interrupted while sending; the mail server may or may not have " +
		"the message, so it may or may not have been delivered, and it is not sent again"
	errNoReply = "the mail server did not confirm the message in time after receiving it; it may or may not " +
		"have been delivered, and it is not sent again"
)

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
	switch lms.DeliveryStatus(d.Status) {
	case lms.DeliveryQueued:
	case lms.DeliverySending:
		w.log.Warn("invitation email outcome unknown: an attempt was interrupted while sending",
			"delivery_id", d.ID, "invitation_id", d.InvitationID, "attempts", d.Attempts)
		return w.record(ctx, &d, d.Attempts, []lms.DeliveryStatus{lms.DeliverySending},
			map[string]any{"status": string(lms.DeliveryUnknown), "last_error": errInterrupted, "updated_at": s.now()},
			river.JobCancel(errors.New(errInterrupted)))
	default:
		return nil
	}
	queued := []lms.DeliveryStatus{lms.DeliveryQueued}
	var inv invitation
	if err := s.q(ctx).Select("status", "expires_at").Where("id = ?", d.InvitationID).Take(&inv).Error; err != nil {
		return err
	}
	if !inv.state().Sendable(s.now()) {
		return w.unsendable(ctx, &d)
	}
	var firstName string
	if d.FirstName != nil {
		firstName = *d.FirstName
	}
	email, err := s.renderInvitation(s.q(ctx), d.OrganizationID, d.InvitationID, firstName)
	if err != nil {
		return w.notSent(ctx, job, &d, d.Attempts, queued, err, "the email could not be prepared")
	}

	// The claim: committed before the mail server hears of the message,
	// and only by the one attempt that finds the row as it was read, while
	// its invitation is still sendable: a revoke that commits after the
	// check above is seen here.
	attempt := d.Attempts + 1
	now := s.now()
	claim := s.q(ctx).Model(&invitationDelivery{}).Where("id = ? AND status = ? AND attempts = ?", d.ID, string(lms.DeliveryQueued), d.Attempts).
		Where("EXISTS (SELECT 1 FROM invitations WHERE invitations.id = invitation_deliveries.invitation_id AND "+sendableSQL+")",
			sql.Named("now", now)).
		Updates(map[string]any{"status": string(lms.DeliverySending), "attempts": attempt, "updated_at": now})
	if claim.Error != nil {
		return claim.Error
	}
	if claim.RowsAffected == 0 {
		var again invitation
		err := s.q(ctx).Select("status", "expires_at").Where("id = ?", d.InvitationID).Take(&again).Error
		if err == nil && !again.state().Sendable(s.now()) {
			return w.unsendable(ctx, &d)
		}
		return err // nil: another attempt has it
	}
	stopBeat := w.beat(ctx, d.ID, attempt)
	err = w.sender.Send(ctx, mail.Message{From: w.from, To: d.Recipient, Subject: email.Subject,
		Text: email.Text, HTML: email.HTML, MessageID: d.ID + "@enrollkit"})
	stopBeat()
	now = s.now()
	switch {
	case err == nil:
		w.log.Info("invitation email sent", "delivery_id", d.ID, "invitation_id", d.InvitationID, "attempt", attempt)
		// From unknown too: a late acceptance, heard by this very attempt
		// after another job gave it up, is still the truth.
		return w.record(ctx, &d, attempt, []lms.DeliveryStatus{lms.DeliverySending, lms.DeliveryUnknown},
			map[string]any{"status": string(lms.DeliverySent), "sent_at": now, "last_error": nil, "updated_at": now}, nil)
	case mail.IsOutcomeUnknown(err):
		w.log.Warn("invitation email outcome unknown", "delivery_id", d.ID, "attempt", attempt, "error", err.Error())
		return w.record(ctx, &d, attempt, []lms.DeliveryStatus{lms.DeliverySending},
			map[string]any{"status": string(lms.DeliveryUnknown), "last_error": errNoReply, "updated_at": now}, river.JobCancel(err))
	default:
		return w.notSent(ctx, job, &d, attempt, []lms.DeliveryStatus{lms.DeliverySending}, err, "")
	}
}

// unsendable fails a queued delivery whose invitation was revoked or
// expired: its passcode may already serve another invitation, so it is
// never sent.
func (w *deliveryWorker) unsendable(ctx context.Context, d *invitationDelivery) error {
	err := errors.New("the invitation was revoked or expired before the email was sent")
	return w.record(ctx, d, d.Attempts, []lms.DeliveryStatus{lms.DeliveryQueued},
		map[string]any{"status": string(lms.DeliveryFailed), "last_error": err.Error(), "updated_at": w.store.now()}, river.JobCancel(err))
}

// beat refreshes the sending delivery's updated_at every w.every until the
// returned stop is called: the attempt is alive, however long the mail
// server takes (up to mail.SMTPDataTimeout). It goes on after ctx ends,
// since River's job timeout does not stop a send that has handed the
// message over.
func (w *deliveryWorker) beat(ctx context.Context, id string, attempt int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.every)
			err := w.store.q(bctx).Model(&invitationDelivery{}).
				Where("id = ? AND status = ? AND attempts = ?", id, string(lms.DeliverySending), attempt).
				Update("updated_at", w.store.now()).Error
			cancel()
			if err != nil {
				w.log.Warn("invitation email: could not record that its attempt is alive", "delivery_id", id, "error", err.Error())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// SweepInterrupted records as unknown the deliveries left sending by an
// attempt that stopped beating more than stale ago: its process died while
// the mail server may have been taking the message. Done long before River
// rescues the attempt's job (which then finds them unknown and sends
// nothing), so no delivery says "sending" for long after a crash.
func (s *Deliveries) SweepInterrupted(ctx context.Context, stale time.Duration) (int64, error) {
	now := s.now()
	res := s.q(ctx).Model(&invitationDelivery{}).Where("status = ? AND updated_at < ?", string(lms.DeliverySending), now.Add(-stale)).
		Updates(map[string]any{"status": string(lms.DeliveryUnknown), "last_error": errInterrupted, "updated_at": now})
	return res.RowsAffected, res.Error
}

// DeliverySweepArgs is the periodic job that runs SweepInterrupted.
type DeliverySweepArgs struct{}

// Kind implements river.JobArgs.
func (DeliverySweepArgs) Kind() string { return "delivery_sweep" }

type deliverySweepWorker struct {
	river.WorkerDefaults[DeliverySweepArgs]
	store *Deliveries
	stale time.Duration
	log   *slog.Logger
}

// Work implements river.Worker.
func (w *deliverySweepWorker) Work(ctx context.Context, _ *river.Job[DeliverySweepArgs]) error {
	n, err := w.store.SweepInterrupted(ctx, w.stale)
	if n > 0 {
		w.log.Warn("invitation emails outcome unknown: their attempts were interrupted while sending", "deliveries", n)
	}
	if err != nil {
		return err
	}
	n, err = w.store.resumeOrphaned(ctx, river.ClientFromContext[*sql.Tx](ctx), w.stale)
	if n > 0 {
		w.log.Warn("invitation emails queued again: their jobs died before they began sending", "deliveries", n)
	}
	return err
}

// resumeOrphaned queues a new job for each delivery whose job has been
// running for longer than stale without claiming it: its process died
// between River handing it the job and its claim, and River would rescue
// the job only after rescueStuckJobsAfter. The new job's claim is the only
// one that can succeed (the delivery is still queued, with the same
// attempts); the orphan, once rescued, finds the delivery taken and does
// nothing. The delivery's updated_at marks it resumed, so the next sweep
// does not queue it again while the new job waits for its turn.
func (s *Deliveries) resumeOrphaned(ctx context.Context, client *river.Client[*sql.Tx], stale time.Duration) (int64, error) {
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(DeliveryArgs{}.Kind()).
		States(rivertype.JobStateRunning).First(1000))
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, j := range res.Jobs {
		var args DeliveryArgs
		if j.AttemptedAt != nil && time.Since(*j.AttemptedAt) > stale && json.Unmarshal(j.EncodedArgs, &args) == nil {
			ids = append(ids, args.DeliveryID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var resumed int64
	err = s.tx(ctx, func(tx *gorm.DB) error {
		now := s.now()
		var params []river.InsertManyParams
		for _, id := range ids {
			r := tx.Model(&invitationDelivery{}).Where("id = ? AND status = ? AND updated_at < ?", id, string(lms.DeliveryQueued), now.Add(-stale)).
				Update("updated_at", now)
			if r.Error != nil {
				return r.Error
			}
			if r.RowsAffected == 1 {
				params = append(params, river.InsertManyParams{Args: DeliveryArgs{DeliveryID: id}})
			}
		}
		if len(params) == 0 {
			return nil
		}
		resumed = int64(len(params))
		return insertJobs(ctx, client, tx, params)
	})
	return resumed, err
}

// notSent records an attempt that failed before the mail server could have
// the message: the delivery goes back to queued for River to retry, or is
// failed when retrying cannot help or no attempts are left. what names the
// failure when it is not the mail server's.
func (w *deliveryWorker) notSent(ctx context.Context, job *river.Job[DeliveryArgs], d *invitationDelivery, attempts int,
	from []lms.DeliveryStatus, err error, what string) error {
	permanent := mail.IsPermanent(err)
	final := permanent || lms.ErrorCode(err) == lms.ENotFound || job.Attempt >= job.MaxAttempts
	// The raw error (hosts, addresses, SQL) is logged; clients see a
	// classified message.
	w.log.Warn("invitation email not sent", "delivery_id", d.ID, "attempt", job.Attempt, "final", final, "error", err.Error())
	if what == "" {
		what = "the mail server was unavailable"
	}
	changes := map[string]any{"status": string(lms.DeliveryQueued), "updated_at": w.store.now()}
	if attempts == d.Attempts {
		// Failed before its claim: the attempt is counted here.
		changes["attempts"] = attempts + 1
	}
	switch {
	case permanent:
		changes["last_error"] = "the mail server refused the message or its address"
	case final:
		changes["last_error"] = fmt.Sprintf("not delivered after %d attempts: %s", job.Attempt, what)
	default:
		changes["last_error"] = what + "; retrying"
	}
	if final {
		changes["status"] = string(lms.DeliveryFailed)
		return w.record(ctx, d, attempts, from, changes, river.JobCancel(err))
	}
	return w.record(ctx, d, attempts, from, changes, err)
}

// record writes an attempt's outcome, even if the job's context ended, and
// returns result to River. It changes the delivery only while it is still
// in one of the statuses from with the attempts count the writer saw, so
// that an attempt never overwrites another's outcome; when it no longer is,
// the job ends without a retry, its delivery being another attempt's.
func (w *deliveryWorker) record(ctx context.Context, d *invitationDelivery, attempts int, from []lms.DeliveryStatus,
	changes map[string]any, result error) error {
	statuses := make([]string, len(from))
	for i, st := range from {
		statuses[i] = string(st)
	}
	ctx = context.WithoutCancel(ctx)
	recorded := false
	err := w.store.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&invitationDelivery{}).Where("id = ? AND attempts = ? AND status IN ?", d.ID, attempts, statuses).Updates(changes)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		recorded = true
		return w.store.emitDelivery(ctx, tx, d, attempts, changes)
	})
	if err != nil {
		return err
	}
	if !recorded {
		w.log.Warn("invitation email outcome not recorded: another attempt changed the delivery", "delivery_id", d.ID, "attempts", attempts)
		return nil
	}
	return result
}

// emitDelivery records delivery.sent or delivery.failed when changes, an
// outcome just written over d (its attempts as the writer saw them), sent
// it or failed it.
func (s *Deliveries) emitDelivery(ctx context.Context, tx *gorm.DB, d *invitationDelivery, attempts int, changes map[string]any) error {
	status, _ := changes["status"].(string)
	typ := map[string]string{string(lms.DeliverySent): lms.EventDeliverySent, string(lms.DeliveryFailed): lms.EventDeliveryFailed}[status]
	if typ == "" {
		return nil
	}
	data := deliveryEventData{ID: d.ID, InvitationID: d.InvitationID, Recipient: d.Recipient, Status: status, Attempts: attempts}
	if n, ok := changes["attempts"].(int); ok {
		data.Attempts = n
	}
	if e, ok := changes["last_error"].(string); ok {
		data.LastError = &e
	}
	return s.emitFor(ctx, tx, d.OrganizationID, typ, data)
}
