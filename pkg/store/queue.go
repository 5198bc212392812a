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
	Logger       *slog.Logger
}

// Queue is the durable job queue (River) on the store's database.
type Queue struct {
	client *river.Client[*sql.Tx]
	work   bool
}

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
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliveryWorker{store: s, sender: o.Sender, from: o.From, log: o.Logger}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &verificationWorker{store: s, sender: o.Sender, from: o.From, log: o.Logger}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &expiryWorker{store: s}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		Workers:           workers,
		MaxAttempts:       o.MaxAttempts,
		RetryPolicy:       backoff{o.RetryBase},
		FetchPollInterval: o.PollInterval,
		FetchCooldown:     min(o.PollInterval, 100*time.Millisecond),
		JobTimeout:        time.Minute,
		Logger:            o.Logger,
		PollOnly:          s.db.dialect == SQLite,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(expirySweep),
			func() (river.JobArgs, *river.InsertOpts) { return ExpiryArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	}
	if o.Work {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 8}}
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

// Stop lets running jobs finish (within ctx) and stops the workers.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.work {
		return nil
	}
	return q.client.Stop(ctx)
}
