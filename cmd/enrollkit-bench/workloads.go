package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// redeemPassword is the password of every learner the redemption workloads
// register: long enough and uncommon, so that the password policy accepts
// it and the server hashes it.
const redeemPassword = "Bench-redemption-password-2026"

// scaleRun is one scale's running server and seeded organization, as the
// workloads see them.
type scaleRun struct {
	cfg   *config
	spec  scale
	log   *logger
	runID string
	api   string // http://127.0.0.1:port/api/v1
	token string // the Full Manager's access token
	t     *tenant
	db    *pgx.Conn
	dbURL string
	// env is the scale's server's environment.
	env    []string
	dir    string // scratch directory for the pgbench scripts
	client *http.Client
	// serverPID is the server process, whose CPU time is recorded.
	serverPID int
	// bin is the server binary, defaultThrottleEnv the environment in
	// which a workload that starts its own server runs it: the scale's,
	// with the throttles at the server's defaults; throttles says so, or
	// which of them -server-env set. logDir is where the server logs go.
	bin                string
	defaultThrottleEnv []string
	throttles          string
	logDir             string

	// spreadPeak is the spread redemption's peak throughput, which sizes
	// the hot invitation.
	spreadPeak float64
	// nextCourse hands out the courses not yet in the large group.
	nextCourse atomic.Int64
	// seq numbers the learners the redemption workloads register.
	seq atomic.Int64
}

// listPath is the list workload's request, the same every time.
func listPath(*scaleRun, uint64) string { return "/user-groups?limit=50" }

// searchPath is the search workload's i-th request: the terms in turn.
func searchPath(_ *scaleRun, i uint64) string {
	return "/courses?q=" + url.QueryEscape(searchTerms[i%uint64(len(searchTerms))])
}

// invitationPath is the get-invitation workload's i-th request: every
// seeded invitation once in each round of as many requests, in an order
// that jumps across the table (the multiplier is a prime, so coprime
// with the count), the same for the API and its stack floor.
func invitationPath(sr *scaleRun, i uint64) string {
	return "/invitations/" + benchID("inv", int(i*2_654_435_761%uint64(sr.spec.Invitations)))
}

// workload is one thing the API is measured doing.
type workload struct {
	Name     string
	Endpoint string
	// Read workloads are held to the read targets (ratio to pgbench,
	// p99 at half of peak, growth).
	Read bool
	// Hashing workloads compute one argon2id hash per request; their
	// primary reference is the hash rate.
	Hashing bool
	// floor, for the workloads the stack floor (floor.go) answers too,
	// is the path (under /api/v1) of the i-th request of a run; the floor
	// is driven like the peak run, right after it.
	floor func(sr *scaleRun, i uint64) string
	// besideIdle: the peak run is repeated, after every workload of the
	// scale, while the server holds idleConns idle keep-alive connections
	// (idle.go).
	besideIdle bool
	// crowd: the closed loop is run once more, after every workload of the
	// scale, with crowdClients clients at once (idle.go), and the server's
	// peak RSS over it is judged.
	crowd bool
	// hashFloor, for a hashing workload, is the pgbench script of its
	// statement: the hash rate is measured once more while pgbench runs it
	// at the peak's rate (see measureHashFloor). Its throughput over the
	// floor's hash rate is the target named after hashTarget.
	hashFloor  *pgbenchSpec
	hashTarget string
	// sizesHot: the peak run's throughput sizes the hot invitation
	// (planHotRedemption), so the workload must run before the hot one.
	sizesHot bool
	// lightRate, for the workloads held to the growth target, is the rate
	// of a fixed-rate run that is the same at both scales, so that between
	// the scales' runs nothing but the data changes (see growth).
	lightRate float64
	// probe is a request that tells whether the endpoint exists without
	// changing anything (404 "no route" when it does not).
	probe func(sr *scaleRun) (method, path string, body []byte)
	// plan prepares one run: phase is "peak" (closed loop) or "rate";
	// hits is how many requests a fixed-rate run will send.
	plan func(ctx context.Context, sr *scaleRun, phase string, hits uint64) (*runPlan, error)
	// refs are the pgbench references; the first is the primary one for
	// workloads that do not hash.
	refs func(sr *scaleRun) []pgbenchSpec
	// own, for a workload whose shape is none of the above, runs it whole,
	// against a server of its own started after the scale's has stopped;
	// scale, when set, is the only scale it runs at.
	own   func(ctx context.Context, sr *scaleRun, w workload, hash *hashRate) *workloadResult
	scale string
	// officeBurst: the workload's result carries an office burst
	// (burstResult), judged by the burst's correctness targets.
	officeBurst bool
}

