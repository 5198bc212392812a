package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The stack floor is the least a server on enrollkit's stack does to
// answer the list and search reads (GET /user-groups?limit=50 and GET
// /courses?q=<term>): net/http, pgx and goccy/go-json, no router,
// middleware, token, logging, metrics, GORM or domain types; the caller's
// row (of a fixed caller) and the page in one pgx batch, the same
// statements as the server's and the pgbench scripts'; the page encoded
// with the API's field names. The benchmark measures it beside the API as
// the throughput the API could reach if its own layers cost nothing, so a
// ratio to pgbench that even the floor cannot reach is shown to be the
// machine's, not the API's.

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

func floorStamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// floorLikeEscaper and the pattern built with it copy store.searchPattern:
// the floor imports nothing of the API's, and floorAgrees catches a drift.
var floorLikeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// serveFloor runs the stack floor: `enrollkit-bench floor-serve DATABASE_URL
// ORGANIZATION_ID MANAGER_ID`. It listens on a free port of 127.0.0.1,
// answers under /api/v1 as the server does, announces its address as the
// server does, and ends on SIGTERM (the default action).
func serveFloor(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: enrollkit-bench floor-serve DATABASE_URL ORGANIZATION_ID MANAGER_ID")
	}
	dbURL, org, manager := args[0], args[1], args[2]
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
	f := floor{pool: pool, org: org, manager: manager}
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
	line, _ := json.Marshal(map[string]string{"msg": "enrollkit listening", "addr": ln.Addr().String()})
	fmt.Println(string(line))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// floor is the stack floor's state: the pool and the fixed caller.
type floor struct {
	pool         *pgxpool.Pool
	org, manager string
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
	env := append(os.Environ(), sr.cfg.ServerEnv...)
	srv, err := startServer(ctx, exe, []string{"floor-serve", sr.dbURL, sr.t.OrganizationID, sr.t.ManagerID}, env, logPath)
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
		jsonTarget(t, "GET", base+w.floor(n.Add(1)), "", nil)
		return nil
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration}
	st := attack(ctx, "stack-floor-peak", tr, mode, expectCodes(http.StatusOK), srv.cmd.Process.Pid)
	if st.OK == 0 {
		return st, fmt.Errorf("the stack floor answered no request with 200: %v %v", st.Codes, st.Unexpected)
	}
	return st, nil
}

// floorAgrees checks that the stack floor answers the workload's first
// requests as the API does: the same rows in the same order, in a body of
// about the same size (the floor's cursor is shorter). A floor that read
// less than the API would flatter the machine.
func (sr *scaleRun) floorAgrees(ctx context.Context, base string, path func(uint64) string) error {
	type page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	for i := range uint64(2) {
		var pages [2]page
		var sizes [2]int
		for j, u := range []string{sr.api + path(i), base + path(i)} {
			code, body, err := sr.requestURL(ctx, "GET", u, sr.token, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d: %.200s", code, body)
			}
			if err == nil {
				err = json.Unmarshal(body, &pages[j])
			}
			if err != nil {
				return fmt.Errorf("GET %s: %w", u, err)
			}
			sizes[j] = len(body)
		}
		if len(pages[0].Data) == 0 || !slices.Equal(pages[0].Data, pages[1].Data) {
			return fmt.Errorf("the stack floor's %s holds other rows than the API's (%d and %d rows)", path(i), len(pages[1].Data), len(pages[0].Data))
		}
		if d := float64(sizes[1]-sizes[0]) / float64(sizes[0]); d < -0.05 || d > 0.05 {
			return fmt.Errorf("the stack floor's %s is %d bytes, the API's %d", path(i), sizes[1], sizes[0])
		}
	}
	return nil
}
