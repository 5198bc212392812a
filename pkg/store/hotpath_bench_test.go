package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// BenchmarkHotQueries compares the store's hot read paths on PostgreSQL
// with the same statements run and scanned by pgx directly, on one
// connection: what the store costs above the driver. The two run in turns
// inside one loop, so a machine whose speed drifts slows both alike; the
// store/pgx metric is the ratio of their times.
//
//	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench HotQueries ./pkg/store
func BenchmarkHotQueries(b *testing.B) {
	db := storetest.Open(b, store.Postgres)
	st := storetest.NewStore(b, db)
	org := storetest.MustCreateOrganization(b, st, "Bench")
	ctx := org.Ctx
	var groupIDs []string
	for i := range 120 {
		g, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: fmt.Sprintf("Group %03d", i), OrganizationGroupID: org.OrganizationGroupID})
		if err != nil {
			b.Fatal(err)
		}
		groupIDs = append(groupIDs, g.ID)
	}
	var courseIDs []string
	for i := range 400 {
		topic := []string{"Safety", "Excel", "Leadership", "Privacy"}[i%4]
		c, err := st.CreateCourse(ctx, lms.NewCourse{Name: fmt.Sprintf("%s %03d", topic, i), Code: fmt.Sprintf("C-%03d", i)})
		if err != nil {
			b.Fatal(err)
		}
		courseIDs = append(courseIDs, c.ID)
	}
	for _, g := range groupIDs[:20] {
		if _, err := st.AddUserGroupCourses(ctx, g, courseIDs[:3]); err != nil {
			b.Fatal(err)
		}
	}
	inv, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "All hands", Passcode: "Quiet-Lark-73", MaxRegistrations: 100,
		UserGroupIDs: groupIDs[:2], OrganizationGroupID: org.OrganizationGroupID, Status: lms.InvitationActive})
	if err != nil {
		b.Fatal(err)
	}
	login, err := st.Login(context.Background(), org.ManagerEmail, storetest.Password, "")
	if err != nil {
		b.Fatal(err)
	}

	conn, err := db.SQL().Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var pc *pgx.Conn
	if err := conn.Raw(func(dc any) error { pc = dc.(*stdlib.Conn).Conn(); return nil }); err != nil {
		b.Fatal(err)
	}
	bg := context.Background()
	// scanAll reads every row into fresh destinations, as the store does.
	scanAll := func(sql string, dest func() []any, args ...any) {
		rows, err := pc.Query(bg, sql, args...)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(dest()...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if rows.Err() != nil || n == 0 {
			b.Fatalf("%s: %d rows, %v", sql, n, rows.Err())
		}
	}
	type groupRow struct {
		ID, Org, OrgGroup, Name, NameKey, Description string
		Created, Updated                              time.Time
		Courses, Members                              int64
	}
	type courseRow struct {
		ID, Org, Name, NameKey string
		Code, CodeKey          *string
		Description, Search    string
		Created, Updated       time.Time
	}
	type invitationRow struct {
		ID, Org, OrgGroup, Name, Search, Hash string
		Claim                                 *string
		Sealed                                string
		Max, Used                             int
		Message, Status                       string
		Expires                               *time.Time
		CreatedBy                             *string
		Created, Updated                      time.Time
	}
	const listSQL = `SELECT user_groups.id, user_groups.organization_id, user_groups.organization_group_id,
		user_groups.name, user_groups.name_key, user_groups.description, user_groups.created_at, user_groups.updated_at,
		(SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count,
		(SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count
		FROM user_groups WHERE organization_id = $1 ORDER BY id ASC LIMIT $2`
	cases := []struct {
		name  string
		store func() error
		pgx   func()
	}{
		{"authenticate", func() error {
			_, err := st.Authenticate(bg, login.AccessToken)
			return err
		}, func() {
			var id, o, role, status string
			var version int
			scanAll(`SELECT id, organization_id, role, status, token_version FROM users WHERE id = $1 LIMIT $2`,
				func() []any { return []any{&id, &o, &role, &status, &version} }, org.ManagerID, 1)
		}},
		{"list_user_groups", func() error {
			_, err := st.FindUserGroups(ctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Limit: 50}})
			return err
		}, func() {
			scanAll(listSQL,
				func() []any {
					var r groupRow
					return []any{&r.ID, &r.Org, &r.OrgGroup, &r.Name, &r.NameKey, &r.Description, &r.Created, &r.Updated, &r.Courses, &r.Members}
				}, org.OrganizationID, 51)
		}},
		{"list_user_groups_with_caller", func() error {
			// A GET's whole store path (api.authenticateReads): the token,
			// then the caller's row and the page in one batch.
			rctx, err := st.AuthenticateLater(bg, login.AccessToken)
			if err != nil {
				return err
			}
			if _, err := st.FindUserGroups(rctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Limit: 50}}); err != nil {
				return err
			}
			_, err = lms.PendingCallerFromContext(rctx).Settle(rctx)
			return err
		}, func() {
			batch := &pgx.Batch{}
			batch.Queue(`SELECT id, organization_id, role, status, token_version FROM users WHERE id = $1 LIMIT $2`, org.ManagerID, 1)
			batch.Queue(listSQL, org.OrganizationID, 51)
			br := pc.SendBatch(bg, batch)
			var id, o, role, status string
			var version int
			if err := br.QueryRow().Scan(&id, &o, &role, &status, &version); err != nil {
				b.Fatal(err)
			}
			rows, err := br.Query()
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var r groupRow
				if err := rows.Scan(&r.ID, &r.Org, &r.OrgGroup, &r.Name, &r.NameKey, &r.Description, &r.Created, &r.Updated, &r.Courses, &r.Members); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if rows.Err() != nil || n == 0 || br.Close() != nil {
				b.Fatalf("batch: %d rows, %v", n, rows.Err())
			}
		}},
		{"search_courses", func() error {
			_, err := st.FindCourses(ctx, lms.CourseFilter{Q: "safety", PageRequest: lms.PageRequest{Limit: 50}})
			return err
		}, func() {
			scanAll(`SELECT id, organization_id, name, name_key, code, code_key, description, search, created_at, updated_at
				FROM courses WHERE organization_id = $1 AND search LIKE $2 ESCAPE '\' ORDER BY id ASC LIMIT $3`,
				func() []any {
					var r courseRow
					return []any{&r.ID, &r.Org, &r.Name, &r.NameKey, &r.Code, &r.CodeKey, &r.Description, &r.Search, &r.Created, &r.Updated}
				}, org.OrganizationID, "%safety%", 51)
		}},
		{"get_invitation", func() error {
			_, err := st.FindInvitationByID(ctx, inv.ID)
			return err
		}, func() {
			scanAll(`SELECT id, organization_id, organization_group_id, name, search, passcode_hash, passcode_claim, passcode_sealed,
				max_registrations, registrations_used, message, status, expires_at, created_by, created_at, updated_at
				FROM invitations WHERE organization_id = $1 AND id = $2 LIMIT $3`,
				func() []any {
					var r invitationRow
					return []any{&r.ID, &r.Org, &r.OrgGroup, &r.Name, &r.Search, &r.Hash, &r.Claim, &r.Sealed, &r.Max, &r.Used,
						&r.Message, &r.Status, &r.Expires, &r.CreatedBy, &r.Created, &r.Updated}
				}, org.OrganizationID, inv.ID, 1)
			var i, g string
			scanAll(`SELECT invitation_id, user_group_id FROM invitation_user_groups WHERE invitation_id IN ($1) ORDER BY user_group_id`,
				func() []any { return []any{&i, &g} }, inv.ID)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var viaStore, viaPgx time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := c.store(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				c.pgx()
				viaStore, viaPgx = viaStore+t1.Sub(t0), viaPgx+time.Since(t1)
			}
			n := float64(b.N)
			b.ReportMetric(float64(viaStore.Nanoseconds())/n, "store-ns/op")
			b.ReportMetric(float64(viaPgx.Nanoseconds())/n, "pgx-ns/op")
			b.ReportMetric(float64(viaStore)/float64(viaPgx), "store/pgx")
		})
	}
}