// runPlan is what one run of a workload needs.
type runPlan struct {
	targeter vegeta.Targeter
	expect   func(int) bool
	// maxHits, when not zero, ends the run after that many requests.
	maxHits uint64
	// untilMaxHits makes the run last until maxHits were sent, whatever
	// the duration (a correctness run that must fill its seats).
	untilMaxHits bool
	// verify checks the database after the run.
	verify func(ctx context.Context, st *runStats) []check
}

// pgbenchSpec is one pgbench reference of a workload.
type pgbenchSpec struct {
	Script string
	Vars   map[string]string
	// reset prepares the database before the run (seat counters).
	reset func(ctx context.Context) error
}

// workloadNames lists the workloads for -workloads, in their order.
func workloadNames() string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// The light runs' rates: a read takes well under a millisecond of each
// side's CPU, a redemption one hash (about 15 ms of a core).
const (
	readLightRate   = 200
	redeemLightRate = 20
)

// workloads are run in this order: the spread redemption must precede the
// hot one, whose seats it sizes (run alone, the hot one gets 200 seats).
// The office burst runs last, on its own server (see runScale).
var workloads = []workload{
	{
		Name: "login", Endpoint: "POST /api/v1/auth/login", Hashing: true,
		plan: func(_ context.Context, sr *scaleRun, _ string, _ uint64) (*runPlan, error) {
			body, _ := json.Marshal(map[string]string{"email": sr.t.ManagerEmail, "password": sr.t.ManagerPassword,
				"organization_id": sr.t.OrganizationID})
			return &runPlan{expect: expectCodes(200), targeter: func(t *vegeta.Target) error {
				jsonTarget(t, "POST", sr.api+"/auth/login", "", body)
				return nil
			}}, nil
		},
		refs: func(sr *scaleRun) []pgbenchSpec { return []pgbenchSpec{{Script: "login.sql"}} },
	},
	{
		Name: "list_user_groups", Endpoint: "GET /api/v1/user-groups?limit=50", Read: true, floor: listPath, besideIdle: true, crowd: true,
		lightRate: readLightRate,
		probe:     func(sr *scaleRun) (string, string, []byte) { return "GET", "/user-groups?limit=1", nil },
		plan: func(_ context.Context, sr *scaleRun, _ string, _ uint64) (*runPlan, error) {
			return &runPlan{expect: expectCodes(200), targeter: func(t *vegeta.Target) error {
				jsonTarget(t, "GET", sr.api+listPath(sr, 0), sr.token, nil)
				return nil
			}}, nil
		},
		refs: func(sr *scaleRun) []pgbenchSpec { return []pgbenchSpec{{Script: "list_user_groups.sql"}} },
	},
	{
		Name: "search_courses", Endpoint: "GET /api/v1/courses?q=<term>", Read: true, floor: searchPath,
		lightRate: readLightRate,
		probe:     func(sr *scaleRun) (string, string, []byte) { return "GET", "/courses?limit=1&q=x", nil },
		plan: func(_ context.Context, sr *scaleRun, _ string, _ uint64) (*runPlan, error) {
			var n atomic.Uint64
			return &runPlan{expect: expectCodes(200), targeter: func(t *vegeta.Target) error {
				jsonTarget(t, "GET", sr.api+searchPath(sr, n.Add(1)), sr.token, nil)
				return nil
			}}, nil
		},
		refs: func(sr *scaleRun) []pgbenchSpec { return []pgbenchSpec{{Script: "search_courses.sql"}} },
	},
	{
		Name: "get_invitation", Endpoint: "GET /api/v1/invitations/{id}", Read: true, floor: invitationPath,
		lightRate: readLightRate,
		probe:     func(sr *scaleRun) (string, string, []byte) { return "GET", "/invitations/" + benchID("inv", 0), nil },
		plan: func(_ context.Context, sr *scaleRun, _ string, _ uint64) (*runPlan, error) {
			var n atomic.Uint64
			return &runPlan{expect: expectCodes(200), targeter: func(t *vegeta.Target) error {
				jsonTarget(t, "GET", sr.api+invitationPath(sr, n.Add(1)), sr.token, nil)
				return nil
			}}, nil
		},
		refs: func(sr *scaleRun) []pgbenchSpec { return []pgbenchSpec{{Script: "get_invitation.sql"}} },
	},
	{
		Name: "redeem_spread", Endpoint: "POST /api/v1/redemptions (200 invitations)", Hashing: true,
		hashFloor:  &pgbenchSpec{Script: "redeem_tx.sql", Vars: map[string]string{"tag": "pgbinv", "n": strconv.Itoa(pgbenchPool)}},
		hashTarget: "redemption", sizesHot: true, crowd: true,
		lightRate: redeemLightRate,
		probe:     func(sr *scaleRun) (string, string, []byte) { return "POST", "/redemptions", []byte(`{}`) },
		plan: func(_ context.Context, sr *scaleRun, phase string, _ uint64) (*runPlan, error) {
			return &runPlan{expect: expectCodes(201), targeter: func(t *vegeta.Target) error {
				n := sr.seq.Add(1)
				jsonTarget(t, "POST", sr.api+"/redemptions", "", sr.redemptionBody(passcode(int(n%redeemPool)), n))
				return nil
			}}, nil
		},
		refs: func(sr *scaleRun) []pgbenchSpec {
			reset := sr.resetSeats("pgbinv")
			return []pgbenchSpec{
				{Script: "redeem_tx.sql", Vars: map[string]string{"tag": "pgbinv", "n": strconv.Itoa(pgbenchPool)}, reset: reset},
				{Script: "seat_spread.sql", Vars: map[string]string{"n": strconv.Itoa(pgbenchPool)}, reset: reset},
			}
		},
	},
	{
		Name: "redeem_hot", Endpoint: "POST /api/v1/redemptions (one invitation)", Hashing: true,
		probe: func(sr *scaleRun) (string, string, []byte) { return "POST", "/redemptions", []byte(`{}`) },
		plan:  planHotRedemption,
		refs: func(sr *scaleRun) []pgbenchSpec {
			reset := sr.resetSeats("pgbhot")
			return []pgbenchSpec{
				{Script: "redeem_tx.sql", Vars: map[string]string{"tag": "pgbhot", "n": "1"}, reset: reset},
				{Script: "seat_hot.sql", reset: reset},
			}
		},
	},
	{
		Name: "add_courses_large_group", Endpoint: "POST /api/v1/user-groups/{id}/courses",
		probe: func(sr *scaleRun) (string, string, []byte) {
			return "POST", "/user-groups/" + sr.t.LargeGroupID + "/courses", []byte(`{}`)
		},
		plan: planAddCourses,
		refs: func(sr *scaleRun) []pgbenchSpec { return []pgbenchSpec{{Script: "add_courses.sql"}} },
	},
	{
		// One scale only: the burst is about the hash path and the
		// throttle, which the size of the tables does not change.
		Name: "office_burst", Endpoint: "POST /api/v1/redemptions (one office: one invitation, one address)",
		own: runOfficeBurst, scale: "small", officeBurst: true,
	},
}

