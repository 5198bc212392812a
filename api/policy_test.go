package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// Access levels of the role policy (API.md, Roles).
const (
	public   = "public"   // anyone, no token
	anyToken = "any"      // any valid token
	managers = "managers" // full and limited managers
	full     = "full"     // full managers only
)

// policy is the expected behaviour of one route.
type policy struct {
	access string
	// ok is the status of an allowed call.
	ok int
	// path fills the route's parameters with fresh objects of the first
	// organization (nil when the route has none).
	path func(e *env, route string) string
	// body returns a valid request body for an allowed call.
	body func(e *env) any
	// other is what a full manager of another organization gets when it is
	// not the usual (404 on routes with IDs, ok otherwise): a body that
	// names the first organization's objects is a validation error.
	other int
}

// policies is the one table of who may call what. Every route the router
// registers must have an entry: a route added without one fails the matrix.
var policies = map[string]policy{
	"GET /healthz":      {access: public, ok: 200},
	"GET /readyz":       {access: public, ok: 200},
	"GET /openapi.json": {access: public, ok: 200},
	"GET /swagger/*any": {access: public, ok: 200, path: func(*env, string) string { return "/swagger/index.html" }},
	"GET /swagger":      {access: public, ok: 302},
	// The enrollment page is public; its posts carry the page's form token,
	// which the matrix's JSON calls lack: refused as cross-site (403).
	"GET /enroll":            {access: public, ok: 200},
	"GET /enroll/enroll.css": {access: public, ok: 200},
	"POST /enroll":           {access: public, ok: 403},
	"GET /enroll/verify":     {access: public, ok: 200},
	"POST /enroll/verify":    {access: public, ok: 403},
	"POST /api/v1/auth/login": {access: public, ok: 200, body: func(e *env) any {
		return map[string]string{"email": e.users["learner"].Email, "password": storetest.Password}
	}},
	"POST /api/v1/auth/refresh": {access: public, ok: 200, body: func(e *env) any {
		return map[string]string{"refresh_token": e.refreshToken()}
	}},
	"POST /api/v1/auth/logout": {access: public, ok: 204, body: func(e *env) any {
		return map[string]string{"refresh_token": e.refreshToken()}
	}},
	"POST /api/v1/oauth/token": {access: public, ok: 200, body: func(e *env) any {
		c, err := e.st.CreateIntegrationClient(e.org.Ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleFullManager})
		if err != nil {
			e.t.Fatal(err)
		}
		return map[string]string{"grant_type": "client_credentials", "client_id": c.Client.ID, "client_secret": c.Secret}
	}},
	"GET /api/v1/me": {access: anyToken, ok: 200},

	"GET /api/v1/organization-groups": {access: managers, ok: 200},
	"POST /api/v1/organization-groups": {access: full, ok: 201, body: func(*env) any {
		return map[string]string{"name": "Group " + uuid.NewString()}
	}},
	"GET /api/v1/organization-groups/:id":    {access: managers, ok: 200, path: withOrganizationGroup},
	"PATCH /api/v1/organization-groups/:id":  {access: full, ok: 200, path: withOrganizationGroup, body: func(*env) any { return map[string]string{"name": "Renamed " + uuid.NewString()} }},
	"DELETE /api/v1/organization-groups/:id": {access: full, ok: 204, path: withOrganizationGroup},

	"GET /api/v1/users": {access: managers, ok: 200},
	"POST /api/v1/users": {access: full, ok: 201, body: func(*env) any {
		return map[string]string{"email": uuid.NewString() + "@example.com", "first_name": "New", "last_name": "Person", "role": "learner"}
	}},
	"GET /api/v1/users/:id":    {access: managers, ok: 200, path: withUser},
	"PATCH /api/v1/users/:id":  {access: full, ok: 200, path: withUser, body: func(*env) any { return map[string]string{"first_name": "Changed"} }},
	"DELETE /api/v1/users/:id": {access: full, ok: 204, path: withUser},

	"GET /api/v1/integration-clients": {access: full, ok: 200},
	"POST /api/v1/integration-clients": {access: full, ok: 201, body: func(*env) any {
		return map[string]string{"name": "Payroll", "role": "limited_manager"}
	}},
	"DELETE /api/v1/integration-clients/:id": {access: full, ok: 204, path: withIntegrationClient},

	"GET /api/v1/me/enrollments": {access: anyToken, ok: 200},

	"GET /api/v1/courses": {access: managers, ok: 200},
	"POST /api/v1/courses": {access: full, ok: 201, body: func(*env) any {
		return map[string]string{"name": "Course " + uuid.NewString(), "code": uuid.NewString()[:8]}
	}},
	"GET /api/v1/courses/:id":    {access: managers, ok: 200, path: withCourse},
	"PATCH /api/v1/courses/:id":  {access: full, ok: 200, path: withCourse, body: func(*env) any { return map[string]string{"description": ""} }},
	"DELETE /api/v1/courses/:id": {access: full, ok: 204, path: withCourse},

	"GET /api/v1/user-groups": {access: managers, ok: 200},
	"POST /api/v1/user-groups": {access: full, ok: 201, other: 422, body: func(e *env) any {
		return map[string]string{"name": "Team " + uuid.NewString(), "organization_group_id": e.org.OrganizationGroupID}
	}},
	"GET /api/v1/user-groups/:id":    {access: managers, ok: 200, path: withUserGroup},
	"PATCH /api/v1/user-groups/:id":  {access: full, ok: 200, path: withUserGroup, body: func(*env) any { return map[string]string{"name": "Renamed " + uuid.NewString()} }},
	"DELETE /api/v1/user-groups/:id": {access: full, ok: 204, path: withUserGroup},

	"GET /api/v1/user-groups/:id/courses": {access: managers, ok: 200, path: withUserGroup},
	"POST /api/v1/user-groups/:id/courses": {access: full, ok: 200, path: withUserGroup, body: func(e *env) any {
		return map[string][]string{"course_ids": {storetest.MustCreateCourse(e.t, e.st, e.org, "Course "+uuid.NewString()).ID}}
	}},
	"DELETE /api/v1/user-groups/:id/courses/:course_id": {access: full, ok: 204, path: withUserGroupCourse},
	"GET /api/v1/user-groups/:id/members":               {access: managers, ok: 200, path: withUserGroup},
	"POST /api/v1/user-groups/:id/members": {access: full, ok: 200, path: withUserGroup, body: func(e *env) any {
		return map[string][]string{"user_ids": {storetest.MustCreateUser(e.t, e.st, e.org, lms.RoleLearner).ID}}
	}},
	"DELETE /api/v1/user-groups/:id/members/:user_id": {access: full, ok: 204, path: withUserGroupMember},

	"GET /api/v1/invitations": {access: full, ok: 200},
	"POST /api/v1/invitations": {access: full, ok: 201, other: 422, body: func(e *env) any {
		return map[string]any{"name": "Onboarding", "max_registrations": 5, "organization_group_id": e.org.OrganizationGroupID,
			"user_group_ids": []string{storetest.MustCreateUserGroup(e.t, e.st, e.org, "G "+uuid.NewString()).ID}}
	}},
	"GET /api/v1/invitations/:id":       {access: full, ok: 200, path: withInvitation},
	"PATCH /api/v1/invitations/:id":     {access: full, ok: 200, path: withInvitation, body: func(*env) any { return map[string]string{"message": ""} }},
	"DELETE /api/v1/invitations/:id":    {access: full, ok: 204, path: withInvitation},
	"GET /api/v1/invitations/:id/email": {access: full, ok: 200, path: withInvitation},
	"POST /api/v1/invitations/:id/deliveries": {access: full, ok: 202, path: withInvitation, body: func(*env) any {
		return map[string]any{"send_copy": true, "recipients": []string{"new.hire@example.com"}}
	}},
	"GET /api/v1/invitations/:id/deliveries":  {access: full, ok: 200, path: withInvitation},
	"POST /api/v1/deliveries/:id/resend":      {access: full, ok: 202, path: withSentDelivery},
	"GET /api/v1/invitations/:id/redemptions": {access: full, ok: 200, path: withInvitation},
	"GET /api/v1/audit-events":                {access: full, ok: 200},
	"GET /api/v1/webhook-endpoints":           {access: full, ok: 200},
	"POST /api/v1/webhook-endpoints": {access: full, ok: 201, body: func(*env) any {
		return map[string]any{"url": "http://127.0.0.1:9/hooks", "event_types": []string{"invitation.full"}}
	}},
	"GET /api/v1/webhook-endpoints/:id": {access: full, ok: 200, path: withWebhookEndpoint},
	"PATCH /api/v1/webhook-endpoints/:id": {access: full, ok: 200, path: withWebhookEndpoint, body: func(*env) any {
		return map[string]any{"description": "changed"}
	}},
	"DELETE /api/v1/webhook-endpoints/:id":                          {access: full, ok: 204, path: withWebhookEndpoint},
	"POST /api/v1/webhook-endpoints/:id/rotate-secret":              {access: full, ok: 200, path: withWebhookEndpoint},
	"GET /api/v1/webhook-endpoints/:id/attempts":                    {access: full, ok: 200, path: withWebhookEndpoint},
	"POST /api/v1/webhook-endpoints/:id/events/:event_id/redeliver": {access: full, ok: 202, path: withWebhookEvent},
	"POST /api/v1/redemptions/preview": {access: public, ok: 200, body: func(e *env) any {
		return map[string]string{"passcode": e.activeInvitation().Passcode}
	}},
	"POST /api/v1/redemptions/verify": {access: public, ok: 200, body: func(e *env) any {
		_, token := e.pendingRedemption()
		return map[string]string{"token": token, "password": storetest.Password}
	}},
	"POST /api/v1/redemptions": {access: public, ok: 201, body: func(e *env) any {
		return map[string]string{"passcode": e.activeInvitation().Passcode, "email": uuid.NewString() + "@example.com",
			"first_name": "New", "last_name": "Hire", "password": storetest.Password}
	}},
}

