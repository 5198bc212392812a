// Package storetest gives tests a fresh, migrated database of each dialect:
// SQLite always, PostgreSQL when TEST_DATABASE_URL is set. Each database
// belongs to one test, so tests run in parallel without seeing each other.
package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the admin connection

	"github.com/enrollkit/enrollkit/pkg/store"
)

// EnvPostgres names the variable that points the tests at PostgreSQL.
const EnvPostgres = "TEST_DATABASE_URL"

// Dialects are the databases every store test runs on.
var Dialects = []string{store.SQLite, store.Postgres}

// skipped records, once per process, that PostgreSQL tests are skipped.
var skipped sync.Once

// Open returns a fresh migrated database of dialect for tb, removed when tb
// ends. Without TEST_DATABASE_URL, PostgreSQL tests are skipped with a
// message that says so.
func Open(tb testing.TB, dialect string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	var dsn string
	switch dialect {
	case store.SQLite:
		dsn = filepath.Join(tb.TempDir(), "enrollkit.db")
	case store.Postgres:
		base := os.Getenv(EnvPostgres)
		if base == "" {
			skipped.Do(func() {
				fmt.Fprintf(os.Stderr, "storetest: %s is not set: PostgreSQL tests are SKIPPED; only SQLite ran\n", EnvPostgres)
			})
			tb.Skipf("PostgreSQL skipped: set %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it", EnvPostgres)
		}
		dsn = newPostgresDatabase(tb, base)
	default:
		tb.Fatalf("unknown dialect %q", dialect)
	}
	db, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 8})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn as a parallel subtest on a fresh database of every dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	EachDialect(t, func(t *testing.T, dialect string) { fn(t, Open(t, dialect)) })
}

// EachDialect runs fn as a parallel subtest per dialect, for tests that
// open their databases themselves.
func EachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// newPostgresDatabase creates an empty database for one test and drops it
// when the test ends. Creating a database is cheaper than rolling back every
// store transaction of a test, and it keeps tests fully apart.
func newPostgresDatabase(tb testing.TB, base string) string {
	tb.Helper()
	admin := adminPool(tb, base)
	name := "enrollkit_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateName(tb, admin, base)); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	return withDatabaseURL(base, name)
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

func adminPool(tb testing.TB, base string) *sql.DB {
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", base)
		if adminErr == nil {
			adminDB.SetMaxOpenConns(4)
			adminErr = adminDB.Ping()
		}
	})
	if adminErr != nil {
		tb.Fatalf("PostgreSQL at %s is unreachable: %v", EnvPostgres, adminErr)
	}
	return adminDB
}

var (
	templateOnce sync.Once
	template     string
	templateErr  error
)

// templateName returns a database holding the fully migrated schema, named
// after a hash of the migrations so that it is built once and reused by
// every test package and run until the migrations change.
func templateName(tb testing.TB, admin *sql.DB, base string) string {
	templateOnce.Do(func() {
		template, templateErr = ensureTemplate(admin, base)
	})
	if templateErr != nil {
		tb.Fatalf("prepare template database: %v", templateErr)
	}
	return template
}

func ensureTemplate(admin *sql.DB, base string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(store.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(store.Migrations(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "enrollkit_template_" + hex.EncodeToString(h.Sum(nil))[:16]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Test packages run in parallel processes: one builds, the others wait.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(727274)")
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	db, err := store.Open(ctx, withDatabaseURL(base, name), store.Options{MaxOpenConns: 1})
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabaseURL(base, name string) string {
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}
