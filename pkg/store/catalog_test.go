package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// wantFields asserts a validation_failed error naming exactly fields.
func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	wantCode(t, err, lms.EInvalid)
	var got []string
	for _, f := range err.(*lms.Error).Fields {
		got = append(got, f.Field)
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("fields = %v, want %v", got, fields)
	}
}

func TestCourses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		ctx := org.Ctx

		c, err := st.CreateCourse(ctx, lms.NewCourse{Name: "  Fire Safety ", Code: " FS-101 ", Description: "Exits and extinguishers."})
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "Fire Safety" || c.Code != "FS-101" || c.OrganizationID != org.OrganizationID {
			t.Fatalf("course = %+v", c)
		}
		t.Run("code unique per organization, case-insensitive", func(t *testing.T) {
			_, err := st.CreateCourse(ctx, lms.NewCourse{Name: "Another", Code: "fs-101"})
			wantCode(t, err, lms.EConflict)
			if _, err := st.CreateCourse(other.Ctx, lms.NewCourse{Name: "Fire Safety", Code: "FS-101"}); err != nil {
				t.Fatalf("the same code in another organization: %v", err)
			}
			for range 2 {
				if _, err := st.CreateCourse(ctx, lms.NewCourse{Name: "No code"}); err != nil {
					t.Fatalf("courses without a code: %v", err)
				}
			}
		})
		t.Run("validation", func(t *testing.T) {
			_, err := st.CreateCourse(ctx, lms.NewCourse{Name: " ", Code: strings.Repeat("x", 65), Description: strings.Repeat("d", 10001)})
			wantFields(t, err, "name", "code", "description")
		})
		t.Run("other organization's course is not found", func(t *testing.T) {
			_, err := st.FindCourseByID(other.Ctx, c.ID)
			wantCode(t, err, lms.ENotFound)
			_, err = st.UpdateCourse(other.Ctx, c.ID, lms.CourseUpdate{Name: ptr("X")})
			wantCode(t, err, lms.ENotFound)
			wantCode(t, st.DeleteCourse(other.Ctx, c.ID), lms.ENotFound)
			_, err = st.FindCourseByID(ctx, "not-a-uuid")
			wantCode(t, err, lms.ENotFound)
		})
		t.Run("update persists emptied fields", func(t *testing.T) {
			got, err := st.UpdateCourse(ctx, c.ID, lms.CourseUpdate{Description: ptr(""), Code: ptr("")})
			if err != nil || got.Description != "" || got.Code != "" || got.Name != "Fire Safety" {
				t.Fatalf("updated = %+v, %v", got, err)
			}
			got, err = st.FindCourseByID(ctx, c.ID)
			if err != nil || got.Description != "" || got.Code != "" || got.UpdatedAt.Before(c.UpdatedAt) {
				t.Fatalf("re-read = %+v, %v", got, err)
			}
			if _, err := st.CreateCourse(ctx, lms.NewCourse{Name: "Taker", Code: "FS-101"}); err != nil {
				t.Fatalf("a removed code is free again: %v", err)
			}
			_, err = st.UpdateCourse(ctx, c.ID, lms.CourseUpdate{Code: ptr("fs-101")})
			wantCode(t, err, lms.EConflict)
			got, err = st.UpdateCourse(ctx, c.ID, lms.CourseUpdate{Name: ptr("Fire Drill"), Code: ptr("FD-1")})
			if err != nil || got.Name != "Fire Drill" || got.Code != "FD-1" {
				t.Fatalf("renamed = %+v, %v", got, err)
			}
			page, err := st.FindCourses(ctx, lms.CourseFilter{Q: "fd-1"})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != c.ID {
				t.Fatalf("search after the change = %+v, %v", page, err)
			}
			_, err = st.UpdateCourse(ctx, c.ID, lms.CourseUpdate{Name: ptr("")})
			wantFields(t, err, "name")
		})
		t.Run("delete: refused with enrollments, fine when only in groups", func(t *testing.T) {
			g := storetest.MustCreateUserGroup(t, st, org, "Wardens")
			learner := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
			enrolled := storetest.MustCreateCourse(t, st, org, "Enrolled")
			linked := storetest.MustCreateCourse(t, st, org, "Linked only")
			mustAddCourses(t, st, ctx, g.ID, enrolled.ID)
			mustAddMembers(t, st, ctx, g.ID, learner.ID)
			mustAddCourses(t, st, ctx, g.ID, linked.ID) // enrolls the member too
			wantCode(t, st.DeleteCourse(ctx, enrolled.ID), lms.EConflict)
			wantCode(t, st.DeleteCourse(ctx, linked.ID), lms.EConflict)

			lonely := storetest.MustCreateUserGroup(t, st, org, "Nobody here")
			spare := storetest.MustCreateCourse(t, st, org, "Spare")
			mustAddCourses(t, st, ctx, lonely.ID, spare.ID)
			if err := st.DeleteCourse(ctx, spare.ID); err != nil {
				t.Fatalf("a course in a group without members: %v", err)
			}
			if got, _ := st.FindUserGroupByID(ctx, lonely.ID); got.CourseCount != 0 {
				t.Fatalf("the deleted course is still in the group: %+v", got)
			}
			_, err = st.FindCourseByID(ctx, spare.ID)
			wantCode(t, err, lms.ENotFound)
		})
	})
}

