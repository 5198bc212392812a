package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/config"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Store implements the lms services on one database.
type Store struct {
	db         *DB
	hasher     passwords
	tokens     *auth.TokenIssuer
	refreshTTL time.Duration
	// verificationTTL is how long a pending redemption waits.
	verificationTTL time.Duration
	mailQuota       lms.MailQuota
	// passcodeKey keys the lookup hash of passcodes; sealKey encrypts the
	// copy that Full Managers read back.
	passcodeKey []byte
	sealKey     []byte
	// verifySealKey encrypts the tokens of verification links until they
	// are sent.
	verifySealKey []byte
	publicURL     string
	// queue enqueues durable jobs; set by NewQueue.
	queue *Queue
	// built holds the statements buildOnce built, by builtKey.
	built sync.Map
}

// Deps are what the services need besides the database.
type Deps struct {
	Hasher *auth.Hasher
	Tokens *auth.TokenIssuer
	// RefreshTTL is how long a refresh token lives;
	// config.DefaultRefreshTTL when zero.
	RefreshTTL time.Duration
	// Secret is the application secret; keys for passcodes derive from it.
	Secret []byte
	// PublicURL is the frontend's base URL used in enrollment links.
	PublicURL string
	// VerificationTTL is how long a pending redemption waits for its
	// address to be verified; lms.DefaultVerificationTTL when zero.
	VerificationTTL time.Duration
	// MailQuota bounds each organization's invitation emails;
	// lms.DefaultMailQuota where a field is zero.
	MailQuota lms.MailQuota
}

// New returns the services backed by db.
func New(db *DB, d Deps) *Store {
	if d.RefreshTTL == 0 {
		d.RefreshTTL = config.DefaultRefreshTTL
	}
	if d.VerificationTTL == 0 {
		d.VerificationTTL = lms.DefaultVerificationTTL
	}
	if d.MailQuota.PerHour == 0 {
		d.MailQuota.PerHour = lms.DefaultMailQuota.PerHour
	}
	if d.MailQuota.PerDay == 0 {
		d.MailQuota.PerDay = lms.DefaultMailQuota.PerDay
	}
	if d.MailQuota.Rate == 0 {
		d.MailQuota.Rate = lms.DefaultMailQuota.Rate
	}
	if d.PublicURL == "" {
		// What development gives: the server itself on its default address.
		d.PublicURL = "http://localhost" + config.DefaultAddr
	}
	return &Store{db: db, hasher: passwords{d.Hasher}, tokens: d.Tokens, refreshTTL: d.RefreshTTL, verificationTTL: d.VerificationTTL, mailQuota: d.MailQuota,
		passcodeKey:   auth.DeriveKey(d.Secret, "enrollkit passcode lookup v1"),
		sealKey:       auth.DeriveKey(d.Secret, "enrollkit passcode seal v1"),
		verifySealKey: auth.DeriveKey(d.Secret, "enrollkit verification seal v1"),
		publicURL:     strings.TrimRight(d.PublicURL, "/")}
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

// newIDSQL returns an SQL expression that makes a new UUIDv7 per row, for
// set-based inserts where Go cannot supply one ID per row. Like newID's, the
// IDs start with the millisecond time, so ordering by ID stays ordering by
// creation. It is SQL text chosen by the code, never by the client.
func (s *Store) newIDSQL() string {
	if s.db.dialect == Postgres {
		// A random (v4) UUID whose first 48 bits are replaced by the time
		// and whose version nibble is turned from 4 into 7.
		return `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing ` +
			`substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) ` +
			`from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`
	}
	const ms = `printf('%012x', CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))`
	return `substr(` + ms + `, 1, 8) || '-' || substr(` + ms + `, 9, 4) || '-7' || ` +
		`substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || ` +
		`substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))`
}

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
			// The first, redundant bound lets the planner start the index
			// scan at the cursor instead of filtering every earlier row.
			q = q.Where(spec.column+" "+cmp+"= ? AND ("+spec.column+" "+cmp+" ? OR id "+cmp+" ?)", key, key, id)
		}
	}
	if spec.column != "" {
		q = q.Order(spec.column + " " + dir)
	}
	q = q.Order("id " + dir).Limit(p.Limit + 1)
	var rows []M
	var err error
	if isRow[M]() {
		rows, err = find[M](q, p.Limit+1)
	} else {
		err = q.Find(&rows).Error
	}
	if err != nil {
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
