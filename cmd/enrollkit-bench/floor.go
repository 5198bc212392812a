package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The stack floor is the least a server on enrollkit's stack does to
// answer GET /user-groups?limit=50: net/http, pgx and goccy/go-json, no
// router, middleware, token, logging, metrics, GORM or domain types; the
// caller's row (of a fixed caller) and the page in one pgx batch, the same
// statements as the server's and the pgbench script's; the page encoded
// with the API's field names. The benchmark measures it beside the API as
// the throughput the API could reach if its own layers cost nothing, so a
// ratio to pgbench that even the floor cannot reach is shown to be the
// machine's, not the API's.

const floorActorSQL = `SELECT id, organization_id, role, status, token_version FROM users WHERE id = $1 LIMIT $2`

const floorPageSQL = `SELECT user_groups.id, user_groups.organization_id, user_groups.organization_group_id,
	user_groups.name, user_groups.description, user_groups.created_at, user_groups.updated_at,
	(SELECT count(*) FROM user_group_courses gc WHERE gc.user_group_id = user_groups.id) AS course_count,
	(SELECT count(*) FROM user_group_members gm WHERE gm.user_group_id = user_groups.id) AS member_count
	FROM user_groups WHERE organization_id = $1 ORDER BY id ASC LIMIT $2`

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

// serveFloor runs the stack floor: `enrollkit-bench floor-serve DATABASE_URL
// ORGANIZATION_ID MANAGER_ID`. It listens on a free port of 127.0.0.1,
// announces it as the server does, and ends on SIGTERM (the default
// action).
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /user-groups", func(w http.ResponseWriter, r *http.Request) {
		body, err := floorPage(r.Context(), pool, org, manager, r.URL.Query().Get("limit"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	line, _ := json.Marshal(map[string]string{"msg": "enrollkit listening", "addr": ln.Addr().String()})
	fmt.Println(string(line))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// floorPage reads the caller's row and a page of user groups in one round
// trip and encodes the page.
func floorPage(ctx context.Context, pool *pgxpool.Pool, org, manager, limit string) ([]byte, error) {
	n, err := strconv.Atoi(limit)
	if err != nil || n < 1 || n > 200 {
		n = 50
	}
	b := &pgx.Batch{}
	b.Queue(floorActorSQL, manager, 1)
	b.Queue(floorPageSQL, org, n+1)
	br := pool.SendBatch(ctx, b)
	defer br.Close()
	var id, orgID, role, status string
	var version int
	if err := br.QueryRow().Scan(&id, &orgID, &role, &status, &version); err != nil {
		return nil, err
	}
	if orgID != org || status != "active" {
		return nil, errors.New("the caller may not read this")
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	page := struct {
		Data       []floorGroup `json:"data"`
		NextCursor *string      `json:"next_cursor"`
	}{Data: make([]floorGroup, 0, n+1)}
	for rows.Next() {
		var g floorGroup
		var created, updated time.Time
		if err := rows.Scan(&g.ID, &g.OrganizationID, &g.OrganizationGroupID, &g.Name, &g.Description,
			&created, &updated, &g.CourseCount, &g.MemberCount); err != nil {
			return nil, err
		}
		g.CreatedAt, g.UpdatedAt = created.UTC().Format(time.RFC3339Nano), updated.UTC().Format(time.RFC3339Nano)
		page.Data = append(page.Data, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Data) > n {
		page.Data = page.Data[:n]
		next := page.Data[n-1].ID // not a real cursor: only its size matters here
		page.NextCursor = &next
	}
	return gojson.Marshal(page)
}

// measureFloor starts the stack floor against the scale's database and
// drives it exactly as the API's peak run was driven.
func (sr *scaleRun) measureFloor(ctx context.Context) (*runStats, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := sr.dir + "/floor.log"
	srv, err := startServer(ctx, exe, []string{"floor-serve", sr.dbURL, sr.t.OrganizationID, sr.t.ManagerID}, os.Environ(), logPath)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	url := "http://" + srv.addr + "/user-groups?limit=50"
	tr := func(t *vegeta.Target) error {
		jsonTarget(t, "GET", url, "", nil)
		return nil
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration}
	st := attack(ctx, "stack-floor-peak", tr, mode, expectCodes(http.StatusOK), srv.cmd.Process.Pid)
	if st.OK == 0 {
		return st, fmt.Errorf("the stack floor answered no request with 200: %v %v", st.Codes, st.Unexpected)
	}
	return st, nil
}
