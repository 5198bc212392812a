package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The office burst: a whole office handed one passcode at once. Every
// employee is a new learner redeeming the same invitation, which has
// exactly one seat per employee, from the same address (the office's
// NAT; here 127.0.0.1), arriving open-loop at twice the rate this machine
// can hash, so that the server must turn some away with 503 and take them
// back when they retry. It runs against a server of its own, with the
// throttles at the server's defaults: a correct redemption must never be
// refused 429 by the per-address passcode throttle, whatever the rush.
const (
	burstEmployees      = 1_000
	quickBurstEmployees = 100
	// burstArrivals bounds the first attempts (the "for 30 s"). At
	// twice the hash rate 1,000 employees arrive within a few seconds; the
	// bound only matters on a machine that hashes fewer than 17 a second.
	burstArrivals = 30 * time.Second
	// burstDeadline bounds the whole burst from the first arrival: an
	// employee whose retry would come later gives up.
	burstDeadline = 90 * time.Second
)

// burstResult is what an office burst found.
type burstResult struct {
	Employees int `json:"employees"`
	// Throttles says under which throttle settings the server ran.
	Throttles string `json:"throttles"`
	// HashRate is the hash rate the arrival rate is twice of: the one
	// measured at the start of the run.
	HashRate    float64 `json:"hash_rate"`
	ArrivalRate float64 `json:"arrival_rate"`
	// ArrivalSeconds is from the first employee's first attempt to the
	// last employee's.
	ArrivalSeconds float64 `json:"arrival_seconds"`
	// NeverArrived counts the employees whose first attempt fell after
	// burstArrivals; GaveUp those answered 503 whose retry would have
	// fallen after burstDeadline.
	NeverArrived int `json:"never_arrived"`
	GaveUp       int `json:"gave_up"`
	Attempts     int `json:"attempts"`
	Retries      int `json:"retries"`
	// Codes counts every answer by status ("error" when none came).
	Codes    map[string]int `json:"codes"`
	Count429 int            `json:"count_429"`
	Count503 int            `json:"count_503"`
	// Registered counts the employees answered 201, or 200: the replay of
	// an earlier attempt of theirs that committed while its answer became
	// a 503 (its deadline passed as the database committed), which
	// registered them.
	Registered int `json:"registered"`
	// Replayed counts the 200 answers.
	Replayed      int  `json:"replayed"`
	AllRegistered bool `json:"all_registered"`
	// The invitation as the database has it afterwards.
	MaxRegistrations  int `json:"max_registrations"`
	RegistrationsUsed int `json:"registrations_used"`
	Redemptions       int `json:"redemptions"`
	// FirstArrivalToLast201Seconds is from the first employee's first
	// attempt to the end of the last 201.
	FirstArrivalToLast201Seconds float64 `json:"first_arrival_to_last_201_s"`
	// P50Ms, P99Ms and MaxMs are per registered employee, from the start
	// of its first attempt to the end of its 201, retries included.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Unexpected holds a few answers other than 201 and 503.
	Unexpected        []string `json:"unexpected,omitempty"`
	CPU               *cpuUse  `json:"cpu"`
	ServerCPUMsPer201 float64  `json:"server_cpu_ms_per_201"`
}