func mustAddCourses(t *testing.T, st *store.Store, ctx context.Context, group string, ids ...string) *lms.UserGroupAddition {
	t.Helper()
	res, err := st.AddUserGroupCourses(ctx, group, ids)
	if err != nil {
		t.Fatalf("add courses: %v", err)
	}
	return res
}

func mustAddMembers(t *testing.T, st *store.Store, ctx context.Context, group string, ids ...string) *lms.UserGroupAddition {
	t.Helper()
	res, err := st.AddUserGroupMembers(ctx, group, ids)
	if err != nil {
		t.Fatalf("add members: %v", err)
	}
	return res
}

func TestCourseSearch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		for _, in := range []lms.NewCourse{
			{Name: "Intro to GoLang", Code: "GO-101"},
			{Name: "Data_Science Basics", Code: "DS_1"},
			{Name: "DataXScience Advanced", Code: "DSX"},
			{Name: "100% Compliance", Code: "CMP"},
			{Name: "Percentages", Code: "PCT-9"},
			{Name: "Back\\slash", Code: ""},
		} {
			if _, err := st.CreateCourse(org.Ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.CreateCourse(other.Ctx, lms.NewCourse{Name: "Intro to GoLang elsewhere"}); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string][]string{
			"golang":  {"Intro to GoLang"},
			"GOLANG":  {"Intro to GoLang"},
			"o to g":  {"Intro to GoLang"},
			"go-1":    {"Intro to GoLang"}, // the code
			"pct":     {"Percentages"},
			"a_s":     {"Data_Science Basics"},
			"_":       {"Data_Science Basics"}, // its name and code; never a wildcard
			"%":       {"100% Compliance"},
			"0% c":    {"100% Compliance"},
			"ds":      {"Data_Science Basics", "DataXScience Advanced"},
			"\\":      {"Back\\slash"},
			"nothing": nil,
		} {
			page, err := st.FindCourses(org.Ctx, lms.CourseFilter{Q: q, PageRequest: lms.PageRequest{Sort: "name"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range page.Items {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("q=%q found %q, want %q", q, got, want)
			}
		}
		_, err := st.FindCourses(org.Ctx, lms.CourseFilter{PageRequest: lms.PageRequest{Sort: "search"}})
		wantCode(t, err, lms.EBadRequest)
	})
}

func TestUserGroups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		ctx := org.Ctx
		sales, err := st.CreateOrganizationGroup(ctx, "Sales", "")
		if err != nil {
			t.Fatal(err)
		}

		g, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: " New Hires ", OrganizationGroupID: org.OrganizationGroupID, Description: "First week"})
		if err != nil {
			t.Fatal(err)
		}
		if g.Name != "New Hires" || g.OrganizationGroupID != org.OrganizationGroupID || g.CourseCount != 0 || g.MemberCount != 0 {
			t.Fatalf("user group = %+v", g)
		}
		t.Run("name unique per organization group, case-insensitive", func(t *testing.T) {
			_, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "NEW HIRES", OrganizationGroupID: org.OrganizationGroupID})
			wantCode(t, err, lms.EConflict)
			if _, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "New Hires", OrganizationGroupID: sales.ID}); err != nil {
				t.Fatalf("the same name in another organization group: %v", err)
			}
		})
		t.Run("organization group must be the caller's", func(t *testing.T) {
			_, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "X", OrganizationGroupID: other.OrganizationGroupID})
			wantFields(t, err, "organization_group_id")
			_, err = st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "", OrganizationGroupID: "nope"})
			wantFields(t, err, "name", "organization_group_id")
		})
		t.Run("other organization's user group is not found", func(t *testing.T) {
			oc := other.Ctx
			_, err := st.FindUserGroupByID(oc, g.ID)
			wantCode(t, err, lms.ENotFound)
			_, err = st.UpdateUserGroup(oc, g.ID, lms.UserGroupUpdate{Name: ptr("X")})
			wantCode(t, err, lms.ENotFound)
			wantCode(t, st.DeleteUserGroup(oc, g.ID), lms.ENotFound)
			_, err = st.FindUserGroupCourses(oc, g.ID, lms.PageRequest{})
			wantCode(t, err, lms.ENotFound)
			_, err = st.FindUserGroupMembers(oc, g.ID, lms.PageRequest{})
			wantCode(t, err, lms.ENotFound)
			oCourse := storetest.MustCreateCourse(t, st, other, "Theirs")
			oUser := storetest.MustCreateUser(t, st, other, lms.RoleLearner)
			_, err = st.AddUserGroupCourses(oc, g.ID, []string{oCourse.ID})
			wantCode(t, err, lms.ENotFound)
			_, err = st.AddUserGroupMembers(oc, g.ID, []string{oUser.ID})
			wantCode(t, err, lms.ENotFound)
			wantCode(t, st.RemoveUserGroupCourse(oc, g.ID, oCourse.ID), lms.ENotFound)
			wantCode(t, st.RemoveUserGroupMember(oc, g.ID, oUser.ID), lms.ENotFound)
			_, err = st.FindUserGroupByID(ctx, "not-a-uuid")
			wantCode(t, err, lms.ENotFound)
		})
		t.Run("update persists an emptied description", func(t *testing.T) {
			got, err := st.UpdateUserGroup(ctx, g.ID, lms.UserGroupUpdate{Description: ptr("")})
			if err != nil || got.Description != "" || got.Name != "New Hires" {
				t.Fatalf("updated = %+v, %v", got, err)
			}
			if got, _ := st.FindUserGroupByID(ctx, g.ID); got.Description != "" {
				t.Fatalf("re-read = %+v", got)
			}
			if _, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "Veterans", OrganizationGroupID: org.OrganizationGroupID}); err != nil {
				t.Fatal(err)
			}
			_, err = st.UpdateUserGroup(ctx, g.ID, lms.UserGroupUpdate{Name: ptr("veterans")})
			wantCode(t, err, lms.EConflict)
			_, err = st.UpdateUserGroup(ctx, g.ID, lms.UserGroupUpdate{Name: ptr(" ")})
			wantFields(t, err, "name")
		})
		t.Run("filters", func(t *testing.T) {
			page, err := st.FindUserGroups(ctx, lms.UserGroupFilter{OrganizationGroupID: &sales.ID})
			if err != nil || len(page.Items) != 1 || page.Items[0].OrganizationGroupID != sales.ID {
				t.Fatalf("in sales = %+v, %v", page, err)
			}
			page, err = st.FindUserGroups(ctx, lms.UserGroupFilter{Q: "HIRE"})
			if err != nil || len(page.Items) != 2 {
				t.Fatalf("q=HIRE = %+v, %v", page, err)
			}
			page, err = st.FindUserGroups(ctx, lms.UserGroupFilter{Q: "%"})
			if err != nil || len(page.Items) != 0 {
				t.Fatalf("q=%% = %+v, %v", page, err)
			}
			_, err = st.FindUserGroups(ctx, lms.UserGroupFilter{OrganizationGroupID: ptr("nope")})
			wantCode(t, err, lms.EBadRequest)
			_, err = st.FindUserGroups(ctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Sort: "name_key"}})
			wantCode(t, err, lms.EBadRequest)
		})
		t.Run("an organization group with user groups is not deleted", func(t *testing.T) {
			wantCode(t, st.DeleteOrganizationGroup(ctx, sales.ID), lms.EConflict)
		})
	})
}

