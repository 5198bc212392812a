package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Store implements the lms services on one database.
type Store struct {
	db         *DB
	hasher     *auth.Hasher
	tokens     *auth.TokenIssuer
	refreshTTL time.Duration
}

// Deps are what the services need besides the database.
type Deps struct {
	Hasher     *auth.Hasher
	Tokens     *auth.TokenIssuer
	RefreshTTL time.Duration
}

// New returns the services backed by db.
func New(db *DB, d Deps) *Store {
	if d.RefreshTTL == 0 {
		d.RefreshTTL = 30 * 24 * time.Hour
	}
	return &Store{db: db, hasher: d.Hasher, tokens: d.Tokens, refreshTTL: d.RefreshTTL}
}

// DB returns the database the store works on.
func (s *Store) DB() *DB { return s.db }

func (s *Store) now() time.Time { return s.db.now() }

// q returns a GORM session bound to ctx.
func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.gorm.WithContext(ctx) }

// tx runs fn in one transaction bound to ctx.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.q(ctx).Transaction(fn)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// orgID returns the caller's organization. Services behind authentication
// always have one; an empty one means a wiring bug, never a client error.
func orgID(ctx context.Context) (string, error) {
	id := lms.OrganizationIDFromContext(ctx)
	if id == "" {
		return "", errors.New("store: no actor in context")
	}
	return id, nil
}

// translate turns database errors into lms errors with client-safe messages.
// what names the object, e.g. "user".
func translate(err error, what string) error {
	var le *lms.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return lms.Errorf(lms.ENotFound, "%s not found", what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return lms.Errorf(lms.EConflict, "a %s with the same unique fields already exists", what)
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return lms.Errorf(lms.EConflict, "the %s is still referenced by other objects", what)
	}
	return err
}

// escapeLike makes user text match literally inside a LIKE pattern, so that
// % and _ are plain characters.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// searchPattern returns the LIKE pattern for a case-insensitive substring
// search over a lower-cased search column.
func searchPattern(q string) string {
	return "%" + escapeLike(strings.ToLower(strings.TrimSpace(q))) + "%"
}

// sortSpec is one allowed ordering of a list: a column (SQL text chosen by
// the code, never by the client), a direction, and how to read a row's key
// for the cursor. An empty column orders by ID alone.
type sortSpec[M any] struct {
	column string
	desc   bool
	key    func(*M) string
	id     func(*M) string
}

// paginate reads one keyset page of q ordered by spec, then by ID. It reads
// one row more than asked to learn whether a next page exists, so no count
// is ever needed.
func paginate[M any](q *gorm.DB, p lms.PageRequest, spec sortSpec[M]) ([]M, string, error) {
	cmp, dir := ">", "ASC"
	if spec.desc {
		cmp, dir = "<", "DESC"
	}
	if p.Cursor != "" {
		key, id, err := lms.DecodeCursor(p.Cursor, p.Sort)
		if err != nil {
			return nil, "", err
		}
		if !lms.ValidID(id) {
			return nil, "", lms.Errorf(lms.EBadRequest, "cursor is not valid for this list; start again without it")
		}
		if spec.column == "" {
			q = q.Where("id "+cmp+" ?", id)
		} else {
			q = q.Where("("+spec.column+" "+cmp+" ? OR ("+spec.column+" = ? AND id "+cmp+" ?))", key, key, id)
		}
	}
	if spec.column != "" {
		q = q.Order(spec.column + " " + dir)
	}
	var rows []M
	if err := q.Order("id " + dir).Limit(p.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		last := &rows[len(rows)-1]
		key := ""
		if spec.key != nil {
			key = spec.key(last)
		}
		next = lms.EncodeCursor(p.Sort, key, spec.id(last))
	}
	return rows, next, nil
}
