package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// allEvents reads the whole audit log of ctx's organization, oldest first.
func allEvents(t *testing.T, st *store.Store, ctx context.Context) []*lms.AuditEvent {
	t.Helper()
	page, err := st.FindAuditEvents(ctx, lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: lms.MaxPageLimit, Sort: "created_at"}})
	if err != nil {
		t.Fatal(err)
	}
	if page.NextCursor != "" {
		t.Fatalf("more than %d events", lms.MaxPageLimit)
	}
	return page.Items
}

// TestAuditEventsOfEachChange makes each change the audit log records
// besides the invitations' (TestAuditTrail) and finds one event for each,
// by the caller and its request, and none for a change that was refused
// or an addition that added nothing.
func TestAuditEventsOfEachChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		ctx := lms.NewContextWithRequestID(org.Ctx, "req-audit-2")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		type event struct{ action, target string }
		var want []event
		expect := func(action, target string) { want = append(want, event{action, target}) }

		og, err := st.CreateOrganizationGroup(ctx, "Seattle", "")
		must(err)
		_, err = st.UpdateOrganizationGroup(ctx, og.ID, lms.OrganizationGroupUpdate{Name: ptr("Seattle office")})
		must(err)
		must(st.DeleteOrganizationGroup(ctx, og.ID))
		expect("organization_group.create", og.ID)
		expect("organization_group.update", og.ID)
		expect("organization_group.delete", og.ID)

		u, err := st.CreateUser(ctx, lms.NewUser{Email: "leaver@example.com", FirstName: "Lee", LastName: "Ver", Role: lms.RoleLearner})
		must(err)
		_, err = st.UpdateUser(ctx, u.ID, lms.UserUpdate{FirstName: ptr("Leigh")})
		must(err)
		_, err = st.UpdateUser(ctx, u.ID, lms.UserUpdate{Status: ptr(lms.UserDisabled)})
		must(err)
		must(st.DeleteUser(ctx, u.ID))
		expect("user.create", u.ID)
		expect("user.update", u.ID)
		expect("user.status.disabled", u.ID)
		expect("user.delete", u.ID)

		c, err := st.CreateIntegrationClient(ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleLimitedManager})
		must(err)
		must(st.DeleteIntegrationClient(ctx, c.Client.ID))
		expect("integration_client.create", c.Client.ID)
		expect("integration_client.delete", c.Client.ID)

		a, err := st.CreateCourse(ctx, lms.NewCourse{Name: "Fire Safety"})
		must(err)
		_, err = st.UpdateCourse(ctx, a.ID, lms.CourseUpdate{Code: ptr("FS-1")})
		must(err)
		must(st.DeleteCourse(ctx, a.ID))
		expect("course.create", a.ID)
		expect("course.update", a.ID)
		expect("course.delete", a.ID)

		b, err := st.CreateCourse(ctx, lms.NewCourse{Name: "First Aid"})
		must(err)
		m, err := st.CreateUser(ctx, lms.NewUser{Email: "member@example.com", FirstName: "Mem", LastName: "Ber", Role: lms.RoleLearner})
		must(err)
		g, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "Team", OrganizationGroupID: org.OrganizationGroupID})
		must(err)
		_, err = st.UpdateUserGroup(ctx, g.ID, lms.UserGroupUpdate{Description: ptr("Everyone")})
		must(err)
		mustAddCourses(t, st, ctx, g.ID, b.ID)
		if res := mustAddCourses(t, st, ctx, g.ID, b.ID); res.Added != 0 {
			t.Fatalf("re-adding added %d", res.Added)
		}
		mustAddMembers(t, st, ctx, g.ID, m.ID)
		must(st.RemoveUserGroupMember(ctx, g.ID, m.ID))
		must(st.RemoveUserGroupCourse(ctx, g.ID, b.ID))
		must(st.DeleteUserGroup(ctx, g.ID))
		expect("course.create", b.ID)
		expect("user.create", m.ID)
		expect("user_group.create", g.ID)
		expect("user_group.update", g.ID)
		expect("user_group.courses.add", g.ID)
		expect("user_group.members.add", g.ID)
		expect("user_group.members.remove", g.ID)
		expect("user_group.courses.remove", g.ID)
		expect("user_group.delete", g.ID)

		// Refused changes leave no event: the member kept its enrollment,
		// the member is in no such group, and the second import has no
		// valid row.
		wantCode(t, st.DeleteCourse(ctx, b.ID), lms.EConflict)
		empty, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "Empty", OrganizationGroupID: org.OrganizationGroupID})
		must(err)
		expect("user_group.create", empty.ID)
		wantCode(t, st.RemoveUserGroupMember(ctx, empty.ID, m.ID), lms.ENotFound)
		_, err = st.ImportCourses(context.Background(), org.OrganizationID, []lms.NewCourse{{Name: "Imported"}})
		must(err)
		_, err = st.ImportCourses(context.Background(), org.OrganizationID, []lms.NewCourse{{Name: ""}})
		must(err)
		expect("course.import", org.OrganizationID)

		events := allEvents(t, st, org.Ctx)
		var got []event
		for _, e := range events {
			got = append(got, event{e.Action, e.TargetID})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("audit log =\n%v\nwant\n%v", got, want)
		}
		for _, e := range events {
			switch {
			case e.Action == "course.import":
				if e.ActorKind != lms.ActorSystem || e.ActorID != "" || e.RequestID != "" || e.TargetType != "organization" ||
					e.OrganizationID != org.OrganizationID {
					t.Errorf("import event = %+v", e)
				}
			case e.ActorKind != lms.ActorUser || e.ActorID != org.ManagerID || e.OrganizationID != org.OrganizationID:
				t.Errorf("event %+v is not the manager's", e)
			case e.RequestID != "req-audit-2":
				t.Errorf("event %+v lost its request ID", e)
			case e.TargetType != strings.SplitN(e.Action, ".", 2)[0]:
				t.Errorf("event %+v: target type is not the action's object", e)
			}
		}
	})
}

