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
	var dest []any
	err := query(q.Clauses(cols), new([]M), func(scan func(...any) error) error {
		// Each row is scanned in place, into the page's next element.
		var zero M
		out = append(out, zero)
		dest = any(&out[len(out)-1]).(row).fields(dest)
		if err := scan(dest...); err != nil {
			out = out[:len(out)-1]
			return err
		}
		return nil
	})
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
func byID[M any](ctx context.Context, s *Store, table, id string) (*M, error) {
	b, err := byIDStatement[M](s, table)
	if err != nil {
		return nil, err
	}
	var m *M
	err = run(ctx, s.db.sql, s.db.dialect == Postgres, b.text, b.args(id), func(scan func(...any) error) error {
		m = new(M)
		return scan(any(m).(row).fields(nil)...)
	})
	if err == nil && m == nil {
		err = gorm.ErrRecordNotFound
	}
	return m, err
}

// byIDStatement returns byID's statement for M in table, building it the
// first time.
func byIDStatement[M any](s *Store, table string) (builtStatement, error) {
	key := byIDKey{table, reflect.TypeFor[M]()}
	if built, ok := s.byIDSQL.Load(key); ok {
		return built.(builtStatement), nil
	}
	stmt := s.db.gorm.Session(&gorm.Session{DryRun: true}).Table(table).
		Select(any(new(M)).(row).columns()).Where("id = ?", "").Limit(1).Find(new([]M)).Statement
	if stmt.Error != nil {
		return builtStatement{}, stmt.Error
	}
	if n := len(stmt.Vars); n < 1 || n > 2 {
		return builtStatement{}, fmt.Errorf("store: the lookup of %s by ID was built with %d arguments, want the ID and perhaps the LIMIT", table, n)
	}
	built, _ := s.byIDSQL.LoadOrStore(key, builtStatement{text: stmt.SQL.String(), nargs: len(stmt.Vars)})
	return built.(builtStatement), nil
}

// byIDKey names a statement byID built: the table and the row type.
type byIDKey struct {
	table string
	row   reflect.Type
}

// builtStatement is a lookup by ID: its text and its number of arguments.
type builtStatement struct {
	text  string
	nargs int
}

// args are the statement's arguments for id.
func (b builtStatement) args(id string) []any {
	args := make([]any, b.nargs)
	args[0] = id
	if b.nargs > 1 {
		args[1] = 1 // the LIMIT, where the dialect binds it
	}
	return args
}
