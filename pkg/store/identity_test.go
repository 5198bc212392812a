package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := lms.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSchemaIsTheSameOnBothDialects(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip("needs PostgreSQL: set " + storetest.EnvPostgres)
	}
	columns := func(db *store.DB, query string) map[string][]string {
		rows, err := db.SQL().Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var table, column string
			if err := rows.Scan(&table, &column); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], column)
		}
		for k := range out {
			slices.Sort(out[k])
		}
		return out
	}
	pg := columns(storetest.Open(t, store.Postgres), `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name NOT LIKE 'goose%' AND table_name NOT LIKE 'river%'`)
	lite := columns(storetest.Open(t, store.SQLite), `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'goose%' AND m.name NOT LIKE 'river%' AND m.name NOT LIKE 'sqlite%'`)
	if len(pg) == 0 {
		t.Fatal("no tables found on PostgreSQL")
	}
	if fmt.Sprint(pg) != fmt.Sprint(lite) {
		t.Fatalf("schemas differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
}

func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		_, err := st.CreateOrganization(context.Background(), lms.NewOrganization{Name: " ", ManagerEmail: "nope", ManagerPassword: "password"})
		wantCode(t, err, lms.EInvalid)
		if n, _ := st.CountOrganizations(context.Background()); n != 0 {
			t.Fatalf("a refused organization left %d rows", n)
		}
		org := storetest.MustCreateOrganization(t, st, "Acme")
		root, err := st.FindOrganizationGroupByID(org.Ctx, org.OrganizationGroupID)
		if err != nil || root.ParentID != nil || root.Name != "Acme" {
			t.Fatalf("root group = %+v, %v", root, err)
		}
		mgr, err := st.FindUserByID(org.Ctx, org.ManagerID)
		if err != nil || mgr.Role != lms.RoleFullManager || mgr.OrganizationGroupID != root.ID {
			t.Fatalf("manager = %+v, %v", mgr, err)
		}
	})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		ctx := org.Ctx

		u, err := st.CreateUser(ctx, lms.NewUser{Email: "  Ada.Lovelace@Example.COM ", FirstName: "Ada", LastName: "Lovelace", Role: lms.RoleLearner})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ada.lovelace@example.com" || u.Status != lms.UserActive {
			t.Fatalf("user = %+v", u)
		}
		t.Run("email unique per organization, case-insensitive", func(t *testing.T) {
			_, err := st.CreateUser(ctx, lms.NewUser{Email: "ADA.LOVELACE@example.com", FirstName: "A", LastName: "L", Role: lms.RoleLearner})
			wantCode(t, err, lms.EConflict)
			if _, err := st.CreateUser(other.Ctx, lms.NewUser{Email: "ada.lovelace@example.com", FirstName: "A", LastName: "L", Role: lms.RoleLearner}); err != nil {
				t.Fatalf("the same email in another organization: %v", err)
			}
		})
		t.Run("validation lists every field", func(t *testing.T) {
			_, err := st.CreateUser(ctx, lms.NewUser{Email: "x", Role: "boss", Password: "password"})
			wantCode(t, err, lms.EInvalid)
			var fields []string
			for _, f := range err.(*lms.Error).Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, []string{"email", "first_name", "last_name", "role", "password"}) {
				t.Fatalf("fields = %v", fields)
			}
		})
		t.Run("other organization's user is not found", func(t *testing.T) {
			_, err := st.FindUserByID(other.Ctx, u.ID)
			wantCode(t, err, lms.ENotFound)
			_, err = st.UpdateUser(other.Ctx, u.ID, lms.UserUpdate{FirstName: ptr("X")})
			wantCode(t, err, lms.ENotFound)
			wantCode(t, st.DeleteUser(other.Ctx, u.ID), lms.ENotFound)
			_, err = st.FindUserByID(ctx, "not-a-uuid")
			wantCode(t, err, lms.ENotFound)
		})
		t.Run("organization group of another organization is refused", func(t *testing.T) {
			_, err := st.CreateUser(ctx, lms.NewUser{Email: "g@example.com", FirstName: "G", LastName: "H", Role: lms.RoleLearner, OrganizationGroupID: other.OrganizationGroupID})
			wantCode(t, err, lms.EInvalid)
		})
		t.Run("search treats % and _ literally", func(t *testing.T) {
			for _, e := range []string{"under_score@example.com", "underXscore@example.com", "percent%sign@example.com"} {
				if _, err := st.CreateUser(ctx, lms.NewUser{Email: e, FirstName: "S", LastName: "T", Role: lms.RoleLearner}); err != nil {
					t.Fatalf("%s: %v", e, err)
				}
			}
			for q, want := range map[string]int{"r_s": 1, "UNDER": 2, "%": 1, "lovelace": 1, "nobody": 0} {
				page, err := st.FindUsers(ctx, lms.UserFilter{Q: q})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != want {
					t.Errorf("q=%q found %d users, want %d", q, len(page.Items), want)
				}
			}
		})
		t.Run("role filter and bad sort", func(t *testing.T) {
			page, err := st.FindUsers(ctx, lms.UserFilter{Role: ptr(lms.RoleFullManager)})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != org.ManagerID {
				t.Fatalf("managers = %+v, %v", page, err)
			}
			_, err = st.FindUsers(ctx, lms.UserFilter{PageRequest: lms.PageRequest{Sort: "password_hash"}})
			wantCode(t, err, lms.EBadRequest)
			_, err = st.FindUsers(ctx, lms.UserFilter{PageRequest: lms.PageRequest{Cursor: "garbage"}})
			wantCode(t, err, lms.EBadRequest)
		})
		t.Run("the last full manager stays", func(t *testing.T) {
			_, err := st.UpdateUser(ctx, org.ManagerID, lms.UserUpdate{Role: ptr(lms.RoleLimitedManager)})
			wantCode(t, err, lms.EConflict)
			_, err = st.UpdateUser(ctx, org.ManagerID, lms.UserUpdate{Status: ptr(lms.UserDisabled)})
			wantCode(t, err, lms.EConflict)
			wantCode(t, st.DeleteUser(ctx, org.ManagerID), lms.EConflict)
		})
		t.Run("update and delete", func(t *testing.T) {
			got, err := st.UpdateUser(ctx, u.ID, lms.UserUpdate{FirstName: ptr("Augusta"), Role: ptr(lms.RoleLimitedManager)})
			if err != nil || got.FirstName != "Augusta" || got.LastName != "Lovelace" || got.Role != lms.RoleLimitedManager {
				t.Fatalf("updated = %+v, %v", got, err)
			}
			_, err = st.UpdateUser(ctx, u.ID, lms.UserUpdate{FirstName: ptr("")})
			wantCode(t, err, lms.EInvalid)
			if err := st.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			_, err = st.FindUserByID(ctx, u.ID)
			wantCode(t, err, lms.ENotFound)
		})
	})
}

func TestUserPagesReturnEveryUserOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		want := map[string]bool{org.ManagerID: true}
		for i := range 120 {
			u, err := st.CreateUser(org.Ctx, lms.NewUser{Email: fmt.Sprintf("u%03d@example.com", 119-i), FirstName: "U", LastName: "V", Role: lms.RoleLearner})
			if err != nil {
				t.Fatal(err)
			}
			want[u.ID] = true
		}
		for _, sort := range []string{"created_at", "-created_at", "email"} {
			for _, limit := range []int{1, 7, 50, 200} {
				seen := map[string]int{}
				var prev string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 200 {
						t.Fatal("pagination does not end")
					}
					page, err := st.FindUsers(org.Ctx, lms.UserFilter{PageRequest: lms.PageRequest{Limit: limit, Cursor: cursor, Sort: sort}})
					if err != nil {
						t.Fatal(err)
					}
					for _, u := range page.Items {
						seen[u.ID]++
						key := u.ID
						if sort == "email" {
							key = u.Email
						}
						if prev != "" && ((sort == "-created_at") != (key < prev)) {
							t.Fatalf("sort %s limit %d: %s after %s", sort, limit, key, prev)
						}
						prev = key
					}
					if cursor = page.NextCursor; cursor == "" {
						break
					}
				}
				if len(seen) != len(want) {
					t.Fatalf("sort %s limit %d: saw %d users, want %d", sort, limit, len(seen), len(want))
				}
				for id, n := range seen {
					if n != 1 || !want[id] {
						t.Fatalf("sort %s limit %d: user %s seen %d times", sort, limit, id, n)
					}
				}
			}
		}
	})
}