// auditFixture is an organization whose log holds five events one second
// apart, by its manager and by an integration client, oldest first, and a
// second organization with an event of its own.
type auditFixture struct {
	st            *store.Store
	org, other    *storetest.Org
	client, group string
	events        []*lms.AuditEvent
}

func newAuditFixture(t *testing.T, db *store.DB) *auditFixture {
	t.Helper()
	st := storetest.NewStore(t, db)
	f := &auditFixture{st: st, org: storetest.MustCreateOrganization(t, st, "Acme"), other: storetest.MustCreateOrganization(t, st, "Other")}
	c, err := st.CreateIntegrationClient(f.org.Ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleFullManager})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c.Client.ID
	asClient := lms.NewContextWithActor(context.Background(), &lms.Actor{ID: f.client, Kind: lms.ActorClient,
		OrganizationID: f.org.OrganizationID, Role: lms.RoleFullManager})
	store.AdvanceClock(st, time.Second)
	storetest.MustCreateCourse(t, st, f.org, "Manager's")
	store.AdvanceClock(st, time.Second)
	f.group = storetest.MustCreateUserGroup(t, st, f.org, "Team").ID
	store.AdvanceClock(st, time.Second)
	if _, err := st.CreateCourse(asClient, lms.NewCourse{Name: "Client's"}); err != nil {
		t.Fatal(err)
	}
	store.AdvanceClock(st, time.Second)
	if _, err := st.UpdateUserGroup(f.org.Ctx, f.group, lms.UserGroupUpdate{Name: ptr("Team B")}); err != nil {
		t.Fatal(err)
	}
	storetest.MustCreateCourse(t, st, f.other, "Elsewhere")
	f.events = allEvents(t, st, f.org.Ctx)
	var actions []string
	for _, e := range f.events {
		actions = append(actions, e.Action)
	}
	if want := "integration_client.create course.create user_group.create course.create user_group.update"; strings.Join(actions, " ") != want {
		t.Fatalf("fixture log = %v, want %s", actions, want)
	}
	return f
}

// ids returns the IDs of the fixture's events by their index, in the order
// given.
func (f *auditFixture) ids(at ...int) []string {
	out := []string{}
	for _, i := range at {
		out = append(out, f.events[i].ID)
	}
	return out
}

