package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// page decodes a list answer.
func page[T any](t *testing.T, res *response) ([]T, *string) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status = %d: %s", res.Status, res.Body)
	}
	var p struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Data, p.NextCursor
}

type courseJSON struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Code        *string `json:"code"`
	Description string  `json:"description"`
}

type userGroupJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	CourseCount int    `json:"course_count"`
	MemberCount int    `json:"member_count"`
}

// TestCatalogProblems holds the catalog's refusals to their statuses and
// codes, on both dialects (PostgreSQL is the one that would choke on a
// malformed UUID).
func TestCatalogProblems(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		course, err := e.st.CreateCourse(e.org.Ctx, lms.NewCourse{Name: "Fire Safety", Code: "FS-101"})
		if err != nil {
			t.Fatal(err)
		}
		group := storetest.MustCreateUserGroup(t, e.st, e.org, "New Hires")
		theirCourse := storetest.MustCreateCourse(t, e.st, e.other, "Theirs")
		theirGroup := storetest.MustCreateUserGroup(t, e.st, e.other, "Theirs")
		theirUser := storetest.MustCreateUser(t, e.st, e.other, lms.RoleLearner)
		missing := uuid.Must(uuid.NewV7()).String()
		ug := "/api/v1/user-groups/" + group.ID
		cases := []struct {
			name   string
			r      req
			status int
			code   string
			fields []string
		}{
			{"course without a name", req{method: "POST", path: "/api/v1/courses", body: map[string]string{"code": "X"}}, 422, lms.EInvalid, []string{"name"}},
			{"course code too long", req{method: "POST", path: "/api/v1/courses", body: map[string]string{"name": "X", "code": strings.Repeat("c", 65)}}, 422, lms.EInvalid, []string{"code"}},
			{"duplicate course code, other case", req{method: "POST", path: "/api/v1/courses", body: map[string]string{"name": "Again", "code": "fs-101"}}, 409, lms.EConflict, nil},
			{"unknown course field", req{method: "POST", path: "/api/v1/courses", body: `{"name":"X","price":5}`}, 400, lms.EBadRequest, nil},
			{"unknown course sort", req{method: "GET", path: "/api/v1/courses?sort=search"}, 400, lms.EBadRequest, []string{"sort"}},
			{"course limit 0", req{method: "GET", path: "/api/v1/courses?limit=0"}, 400, lms.EBadRequest, nil},
			{"malformed course ID", req{method: "GET", path: "/api/v1/courses/not-a-uuid"}, 404, lms.ENotFound, nil},
			{"malformed course ID on PATCH", req{method: "PATCH", path: "/api/v1/courses/1234", body: map[string]string{"name": "X"}}, 404, lms.ENotFound, nil},
			{"other organization's course", req{method: "GET", path: "/api/v1/courses/" + theirCourse.ID}, 404, lms.ENotFound, nil},
			{"PATCH to a taken code", req{method: "PATCH", path: "/api/v1/courses/" + storetest.MustCreateCourse(t, e.st, e.org, "Other").ID, body: map[string]string{"code": "Fs-101"}}, 409, lms.EConflict, nil},
			{"PATCH with an empty name", req{method: "PATCH", path: "/api/v1/courses/" + course.ID, body: map[string]string{"name": ""}}, 422, lms.EInvalid, []string{"name"}},

			{"user group without fields", req{method: "POST", path: "/api/v1/user-groups", body: map[string]string{}}, 422, lms.EInvalid, []string{"name", "organization_group_id"}},
			{"user group in another organization's group", req{method: "POST", path: "/api/v1/user-groups", body: map[string]string{"name": "X", "organization_group_id": e.other.OrganizationGroupID}}, 422, lms.EInvalid, []string{"organization_group_id"}},
			{"duplicate user group name, other case", req{method: "POST", path: "/api/v1/user-groups", body: map[string]string{"name": "NEW HIRES", "organization_group_id": e.org.OrganizationGroupID}}, 409, lms.EConflict, nil},
			{"unknown user group sort", req{method: "GET", path: "/api/v1/user-groups?sort=-name"}, 400, lms.EBadRequest, []string{"sort"}},
			{"malformed organization group filter", req{method: "GET", path: "/api/v1/user-groups?organization_group_id=nope"}, 400, lms.EBadRequest, nil},
			{"malformed user group ID", req{method: "GET", path: "/api/v1/user-groups/nope/courses"}, 404, lms.ENotFound, nil},
			{"other organization's user group", req{method: "GET", path: "/api/v1/user-groups/" + theirGroup.ID}, 404, lms.ENotFound, nil},
			{"other organization's user group members", req{method: "POST", path: "/api/v1/user-groups/" + theirGroup.ID + "/members", body: map[string][]string{"user_ids": {e.users["learner"].ID}}}, 404, lms.ENotFound, nil},
			{"tampered members cursor", req{method: "GET", path: ug + "/members?cursor=abc"}, 400, lms.EBadRequest, nil},

			{"no course IDs", req{method: "POST", path: ug + "/courses", body: map[string][]string{"course_ids": {}}}, 422, lms.EInvalid, []string{"course_ids"}},
			{"course_ids missing", req{method: "POST", path: ug + "/courses", body: map[string]string{}}, 422, lms.EInvalid, []string{"course_ids"}},
			{"course_ids not an array", req{method: "POST", path: ug + "/courses", body: `{"course_ids":"x"}`}, 400, lms.EBadRequest, nil},
			{"501 course IDs", req{method: "POST", path: ug + "/courses", body: map[string][]string{"course_ids": make([]string, 501)}}, 422, lms.EInvalid, []string{"course_ids"}},
			{"foreign and missing courses are listed", req{method: "POST", path: ug + "/courses", body: map[string][]string{"course_ids": {course.ID, theirCourse.ID, missing}}}, 422, lms.EInvalid, []string{"course_ids[1]", "course_ids[2]"}},
			{"malformed course IDs are listed", req{method: "POST", path: ug + "/courses", body: map[string][]string{"course_ids": {"x", course.ID, "y"}}}, 422, lms.EInvalid, []string{"course_ids[0]", "course_ids[2]"}},
			{"foreign user", req{method: "POST", path: ug + "/members", body: map[string][]string{"user_ids": {theirUser.ID}}}, 422, lms.EInvalid, []string{"user_ids[0]"}},
			{"course not in the group", req{method: "DELETE", path: ug + "/courses/" + course.ID}, 404, lms.ENotFound, nil},
			{"malformed member ID", req{method: "DELETE", path: ug + "/members/nope"}, 404, lms.ENotFound, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.r
				r.token = e.tokens["full"]
				p := wantProblem(t, e.do(r), tc.status, tc.code)
				var fields []string
				if errs, ok := p["errors"].([]any); ok {
					for _, f := range errs {
						fields = append(fields, f.(map[string]any)["field"].(string))
					}
				}
				if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
					t.Fatalf("fields = %v, want %v: %v", fields, tc.fields, p)
				}
			})
		}
		if g, _ := e.st.FindUserGroupByID(e.org.Ctx, group.ID); g.CourseCount != 0 || g.MemberCount != 0 {
			t.Fatalf("refused requests changed the group: %+v", g)
		}
	})
}