func (e *env) refreshToken() string {
	// A learner of its own: signing out ends every access token of the
	// account, and the matrix's learner must keep its own.
	u := storetest.MustCreateUser(e.t, e.st, e.org, lms.RoleLearner)
	p, err := e.st.Login(context.Background(), u.Email, storetest.Password, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return p.RefreshToken
}

// fill puts ids into the route's parameters, in order.
func fill(route string, ids ...string) string {
	segs := strings.Split(route, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") && len(ids) > 0 {
			segs[i], ids = ids[0], ids[1:]
		}
	}
	return strings.Join(segs, "/")
}

func withOrganizationGroup(e *env, route string) string {
	g, err := e.st.CreateOrganizationGroup(e.org.Ctx, "Group "+uuid.NewString(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return fill(route, g.ID)
}

// activeInvitation creates an active invitation of the first organization
// into a fresh user group with one course.
func (e *env) activeInvitation() *lms.Invitation {
	g := storetest.MustCreateUserGroup(e.t, e.st, e.org, "G "+uuid.NewString())
	if _, err := e.st.AddUserGroupCourses(e.org.Ctx, g.ID, []string{storetest.MustCreateCourse(e.t, e.st, e.org, "Course "+uuid.NewString()).ID}); err != nil {
		e.t.Fatal(err)
	}
	inv, err := e.st.CreateInvitation(e.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Onboarding", MaxRegistrations: 10,
		OrganizationGroupID: e.org.OrganizationGroupID, UserGroupIDs: []string{g.ID}, Status: lms.InvitationActive})
	if err != nil {
		e.t.Fatal(err)
	}
	return inv
}

func withInvitation(e *env, route string) string { return fill(route, e.activeInvitation().ID) }

func withUser(e *env, route string) string {
	return fill(route, storetest.MustCreateUser(e.t, e.st, e.org, lms.RoleLearner).ID)
}

func withIntegrationClient(e *env, route string) string {
	c, err := e.st.CreateIntegrationClient(e.org.Ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleLimitedManager})
	if err != nil {
		e.t.Fatal(err)
	}
	return fill(route, c.Client.ID)
}

