package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

func TestProblemsForBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	big := `{"email":"` + strings.Repeat("a", 2<<20) + `","password":"x"}`
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"unknown route", req{method: "GET", path: "/api/v1/nope"}, 404, lms.ENotFound},
		{"wrong method", req{method: "PUT", path: "/api/v1/auth/login"}, 405, "method_not_allowed"},
		{"malformed JSON", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":`}, 400, lms.EBadRequest},
		{"not an object", req{method: "POST", path: "/api/v1/auth/login", body: `[1,2]`}, 400, lms.EBadRequest},
		{"empty body", req{method: "POST", path: "/api/v1/auth/login", body: ``}, 400, lms.EBadRequest},
		{"unknown field", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"a@b.co","password":"x","admin":true}`}, 400, lms.EBadRequest},
		{"wrong type", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":5}`}, 400, lms.EBadRequest},
		{"trailing data", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"a@b.co","password":"x"} {}`}, 400, lms.EBadRequest},
		{"2 MiB body", req{method: "POST", path: "/api/v1/auth/login", body: big}, 413, lms.ETooLarge},
		{"2 MiB after the object", req{method: "POST", path: "/api/v1/auth/login", body: `{"email":"a@b.co","password":"x"}` + strings.Repeat(" ", 2<<20)}, 413, lms.ETooLarge},
		{"wrong content type", req{method: "POST", path: "/api/v1/auth/login", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media"},
		{"limit too large", req{method: "GET", path: "/api/v1/users?limit=201", token: "full"}, 400, lms.EBadRequest},
		{"unknown sort", req{method: "GET", path: "/api/v1/users?sort=password_hash", token: "full"}, 400, lms.EBadRequest},
		{"tampered cursor", req{method: "GET", path: "/api/v1/users?cursor=eyJzIjoiY3JlYXRlZF9hdCJ9", token: "full"}, 400, lms.EBadRequest},
		{"validation", req{method: "POST", path: "/api/v1/users", body: map[string]string{"email": "nope"}, token: "full"}, 422, lms.EInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if r.token != "" {
				r.token = e.tokens[r.token]
			}
			p := wantProblem(t, e.do(r), tc.status, tc.code)
			if !strings.HasPrefix(p["instance"].(string), "urn:request:") {
				t.Errorf("instance = %v", p["instance"])
			}
		})
	}
	t.Run("validation lists the fields", func(t *testing.T) {
		p := wantProblem(t, e.do(req{method: "POST", path: "/api/v1/users", token: e.tokens["full"],
			body: map[string]string{"email": "nope", "role": "boss"}}), 422, lms.EInvalid)
		if n := len(p["errors"].([]any)); n != 4 {
			t.Fatalf("errors = %v", p["errors"])
		}
	})
	t.Run("a body over the limit without Content-Length", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/api/v1/auth/login", io.MultiReader(strings.NewReader(`{"email":"`), strings.NewReader(strings.Repeat("a", 2<<20)), strings.NewReader(`"}`)))
		r.ContentLength = -1
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		if rec.Code != 413 {
			t.Fatalf("status = %d", rec.Code)
		}
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		before, _ := e.st.FindUsers(e.org.Ctx, lms.UserFilter{PageRequest: lms.PageRequest{Limit: 200}})
		e.do(req{method: "POST", path: "/api/v1/users", token: e.tokens["full"], body: map[string]any{"email": "ok@example.com", "first_name": "A", "last_name": "B", "role": "learner", "password": "password"}})
		e.do(req{method: "POST", path: "/api/v1/users", token: e.tokens["full"], body: `{"email":"ok2@example.com","first_name":"A","last_name":"B","role":"learner","extra":1}`})
		after, _ := e.st.FindUsers(e.org.Ctx, lms.UserFilter{PageRequest: lms.PageRequest{Limit: 200}})
		if len(after.Items) != len(before.Items) {
			t.Fatalf("refused requests created users: %d -> %d", len(before.Items), len(after.Items))
		}
	})
}

func TestRequestIDsAndHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) { o.CORSOrigins = []string{"https://app.example.com"} })
	res := e.do(req{method: "GET", path: "/api/v1/nope", header: map[string]string{"X-Request-ID": "client-chosen-id-42"}})
	if res.Header.Get("X-Request-ID") != "client-chosen-id-42" || res.JSON(t)["instance"] != "urn:request:client-chosen-id-42" {
		t.Fatalf("request ID not echoed: %v %s", res.Header, res.Body)
	}
	res = e.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "bad id\nwith newline"}})
	if id := res.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("insane request ID kept: %q", id)
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
		if res.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	// Answers to a signed-in caller are never cached (finding 10): every
	// authenticated route, errors included.
	for _, path := range []string{"/api/v1/me", "/api/v1/users/" + e.users["learner"].ID, "/api/v1/users",
		"/api/v1/user-groups", "/api/v1/courses", "/api/v1/users/not-an-id"} {
		if res := e.do(req{method: "GET", path: path, token: e.tokens["full"]}); res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, res.Header.Get("Cache-Control"))
		}
	}
	res = e.do(req{method: "GET", path: "/healthz", header: map[string]string{"Origin": "https://app.example.com"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("allowed origin not answered: %v", res.Header)
	}
	res = e.do(req{method: "GET", path: "/healthz", header: map[string]string{"Origin": "https://evil.example.com"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", res.Header)
	}
}

// panickingUsers fails in the most unexpected way.
type panickingUsers struct{ lms.UserService }

func (panickingUsers) FindUsers(context.Context, lms.UserFilter) (*lms.Page[*lms.User], error) {
	panic("SELECT secret FROM somewhere")
}

func TestPanicBecomesBare500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Services.Users = panickingUsers{o.Services.Users}
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	res := e.do(req{method: "GET", path: "/api/v1/users", token: e.tokens["full"]})
	wantProblem(t, res, 500, lms.EInternal)
	if bytes.Contains(res.Body, []byte("SELECT")) {
		t.Fatalf("500 leaks internals: %s", res.Body)
	}
	if !strings.Contains(logs.String(), "SELECT secret") || !strings.Contains(logs.String(), res.Header.Get("X-Request-ID")) {
		t.Fatalf("panic not logged with the request ID: %s", logs.String())
	}
}

func TestJWTNegatives(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	key := auth.DeriveKey(storetest.Secret, "enrollkit access token v1")
	now := time.Now()
	valid := jwt.MapClaims{"iss": "enrollkit", "aud": "enrollkit-api", "sub": e.org.ManagerID, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "jti": "x", "knd": "user", "org": e.org.OrganizationID, "role": "full_manager", "ver": 0}
	sign := func(method jwt.SigningMethod, k any, claims jwt.MapClaims, edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for n, v := range claims {
			c[n] = v
		}
		if edit != nil {
			edit(c)
		}
		tok := jwt.NewWithClaims(method, c)
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := func(edit func(jwt.MapClaims)) string { return sign(jwt.SigningMethodHS256, key, valid, edit) }
	// The control: a hand-made token with the real key is accepted.
	if res := e.do(req{method: "GET", path: "/api/v1/me", token: hs(nil)}); res.Status != 200 {
		t.Fatalf("control token refused: %s", res.Body)
	}
	good := hs(nil)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("full_manager"), []byte("full_managex"), 1)) + "." + parts[2]
	refresh, err := e.st.Login(context.Background(), e.org.ManagerEmail, storetest.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid, nil),
		"wrong key":        sign(jwt.SigningMethodHS256, []byte("another-key-another-key-another-key!"), valid, nil),
		"raw secret key":   sign(jwt.SigningMethodHS256, storetest.Secret, valid, nil),
		"HS512":            sign(jwt.SigningMethodHS512, key, valid, nil),
		"expired":          hs(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }),
		"nbf in future":    hs(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }),
		"missing exp":      hs(func(c jwt.MapClaims) { delete(c, "exp") }),
		"missing sub":      hs(func(c jwt.MapClaims) { delete(c, "sub") }),
		"missing aud":      hs(func(c jwt.MapClaims) { delete(c, "aud") }),
		"wrong iss":        hs(func(c jwt.MapClaims) { c["iss"] = "someone-else" }),
		"wrong aud":        hs(func(c jwt.MapClaims) { c["aud"] = "another-api" }),
		"other org claim":  hs(func(c jwt.MapClaims) { c["org"] = e.other.OrganizationID }),
		"old version":      hs(func(c jwt.MapClaims) { c["ver"] = 7 }),
		"tampered payload": tampered,
		"refresh token":    refresh.RefreshToken,
		"oversized":        good + strings.Repeat("A", 5000),
		"garbage":          "not.a.jwt",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			res := e.do(req{method: "GET", path: "/api/v1/me", token: tok})
			wantProblem(t, res, 401, lms.EUnauthorized)
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("no scheme", func(t *testing.T) {
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": good}}), 401, lms.EUnauthorized)
	})
}

// TestReadsJudgeTheCallerBeforeAnswering covers the reads whose caller's
// row is read with the handler's first query (authenticateReads): whatever
// the handler found, a changed account is answered as on any other route,
// and nothing of the handler's answer (not even a header) goes out.
func TestReadsJudgeTheCallerBeforeAnswering(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		var logs bytes.Buffer
		e := newEnv(t, dialect, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		first := storetest.MustCreateUserGroup(t, e.st, e.org, "First")
		storetest.MustCreateUserGroup(t, e.st, e.org, "Second")
		patch := func(id string, body map[string]string) {
			t.Helper()
			if res := e.do(req{method: "PATCH", path: "/api/v1/users/" + id, token: e.tokens["full"], body: body}); res.Status != 200 {
				t.Fatalf("PATCH user: %d %s", res.Status, res.Body)
			}
		}

		for i := range 2 {
			if _, err := e.st.CreateInvitation(e.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: fmt.Sprintf("Wave %d", i), Passcode: fmt.Sprintf("Quiet-Lark-%d7", i),
				MaxRegistrations: 5, UserGroupIDs: []string{first.ID}, OrganizationGroupID: e.org.OrganizationGroupID, Status: lms.InvitationActive}); err != nil {
				t.Fatal(err)
			}
		}

		// Demoted: the session ends; the token claiming Full Manager is
		// refused before the handler writes anything.
		mgr := storetest.MustCreateUser(t, e.st, e.org, lms.RoleFullManager)
		tok := e.login(mgr.Email)
		if res := e.do(req{method: "GET", path: "/api/v1/invitations?limit=1", token: tok}); res.Status != 200 || res.Header.Get("Link") == "" {
			t.Fatalf("invitations before the demotion: %d, Link %q", res.Status, res.Header.Get("Link"))
		}
		if res := e.do(req{method: "GET", path: "/api/v1/user-groups?limit=1", token: tok}); res.Status != 200 || res.Header.Get("Link") == "" {
			t.Fatalf("first page: %d, Link %q", res.Status, res.Header.Get("Link"))
		}
		patch(mgr.ID, map[string]string{"role": "limited_manager"})
		res := e.do(req{method: "GET", path: "/api/v1/invitations?limit=1", token: tok})
		wantProblem(t, res, 401, lms.EUnauthorized)
		if res.Header.Get("Link") != "" {
			t.Fatalf("refused answer carries the handler's Link header %q", res.Header.Get("Link"))
		}
		tok = e.login(mgr.Email)
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations?limit=1", token: tok}), 403, lms.EInsufficientRole)
		if res := e.do(req{method: "GET", path: "/api/v1/user-groups?limit=1", token: tok}); res.Status != 200 {
			t.Fatalf("limited manager refused a read it may make: %d %s", res.Status, res.Body)
		}

		// Promoted: the old session ends too; a new one has the new role.
		promoted := storetest.MustCreateUser(t, e.st, e.org, lms.RoleLimitedManager)
		ptok := e.login(promoted.Email)
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations", token: ptok}), 403, lms.EInsufficientRole)
		patch(promoted.ID, map[string]string{"role": "full_manager"})
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations", token: ptok}), 401, lms.EUnauthorized)
		if res := e.do(req{method: "GET", path: "/api/v1/invitations", token: e.login(promoted.Email)}); res.Status != 200 {
			t.Fatalf("promoted manager signed in again: %d %s", res.Status, res.Body)
		}
		patch(mgr.ID, map[string]string{"role": "full_manager"})
		tok = e.login(mgr.Email)
		if res := e.do(req{method: "GET", path: "/api/v1/invitations", token: tok}); res.Status != 200 {
			t.Fatalf("manager promoted back: %d %s", res.Status, res.Body)
		}

		// An integration client's row is read before the handler runs;
		// deleted, it is refused on its next read.
		clientID, clientToken := e.integrationClient(lms.RoleLimitedManager)
		if res := e.do(req{method: "GET", path: "/api/v1/users", token: clientToken}); res.Status != 200 {
			t.Fatalf("integration client read: %d %s", res.Status, res.Body)
		}
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations", token: clientToken}), 403, lms.EInsufficientRole)
		if err := e.st.DeleteIntegrationClient(e.org.Ctx, clientID); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/users", token: clientToken}), 401, lms.EUnauthorized)

		// Disabled: 401 whatever the handler would have answered.
		patch(mgr.ID, map[string]string{"status": "disabled"})
		for _, path := range []string{
			"/api/v1/user-groups?limit=1",                                   // a page
			"/api/v1/courses?q=safety",                                      // a search
			"/api/v1/invitations/" + "0190a4c6-0000-7000-8000-000000000000", // not found
			"/api/v1/user-groups/not-an-id",                                 // not found before any query
			"/api/v1/users?cursor=garbage",                                  // a bad request
			"/api/v1/integration-clients",                                   // a route the claimed role passes
		} {
			res := e.do(req{method: "GET", path: path, token: tok})
			wantProblem(t, res, 401, lms.EUnauthorized)
			if res.Header.Get("Link") != "" || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("GET %s: headers %v", path, res.Header)
			}
		}
		// Writes are judged before the handler runs, as everywhere.
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/user-groups", token: tok, body: map[string]string{"name": "x"}}), 401, lms.EUnauthorized)

		// Signed out everywhere (a new password) counts the same.
		lim := storetest.MustCreateUser(t, e.st, e.org, lms.RoleLimitedManager)
		ltok := e.login(lim.Email)
		patch(lim.ID, map[string]string{"password": "another-Long-passphrase-7"})
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/courses", token: ltok}), 401, lms.EUnauthorized)

		// The access log names no actor for a 401, whatever the token said.
		refused := 0
		for line := range strings.Lines(logs.String()) {
			var entry struct {
				Msg     string `json:"msg"`
				Status  int    `json:"status"`
				ActorID string `json:"actor_id"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "request" && entry.Status == 401 {
				refused++
				if entry.ActorID != "" {
					t.Fatalf("401 logged with an actor: %s", line)
				}
			}
		}
		if refused == 0 {
			t.Fatal("no 401 in the access log")
		}
	})
}

func TestAccountChangesActOnTheNextRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	mgr := storetest.MustCreateUser(t, e.st, e.org, lms.RoleFullManager)
	tok := e.login(mgr.Email)
	if res := e.do(req{method: "GET", path: "/api/v1/integration-clients", token: tok}); res.Status != 200 {
		t.Fatalf("full manager refused: %d", res.Status)
	}
	e.do(req{method: "PATCH", path: "/api/v1/users/" + mgr.ID, token: e.tokens["full"], body: map[string]string{"role": "limited_manager"}})
	// A new role ends the session; the next one has the new role.
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/integration-clients", token: tok}), 401, lms.EUnauthorized)
	tok = e.login(mgr.Email)
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/integration-clients", token: tok}), 403, lms.EInsufficientRole)
	e.do(req{method: "PATCH", path: "/api/v1/users/" + mgr.ID, token: e.tokens["full"], body: map[string]string{"status": "disabled"}})
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/users", token: tok}), 401, lms.EUnauthorized)

	res := e.do(req{method: "POST", path: "/api/v1/integration-clients", token: e.tokens["full"], body: map[string]string{"name": "HR", "role": "full_manager"}})
	created := res.JSON(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	r := httptest.NewRequest("POST", "/api/v1/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(created["client_id"].(string), created["client_secret"].(string))
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("client credentials with Basic and a form: %d %s", rec.Code, rec.Body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(rec.Body.Bytes(), &tr)
	me := e.do(req{method: "GET", path: "/api/v1/me", token: tr.AccessToken}).JSON(t)
	if me["kind"] != "client" || me["role"] != "full_manager" {
		t.Fatalf("client me = %v", me)
	}
	e.do(req{method: "DELETE", path: "/api/v1/integration-clients/" + created["id"].(string), token: e.tokens["full"]})
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me", token: tr.AccessToken}), 401, lms.EUnauthorized)
}

// TestSessionsEnd: disabling an account or changing its password ends
// every session at once: its access tokens are refused on the next
// request and its refresh tokens never work again, re-enabled or not; a
// sign-out ends the access token with the refresh token, on both databases.
func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		full := e.tokens["full"]
		signIn := func(email string) (access, refresh string) {
			p := e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": storetest.Password}}).JSON(t)
			return p["access_token"].(string), p["refresh_token"].(string)
		}
		refreshes := func(refresh string) bool {
			return e.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": refresh}}).Status == 200
		}
		for _, change := range []struct {
			name   string
			change map[string]string
			undo   map[string]string
		}{
			{"disabled", map[string]string{"status": "disabled"}, map[string]string{"status": "active"}},
			{"a new password", map[string]string{"password": "An0ther-Passw0rd-entirely"}, map[string]string{"password": storetest.Password}},
		} {
			u := storetest.MustCreateUser(t, e.st, e.org, lms.RoleFullManager)
			access, refresh := signIn(u.Email)
			e.do(req{method: "PATCH", path: "/api/v1/users/" + u.ID, token: full, body: change.change})
			wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me", token: access}), 401, lms.EUnauthorized)
			if refreshes(refresh) {
				t.Fatalf("%s: the refresh token still works", change.name)
			}
			if res := e.do(req{method: "PATCH", path: "/api/v1/users/" + u.ID, token: full, body: change.undo}); res.Status != 200 {
				t.Fatalf("%s: undoing: %d %s", change.name, res.Status, res.Body)
			}
			if refreshes(refresh) {
				t.Fatalf("%s: the refresh token works again once the change is undone", change.name)
			}
			wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me", token: access}), 401, lms.EUnauthorized)
		}
		// A name change ends nothing.
		u := storetest.MustCreateUser(t, e.st, e.org, lms.RoleLearner)
		access, refresh := signIn(u.Email)
		e.do(req{method: "PATCH", path: "/api/v1/users/" + u.ID, token: full, body: map[string]string{"first_name": "Renamed"}})
		if res := e.do(req{method: "GET", path: "/api/v1/me", token: access}); res.Status != 200 {
			t.Fatalf("a renamed user's session ended: %d", res.Status)
		}
		// Signing out ends the access token too, not only the refresh token.
		if res := e.do(req{method: "POST", path: "/api/v1/auth/logout", body: map[string]string{"refresh_token": refresh}}); res.Status != 204 {
			t.Fatalf("logout: %d", res.Status)
		}
		wantProblem(t, e.do(req{method: "GET", path: "/api/v1/me", token: access}), 401, lms.EUnauthorized)
		if refreshes(refresh) {
			t.Fatal("the refresh token works after a sign-out")
		}
		if again, _ := signIn(u.Email); e.do(req{method: "GET", path: "/api/v1/me", token: again}).Status != 200 {
			t.Fatal("a fresh sign-in after a sign-out does not work")
		}
	})
}

