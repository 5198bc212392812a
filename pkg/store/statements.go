package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Statements are the texts of the statements the store sends to
// PostgreSQL on its hot paths, for the tools that must run exactly the
// same SQL (cmd/enrollkit-bench's pgbench scripts and its stack floor).
// They are not copies: PostgresStatements runs the store's own functions
// against a connection that records what they send.
type Statements struct {
	// Actor is the caller's row, read on every authenticated request
	// (AuthenticateLater, Authenticate): the person's ID, then the LIMIT.
	Actor string
	// UserGroupsPage is the first page of FindUserGroups in its default
	// order, with each group's counts: the organization, then the LIMIT
	// (one more than the page).
	UserGroupsPage string
	// CoursesSearch is the first page of FindCourses with a search term in
	// its default order: the organization, the LIKE pattern (SearchPattern),
	// then the LIMIT.
	CoursesSearch string
	// Invitation and InvitationGroups are FindInvitationByID's two
	// statements: the invitation (the organization, the ID, then the LIMIT)
	// and its user groups (the invitation's ID).
	Invitation       string
	InvitationGroups string
	// RedeemNew is a new person's redemption on PostgreSQL, one statement
	// with named steps; Seat is its first step, the seat-taking UPDATE,
	// without the RETURNING that feeds the next step.
	RedeemNew string
	Seat      string
	// EnrollGroupCourse is the enrollment INSERT of AddUserGroupCourses
	// (enrollSQL): the time, the group, the organization, then the course
	// IDs, here one.
	EnrollGroupCourse string
	// Login is Login's lookup of the candidate accounts of an email in one
	// organization: the email, the organization, then the LIMIT.
	Login string
}

// PostgresStatements returns the statements as the store builds them for
// PostgreSQL. It needs no database: the store's functions run against a
// recording connection, which answers the invitation's read with one row
// so that FindInvitationByID goes on to its second statement, and every
// other statement with an error once it is recorded.
func PostgresStatements() (*Statements, error) {
	rec := &recorder{}
	pool := sql.OpenDB(recordingConnector{rec})
	defer pool.Close()
	cfg := &gorm.Config{SkipDefaultTransaction: true, Logger: logger.Discard, DisableAutomaticPing: true,
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	// Wrapped, the pool is no *sql.DB: the store then queries it through
	// database/sql instead of asking it for a pgx connection.
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: recordingPool{pool}}), cfg)
	if err != nil {
		return nil, err
	}
	s := compose(&core{db: &DB{gorm: g, sql: pool, dialect: Postgres, now: cfg.NowFunc}})
	org, id := newID(), newID()
	ctx := lms.NewContextWithActor(context.Background(), &lms.Actor{ID: newID(), Kind: lms.ActorUser,
		OrganizationID: org, Role: lms.RoleFullManager})
	var st Statements

	actor, err := byIDStatement[actorRow](s.core, "users")
	if err != nil {
		return nil, err
	}
	st.Actor = actor.text
	if st.UserGroupsPage, err = rec.only(func() error {
		_, err := s.FindUserGroups(ctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Limit: 50}})
		return err
	}); err != nil {
		return nil, fmt.Errorf("user groups page: %w", err)
	}
	if st.CoursesSearch, err = rec.only(func() error {
		_, err := s.FindCourses(ctx, lms.CourseFilter{PageRequest: lms.PageRequest{Limit: 50}, Q: "term"})
		return err
	}); err != nil {
		return nil, fmt.Errorf("courses search: %w", err)
	}
	// readBuilt asks a PostgreSQL pool for a pgx connection; under another
	// dialect name it queries through database/sql, which records.
	reads := compose(&core{db: &DB{gorm: g, sql: pool, dialect: "recorded " + Postgres, now: cfg.NowFunc}})
	now := s.now()
	rec.answer = (&invitation{ID: id, OrganizationID: org, Status: string(lms.InvitationActive), CreatedAt: now,
		UpdatedAt: now}).fields(nil)
	_, _ = reads.FindInvitationByID(ctx, id)
	if len(rec.texts) != 2 {
		return nil, fmt.Errorf("invitation: %d statements recorded, want 2", len(rec.texts))
	}
	st.Invitation, st.InvitationGroups = rec.texts[0], rec.texts[1]
	rec.texts = nil

	u := &user{ID: newID(), OrganizationID: org, Email: "someone@example.com"}
	if st.RedeemNew, err = rec.first(func() error {
		_, err := s.redeemNewInOneStatement(s.q(ctx), &invitation{ID: id, OrganizationID: org}, u,
			&redemption{ID: newID(), CreatedAt: now}, &refreshToken{ID: newID(), FamilyID: newID(), ExpiresAt: now})
		return err
	}); err != nil {
		return nil, fmt.Errorf("redemption: %w", err)
	}
	seat, ok := strings.CutPrefix(strings.TrimSpace(st.RedeemNew), "WITH seat AS (")
	if ok {
		seat, _, ok = strings.Cut(seat, "RETURNING id")
	}
	if !ok {
		return nil, errors.New("the redemption statement does not start with its seat UPDATE")
	}
	st.Seat = strings.TrimSpace(seat)
	if st.EnrollGroupCourse, err = rec.only(func() error {
		return s.q(ctx).Exec(s.UserGroups.courseLink().enroll, now, id, org, []string{newID()}).Error
	}); err != nil {
		return nil, fmt.Errorf("group course enrollments: %w", err)
	}
	if st.Login, err = rec.first(func() error {
		_, err := s.Login(ctx, "someone@example.com", "password", org)
		return err
	}); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return &st, nil
}

