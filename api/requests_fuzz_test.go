package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/docs"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// fuzzServer is one server on SQLite shared by every input of a fuzz
// target, with an organization whose records the inputs name through
// placeholders: the IDs are new on every run, so a committed seed cannot
// hold them.
type fuzzServer struct {
	handler http.Handler
	tokens  map[string]string // caller name -> access token
	// fill replaces the placeholders ($ROOT, $GROUP, ...) of a path, a
	// query value or a body by the IDs and secrets of this server.
	fill *strings.Replacer
}

// fuzzPasscode is the passcode of the active invitation the redemption
// inputs name as $PASSCODE. No placeholder names that invitation, so no
// input changes its passcode or status.
const fuzzPasscode = "Tern-Lagoon-58"

// newFuzzServer builds the server as buildEnv does, on f rather than on a
// test, so that it lives as long as the fuzz target. The throttles allow
// far more failures than buildEnv's: a fuzzer fails thousands of sign-ins
// a minute, and every 429 would hide the code behind the throttle.
func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	db := storetest.Open(f, store.SQLite)
	// Access tokens that outlast a long fuzzing session.
	tokens, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: storetest.Secret, AccessTTL: 24 * time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	st := storetest.NewStoreWith(f, db, storetest.NewHasher(), func(d *store.Deps) { d.Tokens = tokens })
	if _, err := st.NewQueue(store.QueueOptions{Sender: mail.NewFileSender(f.TempDir(), func(string) {})}); err != nil {
		f.Fatal(err)
	}
	plenty := func(name string) ratelimit.Rule {
		return ratelimit.Rule{Name: name, Limit: 1 << 30, Period: time.Minute}
	}
	srv, err := api.New(api.Options{
		Services:   storetest.Services(st),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Ready:      func(ctx context.Context) error { return db.Ping(ctx) },
		Throttle:   ratelimit.NewMemory(),
		OpenAPI:    docs.OpenAPI,
		EnrollPage: true,
		Rules: api.ThrottleRules{LoginIP: plenty("login-ip"), LoginAccount: plenty("login-account"),
			LoginAccountAny: plenty("login-account-any"), RedeemIP: plenty("redeem-ip"), RedeemSite: plenty("redeem-site"),
			PasscodeConflict: plenty("passcode-conflict")},
	})
	if err != nil {
		f.Fatal(err)
	}
	org := storetest.MustCreateOrganization(f, st, "Acme")
	ctx := org.Ctx
	learner := storetest.MustCreateUser(f, st, org, lms.RoleLearner)
	callers := map[string]string{}
	refresh := ""
	for email, caller := range map[string]string{org.ManagerEmail: "full", learner.Email: "learner"} {
		p, err := st.Login(context.Background(), email, storetest.Password, "")
		if err != nil {
			f.Fatalf("login %s: %v", email, err)
		}
		callers[caller] = p.AccessToken
		if caller == "learner" {
			refresh = p.RefreshToken
		}
	}
	sales, err := st.CreateOrganizationGroup(ctx, "Sales", org.OrganizationGroupID)
	if err != nil {
		f.Fatal(err)
	}
	// Two of each listed record, so that a page of one has a next page.
	course := storetest.MustCreateCourse(f, st, org, "Forklift Safety")
	course2 := storetest.MustCreateCourse(f, st, org, "First Aid Basics")
	group := storetest.MustCreateUserGroup(f, st, org, "New warehouse staff")
	storetest.MustCreateUserGroup(f, st, org, "Drivers")
	if _, err := st.AddUserGroupCourses(ctx, group.ID, []string{course.ID}); err != nil {
		f.Fatal(err)
	}
	if _, err := st.AddUserGroupMembers(ctx, group.ID, []string{learner.ID}); err != nil {
		f.Fatal(err)
	}
	active := lms.InvitationActive
	newInvitation := func(name, passcode string) *lms.Invitation {
		inv, err := st.CreateInvitation(ctx, lms.NewInvitation{Name: name, Passcode: passcode, MaxRegistrations: 100,
			OrganizationGroupID: org.OrganizationGroupID, UserGroupIDs: []string{group.ID}, Status: active})
		if err != nil {
			f.Fatal(err)
		}
		return inv
	}
	inv := newInvitation("Q3 onboarding", "")
	newInvitation("Warehouse onboarding", fuzzPasscode)
	client, err := st.CreateIntegrationClient(ctx, lms.NewIntegrationClient{Name: "HR", Role: lms.RoleLimitedManager})
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzServer{handler: srv.Handler(), tokens: callers, fill: strings.NewReplacer(
		"$ROOT", org.OrganizationGroupID, "$ORG_GROUP", sales.ID, "$ORG", org.OrganizationID,
		"$USER", learner.ID, "$COURSE2", course2.ID, "$COURSE", course.ID, "$GROUP", group.ID, "$INVITATION", inv.ID,
		"$CLIENT", client.Client.ID, "$SECRET", client.Secret, "$EMAIL", org.ManagerEmail,
		"$PASSWORD", storetest.Password, "$REFRESH", refresh, "$PASSCODE", fuzzPasscode)}
}