func withCourse(e *env, route string) string {
	return fill(route, storetest.MustCreateCourse(e.t, e.st, e.org, "Course "+uuid.NewString()).ID)
}

func withUserGroup(e *env, route string) string {
	return fill(route, storetest.MustCreateUserGroup(e.t, e.st, e.org, "Team "+uuid.NewString()).ID)
}

// withUserGroupCourse fills :id and :course_id with a fresh user group and a
// course in it.
func withUserGroupCourse(e *env, route string) string {
	g := storetest.MustCreateUserGroup(e.t, e.st, e.org, "Team "+uuid.NewString())
	c := storetest.MustCreateCourse(e.t, e.st, e.org, "Course "+uuid.NewString())
	if _, err := e.st.AddUserGroupCourses(e.org.Ctx, g.ID, []string{c.ID}); err != nil {
		e.t.Fatal(err)
	}
	return fill(route, g.ID, c.ID)
}

// withUserGroupMember fills :id and :user_id with a fresh user group and a
// member of it.
func withUserGroupMember(e *env, route string) string {
	g := storetest.MustCreateUserGroup(e.t, e.st, e.org, "Team "+uuid.NewString())
	u := storetest.MustCreateUser(e.t, e.st, e.org, lms.RoleLearner)
	if _, err := e.st.AddUserGroupMembers(e.org.Ctx, g.ID, []string{u.ID}); err != nil {
		e.t.Fatal(err)
	}
	return fill(route, g.ID, u.ID)
}

