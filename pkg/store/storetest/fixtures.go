package storetest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

// Secret is the signing secret of test stores.
var Secret = []byte("storetest-secret-0123456789abcdef-0123456789")

// Password is a password that passes the policy, used by fixtures.
const Password = "tidal-Quartz-91-lantern"

// NewHasher returns a hasher with tiny parameters: tests check behaviour,
// not hashing cost. Its wait for a slot is long: a rush of a few hundred
// redemptions on a loaded -race run can keep the slots busy past the
// production wait, and tests of outcomes (seats, replays) must not see the
// 503 that load shedding gives; the shedding has its own tests, with their
// own MaxWait.
func NewHasher() *auth.Hasher {
	return auth.NewHasher(auth.HasherOptions{Memory: 64, Iterations: 1, Parallelism: 1, MaxWait: time.Minute})
}

// NewTokens returns the token issuer of test stores.
func NewTokens(tb testing.TB) *auth.TokenIssuer {
	tb.Helper()
	t, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: Secret, AccessTTL: 15 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// NewStore returns the services on db with test dependencies.
func NewStore(tb testing.TB, db *store.DB) *store.Store {
	tb.Helper()
	return NewStoreHashingWith(tb, db, NewHasher())
}

// NewStoreHashingWith is NewStore with the given password hasher, for tests
// that count or occupy its derivations.
func NewStoreHashingWith(tb testing.TB, db *store.DB, h *auth.Hasher) *store.Store {
	tb.Helper()
	return NewStoreWith(tb, db, h, func(*store.Deps) {})
}

// NewStoreWith is NewStoreHashingWith with the dependencies changed by
// change, for tests of a configured limit.
func NewStoreWith(tb testing.TB, db *store.DB, h *auth.Hasher, change func(*store.Deps)) *store.Store {
	tb.Helper()
	// Webhook receivers of tests listen on 127.0.0.1, which development
	// allows; tests of the production guard set their own.
	d := store.Deps{Hasher: h, Tokens: NewTokens(tb), Secret: Secret, PublicURL: "https://learn.example.com",
		WebhookGuard: &webhook.Guard{AllowLoopback: true}}
	change(&d)
	return store.New(db, d)
}

// Org is an organization made for a test, with its first manager.
type Org struct {
	lms.OrganizationSetup
	Name         string
	ManagerEmail string
	// Ctx acts as the organization's Full Manager.
	Ctx context.Context
}

// MustCreateOrganization creates an organization named name with a Full
// Manager whose email is derived from the name.
func MustCreateOrganization(tb testing.TB, st *store.Store, name string) *Org {
	tb.Helper()
	email := "manager@" + strings.ToLower(strings.ReplaceAll(name, " ", "-")) + ".example.com"
	setup, err := st.CreateOrganization(context.Background(), lms.NewOrganization{Name: name,
		ManagerEmail: email, ManagerPassword: Password})
	if err != nil {
		tb.Fatalf("create organization: %v", err)
	}
	return &Org{OrganizationSetup: *setup, Name: name, ManagerEmail: email,
		Ctx: ActAs(setup.ManagerID, setup.OrganizationID, lms.RoleFullManager)}
}

// ActAs returns a context whose actor is the given user.
func ActAs(userID, orgID string, role lms.Role) context.Context {
	return lms.NewContextWithActor(context.Background(), &lms.Actor{ID: userID, Kind: lms.ActorUser,
		OrganizationID: orgID, Role: role})
}

// MustCreateUser creates a user with the fixture password in org.
func MustCreateUser(tb testing.TB, st *store.Store, org *Org, role lms.Role) *lms.User {
	tb.Helper()
	u, err := st.CreateUser(org.Ctx, lms.NewUser{Email: uuid.NewString()[:8] + "@" + "people.example.com",
		FirstName: "Test", LastName: string(role), Role: role, Password: Password})
	if err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u
}

// MustCreateCourse creates a course named name, without a code, in org.
func MustCreateCourse(tb testing.TB, st *store.Store, org *Org, name string) *lms.Course {
	tb.Helper()
	c, err := st.CreateCourse(org.Ctx, lms.NewCourse{Name: name})
	if err != nil {
		tb.Fatalf("create course: %v", err)
	}
	return c
}

// MustCreateUserGroup creates a user group named name in org's root
// organization group.
func MustCreateUserGroup(tb testing.TB, st *store.Store, org *Org, name string) *lms.UserGroup {
	tb.Helper()
	g, err := st.CreateUserGroup(org.Ctx, lms.NewUserGroup{Name: name, OrganizationGroupID: org.OrganizationGroupID})
	if err != nil {
		tb.Fatalf("create user group: %v", err)
	}
	return g
}

// CountStatements counts, from now on, every SQL statement GORM sends to
// db: queries, raw statements, inserts, updates and deletes. Call it before
// the test starts goroutines that use db.
func CountStatements(tb testing.TB, db *store.DB) *atomic.Int64 {
	tb.Helper()
	n := new(atomic.Int64)
	count := func(*gorm.DB) { n.Add(1) }
	cb := db.Gorm().Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("storetest:count", count),
		cb.Row().After("gorm:row").Register("storetest:count", count),
		cb.Raw().After("gorm:raw").Register("storetest:count", count),
		cb.Create().After("gorm:create").Register("storetest:count", count),
		cb.Update().After("gorm:update").Register("storetest:count", count),
		cb.Delete().After("gorm:delete").Register("storetest:count", count),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return n
}

// Services gives the API st's services as the server wires them, each
// interface to the one service that implements it.
func Services(st *store.Store) api.Services {
	return api.Services{Organizations: st.Organizations, OrganizationGroups: st.Organizations, Users: st.Organizations,
		IntegrationClients: st.Auth, Auth: st.Auth, Courses: st.Catalog, Enrollments: st.Catalog, UserGroups: st.UserGroups,
		Invitations: st.Invitations, Deliveries: st.Deliveries, Redemptions: st.Redemptions, Idempotency: st.Idempotency,
		Audit: st.Audit, Webhooks: st.Webhooks}
}