// fuzzRoute is one operation a fuzz input may pick. token names the
// caller in fuzzServer.tokens; "" sends no Authorization.
type fuzzRoute struct {
	method, path, token string
	// filter is the list's own query parameter beside cursor, limit,
	// sort and q, if it has one.
	filter string
	header map[string]string
}

// bodyRoutes are the operations with a JSON body. An input's first byte
// picks one by its index, so the committed seeds name them by position:
// add routes at the end only.
var bodyRoutes = []fuzzRoute{
	{method: "POST", path: "/api/v1/auth/login"},                                        // 0
	{method: "POST", path: "/api/v1/auth/refresh"},                                      // 1
	{method: "POST", path: "/api/v1/auth/logout"},                                       // 2
	{method: "POST", path: "/api/v1/oauth/token"},                                       // 3
	{method: "POST", path: "/api/v1/redemptions/preview"},                               // 4
	{method: "POST", path: "/api/v1/redemptions"},                                       // 5
	{method: "POST", path: "/api/v1/redemptions/verify"},                                // 6
	{method: "POST", path: "/api/v1/organization-groups", token: "full"},                // 7
	{method: "PATCH", path: "/api/v1/organization-groups/$ORG_GROUP", token: "full"},    // 8
	{method: "POST", path: "/api/v1/users", token: "full"},                              // 9
	{method: "PATCH", path: "/api/v1/users/$USER", token: "full"},                       // 10
	{method: "POST", path: "/api/v1/integration-clients", token: "full"},                // 11
	{method: "POST", path: "/api/v1/courses", token: "full"},                            // 12
	{method: "PATCH", path: "/api/v1/courses/$COURSE", token: "full"},                   // 13
	{method: "POST", path: "/api/v1/user-groups", token: "full"},                        // 14
	{method: "PATCH", path: "/api/v1/user-groups/$GROUP", token: "full"},                // 15
	{method: "POST", path: "/api/v1/user-groups/$GROUP/courses", token: "full"},         // 16
	{method: "POST", path: "/api/v1/user-groups/$GROUP/members", token: "full"},         // 17
	{method: "POST", path: "/api/v1/invitations", token: "full"},                        // 18
	{method: "PATCH", path: "/api/v1/invitations/$INVITATION", token: "full"},           // 19
	{method: "POST", path: "/api/v1/invitations/$INVITATION/deliveries", token: "full"}, // 20
}

