package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/docs"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
	"github.com/enrollkit/enrollkit/pkg/webhook"
)

var (
	specOnce   sync.Once
	spec       *openapi3.T
	specRouter routers.Router
	specErr    error
)

// loadSpec parses docs/openapi.json once per test binary.
func init() {
	// The enrollment page answers HTML; its body is text to the validator.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.FileBodyDecoder)
}

func loadSpec(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		spec, specErr = loader.LoadFromData(docs.OpenAPI)
		if specErr == nil {
			specErr = spec.Validate(context.Background())
		}
		if specErr == nil {
			specRouter, specErr = gorillamux.NewRouter(spec)
		}
	})
	if specErr != nil {
		tb.Fatalf("docs/openapi.json: %v", specErr)
	}
	return spec, specRouter
}

// env is a server on a fresh database with an organization, its people and
// a second organization.
type env struct {
	t       *testing.T
	st      *store.Store
	srv     *api.Server
	handler http.Handler
	org     *storetest.Org
	other   *storetest.Org
	tokens  map[string]string // role name -> access token
	users   map[string]*lms.User
	// mailbox receives what the queue sends, for an env made by
	// newEnvWithMailbox; nil otherwise.
	mailbox *mailtest.Server
	hasher  *auth.Hasher
	// guard is the store's webhook guard.
	guard *webhook.Guard
}

type envOption func(*api.Options)

func newEnv(t *testing.T, dialect string, opts ...envOption) *env {
	t.Helper()
	return newEnvHashing(t, dialect, storetest.NewHasher(), opts...)
}

// newEnvHashing is newEnv with the given password hasher.
func newEnvHashing(t *testing.T, dialect string, h *auth.Hasher, opts ...envOption) *env {
	t.Helper()
	return buildEnv(t, dialect, h, false, opts...)
}

// newEnvWithMailbox is newEnv whose job queue works and sends its emails
// to an in-process SMTP server, e.mailbox.
func newEnvWithMailbox(t *testing.T, dialect string, opts ...envOption) *env {
	t.Helper()
	return buildEnv(t, dialect, storetest.NewHasher(), true, opts...)
}

func buildEnv(t *testing.T, dialect string, h *auth.Hasher, mailbox bool, opts ...envOption) *env {
	t.Helper()
	db := storetest.Open(t, dialect)
	// Development's guard, which lets webhooks reach receivers on
	// 127.0.0.1; a test of production's turns AllowLoopback off before
	// anything is sent.
	guard := &webhook.Guard{AllowLoopback: true}
	st := storetest.NewStoreWith(t, db, h, func(d *store.Deps) { d.WebhookGuard = guard })
	var box *mailtest.Server
	if mailbox {
		box = mailtest.NewServer(t)
		storetest.StartQueue(t, st, box, true)
	} else if _, err := st.NewQueue(store.QueueOptions{Sender: mail.NewFileSender(t.TempDir(), func(string) {})}); err != nil {
		// An insert-only queue: deliveries are recorded but nothing is
		// sent unless a test starts workers of its own.
		t.Fatal(err)
	}
	o := api.Options{
		Services:   storetest.Services(st),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Ready:      func(ctx context.Context) error { return db.Ping(ctx) },
		Throttle:   ratelimit.NewMemory(),
		OpenAPI:    docs.OpenAPI,
		EnrollPage: true,
		Rules: api.ThrottleRules{
			LoginIP:         ratelimit.Rule{Name: "login-ip", Limit: 1000, Period: time.Minute},
			LoginAccount:    ratelimit.Rule{Name: "login-account", Limit: 1000, Period: time.Minute},
			LoginAccountAny: ratelimit.Rule{Name: "login-account-any", Limit: 1000, Period: time.Minute},
			RedeemIP:        ratelimit.Rule{Name: "redeem-ip", Limit: 1000, Period: time.Minute},
		},
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, srv: srv, handler: srv.Handler(), tokens: map[string]string{}, users: map[string]*lms.User{}, mailbox: box, hasher: h,
		guard: guard}
	e.org = storetest.MustCreateOrganization(t, st, "Acme")
	e.other = storetest.MustCreateOrganization(t, st, "Other")
	e.tokens["full"] = e.login(e.org.ManagerEmail)
	e.tokens["other"] = e.login(e.other.ManagerEmail)
	for name, role := range map[string]lms.Role{"limited": lms.RoleLimitedManager, "learner": lms.RoleLearner} {
		u := storetest.MustCreateUser(t, st, e.org, role)
		e.users[name] = u
		e.tokens[name] = e.login(u.Email)
	}
	return e
}

