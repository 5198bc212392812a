package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// row is a row type of the hot read paths: it names the columns it is read
// from and hands out pointers to its fields in the same order, so rows are
// scanned without reflection. GORM still builds the statement.
type row interface {
	columns() string
	// fields returns dst[:0] with the pointers appended, so that a query
	// reuses one slice for all its rows.
	fields(dst []any) []any
}

// find runs q as a SELECT of M's columns and scans every row into an M,
// which must be a row (its pointer implements row). Outside a transaction
// on PostgreSQL the rows are read by pgx itself, which decodes straight
// into the fields; through database/sql and GORM's reflection the same
// page costs the server several times the CPU (a third of a list request
// went to scanning). Elsewhere (SQLite, or inside a transaction) the
// statement runs on q's connection through database/sql, still without
// reflection. size is how many rows to make room for (the page's LIMIT),
// 0 when unknown: growing a page of 51 rows one append at a time copied it
// seven times.
func find[M any](q *gorm.DB, size int) ([]M, error) {
	out := make([]M, 0, size)
	// The columns go in as the SELECT clause itself: given to Select, GORM
	// would look the whole list up as a field name and, missing, run it
	// through its naming strategy, a twentieth of a list request's CPU.
	cols := clause.Select{Expression: clause.Expr{SQL: any(new(M)).(row).columns()}}
	err := query(q.Clauses(cols), new([]M), scanInto(&out))
	return out, err
}

// take is find for one row: gorm.ErrRecordNotFound when there is none, as
// GORM's Take.
func take[M any](q *gorm.DB) (*M, error) {
	rows, err := find[M](q.Limit(1), 1)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, gorm.ErrRecordNotFound
	}
	return &rows[0], nil
}

// isRow reports whether M can be read by find.
func isRow[M any]() bool {
	_, ok := any(new(M)).(row)
	return ok
}

// query builds q's statement (model tells GORM the table when q names
// none) and calls each for every row.
func query(q *gorm.DB, model any, each func(scan func(...any) error) error) error {
	stmt := q.Session(&gorm.Session{DryRun: true}).Find(model).Statement
	if err := stmt.Error; err != nil {
		return err
	}
	return run(stmt.Context, stmt.ConnPool, q.Dialector.Name() == "postgres", stmt.SQL.String(), stmt.Vars, each)
}

// run runs a statement on pool and calls each for every row: through pgx
// on PostgreSQL outside a transaction, through database/sql otherwise.
func run(ctx context.Context, pool gorm.ConnPool, postgres bool, text string, args []any, each func(scan func(...any) error) error) error {
	if db, ok := pool.(*sql.DB); ok && postgres {
		return pgxQuery(ctx, db, text, args, each)
	}
	rows, err := pool.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, each)
}

// eachRow calls each for every row of rows, database/sql's or pgx's.
func eachRow(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}, each func(scan func(...any) error) error) error {
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// pgxQuery runs a statement on a pgx connection of pool's, in the same
// round trip as the caller's row when ctx's caller is pending.
func pgxQuery(ctx context.Context, pool *sql.DB, text string, args []any, each func(scan func(...any) error) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: PostgreSQL connection of type %T, not pgx", dc)
		}
		if u := pendingUserOf(ctx); u != nil {
			return u.queryAfterUser(ctx, c.Conn(), text, args, each)
		}
		rows, err := c.Conn().Query(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return eachRow(rows, each)
	})
}

// byID reads one M by primary key from table with a statement GORM builds
// once: on the per-request path of Authenticate, building it every time
// cost as much as scanning it.
func byID[M any](ctx context.Context, s *core, table, id string) (*M, error) {
	b, err := byIDStatement[M](s, table)
	if err != nil {
		return nil, err
	}
	rows, err := readBuilt[M](ctx, s, b, 1, id)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, gorm.ErrRecordNotFound
	}
	return &rows[0], nil
}

// byIDStatement returns byID's statement for M in table, building it the
// first time.
func byIDStatement[M any](s *core, table string) (builtStatement, error) {
	return buildOnce[M](s, "by ID in "+table, 1, func(q *gorm.DB) *gorm.DB {
		return q.Table(table).Where("id = ?", "").Limit(1)
	})
}

// buildOnce returns the SELECT of M's columns that build makes of a GORM
// session, built the first time it is asked for under name: a statement
// on a hot read path is then built once per process, not once per request
// (on the get of an invitation, building its two statements cost a tenth
// of the request). build must give every argument a placeholder value and
// add at most a LIMIT of 1, which some dialects bind as one more argument;
// nargs is how many arguments the caller passes.
func buildOnce[M any](s *core, name string, nargs int, build func(q *gorm.DB) *gorm.DB) (builtStatement, error) {
	key := builtKey{name, reflect.TypeFor[M]()}
	if built, ok := s.built.Load(key); ok {
		return built.(builtStatement), nil
	}
	cols := clause.Select{Expression: clause.Expr{SQL: any(new(M)).(row).columns()}}
	stmt := build(s.db.gorm.Session(&gorm.Session{DryRun: true})).Clauses(cols).Find(new([]M)).Statement
	if stmt.Error != nil {
		return builtStatement{}, stmt.Error
	}
	if n := len(stmt.Vars); n < nargs || n > nargs+1 {
		return builtStatement{}, fmt.Errorf("store: the statement %q was built with %d arguments, want %d and perhaps the LIMIT", name, n, nargs)
	}
	built, _ := s.built.LoadOrStore(key, builtStatement{text: stmt.SQL.String(), nargs: len(stmt.Vars)})
	return built.(builtStatement), nil
}

// readBuilt runs b with args and scans every row into an M, as find does;
// size is how many rows to make room for.
func readBuilt[M any](ctx context.Context, s *core, b builtStatement, size int, args ...any) ([]M, error) {
	out := make([]M, 0, size)
	err := run(ctx, s.db.sql, s.db.dialect == Postgres, b.text, b.args(args), scanInto(&out))
	return out, err
}

// scanInto returns a row callback that scans each row in place, into the
// next element of *out.
func scanInto[M any](out *[]M) func(scan func(...any) error) error {
	var dest []any
	return func(scan func(...any) error) error {
		var zero M
		*out = append(*out, zero)
		dest = any(&(*out)[len(*out)-1]).(row).fields(dest)
		if err := scan(dest...); err != nil {
			*out = (*out)[:len(*out)-1]
			return err
		}
		return nil
	}
}

// builtKey names a statement buildOnce built: what it is for and the row
// type it reads.
type builtKey struct {
	name string
	row  reflect.Type
}

// builtStatement is a statement built once: its text and its number of
// arguments.
type builtStatement struct {
	text  string
	nargs int
}

// args are the statement's arguments: the caller's, then the LIMIT of 1
// where the dialect binds it.
func (b builtStatement) args(given []any) []any {
	args := make([]any, b.nargs)
	copy(args, given)
	if b.nargs > len(given) {
		args[len(given)] = 1
	}
	return args
}