// listRoutes are the keyset-paginated lists, picked like bodyRoutes.
var listRoutes = []fuzzRoute{
	{method: "GET", path: "/api/v1/organization-groups", token: "full", filter: "parent_id"},     // 0
	{method: "GET", path: "/api/v1/users", token: "full", filter: "role"},                        // 1
	{method: "GET", path: "/api/v1/integration-clients", token: "full"},                          // 2
	{method: "GET", path: "/api/v1/courses", token: "full"},                                      // 3
	{method: "GET", path: "/api/v1/user-groups", token: "full", filter: "organization_group_id"}, // 4
	{method: "GET", path: "/api/v1/user-groups/$GROUP/courses", token: "full"},                   // 5
	{method: "GET", path: "/api/v1/user-groups/$GROUP/members", token: "full"},                   // 6
	{method: "GET", path: "/api/v1/invitations", token: "full", filter: "status"},                // 7
	{method: "GET", path: "/api/v1/invitations/$INVITATION/deliveries", token: "full"},           // 8
	{method: "GET", path: "/api/v1/invitations/$INVITATION/redemptions", token: "full"},          // 9
	{method: "GET", path: "/api/v1/invitations/$INVITATION/redemptions", token: "full",
		header: map[string]string{"Accept": "text/csv"}}, // 10
	{method: "GET", path: "/api/v1/me/enrollments", token: "learner"}, // 11
}

// send answers r, whose path and body may hold placeholders, and checks
// the answer: wantNoServerError, then the OpenAPI document's word on it.
func (s *fuzzServer) send(t *testing.T, r fuzzRoute, path string, body []byte) {
	t.Helper()
	q := req{method: r.method, path: path, token: s.tokens[r.token], header: r.header}
	if body != nil {
		q.body = []byte(s.fill.Replace(string(body)))
	}
	hr, sent := newRequest(q)
	res := serve(s.handler, hr)
	wantNoServerError(t, r, path, res)
	validateResponse(t, hr, sent, res)
}

// wantNoServerError fails unless res is a 2xx answer or a problem document
// whose status is the answer's: the contract of every API answer to a
// client's mistake, whatever the client sent.
func wantNoServerError(t *testing.T, r fuzzRoute, path string, res *response) {
	t.Helper()
	if res.Status >= 500 {
		t.Fatalf("%s %s answered %d: %s", r.method, path, res.Status, res.Body)
	}
	if res.Status >= 200 && res.Status < 300 {
		return
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s answered %d as %q, not a problem document: %s", r.method, path, res.Status, ct, res.Body)
	}
	var p struct {
		Type   *string `json:"type"`
		Title  *string `json:"title"`
		Status *int    `json:"status"`
	}
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatalf("%s %s answered %d with a problem that is not JSON (%v): %s", r.method, path, res.Status, err, res.Body)
	}
	if p.Type == nil || *p.Type == "" || p.Title == nil || *p.Title == "" || p.Status == nil || *p.Status != res.Status {
		t.Fatalf("%s %s answered %d with a problem lacking type, title or that status: %s", r.method, path, res.Status, res.Body)
	}
	doc, _ := loadSpec(t)
	validateProblem(t, doc, res)
}

// FuzzJSONBodies sends any bytes as the JSON body of any operation that
// reads one. Whatever the body, the answer is a 2xx or a problem document,
// never a 5xx (which a recovered panic also becomes), and it is one the
// OpenAPI document lists for the operation.
func FuzzJSONBodies(f *testing.F) {
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		path := s.fill.Replace(r.path)
		s.send(t, r, path, body)
	})
}

// FuzzListQueries sends any cursor, limit, sort, search text and filter to
// any list, and holds the answer to what FuzzJSONBodies does. present's
// bits 0 to 4 say which of the five parameters the query has, since an
// empty parameter and a missing one are not the same.
func FuzzListQueries(f *testing.F) {
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route, present uint8, cursor, limit, sort, q, filter string) {
		r := listRoutes[int(route)%len(listRoutes)]
		v := url.Values{}
		for i, p := range []struct{ name, value string }{{"cursor", cursor}, {"limit", limit}, {"sort", sort}, {"q", q}, {r.filter, filter}} {
			if present&(1<<i) != 0 && p.name != "" {
				v.Set(p.name, s.fill.Replace(p.value))
			}
		}
		path := s.fill.Replace(r.path)
		if len(v) > 0 {
			path += "?" + v.Encode()
		}
		s.send(t, r, path, nil)
	})
}