func TestEnrollmentPropagation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		ctx := org.Ctx
		g := storetest.MustCreateUserGroup(t, st, org, "Onboarding")
		u1 := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
		u2 := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
		u3 := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
		c1 := storetest.MustCreateCourse(t, st, org, "Course One")
		c2 := storetest.MustCreateCourse(t, st, org, "Course Two")
		c3 := storetest.MustCreateCourse(t, st, org, "Course Three")
		as := func(u *lms.User) context.Context { return storetest.ActAs(u.ID, org.OrganizationID, u.Role) }
		courses := func(u *lms.User) []string {
			t.Helper()
			page, err := st.FindMyEnrollments(as(u), lms.PageRequest{Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range page.Items {
				names = append(names, e.CourseName)
			}
			slices.Sort(names)
			return names
		}
		want := func(res *lms.UserGroupAddition, added, enrolled int) {
			t.Helper()
			if res.Added != added || res.Enrolled != enrolled {
				t.Fatalf("addition = %+v, want added %d, enrolled %d", res, added, enrolled)
			}
		}

		want(mustAddMembers(t, st, ctx, g.ID, u1.ID, u2.ID), 2, 0)
		// A course added to a group with members enrolls them.
		want(mustAddCourses(t, st, ctx, g.ID, c1.ID, c2.ID), 2, 4)
		// Re-adding is idempotent: no error, no duplicate; repeats in one
		// request count once.
		want(mustAddCourses(t, st, ctx, g.ID, c1.ID, c2.ID, strings.ToUpper(c1.ID)), 0, 0)
		want(mustAddMembers(t, st, ctx, g.ID, u1.ID), 0, 0)
		// A member added to a group with courses is enrolled in them.
		want(mustAddMembers(t, st, ctx, g.ID, u3.ID), 1, 2)
		if got := courses(u3); !slices.Equal(got, []string{"Course One", "Course Two"}) {
			t.Fatalf("u3 enrollments = %v", got)
		}
		got, err := st.FindUserGroupByID(ctx, g.ID)
		if err != nil || got.CourseCount != 2 || got.MemberCount != 3 {
			t.Fatalf("counts = %+v, %v", got, err)
		}

		t.Run("enrollments name their course and group and have UUIDv7 IDs", func(t *testing.T) {
			page, err := st.FindMyEnrollments(as(u1), lms.PageRequest{})
			if err != nil || len(page.Items) != 2 {
				t.Fatalf("page = %+v, %v", page, err)
			}
			for _, e := range page.Items {
				id, err := uuid.Parse(e.ID)
				if err != nil || id.Version() != 7 || id.Variant() != uuid.RFC4122 || strings.ToLower(e.ID) != e.ID {
					t.Fatalf("enrollment ID %q: version %d, %v", e.ID, id.Version(), err)
				}
				if e.UserGroupID == nil || *e.UserGroupID != g.ID || e.UserID != u1.ID || e.OrganizationID != org.OrganizationID {
					t.Fatalf("enrollment = %+v", e)
				}
			}
			// IDs start with the time: later enrollments sort after earlier ones.
			want(mustAddCourses(t, st, ctx, g.ID, c3.ID), 1, 3)
			page, err = st.FindMyEnrollments(as(u1), lms.PageRequest{Sort: "-created_at"})
			if err != nil || page.Items[0].CourseName != "Course Three" {
				t.Fatalf("newest first = %+v, %v", page.Items[0], err)
			}
		})
		t.Run("removal keeps enrollments", func(t *testing.T) {
			if err := st.RemoveUserGroupCourse(ctx, g.ID, c1.ID); err != nil {
				t.Fatal(err)
			}
			if err := st.RemoveUserGroupMember(ctx, g.ID, u2.ID); err != nil {
				t.Fatal(err)
			}
			if got := courses(u2); !slices.Equal(got, []string{"Course One", "Course Three", "Course Two"}) {
				t.Fatalf("u2 after leaving = %v", got)
			}
			wantCode(t, st.RemoveUserGroupCourse(ctx, g.ID, c1.ID), lms.ENotFound)
			wantCode(t, st.RemoveUserGroupMember(ctx, g.ID, u2.ID), lms.ENotFound)
			wantCode(t, st.RemoveUserGroupMember(ctx, g.ID, "nope"), lms.ENotFound)
			// A new member gets only the courses the group still has.
			u4 := storetest.MustCreateUser(t, st, org, lms.RoleLearner)
			want(mustAddMembers(t, st, ctx, g.ID, u4.ID), 1, 2)
		})
		t.Run("a course given by two groups is one enrollment", func(t *testing.T) {
			g2 := storetest.MustCreateUserGroup(t, st, org, "Second")
			want(mustAddCourses(t, st, ctx, g2.ID, c2.ID), 1, 0)
			want(mustAddMembers(t, st, ctx, g2.ID, u1.ID), 1, 0)
		})
		t.Run("IDs must be the caller's and well-formed", func(t *testing.T) {
			theirs := storetest.MustCreateCourse(t, st, other, "Theirs")
			them := storetest.MustCreateUser(t, st, other, lms.RoleLearner)
			missing := uuid.Must(uuid.NewV7()).String()
			_, err := st.AddUserGroupCourses(ctx, g.ID, []string{c1.ID, theirs.ID, "nope", missing})
			wantFields(t, err, "course_ids[2]")
			_, err = st.AddUserGroupCourses(ctx, g.ID, []string{c1.ID, theirs.ID, missing})
			wantFields(t, err, "course_ids[1]", "course_ids[2]")
			_, err = st.AddUserGroupMembers(ctx, g.ID, []string{them.ID, u1.ID})
			wantFields(t, err, "user_ids[0]")
			_, err = st.AddUserGroupCourses(ctx, g.ID, nil)
			wantFields(t, err, "course_ids")
			_, err = st.AddUserGroupMembers(ctx, g.ID, make([]string, lms.MaxUserGroupAddition+1))
			wantFields(t, err, "user_ids")
			if got, _ := st.FindUserGroupByID(ctx, g.ID); got.CourseCount != 2 {
				t.Fatalf("a refused request changed the group: %+v", got)
			}
		})
		t.Run("group lists", func(t *testing.T) {
			cs, err := st.FindUserGroupCourses(ctx, g.ID, lms.PageRequest{Sort: "name"})
			if err != nil || len(cs.Items) != 2 || cs.Items[0].Name != "Course Three" || cs.Items[1].Name != "Course Two" {
				t.Fatalf("group courses = %+v, %v", cs, err)
			}
			ms, err := st.FindUserGroupMembers(ctx, g.ID, lms.PageRequest{Limit: 1})
			if err != nil || len(ms.Items) != 1 || ms.NextCursor == "" {
				t.Fatalf("members page = %+v, %v", ms, err)
			}
			ms, err = st.FindUserGroupMembers(ctx, g.ID, lms.PageRequest{Limit: 1, Cursor: ms.NextCursor})
			if err != nil || len(ms.Items) != 1 {
				t.Fatalf("members page 2 = %+v, %v", ms, err)
			}
		})
		t.Run("deleting the group keeps its enrollments", func(t *testing.T) {
			wantCode(t, st.DeleteCourse(ctx, c2.ID), lms.EConflict)
			if err := st.DeleteUserGroup(ctx, g.ID); err != nil {
				t.Fatal(err)
			}
			page, err := st.FindMyEnrollments(as(u3), lms.PageRequest{})
			if err != nil || len(page.Items) != 3 {
				t.Fatalf("u3 after the group went = %+v, %v", page, err)
			}
			for _, e := range page.Items {
				if e.UserGroupID != nil {
					t.Fatalf("enrollment still names the deleted group: %+v", e)
				}
			}
		})
		t.Run("integration clients have no enrollments", func(t *testing.T) {
			client := lms.NewContextWithActor(context.Background(), &lms.Actor{ID: uuid.NewString(),
				Kind: lms.ActorClient, OrganizationID: org.OrganizationID, Role: lms.RoleFullManager})
			_, err := st.FindMyEnrollments(client, lms.PageRequest{})
			wantCode(t, err, lms.EInsufficientRole)
		})
		t.Run("deleting a user or an organization takes their enrollments", func(t *testing.T) {
			if err := st.DeleteUser(ctx, u1.ID); err != nil {
				t.Fatal(err)
			}
			// No API deletes organizations, but the schema must allow it:
			// the cascade removes enrollments before their courses.
			if err := db.Gorm().Exec("DELETE FROM organizations WHERE id = ?", org.OrganizationID).Error; err != nil {
				t.Fatalf("delete the organization: %v", err)
			}
			var n int64
			db.Gorm().Table("enrollments").Count(&n)
			if n != 0 {
				t.Fatalf("%d enrollments outlived their organization", n)
			}
		})
	})
}