func TestRefreshReuseRevokesTheFamilyOverHTTP(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	login := e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": e.org.ManagerEmail, "password": storetest.Password}}).JSON(t)
	first := login["refresh_token"].(string)
	second := e.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first}}).JSON(t)["refresh_token"].(string)
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": first}}), 401, lms.EUnauthorized)
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": second}}), 401, lms.EUnauthorized)
	for _, secret := range []string{storetest.Password, first, second, login["access_token"].(string)} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret reached the logs: %s", logs.String())
		}
	}
}

// TestControlCharactersAreRefused: a NUL, CR/LF or a bidirectional
// override in any text field is a clear 400 or 422 that changes nothing, on
// both databases (PostgreSQL refuses a NUL in text, which was a 500).
func TestControlCharactersAreRefused(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		full := e.tokens["full"]
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Clean-Text-5521", 5)}).JSON(t)
		redeem := func(first, last, email, passcode string) req {
			return req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": passcode, "email": email,
				"first_name": first, "last_name": last, "password": storetest.Password}}
		}
		for _, tc := range []struct {
			name   string
			r      req
			status int
			code   string
		}{
			{"NUL in a login email", req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "a\u0000@example.com", "password": "whatever-it-is"}}, 400, lms.EBadRequest},
			{"NUL in a first name", redeem("Gr\u0000ace", "Hopper", "g1@example.com", "Clean-Text-5521"), 422, lms.EInvalid},
			{"CR/LF in a last name", redeem("Grace", "Hopper\r\nBcc: x@example.com", "g2@example.com", "Clean-Text-5521"), 422, lms.EInvalid},
			{"a right-to-left override in a name", redeem("Grace\u202egpj.exe", "Hopper", "g3@example.com", "Clean-Text-5521"), 422, lms.EInvalid},
			{"a bidirectional isolate in a name", redeem("\u2067Grace", "Hopper", "g4@example.com", "Clean-Text-5521"), 422, lms.EInvalid},
			{"NUL in an email", redeem("Grace", "Hopper", "g5\u0000@example.com", "Clean-Text-5521"), 422, lms.EInvalid},
			{"NUL in a passcode", redeem("Grace", "Hopper", "g6@example.com", "Clean-Text-5521\u0000"), 422, lms.EInvalid},
			{"NUL in a previewed passcode", req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]string{"passcode": "Clean\u0000Text"}}, 422, lms.EInvalid},
			{"NUL in a search", req{method: "GET", path: "/api/v1/users?q=%00", token: full}, 400, lms.EBadRequest},
			{"a line feed in a course search", req{method: "GET", path: "/api/v1/courses?q=a%0Ab", token: full}, 400, lms.EBadRequest},
			{"NUL in an invitation search", req{method: "GET", path: "/api/v1/invitations?q=%00", token: full}, 400, lms.EBadRequest},
			{"NUL in a user group search", req{method: "GET", path: "/api/v1/user-groups?q=%00", token: full}, 400, lms.EBadRequest},
			{"invalid UTF-8 in a search", req{method: "GET", path: "/api/v1/users?q=%ff", token: full}, 400, lms.EBadRequest},
			{"NUL in a course name", req{method: "POST", path: "/api/v1/courses", token: full, body: map[string]string{"name": "Safety\u0000", "code": "S-1"}}, 422, lms.EInvalid},
			{"a bidirectional override in a course description", req{method: "POST", path: "/api/v1/courses", token: full, body: map[string]string{"name": "Safety", "code": "S-2", "description": "fine\u202e"}}, 422, lms.EInvalid},
			{"NUL in an invitation message", req{method: "POST", path: "/api/v1/invitations", token: full, body: func() map[string]any {
				b := e.newInvitationBody("Other-Text-7731", 5)
				b["message"] = "Welcome\u0000"
				return b
			}()}, 422, lms.EInvalid},
			{"a control character in a chosen passcode", req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Ctrl\u0007Code-4417", 5)}, 422, lms.EInvalid},
			{"CR/LF in a user's name", req{method: "POST", path: "/api/v1/users", token: full, body: map[string]string{"email": "u@example.com", "first_name": "U\r\nX", "last_name": "V", "role": "learner"}}, 422, lms.EInvalid},
		} {
			wantProblem(t, e.do(tc.r), tc.status, tc.code)
		}
		// Nothing was written; plain text with a line feed in a description
		// and a zero-width joiner in a name are still accepted.
		got := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: full}).JSON(t)
		if got["registrations_used"].(float64) != 0 {
			t.Fatalf("a refused redemption changed the invitation: %v", got)
		}
		if res := e.do(req{method: "POST", path: "/api/v1/courses", token: full, body: map[string]string{"name": "Safety", "code": "S-3", "description": "line one\nline two"}}); res.Status != 201 {
			t.Fatalf("a multi-line description: %d %s", res.Status, res.Body)
		}
		if res := e.do(redeem("Mehr\u200cdad", "Hopper", "m@example.com", "Clean-Text-5521")); res.Status != 201 {
			t.Fatalf("a name with a zero-width non-joiner: %d %s", res.Status, res.Body)
		}
	})
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules = api.ThrottleRules{
			LoginIP:      ratelimit.Rule{Name: "login-ip", Limit: 30, Period: 15 * time.Minute},
			LoginAccount: ratelimit.Rule{Name: "login-account", Limit: 10, Period: 15 * time.Minute},
		}
	})
	wrong := map[string]string{"email": e.org.ManagerEmail, "password": "wrong-password-1"}
	unknown := e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "nobody@example.com", "password": "wrong-password-1"}}).JSON(t)
	throttled := 0
	for i := range 20 {
		// A forged X-Forwarded-For must not give the attacker a fresh IP.
		res := e.do(req{method: "POST", path: "/api/v1/auth/login", body: wrong, header: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}})
		switch res.Status {
		case 401:
			p := res.JSON(t)
			if p["detail"] != unknown["detail"] || p["code"] != unknown["code"] {
				t.Fatalf("wrong password and unknown email answer differently: %v vs %v", p, unknown)
			}
		case 429:
			throttled++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d", res.Status)
		}
	}
	if throttled < 9 {
		t.Fatalf("only %d of 20 rapid wrong logins were throttled", throttled)
	}
	// The account is throttled even with the right password now.
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": e.org.ManagerEmail, "password": storetest.Password}}), 429, lms.ERateLimited)
	// Other accounts from the same IP still sign in: only failures count.
	if res := e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": e.users["learner"].Email, "password": storetest.Password}}); res.Status != 200 {
		t.Fatalf("another account was throttled: %d", res.Status)
	}
}

func TestTrustedProxySetsTheClientIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.TrustedProxies = []string{"192.0.2.1"}
		o.Rules.LoginIP = ratelimit.Rule{Name: "login-ip", Limit: 2, Period: time.Hour}
	})
	try := func(xff string) int {
		r := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"email":"x@example.com","password":"wrong-password-1"}`))
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		return rec.Code
	}
	try("198.51.100.7")
	try("198.51.100.7")
	if got := try("198.51.100.7"); got != 429 {
		t.Fatalf("third failure from one client behind the proxy: %d, want 429", got)
	}
	if got := try("198.51.100.8"); got != 401 {
		t.Fatalf("another client behind the trusted proxy: %d, want 401", got)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	e.do(req{method: "GET", path: "/api/v1/users", token: e.tokens["full"]})
	// Metrics are not a route of the API; the process serves them apart.
	wantProblem(t, e.do(req{method: "GET", path: "/metrics"}), 404, lms.ENotFound)
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	for _, want := range []string{`enrollkit_http_requests_total{method="GET",route="/api/v1/users",status="200"}`, "enrollkit_http_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	doc := e.do(req{method: "GET", path: "/openapi.json"}).JSON(t)
	if !strings.HasPrefix(doc["openapi"].(string), "3.") {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	// Swagger UI: the page, and its static files read from the binary.
	if res := e.do(req{method: "GET", path: "/swagger/index.html"}); res.Status != 200 || !strings.Contains(string(res.Body), "Swagger UI") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("swagger index = %d %v %.200s", res.Status, res.Header, res.Body)
	}
	// The UI reads this server's document, not the bundle's example.
	if res := e.do(req{method: "GET", path: "/swagger/swagger-initializer.js"}); res.Status != 200 ||
		!strings.Contains(string(res.Body), `url: "/openapi.json"`) || strings.Contains(string(res.Body), "petstore") {
		t.Fatalf("swagger initializer = %d %.300s", res.Status, res.Body)
	}
	for _, file := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"} {
		if res := e.do(req{method: "GET", path: "/swagger/" + file}); res.Status != 200 || len(res.Body) < 1000 {
			t.Fatalf("swagger %s = %d", file, res.Status)
		}
	}
	wantProblem(t, e.do(req{method: "GET", path: "/swagger/../openapi.json"}), 404, lms.ENotFound)
	for _, path := range []string{"/swagger", "/swagger/"} {
		if res := e.do(req{method: "GET", path: path}); res.Status != 302 || res.Header.Get("Location") != "/swagger/index.html" {
			t.Fatalf("GET %s: %d, Location %q", path, res.Status, res.Header.Get("Location"))
		}
	}
	if res := e.do(req{method: "GET", path: "/swagger/swagger-initializer.js"}); res.Status != 200 || !strings.Contains(string(res.Body), "/openapi.json") {
		t.Fatalf("swagger initializer = %d %.200s", res.Status, res.Body)
	}
	res := e.do(req{method: "GET", path: "/swagger/swagger-ui-bundle.js"})
	if res.Status != 200 || len(res.Body) < 100_000 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("swagger bundle = %d, %d bytes, %s", res.Status, len(res.Body), res.Header.Get("Content-Type"))
	}
	if res := e.do(req{method: "GET", path: "/swagger/swagger-ui.css"}); res.Status != 200 || len(res.Body) == 0 {
		t.Fatalf("swagger css = %d, %d bytes", res.Status, len(res.Body))
	}
	// An odd first request must not break the files for everyone after.
	for _, first := range []string{"/swagger/x/swagger-ui.css", "/swagger/swagger-ui.css?v=/swagger-ui.js"} {
		odd := newEnv(t, "sqlite")
		odd.do(req{method: "GET", path: first})
		if res := odd.do(req{method: "GET", path: "/swagger/swagger-ui.css"}); res.Status != 200 || len(res.Body) == 0 {
			t.Fatalf("swagger css after a first GET %s = %d, %d bytes", first, res.Status, len(res.Body))
		}
	}
	if res := e.do(req{method: "GET", path: "/swagger/doc.json"}); res.Status != 404 {
		t.Errorf("a file Swagger UI does not have = %d", res.Status)
	}
	for _, m := range []string{"PUT", "DELETE", "MKCOL"} {
		if res := e.do(req{method: m, path: "/swagger/swagger-ui.css"}); res.Status < 400 {
			t.Errorf("%s on a Swagger UI file = %d", m, res.Status)
		}
	}
	notReady := newEnv(t, "sqlite", func(o *api.Options) {
		o.Ready = func(context.Context) error { return fmt.Errorf("migrations pending") }
	})
	if res := notReady.do(req{method: "GET", path: "/readyz"}); res.Status != 503 {
		t.Fatalf("readyz = %d", res.Status)
	}
}

func TestListPagesLinkToTheNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	seen := map[string]bool{}
	path := "/api/v1/users?limit=2&sort=email"
	for path != "" {
		res := e.do(req{method: "GET", path: path, token: e.tokens["limited"]})
		var page struct {
			Data       []struct{ ID string } `json:"data"`
			NextCursor *string               `json:"next_cursor"`
		}
		json.Unmarshal(res.Body, &page)
		for _, u := range page.Data {
			if seen[u.ID] {
				t.Fatalf("user %s twice", u.ID)
			}
			seen[u.ID] = true
		}
		path = ""
		if page.NextCursor != nil {
			link := res.Header.Get("Link")
			if !strings.HasSuffix(link, `>; rel="next"`) {
				t.Fatalf("Link = %q", link)
			}
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("saw %d users, want 3", len(seen))
	}
}

// TestIPv6ClientsAreThrottledByTheirNetwork: a client given a /64 cannot
// reset a per-IP limit by moving to another address of it; another /64,
// and an IPv4 client, keep their own counts.
func TestIPv6ClientsAreThrottledByTheirNetwork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.LoginIP = ratelimit.Rule{Name: "login-ip", Limit: 2, Period: time.Hour}
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 2, Period: time.Hour}
	})
	try := func(path, body, from string) int {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = from
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, r)
		return rec.Code
	}
	for _, tc := range []struct {
		path, body string
		fails      int
	}{
		{"/api/v1/auth/login", `{"email":"x@example.com","password":"wrong-password-1"}`, 401},
		{"/api/v1/redemptions/preview", `{"passcode":"Guess-Guess-0001"}`, 404},
	} {
		for i, from := range []string{"[2001:db8:1:2::a]:1234", "[2001:db8:1:2:ffff:ffff:ffff:fff0]:1234"} {
			if got := try(tc.path, tc.body, from); got != tc.fails {
				t.Fatalf("%s, failure %d from %s: %d, want %d", tc.path, i+1, from, got, tc.fails)
			}
		}
		if got := try(tc.path, tc.body, "[2001:db8:1:2::c]:1234"); got != 429 {
			t.Fatalf("%s, a third address of the same /64: %d, want 429", tc.path, got)
		}
		for _, from := range []string{"[2001:db8:1:3::c]:1234", "192.0.2.9:1234"} {
			if got := try(tc.path, tc.body, from); got != tc.fails {
				t.Fatalf("%s from %s, outside the throttled /64: %d, want %d", tc.path, from, got, tc.fails)
			}
		}
	}
}

// TestIPv6SitesAreThrottledAsAWhole: wrong passcodes spread over the /64s
// of one /48 meet the site's looser limit; correct passcodes from it are
// refused with the rest once it is spent, and another /48 is not affected.
func TestIPv6SitesAreThrottledAsAWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 2, Period: time.Hour}
		o.Rules.RedeemSite = ratelimit.Rule{Name: "redeem-site", Limit: 3, Period: time.Hour}
	})
	e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Site-Wide-8803", 5)})
	preview := func(passcode, from string) *response {
		return e.do(req{method: "POST", path: "/api/v1/redemptions/preview", remote: from, body: map[string]string{"passcode": passcode}})
	}
	for _, from := range []string{"[2001:db8:7:1::1]:1", "[2001:db8:7:1::2]:1", "[2001:db8:7:2::1]:1"} {
		wantProblem(t, preview("Guess-Guess-0001", from), 404, lms.EPasscodeInvalid)
	}
	for _, passcode := range []string{"Guess-Guess-0002", "Site-Wide-8803"} {
		res := preview(passcode, "[2001:db8:7:3::1]:1")
		wantProblem(t, res, 429, lms.ERateLimited)
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	wantProblem(t, preview("Guess-Guess-0003", "[2001:db8:8:3::1]:1"), 404, lms.EPasscodeInvalid)
	if res := preview("Site-Wide-8803", "192.0.2.44:1"); res.Status != 200 {
		t.Fatalf("an IPv4 client: %d", res.Status)
	}
}

// TestNobodyCanLockTheOwnerOut: wrong passwords from other addresses block
// those addresses for the account, never the owner's; once the
// account-wide budget is spent, attempts are slowed down, not refused. The
// same holds for a redemption's wrong password on an existing account.
func TestNobodyCanLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.LoginIP = ratelimit.Rule{Name: "login-ip", Limit: 1000, Period: time.Hour}
		o.Rules.LoginAccount = ratelimit.Rule{Name: "login-account", Limit: 3, Period: time.Hour}
		// Spent by the 12 failures below, refilled one a second.
		o.Rules.LoginAccountAny = ratelimit.Rule{Name: "login-account-any", Limit: 12, Period: 12 * time.Second}
	})
	owner := e.org.ManagerEmail
	login := func(password, from string) *response {
		return e.do(req{method: "POST", path: "/api/v1/auth/login", remote: from, body: map[string]string{"email": owner, "password": password}})
	}
	count := map[int]int{}
	for i := range 4 {
		for range 4 {
			count[login("wrong-password-1", fmt.Sprintf("198.51.100.%d:1", i)).Status]++
		}
	}
	// Each of the 4 addresses: 3 failures, then 429.
	if count[401] != 12 || count[429] != 4 {
		t.Fatalf("16 wrong sign-ins from 4 addresses: %v, want 12 x 401 and 4 x 429", count)
	}
	start := time.Now()
	if res := login(storetest.Password, "203.0.113.50:1"); res.Status != 200 {
		t.Fatalf("the owner from their own address: %d %s", res.Status, res.Body)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("the spent account-wide budget did not slow the attempt down (%s)", waited)
	}
	wantProblem(t, login(storetest.Password, "198.51.100.0:1"), 429, lms.ERateLimited)
	// A redemption's wrong password counts the same way: per address.
	owner = e.users["learner"].Email
	e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Lock-Out-5510", 5)})
	for range 3 {
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", remote: "192.0.2.77:1", body: map[string]string{"passcode": "Lock-Out-5510",
			"email": owner, "first_name": "O", "last_name": "Wner", "password": "wrong-password-1"}}), 401, lms.EUnauthorized)
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", remote: "192.0.2.77:1", body: map[string]string{"passcode": "Lock-Out-5510",
		"email": owner, "password": storetest.Password}}), 429, lms.ERateLimited)
	if res := e.do(req{method: "POST", path: "/api/v1/redemptions", remote: "203.0.113.50:1", body: map[string]string{"passcode": "Lock-Out-5510",
		"email": owner, "password": storetest.Password}}); res.Status != 201 {
		t.Fatalf("the owner redeeming from their own address: %d %s", res.Status, res.Body)
	}
}

// TestAReadThatBranchesOnTheRoleFailsLoudly: under the reads' shortcut the
// caller's row is not read yet when the handler starts, so its context has
// no actor to take a role from. A handler (or a service) that reads one
// anyway gets nil and fails with a 500 in its first test, not a silent
// empty role; one that settles the caller first (lms.CallerFromContext)
// gets the role the row holds.
func TestAReadThatBranchesOnTheRoleFailsLoudly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	e.srv.ReadRoute("/api/v1/role-unsettled", func(c *gin.Context) {
		c.String(http.StatusOK, string(lms.ActorFromContext(c.Request.Context()).Role))
	})
	e.srv.ReadRoute("/api/v1/role-settled", func(c *gin.Context) {
		a, err := lms.CallerFromContext(c.Request.Context())
		if err != nil {
			c.String(http.StatusUnauthorized, err.Error())
			return
		}
		c.String(http.StatusOK, string(a.Role))
	})
	get := func(path string) *response {
		hr := httptest.NewRequest("GET", path, nil)
		hr.Header.Set("Authorization", "Bearer "+e.tokens["full"])
		return serve(e.handler, hr) // not an operation of the document
	}
	if res := get("/api/v1/role-unsettled"); res.Status != http.StatusInternalServerError {
		t.Errorf("a handler reading the unsettled caller's role answered %d %s, want a 500", res.Status, res.Body)
	}
	if res := get("/api/v1/role-settled"); res.Status != http.StatusOK || string(res.Body) != string(lms.RoleFullManager) {
		t.Errorf("a handler settling the caller first answered %d %s", res.Status, res.Body)
	}
}