// redemptionBody is a redemption of code by a new learner numbered n.
func (sr *scaleRun) redemptionBody(code string, n int64) []byte {
	b, _ := json.Marshal(map[string]string{
		"passcode":   code,
		"email":      fmt.Sprintf("r%d-%s-%s@redeem.example", n, sr.runID, sr.spec.Name),
		"first_name": "Robin",
		"last_name":  "Bench",
		"password":   redeemPassword,
	})
	return b
}

// planHotRedemption puts one invitation under every worker. The closed
// loop gets as many seats as the spread redemption managed in one peak
// run, so that it fills them in about that time, and a quarter more
// requests than seats; the fixed-rate run gets four fifths of its requests
// as seats. Either way exactly the seats must be answered 201, the rest
// 409, and the invitation must count exactly its seats afterwards.
func planHotRedemption(ctx context.Context, sr *scaleRun, phase string, hits uint64) (*runPlan, error) {
	var seats int
	switch {
	case phase == "rate":
		seats = max(1, int(hits)*4/5)
	case sr.cfg.Quick:
		seats = 20
	case sr.spreadPeak > 0:
		seats = int(sr.spreadPeak * sr.cfg.PeakDuration.Seconds())
	default:
		seats = 200
	}
	seats = min(max(seats, 1), plentySeats)
	if phase == "peak" {
		hits = uint64(seats + max(seats/4, 2*sr.cfg.Concurrency))
	}
	id, code, err := createInvitation(ctx, sr.db, sr.t, "Hot invitation "+phase, "HOT-", seats)
	if err != nil {
		return nil, err
	}
	sr.log.Printf("    hot invitation: %d seats, %d requests", seats, hits)
	return &runPlan{
		expect: expectCodes(201, 409), maxHits: hits, untilMaxHits: true,
		targeter: func(t *vegeta.Target) error {
			jsonTarget(t, "POST", sr.api+"/redemptions", "", sr.redemptionBody(code, sr.seq.Add(1)))
			return nil
		},
		verify: func(ctx context.Context, st *runStats) []check {
			used, maxSeats, reds, err := seatState(ctx, sr.db, id)
			name := sr.spec.Name + "/redeem_hot/" + phase + ": exactly the seats succeed"
			if err != nil {
				return []check{{Name: name, Detail: err.Error(), exactSeats: true}}
			}
			ok := st.count(201) == seats && used == seats && reds == seats && maxSeats == seats &&
				st.count(409) == st.Requests-seats
			return []check{{Name: name, Pass: ok, exactSeats: true, Detail: fmt.Sprintf(
				"seats %d: %d answered 201, %d answered 409 of %d requests; registrations_used %d, redemptions %d",
				seats, st.count(201), st.count(409), st.Requests, used, reds)}}
		},
	}, nil
}

