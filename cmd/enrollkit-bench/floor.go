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
)

// The stack floor is the least a server on enrollkit's stack does to
// answer the reads (GET /user-groups?limit=50, GET /courses?q=<term> and
// GET /invitations/{id}): net/http, pgx and goccy/go-json, no router,
// middleware, token, logging, metrics, GORM or domain types; the caller's
// row (of a fixed caller) and the page or the invitation in one pgx batch,
// the same statements as the server's and the pgbench scripts'; the answer
// encoded with the API's field names. The benchmark measures it beside the
// API as the throughput the API could reach if its own layers cost
// nothing, and holds the API to a share of it: a ratio to pgbench that
// even the floor cannot reach is the machine's, not the API's.

const floorActorSQL = `SELECT id, organization_id, role, status, token_version FROM users WHERE id = $1 LIMIT $2`

const floorGroupsSQL = `SELECT user_groups.id, user_groups.organization_id, user_groups.organization_group_id,
	user_groups.name, user_groups.description, user_groups.created_at, user_groups.updated_at,
	(SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count,
	(SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count
	FROM user_groups WHERE organization_id = $1 ORDER BY id ASC LIMIT $2`

// floorCoursesSQL is the server's search page statement, every column it
// reads included (store.FindCourses).
const floorCoursesSQL = `SELECT id, organization_id, name, name_key, code, code_key, description, search, created_at, updated_at
	FROM courses WHERE organization_id = $1 AND search LIKE $2 ESCAPE '\' ORDER BY id ASC LIMIT $3`

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
	var created, updated time.Time
	err := rows.Scan(&g.ID, &g.OrganizationID, &g.OrganizationGroupID, &g.Name, &g.Description,
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

// floorInvitationSQL and floorInvitationGroupsSQL are the server's
// statements for one invitation and its user groups
// (store.FindInvitationByID).
const (
	floorInvitationSQL = `SELECT id, organization_id, organization_group_id, name, search, passcode_hash, passcode_claim,
	passcode_sealed, max_registrations, registrations_used, message, status, expires_at, created_by, created_at, updated_at
	FROM invitations WHERE organization_id = $1 AND id = $2 LIMIT $3`
	floorInvitationGroupsSQL = `SELECT invitation_id, user_group_id FROM invitation_user_groups
	WHERE invitation_id IN ($1) ORDER BY user_group_id`
)

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
	EnrollURL              string   `json:"enroll_url"`
	CreatedBy              *string  `json:"created_by"`
	CreatedAt              string   `json:"created_at"`
	UpdatedAt              string   `json:"updated_at"`
}

func floorStamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// floorLikeEscaper and the pattern built with it copy store.searchPattern:
// the floor imports nothing of the API's, and floorAgrees catches a drift.
var floorLikeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// floorSealKeyEnv names the environment variable that hands the stack
// floor the server's passcode seal key (hex), kept off its command line.
const floorSealKeyEnv = "ENROLLKIT_BENCH_FLOOR_SEAL_KEY"

// serveFloor runs the stack floor: `enrollkit-bench floor-serve DATABASE_URL
// ORGANIZATION_ID MANAGER_ID ENROLL_PAGE`, the passcode seal key in
// floorSealKeyEnv; ENROLL_PAGE is the enrollment page the API links
// invitations to. It listens on a free port of 127.0.0.1, answers under
// /api/v1 as the server does, announces its address as the server does,
// and ends on SIGTERM (the default action).
func serveFloor(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: enrollkit-bench floor-serve DATABASE_URL ORGANIZATION_ID MANAGER_ID ENROLL_PAGE")
	}
	dbURL, org, manager, enrollPage := args[0], args[1], args[2], args[3]
	sealKey, err := hex.DecodeString(os.Getenv(floorSealKeyEnv))
	if err != nil || len(sealKey) == 0 {
		return errors.New(floorSealKeyEnv + " must hold the passcode seal key in hex")
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
	f := floor{pool: pool, org: org, manager: manager, sealKey: sealKey, enrollPage: enrollPage}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/user-groups", func(w http.ResponseWriter, r *http.Request) {
		n := floorLimit(r)
		floorReply(&f, w, r, floorGroupsSQL, []any{org, n + 1}, n, scanFloorGroup)
	})
	mux.HandleFunc("GET /api/v1/courses", func(w http.ResponseWriter, r *http.Request) {
		n := floorLimit(r)
		pattern := "%" + floorLikeEscaper.Replace(strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))) + "%"
		floorReply(&f, w, r, floorCoursesSQL, []any{org, pattern, n + 1}, n, scanFloorCourse)
	})
	mux.HandleFunc("GET /api/v1/invitations/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, err := f.invitation(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			http.Error(w, "invitation not found", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
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

// floor is the stack floor's state: the pool, the fixed caller, and what
// an invitation's answer needs: the key its passcode is sealed with and
// the enrollment page.
type floor struct {
	pool         *pgxpool.Pool
	org, manager string
	sealKey      []byte
	enrollPage   string
}

func floorLimit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n < 1 || n > 200 {
		n = 50
	}
	return n
}