// runOfficeBurst seeds the burst's invitation, starts a server with the
// default throttles on the scale's database, runs the burst against it and
// checks the invitation afterwards.
func runOfficeBurst(ctx context.Context, sr *scaleRun, w workload, hash *hashRate) *workloadResult {
	wr := &workloadResult{Name: w.Name, Endpoint: w.Endpoint}
	prefix := sr.spec.Name + "/" + w.Name
	fail := func(what string, err error) *workloadResult {
		wr.Checks = append(wr.Checks, check{Name: prefix + ": " + what, Detail: err.Error()})
		sr.log.Printf("    CHECK FAILED %s: %s: %v", prefix, what, err)
		return wr
	}
	n := burstEmployees
	if sr.cfg.Quick {
		n = quickBurstEmployees
	}
	if hash == nil || hash.PerSecond <= 0 {
		return fail("pace the arrivals", errors.New("no hash rate was measured"))
	}
	id, code, err := createInvitation(ctx, sr.db, sr.t, "Office burst", "OFFICE-", n)
	if err != nil {
		return fail("seed the invitation", err)
	}
	logPath := filepath.Join(sr.logDir, "server-"+sr.spec.Name+"-"+w.Name+".log")
	srv, err := startServer(ctx, sr.bin, []string{"serve"}, sr.defaultThrottleEnv, logPath)
	if err != nil {
		return fail("start its server", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.stop()
		}
	}()
	plan := &burstPlan{url: "http://" + srv.addr + "/api/v1/redemptions", rate: 2 * hash.PerSecond,
		arrivals: burstArrivals, deadline: burstDeadline, bodies: make([][]byte, n)}
	for i := range plan.bodies {
		plan.bodies[i] = sr.redemptionBody(code, sr.seq.Add(1))
	}
	sr.log.Printf("  %s: %d employees on one invitation with %d seats, arriving at %.1f/s (twice %.1f hashes/s), throttles %s (server log: %s)",
		w.Name, n, n, plan.rate, hash.PerSecond, sr.throttles, logPath)
	b := runBurst(ctx, plan, srv.cmd.Process.Pid)
	b.Throttles, b.HashRate = sr.throttles, hash.PerSecond
	wr.Burst = b
	if wr.PeakRSSBytes, err = srv.peakRSS(); err != nil {
		return fail("peak RSS", err)
	}
	stopped = true
	if err := srv.stop(); err != nil {
		wr.Checks = append(wr.Checks, check{Name: prefix + ": its server stops cleanly", Detail: err.Error()})
	}
	if b.RegistrationsUsed, b.MaxRegistrations, b.Redemptions, err = seatState(ctx, sr.db, id); err != nil {
		return fail("read the invitation", err)
	}
	b.AllRegistered = b.Registered == n && b.Redemptions == n
	others := b.unexpectedAnswers()
	detail := fmt.Sprintf("codes %v", b.Codes)
	if len(b.Unexpected) > 0 {
		detail += "; e.g. " + b.Unexpected[0]
	}
	wr.Checks = append(wr.Checks,
		check{Name: prefix + ": no answer 429", Pass: b.Count429 == 0,
			Detail: fmt.Sprintf("%d of %d answers were 429", b.Count429, b.Attempts)},
		check{Name: prefix + ": every employee registered", Pass: b.AllRegistered,
			Detail: fmt.Sprintf("%d of %d employees answered 201 or 200 (%d replays), %d redemptions of the invitation; %d never arrived, %d gave up at the deadline",
				b.Registered, n, b.Replayed, b.Redemptions, b.NeverArrived, b.GaveUp)},
		check{Name: prefix + ": registrations_used equals the seats", Pass: b.RegistrationsUsed == n && b.MaxRegistrations == n,
			Detail: fmt.Sprintf("registrations_used %d of max_registrations %d, %d employees", b.RegistrationsUsed, b.MaxRegistrations, n)},
		check{Name: prefix + ": every answer 201, 200 (a replay) or 503", Pass: others == 0 && b.Attempts > 0, Detail: detail})
	for _, c := range wr.Checks {
		if !c.Pass {
			sr.log.Printf("    CHECK FAILED %s: %s", c.Name, c.Detail)
		}
	}
	sr.log.Printf("    %d of %d registered, registrations_used %d; %d attempts: %v, %d retries; first arrival to last 201 %.1f s; per employee p50 %.0f ms, p99 %.0f ms; server peak RSS %.1f MB",
		b.Registered, n, b.RegistrationsUsed, b.Attempts, b.Codes, b.Retries, b.FirstArrivalToLast201Seconds, b.P50Ms, b.P99Ms,
		float64(wr.PeakRSSBytes)/(1<<20))
	return wr
}

// burstPlan is one open-loop burst: employee e posts bodies[e] to url
// first e/rate seconds after the start, and again Retry-After seconds
// after every 503, until it is answered otherwise.
type burstPlan struct {
	url    string
	bodies [][]byte
	rate   float64
	// arrivals bounds the first attempts, deadline the retries, both from
	// the start.
	arrivals, deadline time.Duration
}