// TestUserGroupPagesReturnEveryGroupOnce pages through 1,000 user groups,
// half of them sharing their names with the other half (in another
// organization group), so that name order has ties that only the ID breaks.
func TestUserGroupPagesReturnEveryGroupOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		other := storetest.MustCreateOrganization(t, st, "Other")
		east, err := st.CreateOrganizationGroup(org.Ctx, "East", "")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, id := range slices.Concat(
			store.InsertUserGroups(t, st, org.OrganizationID, org.OrganizationGroupID, "Team", 500),
			store.InsertUserGroups(t, st, org.OrganizationID, east.ID, "Team", 500)) {
			want[id] = true
		}
		store.InsertUserGroups(t, st, other.OrganizationID, other.OrganizationGroupID, "Team", 10)
		for _, sort := range []string{"created_at", "-created_at", "name"} {
			limits := []int{7, 50, 200}
			if sort == "name" {
				limits = append(limits, 13) // ties fall on other page boundaries
			}
			for _, limit := range limits {
				seen := map[string]int{}
				var prev string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 1000/limit+1 {
						t.Fatalf("sort %s limit %d: pagination does not end", sort, limit)
					}
					page, err := st.FindUserGroups(org.Ctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Limit: limit, Cursor: cursor, Sort: sort}})
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range page.Items {
						seen[g.ID]++
						key := g.ID
						if sort == "name" {
							key = strings.ToLower(g.Name) + "\x00" + g.ID
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
					t.Fatalf("sort %s limit %d: saw %d user groups, want %d", sort, limit, len(seen), len(want))
				}
				for id, n := range seen {
					if n != 1 || !want[id] {
						t.Fatalf("sort %s limit %d: user group %s seen %d times", sort, limit, id, n)
					}
				}
			}
		}
	})
}

