package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// stalledCatalog is the catalog of a database that holds its packets:
// CreateCourse answers only when its request's deadline has passed, and
// FindCourses fails with the error given.
//
// With created set, CreateCourse instead says it has begun and holds on,
// whatever its deadline, until release is closed.
type stalledCatalog struct {
	lms.CourseService
	created, release chan struct{}
	err              error
}

func (s stalledCatalog) CreateCourse(ctx context.Context, in lms.NewCourse) (*lms.Course, error) {
	if s.created != nil {
		s.created <- struct{}{}
		<-s.release
	}
	<-ctx.Done()
	return nil, fmt.Errorf("create course: %w", ctx.Err())
}

func (s stalledCatalog) FindCourseByID(ctx context.Context, id string) (*lms.Course, error) {
	return nil, s.err
}

// TestStalledDatabaseAnswers503WithinTheDeadline: a request whose database
// call outlives the request's deadline is answered 503 with Retry-After as
// soon as the deadline passes, not when the database comes back.
func TestStalledDatabaseAnswers503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.RequestTimeout = 200 * time.Millisecond
		o.Services.Courses = stalledCatalog{CourseService: o.Services.Courses}
	})
	start := time.Now()
	r := e.do(req{method: "POST", path: "/api/v1/courses", token: e.tokens["full"], body: map[string]string{"name": "Stalled"}})
	took := time.Since(start)
	if r.Status != 503 || r.JSON(t)["code"] != lms.EUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("stalled create = %d %s (Retry-After %q); want 503 unavailable with Retry-After", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if took > 2*time.Second {
		t.Fatalf("answered after %v; want soon after the 200ms deadline", took)
	}
}

// TestDatabaseFailuresAre503: the ways a database fails for now (refused,
// reset, timed out, shutting down, out of connections, a statement or lock
// timeout, a deadlock, SQLite busy) are answered 503 unavailable, never
// 500; a bug is still a 500.
func TestDatabaseFailuresAre503(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 503},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), 503},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503},
		{"statement timeout", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, 503},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, 503},
		{"shutting down", &pgconn.PgError{Code: "57P01"}, 503},
		{"too many connections", &pgconn.PgError{Code: "53300"}, 503},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, 503},
		{"connection exception", &pgconn.PgError{Code: "08006"}, 503},
		{"sqlite busy", sqliteError(5), 503},
		{"sqlite busy, extended", sqliteError(5 | 2<<8), 503},
		{"a bug", errors.New("something broke"), 500},
		{"a constraint", &pgconn.PgError{Code: "23514"}, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "sqlite", func(o *api.Options) {
				o.Services.Courses = stalledCatalog{CourseService: o.Services.Courses, err: c.err}
			})
			r := e.do(req{method: "GET", path: "/api/v1/courses/0192f0c4-8a4e-7cc1-b9a0-3b3c5d0e1f21", token: e.tokens["full"]})
			if r.Status != c.status {
				t.Fatalf("%v answered %d %s; want %d", c.err, r.Status, r.Body, c.status)
			}
			if c.status == 503 && (r.JSON(t)["code"] != lms.EUnavailable || r.Header.Get("Retry-After") == "") {
				t.Fatalf("%v answered %s (Retry-After %q); want unavailable with Retry-After", c.err, r.Body, r.Header.Get("Retry-After"))
			}
		})
	}
}

// sqliteError is an error as the SQLite driver reports one, with its
// result code.
type sqliteError int

func (e sqliteError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteError) Code() int     { return int(e) }

// TestInFlightBound: past MaxInFlight requests at once the others wait
// for a turn until their deadline, then are answered 503; the probes are
// never held.
func TestInFlightBound(t *testing.T) {
	t.Parallel()
	created, release := make(chan struct{}), make(chan struct{})
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.RequestTimeout = 300 * time.Millisecond
		o.MaxInFlight = 1
		o.Services.Courses = stalledCatalog{CourseService: o.Services.Courses, created: created, release: release}
	})
	var wg sync.WaitGroup
	var first *response
	wg.Go(func() {
		first = serve(e.handler, mustRequest(req{method: "POST", path: "/api/v1/courses", token: e.tokens["full"], body: map[string]string{"name": "First"}}))
	})
	<-created // the one slot is taken until release
	if r := e.do(req{method: "GET", path: "/readyz"}); r.Status != 200 {
		t.Fatalf("readyz while the server is at its bound = %d; want 200 at once", r.Status)
	}
	r := e.do(req{method: "GET", path: "/api/v1/me", token: e.tokens["full"]})
	close(release)
	wg.Wait()
	if r.Status != 503 || r.JSON(t)["code"] != lms.EUnavailable {
		t.Fatalf("a request past the bound = %d %s; want 503 unavailable", r.Status, r.Body)
	}
	if first.Status != 503 {
		t.Fatalf("the stalled request = %d; want 503", first.Status)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/me", token: e.tokens["full"]}); r.Status != 200 {
		t.Fatalf("a request once the slot is free = %d %s; want 200", r.Status, r.Body)
	}
}

func mustRequest(r req) *http.Request {
	hr, _ := newRequest(r)
	return hr
}