// planAddCourses adds one course per request to the large group, each a
// course the group does not have yet, so that every request enrolls every
// member. The pool of such courses is finite: the closed loop may use three
// fifths of it, the fixed-rate run what is left.
func planAddCourses(_ context.Context, sr *scaleRun, phase string, hits uint64) (*runPlan, error) {
	if phase == "peak" {
		sr.nextCourse.Store(largeGroupCourses)
	}
	left := uint64(max(0, int64(sr.spec.Courses)-sr.nextCourse.Load()))
	budget := left * 3 / 5
	if phase == "rate" {
		budget = min(left, hits)
	}
	if budget == 0 {
		return nil, fmt.Errorf("no course left to add to the large group")
	}
	first := sr.nextCourse.Load()
	return &runPlan{
		expect: expectCodes(200), maxHits: budget,
		targeter: func(t *vegeta.Target) error {
			c := sr.nextCourse.Add(1) - 1
			body := []byte(`{"course_ids":["` + benchID("course", int(c)) + `"]}`)
			jsonTarget(t, "POST", sr.api+"/user-groups/"+sr.t.LargeGroupID+"/courses", sr.token, body)
			return nil
		},
		verify: func(ctx context.Context, st *runStats) []check {
			// The first course added must now be a course of every member.
			var n int
			err := sr.db.QueryRow(ctx, `SELECT count(*) FROM user_group_members m
				JOIN enrollments e ON e.user_id = m.user_id AND e.course_id = $2
				WHERE m.user_group_id = $1`, sr.t.LargeGroupID, benchID("course", int(first))).Scan(&n)
			name := sr.spec.Name + "/add_courses_large_group/" + phase + ": every member enrolled"
			if err != nil {
				return []check{{Name: name, Detail: err.Error()}}
			}
			return []check{{Name: name, Pass: n == sr.spec.LargeGroupMembers,
				Detail: fmt.Sprintf("%d of %d members enrolled in the first course added", n, sr.spec.LargeGroupMembers)}}
		},
	}, nil
}

// resetSeats sets the seats used of the pgbench invitations of tag back to
// zero, so that every pgbench run starts with all of them free.
func (sr *scaleRun) resetSeats(tag string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := sr.db.Exec(ctx, `UPDATE invitations SET registrations_used = 0
			WHERE id IN (SELECT bench.id($1, i) FROM generate_series(0, $2::int - 1) AS i)`, tag, pgbenchPool)
		return err
	}
}

// request sends one request to the API and returns the status and body.
func (sr *scaleRun) request(ctx context.Context, method, path, token string, body []byte) (int, []byte, error) {
	return sr.requestURL(ctx, method, sr.api+path, token, body)
}

// requestURL is request to any URL.
func (sr *scaleRun) requestURL(ctx context.Context, method, url, token string, body []byte) (int, []byte, error) {
	code, _, b, err := sr.requestURLHeader(ctx, method, url, token, body)
	return code, b, err
}

// requestURLHeader is requestURL that returns the response's header too.
func (sr *scaleRun) requestURLHeader(ctx context.Context, method, url, token string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := sr.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b, err
}