// want returns the status caller should get on a route with access p.
func (p policy) want(caller, route string) int {
	hasID := strings.Contains(route, ":")
	switch {
	case p.access == public:
		return p.ok
	case caller == "anonymous":
		return http.StatusUnauthorized
	case p.access == anyToken:
		return p.ok
	case caller == "learner":
		return http.StatusForbidden
	case caller == "limited" && p.access == full:
		return http.StatusForbidden
	case caller == "other" && hasID:
		return http.StatusNotFound
	case caller == "other" && p.other != 0:
		return p.other
	}
	return p.ok
}

// TestRoleMatrix calls every registered route as anonymous, learner, limited
// manager, a full manager of another organization and a full manager, and
// holds each answer against the policy table. The full manager goes last
// because its calls may delete the object.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect)
		routes := e.srv.Routes()
		var missing []string
		for _, r := range routes {
			key := r.Method + " " + r.Path
			p, ok := policies[key]
			if !ok {
				missing = append(missing, key)
				continue
			}
			for _, caller := range []string{"anonymous", "learner", "limited", "other", "full"} {
				path := r.Path
				if p.path != nil {
					path = p.path(e, r.Path)
				}
				var body any
				if p.body != nil {
					body = p.body(e)
				}
				res := e.do(req{method: r.Method, path: path, body: body, token: e.tokens[caller]})
				if want := p.want(caller, r.Path); res.Status != want {
					t.Errorf("%s as %s: status %d, want %d: %s", key, caller, res.Status, want, res.Body)
				}
				if res.Status == http.StatusForbidden && !strings.HasPrefix(r.Path, "/enroll") {
					wantProblem(t, res, 403, lms.EInsufficientRole)
				}
				if res.Status == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s as %s: 401 without WWW-Authenticate", key, caller)
				}
			}
		}
		if len(missing) > 0 {
			t.Fatalf("routes without a policy entry: %v", missing)
		}
		for key := range policies {
			if !slices.ContainsFunc(routes, func(r gin.RouteInfo) bool { return r.Method+" "+r.Path == key }) {
				t.Errorf("policy entry %q has no route", key)
			}
		}
	})
}

// TestSpecCoversEveryRoute holds the router's routes and the spec's
// operations to the same set.
func TestSpecCoversEveryRoute(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t)
	e := newEnv(t, "sqlite")
	var fromRouter, fromSpec []string
	for _, r := range e.srv.Routes() {
		if r.Path == "/swagger/*any" || r.Path == "/swagger" { // the UI and its redirect, not API operations
			continue
		}
		p := r.Path
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		fromRouter = append(fromRouter, r.Method+" "+p)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			fromSpec = append(fromSpec, method+" "+servedPath(doc, path, item))
		}
	}
	slices.Sort(fromRouter)
	slices.Sort(fromSpec)
	if !slices.Equal(fromRouter, fromSpec) {
		t.Fatalf("router and spec differ:\nrouter: %v\nspec:   %v", fromRouter, fromSpec)
	}
}
