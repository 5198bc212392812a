package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
)

// The stack floor is the least a server on enrollkit's stack does to
// answer the reads (GET /user-groups?limit=50, GET /courses?q=<term> and
// GET /invitations/{id}): net/http, pgx and goccy/go-json, no router,
// middleware, logging, metrics, GORM or domain types. It does what no
// server can skip: the bearer token read from the Authorization header and
// verified by the server's own token issuer (remembered verified tokens
// included); the caller's row and the page or the invitation in one pgx
// batch, the server's own statements (store.PostgresStatements, which the
// pgbench scripts are tested against too); the row judged as the server
// judges it (organization, status, token version, the route's roles); the
// answer encoded with the API's field names, a page with the API's cursor
// and Link header. The benchmark measures it
// beside the API as the throughput the API could reach if its own layers
// cost nothing, and holds the API to a share of it: a ratio to pgbench
// that even the floor cannot reach is the machine's, not the API's.

// floorGroup is one user group as the API encodes it.
type floorGroup struct {
	ID                  string `json:"id"`
	OrganizationID      string `json:"organization_id"`
	OrganizationGroupID string `json:"organization_group_id"`
	Name                string `json:"name"`
	Description         string `json:"description"`
	CourseCount         int64  `json:"course_count"`
	MemberCount         int64  `json:"member_count"`
	CreatedAt           string `json:"created_at"`
	UpdatedAt           string `json:"updated_at"`
}

func scanFloorGroup(rows pgx.Rows) (floorGroup, string, error) {
	var g floorGroup
	var nameKey string
	var created, updated time.Time
	err := rows.Scan(&g.ID, &g.OrganizationID, &g.OrganizationGroupID, &g.Name, &nameKey, &g.Description,
		&created, &updated, &g.CourseCount, &g.MemberCount)
	g.CreatedAt, g.UpdatedAt = floorStamp(created), floorStamp(updated)
	return g, g.ID, err
}