// runBurst runs plan on vegeta and summarizes what the employees saw;
// serverPID is the server, whose CPU time is recorded.
func runBurst(ctx context.Context, plan *burstPlan, serverPID int) *burstResult {
	n := len(plan.bodies)
	res := &burstResult{Employees: n, ArrivalRate: plan.rate, Codes: map[string]int{}}
	atk := vegeta.NewAttacker(
		vegeta.Timeout(30*time.Second),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(512),
		// An employee has one attempt in flight at most: with a worker
		// for each, a slow answer never holds the next arrival back.
		vegeta.Workers(uint64(min(n, 64))), vegeta.MaxWorkers(uint64(n)))
	s := newBurstSchedule(plan, ctx.Done())
	stopped := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopped()
	first, registered := make([]time.Time, n), make([]time.Time, n)
	cpu0 := sampleCPU(serverPID)
	for r := range atk.Attack(s.target, s, 0, "office-burst") {
		res.record(r, s, first, registered)
	}
	res.CPU = sampleCPU(serverPID).since(cpu0, -1)
	res.NeverArrived, res.GaveUp = s.neverArrived, s.gaveUp
	res.Count429, res.Count503, res.Replayed = res.Codes["429"], res.Codes["503"], res.Codes["200"]
	res.summarize(first, registered)
	res.ServerCPUMsPer201 = perOp(res.CPU.Server, res.Registered)
	return res
}

// record counts one answer of the burst, notes when its employee first
// tried (first) and was registered (registered), and has the schedule
// retry it after a 503.
func (res *burstResult) record(r *vegeta.Result, s *burstSchedule, first, registered []time.Time) {
	_, frag, _ := strings.Cut(r.URL, "#")
	e, err := strconv.Atoi(frag)
	if err != nil || e < 0 || e >= len(first) {
		res.Codes["error"]++
		res.Unexpected = append(res.Unexpected, "an answer to no employee: "+r.Error)
		return
	}
	res.Attempts++
	key := strconv.Itoa(int(r.Code))
	if r.Code == 0 {
		key = "error"
	}
	res.Codes[key]++
	if first[e].IsZero() {
		first[e] = r.Timestamp
	}
	switch r.Code {
	case http.StatusCreated, http.StatusOK: // registered now, or before (a replay)
		registered[e] = r.End()
	case http.StatusServiceUnavailable:
	default:
		if len(res.Unexpected) < 5 {
			msg := r.Error
			if len(r.Body) > 0 {
				msg += " " + strings.TrimSpace(string(r.Body))
			}
			res.Unexpected = append(res.Unexpected, fmt.Sprintf("employee %d: %s", e, msg))
		}
	}
	retryAfter := time.Second
	if secs, err := strconv.Atoi(r.Headers.Get("Retry-After")); err == nil && secs >= 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	if s.answered(e, int(r.Code), r.End(), retryAfter) {
		res.Retries++
	}
}