// TestUserGroupListQueryCount shows that the counts on a page of user
// groups cost no query per row: a page of 5 and a page of 200 are one
// query each.
func TestUserGroupListQueryCount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		ids := store.InsertUserGroups(t, st, org.OrganizationID, org.OrganizationGroupID, "Team", 250)
		c1 := storetest.MustCreateCourse(t, st, org, "One")
		c2 := storetest.MustCreateCourse(t, st, org, "Two")
		users := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, 3)
		mustAddCourses(t, st, org.Ctx, ids[0], c1.ID, c2.ID)
		mustAddMembers(t, st, org.Ctx, ids[0], users...)
		mustAddMembers(t, st, org.Ctx, ids[1], users[0])

		n := storetest.CountStatements(t, db)
		counts := map[int]int64{}
		for _, limit := range []int{5, 200} {
			before := n.Load()
			page, err := st.FindUserGroups(org.Ctx, lms.UserGroupFilter{PageRequest: lms.PageRequest{Limit: limit}})
			if err != nil || len(page.Items) != limit {
				t.Fatalf("limit %d: %d items, %v", limit, len(page.Items), err)
			}
			counts[limit] = n.Load() - before
			if g := page.Items[0]; g.ID != ids[0] || g.CourseCount != 2 || g.MemberCount != 3 {
				t.Fatalf("first group = %+v", g)
			}
			if g := page.Items[1]; g.ID != ids[1] || g.CourseCount != 0 || g.MemberCount != 1 {
				t.Fatalf("second group = %+v", g)
			}
		}
		if counts[5] != 1 || counts[200] != 1 {
			t.Fatalf("queries per page: limit 5 → %d, limit 200 → %d; want 1 and 1", counts[5], counts[200])
		}
	})
}