// TestConcurrentMovesMakeNoCycle: moving A under B while B moves under A
// lets exactly one of the two through, on both databases; the tree stays a
// tree.
func TestConcurrentMovesMakeNoCycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		for round := range 20 {
			a, err := st.CreateOrganizationGroup(org.Ctx, fmt.Sprintf("A%d", round), "")
			if err != nil {
				t.Fatal(err)
			}
			b, err := st.CreateOrganizationGroup(org.Ctx, fmt.Sprintf("B%d", round), "")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, move := range [][2]string{{a.ID, b.ID}, {b.ID, a.ID}} {
				wg.Go(func() {
					_, errs[i] = st.UpdateOrganizationGroup(org.Ctx, move[0], lms.OrganizationGroupUpdate{ParentID: &move[1]})
				})
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: both moves answered alike: %v, %v", round, errs[0], errs[1])
			}
			for _, id := range []string{a.ID, b.ID} {
				cur := id
				for depth := 0; cur != org.OrganizationGroupID; depth++ {
					g, err := st.FindOrganizationGroupByID(org.Ctx, cur)
					if err != nil || g.ParentID == nil || depth > 3 {
						t.Fatalf("round %d: the tree above %s is broken at %s: %+v, %v", round, id, cur, g, err)
					}
					cur = *g.ParentID
				}
			}
		}
	})
}

func TestOrganizationGroups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		ctx := org.Ctx
		sales, err := st.CreateOrganizationGroup(ctx, "Sales", "")
		if err != nil || sales.ParentID == nil || *sales.ParentID != org.OrganizationGroupID {
			t.Fatalf("sales = %+v, %v", sales, err)
		}
		_, err = st.CreateOrganizationGroup(ctx, "SALES", "")
		wantCode(t, err, lms.EConflict)
		emea, err := st.CreateOrganizationGroup(ctx, "EMEA", sales.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.CreateOrganizationGroup(ctx, "X", other.OrganizationGroupID)
		wantCode(t, err, lms.EInvalid)
		_, err = st.FindOrganizationGroupByID(other.Ctx, sales.ID)
		wantCode(t, err, lms.ENotFound)

		_, err = st.UpdateOrganizationGroup(ctx, sales.ID, lms.OrganizationGroupUpdate{ParentID: &emea.ID})
		wantCode(t, err, lms.EInvalid)
		_, err = st.UpdateOrganizationGroup(ctx, org.OrganizationGroupID, lms.OrganizationGroupUpdate{ParentID: &sales.ID})
		wantCode(t, err, lms.EConflict)
		renamed, err := st.UpdateOrganizationGroup(ctx, emea.ID, lms.OrganizationGroupUpdate{Name: ptr("Europe")})
		if err != nil || renamed.Name != "Europe" || *renamed.ParentID != sales.ID {
			t.Fatalf("renamed = %+v, %v", renamed, err)
		}

		wantCode(t, st.DeleteOrganizationGroup(ctx, org.OrganizationGroupID), lms.EConflict)
		wantCode(t, st.DeleteOrganizationGroup(ctx, sales.ID), lms.EConflict) // has a child
		if _, err := st.CreateUser(ctx, lms.NewUser{Email: "e@example.com", FirstName: "E", LastName: "F", Role: lms.RoleLearner, OrganizationGroupID: emea.ID}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, st.DeleteOrganizationGroup(ctx, emea.ID), lms.EConflict) // has a user
		wantCode(t, st.DeleteOrganizationGroup(other.Ctx, emea.ID), lms.ENotFound)

		page, err := st.FindOrganizationGroups(ctx, lms.OrganizationGroupFilter{ParentID: &sales.ID})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID != emea.ID {
			t.Fatalf("children of sales = %+v, %v", page, err)
		}
	})
}

func TestLoginAndTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		ctx := context.Background()

		_, err := st.Login(ctx, org.ManagerEmail, "wrong-password-123", "")
		wantCode(t, err, lms.EUnauthorized)
		_, err = st.Login(ctx, "nobody@example.com", storetest.Password, "")
		wantCode(t, err, lms.EUnauthorized)
		pair, err := st.Login(ctx, "  "+org.ManagerEmail+" ", storetest.Password, "")
		if err != nil {
			t.Fatal(err)
		}
		actor, err := st.Authenticate(ctx, pair.AccessToken)
		if err != nil || actor.ID != org.ManagerID || actor.Role != lms.RoleFullManager {
			t.Fatalf("actor = %+v, %v", actor, err)
		}

		t.Run("refresh rotates and reuse revokes the family", func(t *testing.T) {
			first, err := st.Login(ctx, org.ManagerEmail, storetest.Password, org.OrganizationID)
			if err != nil {
				t.Fatal(err)
			}
			second, err := st.Refresh(ctx, first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Refresh(ctx, first.RefreshToken) // reuse
			wantCode(t, err, lms.EUnauthorized)
			_, err = st.Refresh(ctx, second.RefreshToken) // family revoked
			wantCode(t, err, lms.EUnauthorized)
		})
		t.Run("concurrent refreshes: exactly one wins", func(t *testing.T) {
			p, err := st.Login(ctx, org.ManagerEmail, storetest.Password, "")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 8 {
				wg.Go(func() {
					if _, err := st.Refresh(ctx, p.RefreshToken); err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if lms.ErrorCode(err) != lms.EUnauthorized {
						t.Errorf("refresh: %v", err)
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d concurrent refreshes won, want 1", wins)
			}
		})
		t.Run("logout revokes", func(t *testing.T) {
			p, err := st.Login(ctx, org.ManagerEmail, storetest.Password, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Logout(ctx, p.RefreshToken); err != nil {
				t.Fatal(err)
			}
			_, err = st.Refresh(ctx, p.RefreshToken)
			wantCode(t, err, lms.EUnauthorized)
			if err := st.Logout(ctx, "unknown"); err != nil {
				t.Fatalf("logout of an unknown token: %v", err)
			}
		})
		t.Run("disable, role change and password change end the sessions", func(t *testing.T) {
			u := storetest.MustCreateUser(t, st, org, lms.RoleFullManager)
			p, err := st.Login(ctx, u.Email, storetest.Password, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpdateUser(org.Ctx, u.ID, lms.UserUpdate{Role: ptr(lms.RoleLimitedManager)}); err != nil {
				t.Fatal(err)
			}
			_, err = st.Authenticate(ctx, p.AccessToken)
			wantCode(t, err, lms.EUnauthorized)
			_, err = st.Refresh(ctx, p.RefreshToken)
			wantCode(t, err, lms.EUnauthorized)
			if p, err = st.Login(ctx, u.Email, storetest.Password, ""); err != nil {
				t.Fatal(err)
			}
			a, err := st.Authenticate(ctx, p.AccessToken)
			if err != nil || a.Role != lms.RoleLimitedManager {
				t.Fatalf("after demotion and a new sign-in: %+v, %v", a, err)
			}
			if _, err := st.UpdateUser(org.Ctx, u.ID, lms.UserUpdate{Status: ptr(lms.UserDisabled)}); err != nil {
				t.Fatal(err)
			}
			_, err = st.Authenticate(ctx, p.AccessToken)
			wantCode(t, err, lms.EUnauthorized)
			_, err = st.Login(ctx, u.Email, storetest.Password, "")
			wantCode(t, err, lms.EUnauthorized)
			_, err = st.Refresh(ctx, p.RefreshToken)
			wantCode(t, err, lms.EUnauthorized)

			v := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
			p, err = st.Login(ctx, v.Email, storetest.Password, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpdateUser(org.Ctx, v.ID, lms.UserUpdate{Password: ptr("another-Long-passphrase-7")}); err != nil {
				t.Fatal(err)
			}
			_, err = st.Authenticate(ctx, p.AccessToken)
			wantCode(t, err, lms.EUnauthorized)
			_, err = st.Refresh(ctx, p.RefreshToken)
			wantCode(t, err, lms.EUnauthorized)
		})
		t.Run("a pending caller is judged by its row, read with the first query on PostgreSQL", func(t *testing.T) {
			u := storetest.MustCreateUser(t, st, org, lms.RoleFullManager)
			p, err := st.Login(ctx, u.Email, storetest.Password, "")
			if err != nil {
				t.Fatal(err)
			}
			storetest.MustCreateUserGroup(t, st, org, "Pending readers")
			_, err = st.AuthenticateLater(ctx, p.AccessToken+"x")
			wantCode(t, err, lms.EUnauthorized)
			batched := db.Dialect() == store.Postgres
			claimed := lms.RoleFullManager // the role the token names
			read := func() (lms.PendingCaller, *lms.Page[*lms.UserGroup], error) {
				t.Helper()
				rctx, err := st.AuthenticateLater(ctx, p.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				pending := lms.PendingCallerFromContext(rctx)
				// Until settled, the context has no actor to branch on, only
				// the claimed organization to scope queries by.
				if a := lms.ActorFromContext(rctx); pending == nil || a != nil || lms.OrganizationIDFromContext(rctx) != org.OrganizationID ||
					pending.Claimed().ID != u.ID || pending.Claimed().Role != claimed {
					t.Fatalf("pending caller: actor %+v, pending %+v", a, pending)
				}
				page, err := st.FindUserGroups(rctx, lms.UserGroupFilter{})
				if _, settled := pending.Settled(); settled != batched {
					t.Fatalf("settled by the page query: %v, want %v (dialect %s)", settled, batched, db.Dialect())
				}
				if a := lms.ActorFromContext(rctx); batched && err == nil && (a == nil || a.Role != claimed) {
					t.Fatalf("settled by the page query, the context's actor is %+v", a)
				}
				return pending, page, err
			}
			pending, page, err := read()
			if err != nil || len(page.Items) == 0 {
				t.Fatalf("page = %+v, %v", page, err)
			}
			if a, err := pending.Settle(ctx); err != nil || a.ID != u.ID || a.Role != lms.RoleFullManager {
				t.Fatalf("settled = %+v, %v", a, err)
			}

			// A role change ends the session (finding 8); a new one has the
			// new role.
			if _, err := st.UpdateUser(org.Ctx, u.ID, lms.UserUpdate{Role: ptr(lms.RoleLimitedManager)}); err != nil {
				t.Fatal(err)
			}
			pending, _, err = read()
			if batched {
				wantCode(t, err, lms.EUnauthorized)
			} else if err != nil {
				t.Fatal(err)
			}
			_, err = pending.Settle(ctx)
			wantCode(t, err, lms.EUnauthorized)
			if p, err = st.Login(ctx, u.Email, storetest.Password, ""); err != nil {
				t.Fatal(err)
			}
			claimed = lms.RoleLimitedManager
			pending, _, err = read()
			if err != nil {
				t.Fatal(err)
			}
			if a, err := pending.Settle(ctx); err != nil || a.Role != lms.RoleLimitedManager {
				t.Fatalf("after demotion and a new sign-in: %+v, %v", a, err)
			}

			if _, err := st.UpdateUser(org.Ctx, u.ID, lms.UserUpdate{Status: ptr(lms.UserDisabled)}); err != nil {
				t.Fatal(err)
			}
			pending, page, err = read()
			if batched {
				// The page is never handed out.
				wantCode(t, err, lms.EUnauthorized)
				if page != nil {
					t.Fatalf("page for a disabled caller: %+v", page)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			_, err = pending.Settle(ctx)
			wantCode(t, err, lms.EUnauthorized)
		})
		t.Run("integration client credentials", func(t *testing.T) {
			created, err := st.CreateIntegrationClient(org.Ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleLimitedManager})
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.ClientCredentials(ctx, created.Client.ID, created.Secret+"x")
			wantCode(t, err, lms.EUnauthorized)
			p, err := st.ClientCredentials(ctx, created.Client.ID, created.Secret)
			if err != nil || p.RefreshToken != "" {
				t.Fatalf("client token = %+v, %v", p, err)
			}
			a, err := st.Authenticate(ctx, p.AccessToken)
			if err != nil || a.Kind != lms.ActorClient || a.Role != lms.RoleLimitedManager || a.OrganizationID != org.OrganizationID {
				t.Fatalf("client actor = %+v, %v", a, err)
			}
			_, err = st.CreateIntegrationClient(org.Ctx, lms.NewIntegrationClient{Name: "learner", Role: lms.RoleLearner})
			wantCode(t, err, lms.EInvalid)
			other := storetest.MustCreateOrganization(t, st, "Other")
			wantCode(t, st.DeleteIntegrationClient(other.Ctx, created.Client.ID), lms.ENotFound)
			if err := st.DeleteIntegrationClient(org.Ctx, created.Client.ID); err != nil {
				t.Fatal(err)
			}
			_, err = st.Authenticate(ctx, p.AccessToken)
			wantCode(t, err, lms.EUnauthorized)
		})
	})
}

func TestTheLastFullManagerStaysUnderConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		for range 10 {
			org := storetest.MustCreateOrganization(t, st, "Duel "+fmt.Sprint(time.Now().UnixNano()))
			second := storetest.MustCreateUser(t, st, org, lms.RoleFullManager)
			var wg sync.WaitGroup
			for _, id := range []string{org.ManagerID, second.ID} {
				wg.Go(func() { st.UpdateUser(org.Ctx, id, lms.UserUpdate{Role: ptr(lms.RoleLearner)}) })
			}
			wg.Wait()
			page, err := st.FindUsers(org.Ctx, lms.UserFilter{Role: ptr(lms.RoleFullManager)})
			if err != nil || len(page.Items) != 1 {
				t.Fatalf("full managers left: %d, %v", len(page.Items), err)
			}
		}
	})
}