// summarize turns the employees' first attempts and registrations into
// the burst's times: the arrivals' span, the first arrival to the last
// 201, and the quantiles per registered employee.
func (res *burstResult) summarize(first, registered []time.Time) {
	var firstArrival, lastArrival, last201 time.Time
	lat := make([]float64, 0, len(first))
	for e := range first {
		if first[e].IsZero() {
			continue
		}
		if firstArrival.IsZero() || first[e].Before(firstArrival) {
			firstArrival = first[e]
		}
		lastArrival = later(lastArrival, first[e])
		if !registered[e].IsZero() {
			res.Registered++
			last201 = later(last201, registered[e])
			lat = append(lat, float64(registered[e].Sub(first[e]))/float64(time.Millisecond))
		}
	}
	if !firstArrival.IsZero() {
		res.ArrivalSeconds = lastArrival.Sub(firstArrival).Seconds()
	}
	if !last201.IsZero() {
		res.FirstArrivalToLast201Seconds = last201.Sub(firstArrival).Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50Ms, res.P99Ms, res.MaxMs = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// burstSchedule is the burst's pacer and targeter in one. vegeta fires a
// hit whenever Pace returns, so Pace itself waits, for the next arrival
// or the earliest retry due, and is woken when an answer schedules an
// earlier one or ends the last attempt in flight. Retries are thus sent
// at their time whatever the arrivals do, and neither waits for an answer.
type burstSchedule struct {
	plan  *burstPlan
	start time.Time
	done  <-chan struct{}
	// ready holds the employees whose attempt the next hits send; Pace
	// puts one in before every hit, so it never blocks.
	ready chan int
	wake  chan struct{}

	mu       sync.Mutex
	arrived  int     // employees whose first attempt was fired
	retries  []retry // earliest first
	inFlight int
	// neverArrived and gaveUp: see burstResult.
	neverArrived, gaveUp int
}

type retry struct {
	at       time.Time
	employee int
}

func newBurstSchedule(plan *burstPlan, done <-chan struct{}) *burstSchedule {
	return &burstSchedule{plan: plan, start: time.Now(), done: done,
		ready: make(chan int, len(plan.bodies)), wake: make(chan struct{}, 1)}
}

// Pace implements vegeta.Pacer: it returns when the next attempt is due,
// and stops the attack when no attempt is due or in flight.
func (s *burstSchedule) Pace(time.Duration, uint64) (time.Duration, bool) {
	for {
		s.mu.Lock()
		now := time.Now()
		var next time.Time
		e, isRetry := -1, false
		if n := len(s.plan.bodies); s.arrived < n {
			at := s.start.Add(time.Duration(float64(s.arrived) / s.plan.rate * float64(time.Second)))
			if at.Sub(s.start) > s.plan.arrivals {
				s.neverArrived, s.arrived = n-s.arrived, n
			} else {
				next, e = at, s.arrived
			}
		}
		if len(s.retries) > 0 && (e < 0 || s.retries[0].at.Before(next)) {
			next, e, isRetry = s.retries[0].at, s.retries[0].employee, true
		}
		switch {
		case e < 0 && s.inFlight == 0:
			s.mu.Unlock()
			return 0, true
		case e >= 0 && !next.After(now):
			if isRetry {
				s.retries = s.retries[1:]
			} else {
				s.arrived++
			}
			s.inFlight++
			s.ready <- e
			s.mu.Unlock()
			return 0, false
		}
		// Nothing is due yet: wait for it, or for an answer, which may
		// schedule something sooner or leave nothing to wait for.
		wait := time.Hour
		if e >= 0 {
			wait = next.Sub(now)
		}
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.wake:
		case <-s.done:
			t.Stop()
			return 0, true
		}
		t.Stop()
	}
}

// Rate implements vegeta.Pacer: the arrivals' rate, retries aside.
func (s *burstSchedule) Rate(time.Duration) float64 { return s.plan.rate }

// target implements vegeta.Targeter: the attempt of the employee Pace
// fired. The employee's number rides in the URL's fragment, which is
// never sent, so that its answer can be told apart from the others'.
func (s *burstSchedule) target(t *vegeta.Target) error {
	e := <-s.ready
	jsonTarget(t, http.MethodPost, s.plan.url+"#"+strconv.Itoa(e), "", s.plan.bodies[e])
	return nil
}

// answered records the end of employee e's attempt, answered code at end,
// and schedules its retry after a 503, unless that would fall after the
// deadline. It reports whether a retry was scheduled.
func (s *burstSchedule) answered(e, code int, end time.Time, retryAfter time.Duration) bool {
	s.mu.Lock()
	s.inFlight--
	scheduled := false
	if code == http.StatusServiceUnavailable {
		at := end.Add(retryAfter)
		if at.Sub(s.start) <= s.plan.deadline {
			i, _ := slices.BinarySearchFunc(s.retries, at, func(r retry, t time.Time) int { return r.at.Compare(t) })
			s.retries = slices.Insert(s.retries, i, retry{at: at, employee: e})
			scheduled = true
		} else {
			s.gaveUp++
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return scheduled
}

// unexpectedAnswers counts the answers other than 201, 200 (a replay) and
// 503 (retry).
func (b *burstResult) unexpectedAnswers() int {
	n := 0
	for c, k := range b.Codes {
		if c != "201" && c != "200" && c != "503" {
			n += k
		}
	}
	return n
}