// floorReply answers one page read: the caller's row and the page
// statement in one round trip, the rows read by scan, the page encoded.
func floorReply[T any](f *floor, w http.ResponseWriter, r *http.Request, sql string, args []any, n int, scan func(pgx.Rows) (T, string, error)) {
	body, err := floorPage(r.Context(), f, sql, args, n, scan)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func floorPage[T any](ctx context.Context, f *floor, sql string, args []any, n int, scan func(pgx.Rows) (T, string, error)) ([]byte, error) {
	b := &pgx.Batch{}
	b.Queue(floorActorSQL, f.manager, 1)
	b.Queue(sql, args...)
	br := f.pool.SendBatch(ctx, b)
	defer br.Close()
	var id, orgID, role, status string
	var version int
	if err := br.QueryRow().Scan(&id, &orgID, &role, &status, &version); err != nil {
		return nil, err
	}
	if orgID != f.org || status != "active" {
		return nil, errors.New("the caller may not read this")
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	page := struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}{Data: make([]T, 0, n+1)}
	ids := make([]string, 0, n+1)
	for rows.Next() {
		item, id, err := scan(rows)
		if err != nil {
			return nil, err
		}
		page.Data, ids = append(page.Data, item), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		next := ids[n-1] // not a real cursor: only its size matters here
		page.NextCursor = &next
	}
	return gojson.Marshal(page)
}

// invitation answers one invitation: the caller's row and the invitation
// in one round trip, then its user groups, as the server reads them; the
// passcode opened and the status judged as the server does.
func (f *floor) invitation(ctx context.Context, id string) ([]byte, error) {
	b := &pgx.Batch{}
	b.Queue(floorActorSQL, f.manager, 1)
	b.Queue(floorInvitationSQL, f.org, id, 1)
	br := f.pool.SendBatch(ctx, b)
	var actorID, orgID, role, status string
	var version int
	if err := br.QueryRow().Scan(&actorID, &orgID, &role, &status, &version); err != nil {
		br.Close()
		return nil, err
	}
	if orgID != f.org || status != "active" {
		br.Close()
		return nil, errors.New("the caller may not read this")
	}
	var inv floorInvitation
	var search, hash, sealed, invStatus string
	var claim *string
	var expires *time.Time
	var created, updated time.Time
	err := br.QueryRow().Scan(&inv.ID, &orgID, &inv.OrganizationGroupID, &inv.Name, &search, &hash, &claim, &sealed,
		&inv.MaxRegistrations, &inv.RegistrationsUsed, &inv.Message, &invStatus, &expires, &inv.CreatedBy, &created, &updated)
	br.Close()
	if err != nil {
		return nil, err
	}
	rows, err := f.pool.Query(ctx, floorInvitationGroupsSQL, inv.ID)
	if err != nil {
		return nil, err
	}
	inv.UserGroupIDs = []string{}
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
// requests (w.floor), without the token the floor does not read.
func (sr *scaleRun) measureFloor(ctx context.Context, w workload) (*runStats, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := sr.dir + "/floor-" + w.Name + ".log"
	// -server-env reaches the floor too, so that an A/B run changes both
	// sides of the API/floor ratio.
	env := append(append(os.Environ(), floorSealKeyEnv+"="+hex.EncodeToString(sr.t.sealKey)), sr.cfg.ServerEnv...)
	page, err := sr.enrollPage(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, exe, []string{"floor-serve", sr.dbURL, sr.t.OrganizationID, sr.t.ManagerID, page}, env, logPath)
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
		jsonTarget(t, "GET", base+w.floor(sr, n.Add(1)), "", nil)
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
// in a body of about the same size (the floor's cursor is shorter), or the
// same object, field for field. A floor that read less than the API would
// flatter the machine.
func (sr *scaleRun) floorAgrees(ctx context.Context, base string, path func(*scaleRun, uint64) string) error {
	for i := range uint64(2) {
		p := path(sr, i)
		var answers [2]map[string]any
		var sizes [2]int
		for j, u := range []string{sr.api + p, base + p} {
			code, body, err := sr.requestURL(ctx, "GET", u, sr.token, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d: %.200s", code, body)
			}
			if err == nil {
				err = json.Unmarshal(body, &answers[j])
			}
			if err != nil {
				return fmt.Errorf("GET %s: %w", u, err)
			}
			sizes[j] = len(body)
		}
		if _, page := answers[0]["data"]; page {
			api, fl := pageIDs(answers[0]), pageIDs(answers[1])
			if len(api) == 0 || !slices.Equal(api, fl) {
				return fmt.Errorf("the stack floor's %s holds other rows than the API's (%d and %d rows)", p, len(fl), len(api))
			}
		} else if !reflect.DeepEqual(answers[0], answers[1]) {
			return fmt.Errorf("the stack floor answers %s otherwise than the API: %v, not %v", p, answers[1], answers[0])
		}
		if d := float64(sizes[1]-sizes[0]) / float64(sizes[0]); d < -0.05 || d > 0.05 {
			return fmt.Errorf("the stack floor's %s is %d bytes, the API's %d", p, sizes[1], sizes[0])
		}
	}
	return nil
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