// login signs the Full Manager in and keeps the access token.
func (sr *scaleRun) login(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"email": sr.t.ManagerEmail, "password": sr.t.ManagerPassword,
		"organization_id": sr.t.OrganizationID})
	status, b, err := sr.request(ctx, "POST", "/auth/login", "", body)
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return fmt.Errorf("login answered %d: %s", status, b)
	}
	sr.token = tok.AccessToken
	return nil
}

// pgbenchVars are the variables every pgbench script may use.
func (sr *scaleRun) pgbenchVars() map[string]string {
	return map[string]string{
		"org": sr.t.OrganizationID, "root": sr.t.OrganizationGroupID, "manager": sr.t.ManagerID,
		"manager_email": sr.t.ManagerEmail, "large_group": sr.t.LargeGroupID,
		"n_inv":     strconv.Itoa(sr.spec.Invitations),
		"course_lo": strconv.Itoa(largeGroupCourses), "course_hi": strconv.Itoa(sr.spec.Courses - 1),
		// LIMITs: the server binds them as parameters, and so must the
		// scripts, or a generic plan could differ.
		"one": "1", "five": "5", "page": "51",
	}
}

// measure runs one workload: probe, closed-loop peak, fixed-rate latency at
// half of the peak, then its references (see measurement for the phases).
func (sr *scaleRun) measure(ctx context.Context, w workload, hash *hashRate) *workloadResult {
	m := &measurement{sr: sr, w: w, hash: hash, wr: &workloadResult{Name: w.Name, Endpoint: w.Endpoint, Read: w.Read}}
	for _, phase := range []func(context.Context) error{m.probe, m.referencesBefore, m.peak, m.stackFloor,
		m.hashAfter, m.latency, m.peakAgain} {
		err := phase(ctx)
		var failed *phaseError
		if errors.As(err, &failed) {
			m.wr.Checks = append(m.wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/" + failed.phase, Detail: failed.err.Error()})
		}
		if err != nil {
			return m.wr
		}
	}
	m.references(ctx)
	return m.wr
}

// measurement is one workload measured at one scale, phase by phase: the
// probe; the references taken before the peak run; the peak run; the stack
// floor; the hash rate after the peak run (and the hash floor); the
// fixed-rate runs; a read's second peak run; the references. A phase that
// fails ends the workload with a failed check named after it.
type measurement struct {
	sr *scaleRun
	w  workload
	// hash is the hash rate measured at the start of the run.
	hash *hashRate
	wr   *workloadResult
	// hashBefore is a hashing workload's hash rate right before its peak
	// run, bracket the mean of it and the one right after.
	hashBefore *hashRate
	bracket    float64
	// pgbenchBefore is a read workload's primary reference taken before
	// its peak run.
	pgbenchBefore *reference
}

// phaseError is the failure of the phase that ends a workload.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }

// errInterrupted ends a workload whose run was interrupted, without a
// check of its own (the run records one).
var errInterrupted = errors.New("interrupted")

// probe checks that the endpoint exists.
func (m *measurement) probe(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	if w.probe == nil {
		return nil
	}
	method, path, body := w.probe(sr)
	status, b, err := sr.request(ctx, method, path, sr.token, body)
	if err != nil {
		return &phaseError{"probe", err}
	}
	if status == http.StatusNotFound && bytes.Contains(b, []byte("no route")) {
		wr.Skipped = "the server has no route " + method + " " + path
		sr.log.Printf("  %s: skipped, %s", w.Name, wr.Skipped)
		return &phaseError{"endpoint present", errors.New(wr.Skipped)}
	}
	return nil
}

// referencesBefore takes the references that bracket the peak run.
//
// The hash rate of a hashing workload is measured again just before and
// just after its peak run, and the mean is its reference: on a shared
// (virtual) machine the CPU's speed drifts by a fifth within minutes, and
// a reference taken at another time would move the ratio with it. For the
// same reason a read workload's primary pgbench reference runs both before
// the peak run and after the latency run.
func (m *measurement) referencesBefore(ctx context.Context) error {
	sr, w := m.sr, m.w
	if w.Hashing && !sr.cfg.Quick {
		var err error
		if m.hashBefore, err = measureHashRate(ctx, sr.cfg.HashDuration); err != nil {
			return &phaseError{"hash rate", err}
		}
	}
	if w.Read && !sr.cfg.Quick && sr.cfg.Pgbench != "" && w.refs != nil {
		if specs := w.refs(sr); len(specs) > 0 {
			sr.log.Printf("  %s: reference before the peak run", w.Name)
			r := sr.pgbench(ctx, w.Name, specs[0], &m.wr.Checks)
			m.pgbenchBefore = &r
		}
	}
	return nil
}

// peak is the closed-loop run.
func (m *measurement) peak(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	sr.log.Printf("  %s: peak, %d workers", w.Name, sr.cfg.Concurrency)
	plan, err := w.plan(ctx, sr, "peak", 0)
	if err != nil {
		return &phaseError{"peak", err}
	}
	mode := runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration, MaxHits: plan.maxHits}
	if plan.untilMaxHits {
		mode.Duration = 0
	}
	wr.Peak = attack(ctx, w.Name+"-peak", plan.targeter, mode, plan.expect, sr.serverPID)
	wr.Checks = append(wr.Checks, sr.runChecks(ctx, w.Name, "peak", wr.Peak, plan)...)
	wr.PeakThroughput = wr.Peak.Throughput
	sr.log.Printf("    %.1f req/s, p50 %.1f ms, p99 %.1f ms, %v; CPU ms/request: server %.2f, postgres %.2f",
		wr.Peak.Throughput, wr.Peak.P50Ms, wr.Peak.P99Ms, wr.Peak.Codes, wr.Peak.ServerCPUMsPerReq, wr.Peak.PgCPUMsPerReq)
	if w.sizesHot {
		sr.spreadPeak = wr.Peak.Throughput
	}
	return nil
}