// TestPropagationIsSetBased shows that enrolling a large group is a fixed
// number of statements: 300 members and 3 courses make 900 enrollments in as
// many statements as 1 member and 3 courses make 3, in both directions.
func TestPropagationIsSetBased(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		ctx := org.Ctx
		var courses []string
		for i := range 3 {
			courses = append(courses, storetest.MustCreateCourse(t, st, org, fmt.Sprintf("Course %d", i)).ID)
		}
		many := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, 300)
		one := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, 1)
		big := storetest.MustCreateUserGroup(t, st, org, "Big")
		small := storetest.MustCreateUserGroup(t, st, org, "Small")
		bigLater := storetest.MustCreateUserGroup(t, st, org, "Big, members last")
		smallLater := storetest.MustCreateUserGroup(t, st, org, "Small, members last")
		n := storetest.CountStatements(t, db)
		measure := func(fn func() *lms.UserGroupAddition, enrolled int) int64 {
			t.Helper()
			before := n.Load()
			if res := fn(); res.Enrolled != enrolled {
				t.Fatalf("enrolled %d, want %d", res.Enrolled, enrolled)
			}
			return n.Load() - before
		}
		mustAddMembers(t, st, ctx, big.ID, many...)
		mustAddMembers(t, st, ctx, small.ID, one...)
		bigCost := measure(func() *lms.UserGroupAddition { return mustAddCourses(t, st, ctx, big.ID, courses...) }, 900)
		smallCost := measure(func() *lms.UserGroupAddition { return mustAddCourses(t, st, ctx, small.ID, courses...) }, 3)
		if bigCost != smallCost || bigCost > 5 {
			t.Fatalf("adding 3 courses: %d statements for 300 members, %d for 1; want the same, at most 5", bigCost, smallCost)
		}
		t.Logf("adding 3 courses to 300 members: %d statements", bigCost)

		// The other direction, with fresh people (the first ones are
		// enrolled already and would be skipped).
		many2 := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, 300)
		one2 := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, 1)
		mustAddCourses(t, st, ctx, bigLater.ID, courses...)
		mustAddCourses(t, st, ctx, smallLater.ID, courses...)
		bigCost = measure(func() *lms.UserGroupAddition { return mustAddMembers(t, st, ctx, bigLater.ID, many2...) }, 900)
		smallCost = measure(func() *lms.UserGroupAddition { return mustAddMembers(t, st, ctx, smallLater.ID, one2...) }, 3)
		if bigCost != smallCost || bigCost > 5 {
			t.Fatalf("adding members: %d statements for 300, %d for 1; want the same, at most 5", bigCost, smallCost)
		}
		var total int64
		db.Gorm().Table("enrollments").Count(&total)
		if total != 1806 {
			t.Fatalf("%d enrollments, want 1806", total)
		}
	})
}

