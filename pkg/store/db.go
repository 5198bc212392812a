// Package store implements enrollkit's services on GORM, over PostgreSQL
// (gorm.io/driver/postgres, pgx) or an embedded pure-Go SQLite
// (github.com/glebarez/sqlite). Migrations for both dialects are embedded and
// applied with goose; database errors are translated into lms errors here,
// so nothing above this package ever sees SQL.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

//go:embed migrations
var migrations embed.FS

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Options tune how a database is opened.
type Options struct {
	// MaxOpenConns bounds the connection pool. Zero picks a default per
	// dialect: 20 for PostgreSQL (well under its default max_connections of
	// 100, leaving room for replicas and tools), 4 for SQLite (WAL readers;
	// writers are serialized by SQLite anyway).
	MaxOpenConns int
}

// DB is an open database and the dialect it speaks.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	// now returns the current time; tests may replace it.
	now func() time.Time
}

// Open connects to url: a postgres:// URL or a SQLite file path (created if
// missing). It does not migrate.
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	cfg := &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	db := &DB{now: cfg.NowFunc}
	var dialector gorm.Dialector
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db.dialect = Postgres
		bounded, err := boundedPostgresURL(dsn)
		if err != nil {
			return nil, err
		}
		dialector = postgres.Open(bounded)
		if o.MaxOpenConns == 0 {
			o.MaxOpenConns = 20
		}
	} else {
		db.dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		dialector = sqlite.Open(sqliteDSN(path))
		if o.MaxOpenConns == 0 {
			o.MaxOpenConns = 4
		}
	}
	g, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", db.dialect, err)
	}
	db.gorm = g
	if db.sql, err = g.DB(); err != nil {
		return nil, err
	}
	db.sql.SetMaxOpenConns(o.MaxOpenConns)
	db.sql.SetMaxIdleConns(o.MaxOpenConns)
	db.sql.SetConnMaxIdleTime(5 * time.Minute)
	db.sql.SetConnMaxLifetime(30 * time.Minute)
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.dialect, err)
	}
	return db, nil
}

// The bounds every PostgreSQL connection gets unless its URL sets them:
// a dial that gets no answer, a statement or a lock wait that runs on, or
// a transaction left open, ends instead of holding a connection for as
// long as the database stalls. Requests have a shorter deadline of their
// own (api.Options.RequestTimeout); these also bound the job workers and
// the commands.
var postgresBounds = [][2]string{
	{"connect_timeout", "5"},                         // seconds
	{"statement_timeout", "60000"},                   // milliseconds
	{"lock_timeout", "10000"},                        // milliseconds
	{"idle_in_transaction_session_timeout", "60000"}, // milliseconds
}

// boundedPostgresURL adds postgresBounds to a postgres:// URL, keeping the
// values it sets itself.
func boundedPostgresURL(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return "", fmt.Errorf("invalid PostgreSQL URL: %w", err)
	}
	q := u.Query()
	for _, b := range postgresBounds {
		if !q.Has(b[0]) {
			q.Set(b[0], b[1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sqliteDSN turns a file path into a DSN with the settings enrollkit relies
// on: WAL so that readers never wait for the writer, a busy timeout so that
// writers queue instead of failing, foreign keys enforced, and write
// transactions that take the write lock at BEGIN (IMMEDIATE), so that two
// transactions never both read and then deadlock upgrading to write.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// No _time_format: github.com/glebarez/go-sqlite already writes times
	// in the "sqlite" format by default, and with _time_format set it stops
	// reading the DSN before _txlock (v1.21.2), leaving every transaction
	// DEFERRED: then two read-then-write transactions fail with SQLITE_BUSY
	// instead of queueing (TestConcurrentAdditionsEnrollEveryone).
	return "file:" + path + "?" + q.Encode()
}

// Dialect returns Postgres or SQLite.
func (db *DB) Dialect() string { return db.dialect }

// SQL returns the underlying pool, for health checks, metrics and the job
// queue that shares it.
func (db *DB) SQL() *sql.DB { return db.sql }

// Gorm returns the GORM handle; only this package's tests and the job queue
// need it.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

func (db *DB) migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+db.dialect)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Replicas starting together take turns instead of racing.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(5, &goose.GoFunc{RunTx: fillEmailSkeletons}, nil)))
	return goose.NewProvider(dialect, db.sql, sub, opts...)
}

// fillEmailSkeletons is migration 5: the skeleton of every user's address
// (lms.EmailSkeleton), which SQL cannot compute, in batches of 1,000.
func fillEmailSkeletons(ctx context.Context, tx *sql.Tx) error {
	for {
		rows, err := tx.QueryContext(ctx, `SELECT id, email FROM users WHERE email_skeleton IS NULL LIMIT 1000`)
		if err != nil {
			return err
		}
		type pair struct{ id, email string }
		var batch []pair
		for rows.Next() {
			var p pair
			if err := rows.Scan(&p.id, &p.email); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, p := range batch {
			// Placeholders of both dialects: $n is accepted by SQLite too.
			if _, err := tx.ExecContext(ctx, `UPDATE users SET email_skeleton = $1 WHERE id = $2`, lms.EmailSkeleton(p.email), p.id); err != nil {
				return err
			}
		}
	}
}

// Migrate applies every pending migration and returns the version reached.
func (db *DB) Migrate(ctx context.Context) (int64, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if err := db.migrateQueue(ctx); err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// ErrMigrationsPending is returned by CheckMigrations when the schema is
// behind this binary.
var ErrMigrationsPending = errors.New("database migrations are pending")

// CheckMigrations tells whether every embedded migration has been applied.
func (db *DB) CheckMigrations(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return ErrMigrationsPending
	}
	return nil
}

// Migrations returns the embedded migrations of both dialects, for tests
// that need to know when they change.
func Migrations() fs.FS { return migrations }