// stackFloor drives the stack floor as the peak run was driven, for the
// workloads it answers; its failure is recorded, and the workload goes on.
func (m *measurement) stackFloor(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	if w.floor == nil {
		return nil
	}
	sr.log.Printf("  %s: stack floor, %d workers", w.Name, sr.cfg.Concurrency)
	st, err := sr.measureFloor(ctx, w)
	if err != nil {
		wr.Checks = append(wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/stack floor", Detail: err.Error()})
		return nil
	}
	wr.Floor = st
	wr.Checks = append(wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/stack floor answers", Pass: true})
	sr.log.Printf("    %.1f req/s; CPU ms/request: server %.2f, postgres %.2f", st.Throughput, st.ServerCPUMsPerReq, st.PgCPUMsPerReq)
	return nil
}

// hashAfter measures a hashing workload's hash rate after its peak run,
// then, for the workload that has one, its hash floor.
func (m *measurement) hashAfter(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	if m.hashBefore == nil {
		return nil
	}
	after, err := measureHashRate(ctx, sr.cfg.HashDuration)
	if err != nil {
		return &phaseError{"hash rate", err}
	}
	m.bracket = (m.hashBefore.PerSecond + after.PerSecond) / 2
	sr.log.Printf("    argon2id hash rate %.1f/s before, %.1f/s after the peak run (%.1f at the start of the run)",
		m.hashBefore.PerSecond, after.PerSecond, m.hash.PerSecond)
	if w.hashFloor == nil || sr.cfg.Pgbench == "" || wr.Peak.Throughput <= 0 {
		return nil
	}
	sr.log.Printf("  %s: hash floor, the hash rate beside pgbench running the statement at %.1f/s", w.Name, wr.Peak.Throughput)
	f, err := sr.measureHashFloor(ctx, *w.hashFloor, wr.Peak.Throughput)
	if err != nil {
		wr.Checks = append(wr.Checks, check{Name: sr.spec.Name + "/" + w.Name + "/hash floor", Detail: err.Error()})
		return nil
	}
	f.Ratio = f.Hashes.PerSecond / m.bracket
	wr.HashFloor = f
	sr.log.Printf("    %.1f hashes/s (%.3f of the bare rate) beside %.1f statements/s", f.Hashes.PerSecond, f.Ratio, f.Pgbench.TPS)
	return nil
}

// latency is the fixed-rate run at half of the peak, and the light one for
// the workloads that have a light rate.
func (m *measurement) latency(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	if ctx.Err() != nil {
		return errInterrupted
	}
	rate := max(1, wr.Peak.Throughput/2)
	var err error
	if wr.Latency, err = sr.fixedRate(ctx, w, "rate", rate, fmt.Sprintf("%.1f req/s (half of peak)", rate), &wr.Checks); err != nil {
		return &phaseError{"rate", err}
	}
	if w.lightRate > 0 && ctx.Err() == nil {
		desc := fmt.Sprintf("%.0f req/s (light load, the same at every scale)", w.lightRate)
		if wr.Light, err = sr.fixedRate(ctx, w, "light", w.lightRate, desc, &wr.Checks); err != nil {
			return &phaseError{"light", err}
		}
	}
	return nil
}

// peakAgain is a read workload's second peak run, right before its
// reference is taken again: the machine's speed drifts, and two peaks each
// next to one of the two references are judged against their mean.
func (m *measurement) peakAgain(ctx context.Context) error {
	sr, w, wr := m.sr, m.w, m.wr
	if m.pgbenchBefore == nil || ctx.Err() != nil {
		return nil
	}
	sr.log.Printf("  %s: peak again, %d workers", w.Name, sr.cfg.Concurrency)
	plan, err := w.plan(ctx, sr, "peak", 0)
	if err != nil {
		return &phaseError{"peak again", err}
	}
	wr.PeakAgain = attack(ctx, w.Name+"-peak-again", plan.targeter,
		runMode{Closed: true, Workers: sr.cfg.Concurrency, Duration: sr.cfg.PeakDuration, MaxHits: plan.maxHits}, plan.expect, sr.serverPID)
	wr.Checks = append(wr.Checks, sr.runChecks(ctx, w.Name, "peak again", wr.PeakAgain, plan)...)
	sr.log.Printf("    %.1f req/s (%.1f in the first peak run); CPU ms/request: server %.2f, postgres %.2f",
		wr.PeakAgain.Throughput, wr.Peak.Throughput, wr.PeakAgain.ServerCPUMsPerReq, wr.PeakAgain.PgCPUMsPerReq)
	if wr.PeakAgain.Throughput > 0 {
		wr.PeakThroughput = (wr.Peak.Throughput + wr.PeakAgain.Throughput) / 2
	}
	return nil
}

// references lists the hash rates of a hashing workload, runs the pgbench
// references (a read's primary one a second time, averaged with the first)
// and takes the ratio to the primary reference.
func (m *measurement) references(ctx context.Context) {
	sr, w, wr := m.sr, m.w, m.wr
	if w.Hashing {
		if m.bracket > 0 {
			wr.References = append(wr.References, reference{Name: "argon2id hash rate", PerSecond: m.bracket})
		}
		wr.References = append(wr.References, reference{Name: "argon2id hash rate at the start of the run", PerSecond: m.hash.PerSecond})
	}
	if sr.cfg.Pgbench != "" && w.refs != nil {
		for _, spec := range w.refs(sr) {
			if ctx.Err() != nil {
				break
			}
			ref := sr.pgbench(ctx, w.Name, spec, &wr.Checks)
			if before := m.pgbenchBefore; len(wr.References) == 0 && before != nil && before.PerSecond > 0 && ref.PerSecond > 0 {
				ref.Runs = []float64{before.PerSecond, ref.PerSecond}
				ref.PerSecond = (before.PerSecond + ref.PerSecond) / 2
				sr.log.Printf("    reference %.1f/s before, %.1f/s after: %.1f/s", ref.Runs[0], ref.Runs[1], ref.PerSecond)
			}
			wr.References = append(wr.References, ref)
		}
	}
	if len(wr.References) > 0 && wr.References[0].PerSecond > 0 {
		wr.Reference = wr.References[0].Name
		wr.ReferenceRate = wr.References[0].PerSecond
		wr.Ratio = wr.PeakThroughput / wr.ReferenceRate
	}
}

// fixedRate runs w at rate requests per second for -rate (or until its
// plan's requests are spent), adds the run's checks under phase and
// returns its figures.
func (sr *scaleRun) fixedRate(ctx context.Context, w workload, phase string, rate float64, desc string, checks *[]check) (*runStats, error) {
	sr.log.Printf("  %s: latency at %s", w.Name, desc)
	plan, err := w.plan(ctx, sr, "rate", uint64(rate*sr.cfg.RateDuration.Seconds()))
	if err != nil {
		return nil, err
	}
	mode := runMode{Rate: rate, Workers: sr.cfg.Concurrency, Duration: sr.cfg.RateDuration, MaxHits: plan.maxHits}
	if plan.untilMaxHits {
		mode.Duration = 0
	}
	st := attack(ctx, w.Name+"-"+phase, plan.targeter, mode, plan.expect, sr.serverPID)
	*checks = append(*checks, sr.runChecks(ctx, w.Name, phase, st, plan)...)
	sr.log.Printf("    p50 %.2f ms, p99 %.1f ms, %v", st.P50Ms, st.P99Ms, st.Codes)
	return st, nil
}

// runChecks are the correctness checks of one run: it sent requests, every
// answer was one the workload expects, and the database agrees.
func (sr *scaleRun) runChecks(ctx context.Context, name, phase string, st *runStats, plan *runPlan) []check {
	detail := fmt.Sprintf("%d of %d answers expected; codes %v", st.OK, st.Requests, st.Codes)
	if len(st.Unexpected) > 0 {
		detail += "; e.g. " + st.Unexpected[0]
	}
	checks := []check{{Name: sr.spec.Name + "/" + name + "/" + phase + ": every answer expected",
		Pass: st.Requests > 0 && st.OK == st.Requests, Detail: detail}}
	if plan.verify != nil {
		checks = append(checks, plan.verify(ctx, st)...)
	}
	for _, c := range checks {
		if !c.Pass {
			sr.log.Printf("    CHECK FAILED %s: %s", c.Name, c.Detail)
		}
	}
	return checks
}

// pgbench runs one reference and records a failed check if pgbench could
// not run it: that is the harness failing, not the API.
func (sr *scaleRun) pgbench(ctx context.Context, name string, spec pgbenchSpec, checks *[]check) reference {
	ref := reference{Name: "pgbench " + spec.Script}
	if spec.Vars != nil && spec.Vars["tag"] != "" {
		ref.Name += " (" + spec.Vars["tag"] + ")"
	}
	if spec.reset != nil {
		if err := spec.reset(ctx); err != nil {
			ref.Error = err.Error()
			*checks = append(*checks, check{Name: sr.spec.Name + "/" + name + "/" + ref.Name, Detail: ref.Error})
			return ref
		}
	}
	vars := sr.pgbenchVars()
	for k, v := range spec.Vars {
		vars[k] = v
	}
	sr.log.Printf("  %s: reference %s, %d clients, %s", name, ref.Name, sr.cfg.Concurrency, sr.cfg.PgbenchDuration)
	t0 := time.Now()
	res, err := runPgbench(ctx, sr.cfg, sr.dbURL, spec.Script, vars, sr.dir, sr.serverPID, 0, 0)
	ref.Pgbench = res
	if err != nil {
		ref.Error = err.Error()
		sr.log.Printf("    %v", err)
		*checks = append(*checks, check{Name: sr.spec.Name + "/" + name + "/" + ref.Name + " ran", Detail: ref.Error})
		return ref
	}
	ref.PerSecond = res.TPS
	sr.log.Printf("    %.1f tps, %.2f ms average, postgres CPU %.2f ms/transaction (%s)", res.TPS, res.LatencyMs,
		res.PgCPUMsPerTx, time.Since(t0).Round(time.Millisecond))
	return ref
}

// hashFloor is a hashing workload's floor: the hash rate on every core
// while pgbench runs the workload's statement at the API's peak rate, with
// no HTTP, JSON, token or pool in between. A server that did nothing but
// hash and run that statement could not beat it, so its ratio to the bare
// hash rate bounds what the redemption target can ask on this machine.
type hashFloor struct {
	Rate    float64        `json:"statement_rate"`
	Hashes  *hashRate      `json:"hashes"`
	Pgbench *pgbenchResult `json:"pgbench"`
	// Ratio is Hashes.PerSecond over the bare hash rate the workload's
	// ratio is taken against.
	Ratio float64 `json:"ratio"`
}

// measureHashFloor measures the hash rate for -hash-time while pgbench runs
// spec at rate statements per second; pgbench starts a second earlier and
// ends a second later, so the hashing never runs without it.
func (sr *scaleRun) measureHashFloor(ctx context.Context, spec pgbenchSpec, rate float64) (*hashFloor, error) {
	if err := sr.resetSeats(spec.Vars["tag"])(ctx); err != nil {
		return nil, err
	}
	vars := sr.pgbenchVars()
	for k, v := range spec.Vars {
		vars[k] = v
	}
	secs := int(sr.cfg.HashDuration.Round(time.Second)/time.Second) + 2
	type result struct {
		res *pgbenchResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := runPgbench(ctx, sr.cfg, sr.dbURL, spec.Script, vars, sr.dir, sr.serverPID, rate, secs)
		done <- result{res, err}
	}()
	select {
	case <-time.After(time.Second):
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("pgbench ended before the hashing began: %w", r.err)
		}
		return nil, errors.New("pgbench ended before the hashing began")
	}
	h, err := measureHashRate(ctx, sr.cfg.HashDuration)
	r := <-done
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	return &hashFloor{Rate: rate, Hashes: h, Pgbench: r.res}, nil
}