func (e *env) login(email string) string {
	e.t.Helper()
	p, err := e.st.Login(context.Background(), email, storetest.Password, "")
	if err != nil {
		e.t.Fatalf("login %s: %v", email, err)
	}
	return p.AccessToken
}

// integrationClient creates an integration client of role in e's
// organization and returns its ID and an access token from the client
// credentials grant.
func (e *env) integrationClient(role lms.Role) (id, token string) {
	e.t.Helper()
	c, err := e.st.CreateIntegrationClient(e.org.Ctx, lms.NewIntegrationClient{Name: "HR", Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.st.ClientCredentials(context.Background(), c.Client.ID, c.Secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Client.ID, p.AccessToken
}

// response is a recorded answer with its decoded JSON body.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// req describes one request of a test.
type req struct {
	method, path string
	body         any // marshaled to JSON unless it is a string or []byte
	token        string
	header       map[string]string
	remote       string // the client's address and port; httptest's 192.0.2.1:1234 when empty
}

// do sends r through the server and validates the response against the
// OpenAPI document: its status must be documented for the operation and its
// body must match the schema. Unrouted paths must answer a Problem.
func (e *env) do(r req) *response {
	e.t.Helper()
	return doRequest(e.t, e.handler, r)
}

func doRequest(t *testing.T, h http.Handler, r req) *response {
	t.Helper()
	hr, body := newRequest(r)
	res := serve(h, hr)
	validateResponse(t, hr, body, res)
	return res
}

// doAll sends every request at once, each from its own goroutine, and
// validates the answers once all have come back.
func (e *env) doAll(rs []req) []*response {
	e.t.Helper()
	out := make([]*response, len(rs))
	hrs := make([]*http.Request, len(rs))
	bodies := make([][]byte, len(rs))
	for i, r := range rs {
		hrs[i], bodies[i] = newRequest(r)
	}
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() { out[i] = serve(e.handler, hrs[i]) })
	}
	wg.Wait()
	for i, res := range out {
		validateResponse(e.t, hrs[i], bodies[i], res)
	}
	return out
}

// statuses counts answers by status.
func statuses(rs []*response) map[int]int {
	n := map[int]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}

func newRequest(r req) (*http.Request, []byte) {
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		body, _ = json.Marshal(b)
	}
	hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	return hr, body
}

func serve(h http.Handler, hr *http.Request) *response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func validateResponse(t *testing.T, hr *http.Request, body []byte, res *response) {
	t.Helper()
	doc, router := loadSpec(t)
	if strings.HasPrefix(hr.URL.Path, "/swagger") && (res.Status == http.StatusOK || res.Status == http.StatusFound) {
		return // Swagger UI's static files and its redirects are not API operations
	}
	check := httptest.NewRequest(hr.Method, hr.URL.String(), bytes.NewReader(body))
	check.Header = hr.Header.Clone()
	route, params, err := router.FindRoute(check)
	if err != nil {
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s is not in the spec but answered %d", hr.Method, hr.URL.Path, res.Status)
		}
		validateProblem(t, doc, res)
		return
	}
	if route.Operation != nil && route.Operation.Extensions["x-rate-limited"] != true &&
		(res.Header.Get("RateLimit") != "" || res.Header.Get("RateLimit-Policy") != "") {
		t.Fatalf("%s %s sent RateLimit fields, but the document does not mark it x-rate-limited", hr.Method, hr.URL.Path)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  res.Status,
		Header:  res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Fatalf("%s %s answered %d, which does not match the spec: %v\nbody: %s", hr.Method, hr.URL.Path, res.Status, err, res.Body)
	}
}

// validateProblem checks that an answer from outside the spec's routes is a
// problem document.
func validateProblem(t *testing.T, doc *openapi3.T, res *response) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type = %q, want application/problem+json", ct)
	}
	var v any
	if err := json.Unmarshal(res.Body, &v); err != nil {
		t.Fatalf("problem is not JSON: %s", res.Body)
	}
	if err := doc.Components.Schemas["Problem"].Value.VisitJSON(v); err != nil {
		t.Fatalf("not a Problem: %v: %s", err, res.Body)
	}
}

// wantProblem asserts a problem document with the given status and code.
func wantProblem(t *testing.T, res *response, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status = %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type = %q", ct)
	}
	p := res.JSON(t)
	if p["code"] != code {
		t.Fatalf("code = %v, want %s: %s", p["code"], code, res.Body)
	}
	return p
}
