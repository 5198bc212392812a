package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/config"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// core is what every service shares: the database, the keys and the
// helpers over them. Services embed it; nothing else does.
type core struct {
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
	// webhookKey encrypts the webhook endpoints' signing secrets, which
	// the server must read to sign with.
	webhookKey []byte
	// guard judges webhook URLs and the addresses they resolve to.
	guard *webhook.Guard
	// queue enqueues durable jobs; set by NewQueue.
	queue *Queue
	// built holds the statements buildOnce built, by builtKey.
	built sync.Map
}

// The services, one per aggregate, each over the shared core. A service
// reaches another only through the fields it names, so what depends on
// what is written in these types.
type (
	// Auth signs callers in and out and tells who a token belongs to;
	// it also keeps the integration clients' credentials.
	Auth struct {
		*core
		organizations *Organizations
	}
	// Organizations keeps organizations, their groups and their users.
	Organizations struct{ *core }
	// Catalog keeps the courses and the enrollments in them.
	Catalog struct{ *core }
	// UserGroups keeps user groups, their courses and their members.
	UserGroups struct{ *core }
	// Invitations keeps invitations and their passcodes.
	Invitations struct{ *core }
	// Deliveries sends invitation emails through the job queue.
	Deliveries struct {
		*core
		invitations *Invitations
	}
	// Redemptions turns passcodes into registered, enrolled learners.
	Redemptions struct {
		*core
		auth        *Auth
		invitations *Invitations
	}
	// Audit reads the audit log that every service writes (core.audit).
	Audit struct{ *core }
)

// Each service implements its part of lms.
var (
	_ lms.AuthService              = (*Auth)(nil)
	_ lms.IntegrationClientService = (*Auth)(nil)
	_ lms.OrganizationService      = (*Organizations)(nil)
	_ lms.OrganizationGroupService = (*Organizations)(nil)
	_ lms.UserService              = (*Organizations)(nil)
	_ lms.CourseService            = (*Catalog)(nil)
	_ lms.EnrollmentService        = (*Catalog)(nil)
	_ lms.UserGroupService         = (*UserGroups)(nil)
	_ lms.InvitationService        = (*Invitations)(nil)
	_ lms.DeliveryService          = (*Deliveries)(nil)
	_ lms.RedemptionService        = (*Redemptions)(nil)
	_ lms.AuditService             = (*Audit)(nil)
)

// Store is every service on one database. It is the composition root's
// handle: the API is given the services one by one, and tests reach any
// method through it.
type Store struct {
	*core
	*Auth
	*Organizations
	*Catalog
	*UserGroups
	*Invitations
	*Deliveries
	*Redemptions
	*Idempotency
	*Audit
	*Webhooks
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
	// WebhookGuard judges webhook URLs when endpoints are saved and the
	// addresses they resolve to when events are sent; nil is production's
	// (https only, no loopback, private, link-local or metadata address).
	WebhookGuard *webhook.Guard
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
	if d.WebhookGuard == nil {
		d.WebhookGuard = &webhook.Guard{}
	}
	if d.PublicURL == "" {
		// What development gives: the server itself on its default address.
		d.PublicURL = "http://localhost" + config.DefaultAddr
	}
	c := &core{db: db, hasher: passwords{d.Hasher}, tokens: d.Tokens, refreshTTL: d.RefreshTTL, verificationTTL: d.VerificationTTL, mailQuota: d.MailQuota,
		passcodeKey:   auth.DeriveKey(d.Secret, "enrollkit passcode lookup v1"),
		sealKey:       auth.DeriveKey(d.Secret, "enrollkit passcode seal v1"),
		verifySealKey: auth.DeriveKey(d.Secret, "enrollkit verification seal v1"),
		webhookKey:    auth.DeriveKey(d.Secret, "enrollkit webhook secret seal v1"),
		guard:         d.WebhookGuard,
		publicURL:     strings.TrimRight(d.PublicURL, "/")}
	return compose(c)
}

// compose builds the services over c and wires the few that need another.
func compose(c *core) *Store {
	orgs, inv := &Organizations{c}, &Invitations{c}
	a := &Auth{core: c, organizations: orgs}
	return &Store{core: c, Auth: a, Organizations: orgs, Catalog: &Catalog{c}, UserGroups: &UserGroups{c},
		Invitations: inv, Deliveries: &Deliveries{core: c, invitations: inv},
		Redemptions: &Redemptions{core: c, auth: a, invitations: inv}, Idempotency: &Idempotency{c},
		Audit: &Audit{c}, Webhooks: &Webhooks{c}}
}

// DB returns the database the store works on.
func (s *core) DB() *DB { return s.db }

func (s *core) now() time.Time { return s.db.now() }

// q returns a GORM session bound to ctx.
func (s *core) q(ctx context.Context) *gorm.DB { return s.db.gorm.WithContext(ctx) }

// tx runs fn in one transaction bound to ctx.
func (s *core) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.q(ctx).Transaction(fn)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// newIDSQL returns an SQL expression that makes a new UUIDv7 per row, for
// set-based inserts where Go cannot supply one ID per row. Like newID's, the
// IDs start with the millisecond time, so ordering by ID stays ordering by
// creation. It is SQL text chosen by the code, never by the client.
func (s *core) newIDSQL() string {
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

// lockRow locks the rows a statement reads against other writers until the
// transaction ends, without blocking the foreign-key checks of rows that
// reference them (PostgreSQL's FOR NO KEY UPDATE; SQLite serializes writes
// and ignores it).
var lockRow = clause.Locking{Strength: "NO KEY UPDATE"}

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

// listPage reads one keyset page of q ordered by spec and maps each row to
// its domain object.
func listPage[M, T any](q *gorm.DB, p lms.PageRequest, spec sortSpec[M], domain func(*M) T) (*lms.Page[T], error) {
	rows, next, err := paginate(q, p, spec)
	if err != nil {
		return nil, err
	}
	return mapPage(rows, next, func(m *M) (T, error) { return domain(m), nil })
}

// mapPage maps one page of rows to domain objects, stopping at the first
// row that cannot be mapped.
func mapPage[M, T any](rows []M, next string, domain func(*M) (T, error)) (*lms.Page[T], error) {
	page := &lms.Page[T]{NextCursor: next, Items: make([]T, len(rows))}
	for i := range rows {
		var err error
		if page.Items[i], err = domain(&rows[i]); err != nil {
			return nil, err
		}
	}
	return page, nil
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