// floorCourse is one course as the API encodes it.
type floorCourse struct {
	ID             string  `json:"id"`
	OrganizationID string  `json:"organization_id"`
	Name           string  `json:"name"`
	Code           *string `json:"code"`
	Description    string  `json:"description"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func scanFloorCourse(rows pgx.Rows) (floorCourse, string, error) {
	var c floorCourse
	var nameKey, search string
	var codeKey *string
	var created, updated time.Time
	err := rows.Scan(&c.ID, &c.OrganizationID, &c.Name, &nameKey, &c.Code, &codeKey, &c.Description, &search,
		&created, &updated)
	c.CreatedAt, c.UpdatedAt = floorStamp(created), floorStamp(updated)
	return c, c.ID, err
}

// floorInvitation is an invitation as the API encodes it, passcode and
// enrollment link included.
type floorInvitation struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Passcode               string   `json:"passcode"`
	MaxRegistrations       int      `json:"max_registrations"`
	RegistrationsUsed      int      `json:"registrations_used"`
	RegistrationsRemaining int      `json:"registrations_remaining"`
	OrganizationGroupID    string   `json:"organization_group_id"`
	UserGroupIDs           []string `json:"user_group_ids"`
	Message                string   `json:"message"`
	Status                 string   `json:"status"`
	ExpiresAt              *string  `json:"expires_at"`
	RequireVerification    bool     `json:"require_email_verification"`
	AllowedEmailDomains    []string `json:"allowed_email_domains"`
	EnrollURL              string   `json:"enroll_url"`
	CreatedBy              *string  `json:"created_by"`
	CreatedAt              string   `json:"created_at"`
	UpdatedAt              string   `json:"updated_at"`
}

func floorStamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// floorSealKeyEnv and floorSecretEnv name the environment variables that
// hand the stack floor the server's passcode seal key and its application
// secret (ENROLLKIT_SECRET, which the access-token key is derived from),
// both in hex and kept off its command line.
const (
	floorSealKeyEnv = "ENROLLKIT_BENCH_FLOOR_SEAL_KEY"
	floorSecretEnv  = "ENROLLKIT_BENCH_FLOOR_SECRET"
)

// floorPageSort is the sort key the server's user group and course lists
// default to (the first of store's allow-lists, ordered by ID alone), which
// their cursors carry; floorAgrees catches a drift.
const floorPageSort = "created_at"

// The roles the server's routes admit (api's routes: the lists are the
// managers', the invitations the Full Managers' only).
var (
	floorManagers     = []lms.Role{lms.RoleFullManager, lms.RoleLimitedManager}
	floorFullManagers = []lms.Role{lms.RoleFullManager}
)

// serveFloor runs the stack floor: `enrollkit-bench floor-serve DATABASE_URL
// ENROLL_PAGE`, the passcode seal key in floorSealKeyEnv and the server's
// secret in floorSecretEnv; ENROLL_PAGE is the enrollment page the API
// links invitations to. The caller and its organization are the token's.
// It listens on a free port of 127.0.0.1, answers under /api/v1 as the
// server does, announces its address as the server does, and ends on
// SIGTERM (the default action).
func serveFloor(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: enrollkit-bench floor-serve DATABASE_URL ENROLL_PAGE")
	}
	dbURL, enrollPage := args[0], args[1]
	sealKey, err := hex.DecodeString(os.Getenv(floorSealKeyEnv))
	if err != nil || len(sealKey) == 0 {
		return errors.New(floorSealKeyEnv + " must hold the passcode seal key in hex")
	}
	secret, err := hex.DecodeString(os.Getenv(floorSecretEnv))
	if err != nil || len(secret) == 0 {
		return errors.New(floorSecretEnv + " must hold the server's secret in hex")
	}
	// The server's issuer, as cmd/enrollkit builds it but for the access
	// TTL, which only Issue reads: Verify checks what the server's does
	// and remembers verified tokens as the server's does.
	tokens, err := auth.NewTokenIssuer(auth.TokenOptions{Secret: secret})
	if err != nil {
		return err
	}
	// The server's statements, as its store builds them.
	stmts, err := store.PostgresStatements()
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = 20 // the server's pool on PostgreSQL
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f := floor{pool: pool, sql: stmts, tokens: tokens, sealKey: sealKey, enrollPage: enrollPage}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/user-groups", func(w http.ResponseWriter, r *http.Request) {
		claims, err := f.verify(r)
		if err != nil {
			floorError(w, err)
			return
		}
		n := floorLimit(r)
		floorReply(&f, w, r, claims, floorManagers, f.sql.UserGroupsPage, []any{claims.OrganizationID, n + 1}, n, scanFloorGroup)
	})
	mux.HandleFunc("GET /api/v1/courses", func(w http.ResponseWriter, r *http.Request) {
		claims, err := f.verify(r)
		if err != nil {
			floorError(w, err)
			return
		}
		n := floorLimit(r)
		pattern := store.SearchPattern(r.URL.Query().Get("q"))
		floorReply(&f, w, r, claims, floorManagers, f.sql.CoursesSearch, []any{claims.OrganizationID, pattern, n + 1}, n, scanFloorCourse)
	})
	mux.HandleFunc("GET /api/v1/invitations/{id}", func(w http.ResponseWriter, r *http.Request) {
		claims, err := f.verify(r)
		if err != nil {
			floorError(w, err)
			return
		}
		body, err := f.invitation(r.Context(), claims, r.PathValue("id"))
		if err != nil {
			floorError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	line, _ := json.Marshal(map[string]string{"msg": "enrollkit listening", "addr": ln.Addr().String()})
	fmt.Println(string(line))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// floor is the stack floor's state: the pool, the server's statements,
// the server's token issuer, and what an invitation's answer needs: the
// key its passcode is sealed with and the enrollment page.
type floor struct {
	pool       *pgxpool.Pool
	sql        *store.Statements
	tokens     *auth.TokenIssuer
	sealKey    []byte
	enrollPage string
}

// The stack floor's refusals, answered 401, 403 and 404 as the server
// answers them.
var (
	errFloorUnauthorized = errors.New("the access token is missing, invalid or no longer valid")
	errFloorForbidden    = errors.New("the caller's role does not admit this route")
	errFloorNotFound     = errors.New("invitation not found")
)

// floorError answers err with the status the server gives it.
func floorError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errFloorUnauthorized):
		code = http.StatusUnauthorized
	case errors.Is(err, errFloorForbidden):
		code = http.StatusForbidden
	case errors.Is(err, errFloorNotFound):
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

// floorMaxAuthorization is api's bound on the Authorization header.
const floorMaxAuthorization = 4096

// verify is what the server does with a read's bearer token before it
// reads anything (api's bearerToken, store's verify and AuthenticateLater):
// the header parsed, the token verified by the server's issuer, the
// subject checked to be an ID and a person. An integration client's token,
// which the server would judge by its client row, the floor refuses: the
// benchmark sends a person's.
func (f *floor) verify(r *http.Request) (*auth.AccessClaims, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(h) > floorMaxAuthorization {
		return nil, errFloorUnauthorized
	}
	claims, err := f.tokens.Verify(strings.TrimSpace(token))
	if err != nil || !lms.ValidID(claims.Subject) || lms.ActorKind(claims.Kind) != lms.ActorUser {
		return nil, errFloorUnauthorized
	}
	return claims, nil
}

// judge reads the caller's row, the first result of br, and judges the
// token by it as the server does (store's judgeUser, then api's role
// check of the settled caller): the person still there, in the token's
// organization, active, not signed out since (the token version), and
// holding, by the row, one of the route's roles.
func judge(br pgx.BatchResults, claims *auth.AccessClaims, roles []lms.Role) error {
	var id, orgID, role, status string
	var version int
	err := br.QueryRow().Scan(&id, &orgID, &role, &status, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return errFloorUnauthorized
	} else if err != nil {
		return err
	}
	if orgID != claims.OrganizationID || status != string(lms.UserActive) || version != claims.TokenVersion {
		return errFloorUnauthorized
	}
	if !slices.Contains(roles, lms.Role(role)) {
		return errFloorForbidden
	}
	return nil
}

func floorLimit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n < 1 || n > 200 {
		n = 50
	}
	return n
}

// floorReply answers one page read: the caller's row and the page
// statement in one round trip, the caller judged, the rows read by scan,
// the page encoded with the server's cursor, and the server's Link header
// to the next page (api's writePage).
func floorReply[T any](f *floor, w http.ResponseWriter, r *http.Request, claims *auth.AccessClaims, roles []lms.Role,
	sql string, args []any, n int, scan func(pgx.Rows) (T, string, error)) {
	body, next, err := floorPage(r.Context(), f, claims, roles, sql, args, n, scan)
	if err != nil {
		floorError(w, err)
		return
	}
	if next != "" {
		u := url.URL{Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("cursor", next)
		u.RawQuery = q.Encode()
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// floorPage reads and encodes one page, returning it and its next cursor.
func floorPage[T any](ctx context.Context, f *floor, claims *auth.AccessClaims, roles []lms.Role,
	sql string, args []any, n int, scan func(pgx.Rows) (T, string, error)) ([]byte, string, error) {
	b := &pgx.Batch{}
	b.Queue(f.sql.Actor, claims.Subject, 1)
	b.Queue(sql, args...)
	br := f.pool.SendBatch(ctx, b)
	defer br.Close()
	if err := judge(br, claims, roles); err != nil {
		return nil, "", err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, "", err
	}
	page := struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}{Data: make([]T, 0, n+1)}
	ids := make([]string, 0, n+1)
	for rows.Next() {
		item, id, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		page.Data, ids = append(page.Data, item), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		// The store's cursor (paginate): the sort, no sort key (the
		// default order is by ID alone) and the last row's ID.
		next = lms.EncodeCursor(floorPageSort, "", ids[n-1])
		page.NextCursor = &next
	}
	body, err := gojson.Marshal(page)
	return body, next, err
}

// invitation answers one invitation: the caller's row and the invitation
// in one round trip, the caller judged, then the invitation's user groups,
// as the server reads them; the passcode opened and the status judged as
// the server does.
func (f *floor) invitation(ctx context.Context, claims *auth.AccessClaims, id string) ([]byte, error) {
	b := &pgx.Batch{}
	b.Queue(f.sql.Actor, claims.Subject, 1)
	b.Queue(f.sql.Invitation, claims.OrganizationID, id, 1)
	br := f.pool.SendBatch(ctx, b)
	if err := judge(br, claims, floorFullManagers); err != nil {
		br.Close()
		return nil, err
	}
	var inv floorInvitation
	var orgID, search, hash, sealed, invStatus, domains string
	var claim *string
	var expires *time.Time
	var created, updated time.Time
	err := br.QueryRow().Scan(&inv.ID, &orgID, &inv.OrganizationGroupID, &inv.Name, &search, &hash, &claim, &sealed,
		&inv.MaxRegistrations, &inv.RegistrationsUsed, &inv.Message, &invStatus, &expires, &inv.RequireVerification, &domains, &inv.CreatedBy, &created, &updated)
	br.Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errFloorNotFound
	} else if err != nil {
		return nil, err
	}
	rows, err := f.pool.Query(ctx, f.sql.InvitationGroups, inv.ID)
	if err != nil {
		return nil, err
	}
	inv.UserGroupIDs, inv.AllowedEmailDomains = []string{}, []string{}
	if domains != "" {
		inv.AllowedEmailDomains = strings.Split(domains, ",")
	}
	for rows.Next() {
		var invID, group string
		if err := rows.Scan(&invID, &group); err != nil {
			rows.Close()
			return nil, err
		}
		inv.UserGroupIDs = append(inv.UserGroupIDs, group)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if inv.Passcode, err = auth.Open(f.sealKey, sealed); err != nil {
		return nil, err
	}
	// The domain's rules, not a copy: only what they read is filled in.
	rule := lms.Invitation{Status: lms.InvitationStatus(invStatus), ExpiresAt: expires,
		MaxRegistrations: inv.MaxRegistrations, RegistrationsUsed: inv.RegistrationsUsed}
	inv.RegistrationsRemaining, inv.Status = rule.RegistrationsRemaining(), string(rule.EffectiveStatus(time.Now()))
	if expires != nil {
		s := floorStamp(*expires)
		inv.ExpiresAt = &s
	}
	inv.EnrollURL = f.enrollPage + "?passcode=" + url.QueryEscape(inv.Passcode)
	inv.CreatedAt, inv.UpdatedAt = floorStamp(created), floorStamp(updated)
	return gojson.Marshal(inv)
}

// measureFloor starts the stack floor against the scale's database and
// drives it as the API's peak run of workload w was driven: the same
// requests (w.floor), with the same bearer token.
func (sr *scaleRun) measureFloor(ctx context.Context, w workload) (*runStats, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := sr.dir + "/floor-" + w.Name + ".log"
	// -server-env reaches the floor too, so that an A/B run changes both
	// sides of the API/floor ratio.
	env := append(append(os.Environ(), floorSealKeyEnv+"="+hex.EncodeToString(sr.t.sealKey),
		floorSecretEnv+"="+hex.EncodeToString(sr.t.secret)), sr.cfg.ServerEnv...)
	page, err := sr.enrollPage(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, exe, []string{"floor-serve", sr.dbURL, page}, env, logPath)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	base := "http://" + srv.addr + "/api/v1"
	if err := sr.floorAgrees(ctx, base, w.floor); err != nil {
		return nil, err
	}
	var n atomic.Uint64
	tr := func(t *vegeta.Target) error {
		jsonTarget(t, "GET", base+w.floor(sr, n.Add(1)), sr.token, nil)
		return nil
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration}
	st := attack(ctx, "stack-floor-peak", tr, mode, expectCodes(http.StatusOK), srv.cmd.Process.Pid)
	if st.OK == 0 {
		return st, fmt.Errorf("the stack floor answered no request with 200: %v %v", st.Codes, st.Unexpected)
	}
	return st, nil
}

// enrollPage is the enrollment page the API links the seeded invitations
// to, read from its answer rather than from its configuration, so that a
// -server-env ENROLLKIT_PUBLIC_URL reaches the floor too.
func (sr *scaleRun) enrollPage(ctx context.Context) (string, error) {
	code, body, err := sr.request(ctx, "GET", "/invitations/"+benchID("inv", 0), sr.token, nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d: %.200s", code, body)
	}
	var inv struct {
		EnrollURL string `json:"enroll_url"`
	}
	if err == nil {
		err = json.Unmarshal(body, &inv)
	}
	page, _, ok := strings.Cut(inv.EnrollURL, "?passcode=")
	if err == nil && !ok {
		err = fmt.Errorf("enroll_url %q carries no passcode", inv.EnrollURL)
	}
	if err != nil {
		return "", fmt.Errorf("the API's enrollment page: %w", err)
	}
	return page, nil
}

// floorAgrees checks that the stack floor answers the workload's first
// requests as the API does: a page with the same rows in the same order,
// the same next cursor and the same Link header, or the same object, field
// for field, in a body of about the same size; and that it refuses, as the
// API does, a request without the token and one with a forged token. A
// floor that did less than the API would flatter the machine.
func (sr *scaleRun) floorAgrees(ctx context.Context, base string, path func(*scaleRun, uint64) string) error {
	for i := range uint64(2) {
		p := path(sr, i)
		var answers [2]map[string]any
		var sizes [2]int
		var links [2]string
		for j, u := range []string{sr.api + p, base + p} {
			code, h, body, err := sr.requestURLHeader(ctx, "GET", u, sr.token, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d: %.200s", code, body)
			}
			if err == nil {
				err = json.Unmarshal(body, &answers[j])
			}
			if err != nil {
				return fmt.Errorf("GET %s: %w", u, err)
			}
			sizes[j], links[j] = len(body), h.Get("Link")
		}
		if _, page := answers[0]["data"]; page {
			api, fl := pageIDs(answers[0]), pageIDs(answers[1])
			if len(api) == 0 || !slices.Equal(api, fl) {
				return fmt.Errorf("the stack floor's %s holds other rows than the API's (%d and %d rows)", p, len(fl), len(api))
			}
			if answers[0]["next_cursor"] != answers[1]["next_cursor"] || links[0] != links[1] {
				return fmt.Errorf("the stack floor's %s continues otherwise than the API's: next_cursor %v and Link %q, not %v and %q",
					p, answers[1]["next_cursor"], links[1], answers[0]["next_cursor"], links[0])
			}
		} else if !reflect.DeepEqual(answers[0], answers[1]) {
			return fmt.Errorf("the stack floor answers %s otherwise than the API: %v, not %v", p, answers[1], answers[0])
		}
		if d := float64(sizes[1]-sizes[0]) / float64(sizes[0]); d < -0.05 || d > 0.05 {
			return fmt.Errorf("the stack floor's %s is %d bytes, the API's %d", p, sizes[1], sizes[0])
		}
	}
	p := path(sr, 0)
	for _, c := range []struct{ what, token string }{{"without a token", ""}, {"with a forged token", forgedToken(sr.token)}} {
		for _, u := range []string{sr.api + p, base + p} {
			code, body, err := sr.requestURL(ctx, "GET", u, c.token, nil)
			if err != nil {
				return fmt.Errorf("GET %s: %w", u, err)
			}
			if code != http.StatusUnauthorized {
				return fmt.Errorf("GET %s %s answered %d, not 401: %.200s", u, c.what, code, body)
			}
		}
	}
	return nil
}

// forgedToken is token with one character of its signature changed.
func forgedToken(token string) string {
	b := []byte(token)
	i := strings.LastIndexByte(token, '.') + 2
	if i >= len(b) {
		return token + "x"
	}
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// pageIDs are the IDs of a decoded page's rows, in order.
func pageIDs(page map[string]any) []string {
	rows, _ := page["data"].([]any)
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		m, _ := r.(map[string]any)
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	return ids
}