// TestCatalogFlow builds a group over HTTP and follows the enrollments to
// the learner's own list.
func TestCatalogFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	full := e.tokens["full"]
	do := func(method, path string, body any) *response {
		t.Helper()
		return e.do(req{method: method, path: path, body: body, token: full})
	}
	want := func(res *response, status int) map[string]any {
		t.Helper()
		if res.Status != status {
			t.Fatalf("status = %d, want %d: %s", res.Status, status, res.Body)
		}
		if len(res.Body) == 0 {
			return nil
		}
		return res.JSON(t)
	}

	fire := want(do("POST", "/api/v1/courses", map[string]string{"name": "Fire Safety", "code": "FS_101", "description": "Exits"}), 201)
	if fire["code"] != "FS_101" {
		t.Fatalf("course = %v", fire)
	}
	aid := want(do("POST", "/api/v1/courses", map[string]string{"name": "First Aid"}), 201)
	if aid["code"] != nil || aid["description"] != "" {
		t.Fatalf("course without code = %v", aid)
	}
	want(do("POST", "/api/v1/courses", map[string]string{"name": "Fire_Drill", "code": "FD1"}), 201)
	for q, n := range map[string]int{"fire": 2, "FS_1": 1, "s_1": 1, "e_d": 1, "%": 0, "first aid": 1} {
		items, _ := page[courseJSON](t, do("GET", "/api/v1/courses?q="+strings.ReplaceAll(strings.ReplaceAll(q, "%", "%25"), " ", "+"), nil))
		if len(items) != n {
			t.Errorf("q=%q: %d courses, want %d", q, len(items), n)
		}
	}
	patched := want(do("PATCH", "/api/v1/courses/"+fire["id"].(string), map[string]string{"description": "", "code": ""}), 200)
	if patched["description"] != "" || patched["code"] != nil || patched["name"] != "Fire Safety" {
		t.Fatalf("patched = %v", patched)
	}
	if got := want(do("GET", "/api/v1/courses/"+fire["id"].(string), nil), 200); got["description"] != "" || got["code"] != nil {
		t.Fatalf("the PATCH did not persist: %v", got)
	}

	group := want(do("POST", "/api/v1/user-groups", map[string]string{"name": "New Hires", "organization_group_id": e.org.OrganizationGroupID}), 201)
	gp := "/api/v1/user-groups/" + group["id"].(string)
	learner := e.users["learner"]
	add := want(do("POST", gp+"/members", map[string][]string{"user_ids": {learner.ID, e.users["limited"].ID}}), 200)
	if add["added"] != 2.0 || add["enrolled"] != 0.0 {
		t.Fatalf("members added = %v", add)
	}
	add = want(do("POST", gp+"/courses", map[string][]string{"course_ids": {fire["id"].(string), aid["id"].(string)}}), 200)
	if add["added"] != 2.0 || add["enrolled"] != 4.0 {
		t.Fatalf("courses added = %v", add)
	}
	add = want(do("POST", gp+"/courses", map[string][]string{"course_ids": {fire["id"].(string)}}), 200)
	if add["added"] != 0.0 || add["enrolled"] != 0.0 {
		t.Fatalf("re-added = %v", add)
	}
	groups, _ := page[userGroupJSON](t, do("GET", "/api/v1/user-groups?q=HIRES", nil))
	if len(groups) != 1 || groups[0].CourseCount != 2 || groups[0].MemberCount != 2 {
		t.Fatalf("listed groups = %+v", groups)
	}
	if g := want(do("GET", gp, nil), 200); g["course_count"] != 2.0 || g["member_count"] != 2.0 {
		t.Fatalf("group = %v", g)
	}
	courses, _ := page[courseJSON](t, do("GET", gp+"/courses?sort=name", nil))
	if len(courses) != 2 || courses[0].Name != "Fire Safety" || courses[1].Name != "First Aid" {
		t.Fatalf("group courses = %+v", courses)
	}
	members, next := page[struct{ ID string }](t, do("GET", gp+"/members?limit=1", nil))
	if len(members) != 1 || next == nil {
		t.Fatalf("members page = %+v, %v", members, next)
	}

	mine := e.do(req{method: "GET", path: "/api/v1/me/enrollments", token: e.tokens["learner"]})
	type enrollmentJSON struct {
		CourseName  string  `json:"course_name"`
		UserGroupID *string `json:"user_group_id"`
	}
	enrollments, _ := page[enrollmentJSON](t, mine)
	if len(enrollments) != 2 || enrollments[0].UserGroupID == nil || *enrollments[0].UserGroupID != group["id"] {
		t.Fatalf("learner's enrollments = %+v", enrollments)
	}
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me/enrollments?sort=name", token: e.tokens["learner"]}), 400, lms.EBadRequest)
	if none, _ := page[enrollmentJSON](t, e.do(req{method: "GET", path: "/api/v1/me/enrollments", token: e.tokens["other"]})); len(none) != 0 {
		t.Fatalf("the other organization's manager sees %+v", none)
	}

	wantProblem(t, do("DELETE", "/api/v1/courses/"+fire["id"].(string), nil), 409, lms.EConflict)
	want(do("DELETE", gp+"/courses/"+fire["id"].(string), nil), 204)
	want(do("DELETE", gp+"/members/"+learner.ID, nil), 204)
	wantProblem(t, do("DELETE", gp+"/members/"+learner.ID, nil), 404, lms.ENotFound)
	if still, _ := page[enrollmentJSON](t, e.do(req{method: "GET", path: "/api/v1/me/enrollments", token: e.tokens["learner"]})); len(still) != 2 {
		t.Fatalf("removal took enrollments: %+v", still)
	}
	want(do("DELETE", gp, nil), 204)
	wantProblem(t, do("GET", gp, nil), 404, lms.ENotFound)

	t.Run("integration clients have no enrollments", func(t *testing.T) {
		_, token := e.integrationClient(lms.RoleFullManager)
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me/enrollments", token: token}), 403, lms.EInsufficientRole)
		if res := e.do(req{method: "GET", path: "/api/v1/courses", token: token}); res.Status != 200 {
			t.Fatalf("a full manager client reading courses: %d", res.Status)
		}
	})
}
