package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/enrollkit/enrollkit/pkg/mail"
)

// riverDriver returns River's driver for the dialect. Both share GORM's
// pool, so a job is inserted in the same transaction as the rows it is
// about.
func (db *DB) riverDriver() riverdriver.Driver[*sql.Tx] {
	if db.dialect == Postgres {
		return riverdatabasesql.New(db.sql)
	}
	return riversqlite.New(db.sql)
}

func (db *DB) migrateQueue(ctx context.Context) error {
	m, err := rivermigrate.New(db.riverDriver(), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	return nil
}

// QueueOptions configure the durable job queue.
type QueueOptions struct {
	// Work starts workers; without it the client only inserts jobs (for
	// commands and tests that must not send anything).
	Work bool
	// Sender delivers invitation emails.
	Sender mail.Sender
	// From is the sender address of invitation emails.
	From string
	// RetryBase is the first retry delay; each further one doubles, up to
	// an hour. Default 15s.
	RetryBase time.Duration
	// MaxAttempts bounds the tries of one email. Default 8.
	MaxAttempts int
	// PollInterval is how often workers look for jobs. Default 1s.
	PollInterval time.Duration
	// SendingBeat is how often an invitation email being sent refreshes
	// its delivery; one that has not for four beats is taken for
	// interrupted (its process died) by a sweep every two beats, and
	// recorded as unknown. Default 15s, so a crash mid-send is told within
	// two minutes.
	SendingBeat time.Duration
	// WebhookTimeout bounds one webhook request, connection included.
	// Default 10s.
	WebhookTimeout time.Duration
	// WebhookRetryBase is the first webhook retry's delay; each further
	// one is four times the last, up to 12 h. Default 10s, which spreads
	// the nine attempts over some 27 hours.
	WebhookRetryBase time.Duration
	// WebhookDisableAfter is how long an endpoint may fail every attempt
	// before it is disabled. Default 24h.
	WebhookDisableAfter time.Duration
	Logger              *slog.Logger
}

// Queue is the durable job queue (River) on the store's database.
type Queue struct {
	client *river.Client[*sql.Tx]
	work   bool
}

// jobTimeout bounds a job's run: for an invitation email, rendering and
// the SMTP session's setup and commands (each bounded by
// mail.SMTPCommandTimeout), then the wait for the relay to accept the
// message (mail.SMTPDataTimeout, 10 minutes by RFC 5321), with room to
// spare. River cancels a job's context once it passes; the sender no
// longer looks at the context after the message was handed over, but a
// legitimate wait must not be cut short by River before it ends.
const jobTimeout = mail.SMTPDataTimeout + 2*time.Minute

// rescueStuckJobsAfter is how long a job may stay running before River
// takes it for abandoned (its process was killed or lost its database) and
// runs it again. It exceeds the longest legitimate run, jobTimeout and the
// recording of its outcome, so that only an orphaned job is rescued; the
// rescued delivery job then finds its delivery unknown (the sweep of
// interrupted sends told it within two minutes of the crash) or still
// sending, and records nothing more rather than send a second copy. River's
// default, an hour, left an orphaned email waiting that long.
const rescueStuckJobsAfter = jobTimeout + 3*time.Minute

// backoff is an exponential retry policy with a configurable base, so
// tests can retry in milliseconds what production retries in seconds.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base << min(max(job.Attempt-1, 0), 20)
	return time.Now().Add(min(d, time.Hour))
}

// NewQueue builds the job queue and registers the store's workers. The
// store uses it to enqueue; Start runs the workers.
func (s *Store) NewQueue(o QueueOptions) (*Queue, error) {
	if o.RetryBase == 0 {
		o.RetryBase = 15 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 8
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SendingBeat == 0 {
		o.SendingBeat = 15 * time.Second
	}
	if o.WebhookTimeout == 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookRetryBase == 0 {
		o.WebhookRetryBase = 10 * time.Second
	}
	if o.WebhookDisableAfter == 0 {
		o.WebhookDisableAfter = 24 * time.Hour
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &webhookWorker{store: s.Webhooks, client: s.guard.Client(o.WebhookTimeout), log: o.Logger,
		base: o.WebhookRetryBase, disableAfter: o.WebhookDisableAfter}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &deliveryWorker{store: s.Deliveries, sender: o.Sender, from: o.From, log: o.Logger,
		every: o.SendingBeat}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &idempotencySweepWorker{store: s.Idempotency}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &deliverySweepWorker{store: s.Deliveries, stale: 4 * o.SendingBeat, log: o.Logger}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &verificationWorker{store: s.Redemptions, sender: o.Sender, from: o.From, log: o.Logger}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &expiryWorker{store: s.Redemptions}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		Workers:              workers,
		MaxAttempts:          o.MaxAttempts,
		RetryPolicy:          backoff{o.RetryBase},
		FetchPollInterval:    o.PollInterval,
		FetchCooldown:        min(o.PollInterval, 100*time.Millisecond),
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: rescueStuckJobsAfter,
		Logger:               o.Logger,
		PollOnly:             s.db.dialect == SQLite,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(expirySweep),
				func() (river.JobArgs, *river.InsertOpts) { return ExpiryArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(idempotencySweep),
				func() (river.JobArgs, *river.InsertOpts) { return IdempotencySweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(2*o.SendingBeat),
				func() (river.JobArgs, *river.InsertOpts) { return DeliverySweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
		},
	}
	if o.Work {
		// Webhooks have their own workers: a slow receiver (10 s each)
		// never holds an email back.
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 8}, webhookQueue: {MaxWorkers: 16}}
	}
	client, err := river.NewClient(s.db.riverDriver(), cfg)
	if err != nil {
		return nil, err
	}
	q := &Queue{client: client, work: o.Work}
	s.queue = q
	return q, nil
}

// Start runs the workers until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if !q.work {
		return nil
	}
	return q.client.Start(ctx)
}

// Stop lets running jobs finish (within ctx) and stops the workers. An
// invitation email waiting for its relay's acceptance may take up to
// mail.SMTPDataTimeout; one still running when ctx ends, and the process
// with it, is left sending, and is recorded as unknown once River rescues
// its job (after rescueStuckJobsAfter), never sent twice.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.work {
		return nil
	}
	return q.client.Stop(ctx)
}

// StopAndCancel cancels the running jobs' contexts, waits for them to
// return (within ctx) and stops the workers: after a Stop that ran out of
// time. A cancelled job is handed back to River, to run again.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	if !q.work {
		return nil
	}
	return q.client.StopAndCancel(ctx)
}