func TestImportCourses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		if _, err := st.CreateCourse(org.Ctx, lms.NewCourse{Name: "Existing", Code: "EX-1"}); err != nil {
			t.Fatal(err)
		}
		res, err := st.ImportCourses(context.Background(), org.OrganizationID, []lms.NewCourse{
			{Line: 2, Name: "Fire Safety", Code: "FS-1", Description: "Exits"},
			{Line: 3, Name: "", Code: "BAD"},
			{Line: 4, Name: "First Aid", Code: "fa-1"},
			{Line: 5, Name: "First Aid again", Code: "FA-1"},
			{Line: 6, Name: "Clash", Code: "ex-1"},
			{Line: 7, Name: "No code"},
			{Line: 8, Name: "Long code", Code: strings.Repeat("c", 65)},
			{Line: 9, Name: "Also no code"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 4 {
			t.Fatalf("created %d, want 4: %+v", res.Created, res)
		}
		var lines []int
		for _, r := range res.Rejected {
			lines = append(lines, r.Line)
			if r.Reason == "" {
				t.Errorf("line %d rejected without a reason", r.Line)
			}
		}
		if !slices.Equal(lines, []int{3, 5, 6, 8}) {
			t.Fatalf("rejected lines = %v: %+v", lines, res.Rejected)
		}
		if !strings.Contains(res.Rejected[1].Reason, "line 4") || !strings.Contains(res.Rejected[2].Reason, "already exists") {
			t.Fatalf("reasons = %+v", res.Rejected)
		}
		page, err := st.FindCourses(org.Ctx, lms.CourseFilter{Q: "first aid"})
		if err != nil || len(page.Items) != 1 || page.Items[0].Code != "fa-1" {
			t.Fatalf("imported = %+v, %v", page, err)
		}
		t.Run("rows without lines are numbered from 1", func(t *testing.T) {
			res, err := st.ImportCourses(context.Background(), org.OrganizationID, []lms.NewCourse{{Name: "ok"}, {Name: ""}})
			if err != nil || res.Created != 1 || len(res.Rejected) != 1 || res.Rejected[0].Line != 2 {
				t.Fatalf("res = %+v, %v", res, err)
			}
		})
		t.Run("unknown organization", func(t *testing.T) {
			_, err := st.ImportCourses(context.Background(), uuid.Must(uuid.NewV7()).String(), []lms.NewCourse{{Name: "x"}})
			wantCode(t, err, lms.ENotFound)
			_, err = st.ImportCourses(context.Background(), "nope", nil)
			wantCode(t, err, lms.ENotFound)
		})
	})
}