// PostgresNewIDSQL is the SQL expression that makes a new UUIDv7 on
// PostgreSQL in set-based inserts (the enrollments of a group's new course
// or member, of a redemption).
func PostgresNewIDSQL() string {
	return (&core{db: &DB{dialect: Postgres}}).newIDSQL()
}

// NewID returns a new ID as the store makes them: a UUIDv7.
func NewID() string { return newID() }

// SearchPattern is the LIKE pattern the store binds for a search term q
// (FindCourses, FindUserGroups).
func SearchPattern(q string) string { return searchPattern(q) }

// errRecorded answers every recorded statement that gets no row.
var errRecorded = errors.New("store: statement recorded, not run")

// recorder keeps the texts of the statements sent to it. answer, when
// set, is the one row the next query is answered with.
type recorder struct {
	mu     sync.Mutex
	texts  []string
	answer []any
}

func (r *recorder) query(text string) (driver.Rows, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text)
	if r.answer == nil {
		return nil, errRecorded
	}
	row := make([]driver.Value, len(r.answer))
	for i, p := range r.answer {
		v, err := driver.DefaultParameterConverter.ConvertValue(p)
		if err != nil {
			return nil, err
		}
		row[i] = v
	}
	r.answer = nil
	return &recordedRows{row: row}, nil
}

// first runs fn, which must fail with errRecorded, and returns the first
// statement it sent.
func (r *recorder) first(fn func() error) (string, error) {
	r.texts = nil
	err := fn()
	if !errors.Is(err, errRecorded) || len(r.texts) == 0 {
		return "", fmt.Errorf("%d statements recorded, ended by %v", len(r.texts), err)
	}
	text := r.texts[0]
	r.texts = nil
	return text, nil
}

// only is first for a function that must send one statement alone.
func (r *recorder) only(fn func() error) (string, error) {
	r.texts = nil
	err := fn()
	if n := len(r.texts); n != 1 || !errors.Is(err, errRecorded) {
		return "", fmt.Errorf("%d statements recorded, ended by %v", n, err)
	}
	text := r.texts[0]
	r.texts = nil
	return text, nil
}

// recordingPool is a pool that the store does not take for a *sql.DB.
type recordingPool struct{ *sql.DB }

// recordingConnector, recordingConn and recordedRows are the driver behind
// the recording pool.
type recordingConnector struct{ rec *recorder }

func (c recordingConnector) Connect(context.Context) (driver.Conn, error) {
	return recordingConn{c.rec}, nil
}

func (c recordingConnector) Driver() driver.Driver { return recordingDriver{c.rec} }

type recordingDriver struct{ rec *recorder }

func (d recordingDriver) Open(string) (driver.Conn, error) { return recordingConn{d.rec}, nil }

type recordingConn struct{ rec *recorder }

func (c recordingConn) Prepare(query string) (driver.Stmt, error) {
	return nil, errors.New("store: the recording connection prepares nothing")
}

func (c recordingConn) Close() error { return nil }

func (c recordingConn) Begin() (driver.Tx, error) {
	return nil, errors.New("store: the recording connection begins no transaction")
}

func (c recordingConn) QueryContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	return c.rec.query(query)
}

func (c recordingConn) ExecContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Result, error) {
	_, err := c.rec.query(query)
	return nil, err
}

// CheckNamedValue takes every argument as it is: only the text matters.
func (c recordingConn) CheckNamedValue(*driver.NamedValue) error { return nil }

type recordedRows struct {
	row  []driver.Value
	done bool
}

func (r *recordedRows) Columns() []string {
	cols := make([]string, len(r.row))
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d", i)
	}
	return cols
}

func (r *recordedRows) Close() error { return nil }

func (r *recordedRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, r.row)
	return nil
}