func eventIDs(events []*lms.AuditEvent) []string {
	out := []string{}
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func TestFindAuditEventsFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newAuditFixture(t, db)
		at := func(i int) *time.Time { return &f.events[i].CreatedAt }
		plus2 := time.FixedZone("UTC+2", 2*60*60)
		for _, tc := range []struct {
			name   string
			filter lms.AuditEventFilter
			want   []string
		}{
			{"newest first by default", lms.AuditEventFilter{}, f.ids(4, 3, 2, 1, 0)},
			{"oldest first", lms.AuditEventFilter{PageRequest: lms.PageRequest{Sort: "created_at"}}, f.ids(0, 1, 2, 3, 4)},
			{"action", lms.AuditEventFilter{Action: ptr("course.create")}, f.ids(3, 1)},
			{"unknown action", lms.AuditEventFilter{Action: ptr("course.rename")}, f.ids()},
			{"client as actor", lms.AuditEventFilter{ActorID: &f.client}, f.ids(3)},
			{"manager as actor", lms.AuditEventFilter{ActorID: &f.org.ManagerID}, f.ids(4, 2, 1, 0)},
			{"target type", lms.AuditEventFilter{TargetType: ptr("user_group")}, f.ids(4, 2)},
			{"target", lms.AuditEventFilter{TargetID: &f.group}, f.ids(4, 2)},
			{"filters combine", lms.AuditEventFilter{TargetType: ptr("course"), ActorID: &f.org.ManagerID}, f.ids(1)},
			{"since is inclusive", lms.AuditEventFilter{Since: at(2)}, f.ids(4, 3, 2)},
			{"until is exclusive", lms.AuditEventFilter{Until: at(2)}, f.ids(1, 0)},
			{"window", lms.AuditEventFilter{Since: at(1), Until: at(3)}, f.ids(2, 1)},
			{"an offset is the same instant", lms.AuditEventFilter{Since: ptr(at(2).In(plus2))}, f.ids(4, 3, 2)},
			{"another organization's object", lms.AuditEventFilter{ActorID: &f.other.ManagerID}, f.ids()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				page, err := f.st.FindAuditEvents(f.org.Ctx, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				if got := eventIDs(page.Items); !slices.Equal(got, tc.want) {
					t.Fatalf("events = %v, want %v", got, tc.want)
				}
			})
		}
		for _, tc := range []struct {
			name   string
			filter lms.AuditEventFilter
		}{
			{"actor_id not an ID", lms.AuditEventFilter{ActorID: ptr("nope")}},
			{"target_id not an ID", lms.AuditEventFilter{TargetID: ptr("1 OR 1=1")}},
			{"empty action", lms.AuditEventFilter{Action: ptr("")}},
			{"action not a name", lms.AuditEventFilter{Action: ptr("Course.Create")}},
			{"target_type not a name", lms.AuditEventFilter{TargetType: ptr("user group")}},
			{"action too long", lms.AuditEventFilter{Action: ptr(strings.Repeat("a", lms.MaxAuditNameLen+1))}},
			{"until equal to since", lms.AuditEventFilter{Since: at(1), Until: at(1)}},
			{"until before since", lms.AuditEventFilter{Since: at(2), Until: at(1)}},
			{"unknown sort", lms.AuditEventFilter{PageRequest: lms.PageRequest{Sort: "action"}}},
			{"limit too large", lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: lms.MaxPageLimit + 1}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.st.FindAuditEvents(f.org.Ctx, tc.filter)
				wantCode(t, err, lms.EBadRequest)
			})
		}
	})
}

func TestFindAuditEventsPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newAuditFixture(t, db)
		walk := func(filter lms.AuditEventFilter) []string {
			t.Helper()
			var got []string
			for pages := 0; ; pages++ {
				page, err := f.st.FindAuditEvents(f.org.Ctx, filter)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) > filter.Limit || pages > 5 {
					t.Fatalf("page of %d items, or too many pages", len(page.Items))
				}
				got = append(got, eventIDs(page.Items)...)
				if page.NextCursor == "" {
					return got
				}
				filter.Cursor = page.NextCursor
			}
		}
		if got, want := walk(lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: 2}}), f.ids(4, 3, 2, 1, 0); !slices.Equal(got, want) {
			t.Fatalf("newest first in pages of 2: %v, want %v", got, want)
		}
		if got, want := walk(lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: 2, Sort: "created_at"}}), f.ids(0, 1, 2, 3, 4); !slices.Equal(got, want) {
			t.Fatalf("oldest first in pages of 2: %v, want %v", got, want)
		}
		if got, want := walk(lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: 1}, Action: ptr("course.create")}), f.ids(3, 1); !slices.Equal(got, want) {
			t.Fatalf("one action in pages of 1: %v, want %v", got, want)
		}
		page, err := f.st.FindAuditEvents(f.org.Ctx, lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: 2}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.st.FindAuditEvents(f.org.Ctx, lms.AuditEventFilter{PageRequest: lms.PageRequest{Limit: 2, Sort: "created_at", Cursor: page.NextCursor}})
		wantCode(t, err, lms.EBadRequest)
	})
}

// TestFindAuditEventsIsScopedToTheOrganization: each organization reads
// its own events only, whatever the filter names.
func TestFindAuditEventsIsScopedToTheOrganization(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newAuditFixture(t, db)
		theirs := allEvents(t, f.st, f.other.Ctx)
		if len(theirs) != 1 || theirs[0].Action != "course.create" || theirs[0].OrganizationID != f.other.OrganizationID {
			t.Fatalf("other organization's log = %+v", theirs)
		}
		for _, e := range f.events {
			if e.OrganizationID != f.org.OrganizationID {
				t.Errorf("event %+v is another organization's", e)
			}
		}
		page, err := f.st.FindAuditEvents(f.other.Ctx, lms.AuditEventFilter{TargetID: &f.group})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("another organization's target: %+v, %v", page, err)
		}
		page, err = f.st.FindAuditEvents(f.other.Ctx, lms.AuditEventFilter{ActorID: &f.org.ManagerID})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("another organization's manager: %+v, %v", page, err)
		}
	})
}