// TestImportCoursesIsAllOrNothing fails the second of three insert batches
// and finds that the first was rolled back with it.
func TestImportCoursesIsAllOrNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		batches := 0
		err := db.Gorm().Callback().Create().Before("gorm:create").Register("test:fail_second_batch", func(tx *gorm.DB) {
			if tx.Statement.Table == "courses" {
				if batches++; batches == 2 {
					tx.AddError(errors.New("injected failure"))
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]lms.NewCourse, 1200)
		for i := range rows {
			rows[i] = lms.NewCourse{Name: fmt.Sprintf("Course %d", i), Code: fmt.Sprintf("C-%d", i)}
		}
		if _, err := st.ImportCourses(context.Background(), org.OrganizationID, rows); err == nil {
			t.Fatal("the injected failure was not reported")
		}
		if batches != 2 {
			t.Fatalf("%d batches ran, want 2", batches)
		}
		page, err := st.FindCourses(org.Ctx, lms.CourseFilter{})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("a failed import left %d courses (%v)", len(page.Items), err)
		}
	})
}

// TestConcurrentAdditionsEnrollEveryone adds members and courses to one
// group at the same time. Each addition enrolls what it can see; without
// the group's row lock, a member and a course added concurrently would miss
// each other and the member would lack the course.
func TestConcurrentAdditionsEnrollEveryone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		org := storetest.MustCreateOrganization(t, st, "Acme")
		g := storetest.MustCreateUserGroup(t, st, org, "Everyone")
		const n = 12
		users := store.InsertUsers(t, st, org.OrganizationID, org.OrganizationGroupID, n)
		var courses []string
		for i := range n {
			courses = append(courses, storetest.MustCreateCourse(t, st, org, fmt.Sprintf("Course %d", i)).ID)
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := st.AddUserGroupMembers(org.Ctx, g.ID, []string{users[i]}); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if _, err := st.AddUserGroupCourses(org.Ctx, g.ID, []string{courses[i]}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var total int64
		if err := db.Gorm().Table("enrollments").Count(&total).Error; err != nil {
			t.Fatal(err)
		}
		if total != n*n {
			t.Fatalf("%d enrollments, want %d", total, n*n)
		}
	})
}
