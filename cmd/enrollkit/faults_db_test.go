//go:build faults

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// timedAnswer is one answer of a load, with when it was asked and what.
type timedAnswer struct {
	faultAnswer
	what       string
	sent, done time.Time
}

// answerLog collects the answers of a load's clients.
type answerLog struct {
	mu   sync.Mutex
	list []timedAnswer
}

func (l *answerLog) call(ctx context.Context, c *faultClient, what, method, path string, body any) faultAnswer {
	sent := time.Now()
	a := c.call(ctx, method, path, body)
	l.mu.Lock()
	l.list = append(l.list, timedAnswer{faultAnswer: a, what: what, sent: sent, done: time.Now()})
	l.mu.Unlock()
	return a
}

func (l *answerLog) answers() []timedAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]timedAnswer(nil), l.list...)
}

// loop calls f every pause until ctx ends.
func loop(ctx context.Context, wg *sync.WaitGroup, pause time.Duration, f func(i int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			f(i)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
}

// outageWriteTimeout is the servers' ENROLLKIT_WRITE_TIMEOUT in the
// database outage scenarios: no answer may take longer. Their requests'
// deadline, ENROLLKIT_REQUEST_TIMEOUT, is outageDeadline: a request the
// database holds up must be answered 503 by then (give or take a second
// of scheduling), not when the database comes back.
const (
	outageWriteTimeout = 10 * time.Second
	outageDeadline     = 5 * time.Second
)

// outage is a database outage under light load, and what it is held to.
type outage struct {
	name string
	// cut takes the database away, for length.
	cut    func(*dbProxy)
	length time.Duration
	// readyWithin bounds how long after the cut /readyz still says ready.
	readyWithin time.Duration
	// bound is the longest an answer may take.
	bound time.Duration
}

func testDBOutage(t *testing.T, ctx context.Context, sum *faultSummary) {
	runOutage(t, ctx, sum, outage{name: "refused", cut: (*dbProxy).refuse, length: 10 * time.Second, readyWithin: 2 * time.Second,
		bound: outageWriteTimeout})
}

// testDBOutageStall stalls the database's connections instead, for longer
// than the write timeout: answers must come within the requests'
// deadline, as 503, not after the stall. The readiness check waits up to
// 2 s for the database, hence its bound.
func testDBOutageStall(t *testing.T, ctx context.Context, sum *faultSummary) {
	runOutage(t, ctx, sum, outage{name: "stalled", cut: (*dbProxy).hold, length: 15 * time.Second, readyWithin: 3 * time.Second,
		bound: outageDeadline + time.Second})
}

// runOutage puts a proxy between the server and PostgreSQL, runs a light
// load (managers reading user groups, learners redeeming, a probe of
// /readyz), takes the database away and brings it back, and checks that
// every answer came within o.bound, that the API answered 503
// problem documents with Retry-After and never 500, that /readyz noticed
// within o.readyWithin, and that the server answered 2xx within 5 s of the
// database's return.
func runOutage(t *testing.T, ctx context.Context, sum *faultSummary, o outage) {
	dbURL := faultPostgres(t, ctx)
	u, _ := url.Parse(dbURL)
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	mail := newFaultMail(t)
	mail.open(t)
	direct := &faultEnv{dbURL: dbURL, dataDir: t.TempDir(), smtpURL: mail.url()}
	org := mustCreateOrg(t, ctx, direct, "Outage "+o.name)
	env := *direct
	env.dbURL = u.String()
	env.extra = []string{"ENROLLKIT_WRITE_TIMEOUT=" + outageWriteTimeout.String(), "ENROLLKIT_REQUEST_TIMEOUT=" + outageDeadline.String()}
	srv := startServer(t, ctx, "server", &env)
	m := signIn(t, ctx, newClient(srv), org)
	inv := mustInvitation(t, ctx, m, org, "Outage", 100000, mustUserGroups(t, ctx, m, org, "Outage", 1), false)

	// Clients wait past the write timeout, so that a hang shows as one.
	patient := &http.Client{Transport: faultTransport, Timeout: outageWriteTimeout + 5*time.Second}
	m.http = patient
	public := newClient(srv)
	public.http = patient
	probe := newClient(srv)
	probe.http = &http.Client{Transport: faultTransport, Timeout: 5 * time.Second}

	log := &answerLog{}
	load, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var learner atomic.Int32
	for range 2 {
		loop(load, &wg, 100*time.Millisecond, func(int) {
			log.call(load, m, "read", "GET", "/api/v1/user-groups?limit=20", nil)
		})
		loop(load, &wg, 200*time.Millisecond, func(int) {
			email := burstEmail("outage", int(learner.Add(1)))
			log.call(load, public, "redeem", "POST", "/api/v1/redemptions", redeemBody(inv.Passcode, email))
		})
	}
	loop(load, &wg, 100*time.Millisecond, func(int) { log.call(load, probe, "readyz", "GET", "/readyz", nil) })

	time.Sleep(2 * time.Second)
	cut := time.Now()
	o.cut(proxy)
	time.Sleep(o.length)
	back := time.Now()
	proxy.restore()
	time.Sleep(outageWriteTimeout)
	stopped := time.Now()
	stop()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the scenario ran out of time")
	}

	var (
		during, unavailable, errors5xx, malformed, noAnswer, hangs, lateFailures int
		notReady, recovered                                                      = time.Duration(-1), time.Duration(-1)
		examples                                                                 []string
	)
	example := func(format string, args ...any) {
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf(format, args...))
		}
	}
	for _, a := range log.answers() {
		if a.err != nil && !a.done.Before(stopped) && errors.Is(a.err, context.Canceled) {
			continue // cut off by the end of the load
		}
		api := a.what != "readyz"
		if a.sent.After(cut) && a.sent.Before(back) && api {
			during++
		}
		switch {
		case a.err != nil:
			noAnswer++
			if a.elapsed >= o.bound {
				hangs++
			}
			example("%s sent %s after the cut: no answer after %s: %v", a.what, seconds(a.sent.Sub(cut)), seconds(a.elapsed), a.err)
			continue
		case a.elapsed > o.bound:
			hangs++
			example("%s sent %s after the cut: answered %d after %s", a.what, seconds(a.sent.Sub(cut)), a.status, seconds(a.elapsed))
		}
		ok := a.status < 300
		if !ok && a.what == "readyz" && !a.done.Before(cut) && (notReady < 0 || a.done.Sub(cut) < notReady) {
			notReady = a.done.Sub(cut)
		}
		if ok && a.sent.After(back) && (recovered < 0 || a.done.Sub(back) < recovered) {
			recovered = a.done.Sub(back)
		}
		if !api {
			continue
		}
		if a.status >= 500 && a.status != http.StatusServiceUnavailable {
			errors5xx++
			example("%s sent %s after the cut: %d %.120s", a.what, seconds(a.sent.Sub(cut)), a.status, a.body)
		}
		if a.status == http.StatusServiceUnavailable {
			unavailable++
			if err := a.wellFormed(); err != nil {
				malformed++
				example("%s: %v", a.what, err)
			}
		}
		// Once the database has been back for 5 s, the API is itself again.
		if a.sent.After(back.Add(5*time.Second)) && a.status >= 500 {
			lateFailures++
			example("%s sent %s after the database returned: %d", a.what, seconds(a.sent.Sub(back)), a.status)
		}
	}
	switch {
	case errors5xx > 0:
		t.Errorf("%d answers were 5xx other than 503 (want 503 problem documents with Retry-After)", errors5xx)
	case unavailable == 0:
		t.Errorf("no 503 answer during the %s outage", o.name)
	}
	if malformed > 0 {
		t.Errorf("%d answers 503 were not problem documents with Retry-After", malformed)
	}
	if noAnswer > 0 || hangs > 0 {
		t.Errorf("%d requests got no answer, %d took longer than %s", noAnswer, hangs, o.bound)
	}
	if notReady < 0 || notReady > o.readyWithin {
		t.Errorf("/readyz said not ready %s after the cut, want within %s", seconds(notReady), o.readyWithin)
	}
	if recovered < 0 || recovered > 5*time.Second {
		t.Errorf("the first 2xx came %s after the database returned, want within 5s", seconds(recovered))
	}
	if lateFailures > 0 {
		t.Errorf("%d requests failed more than 5s after the database returned", lateFailures)
	}
	if t.Failed() && len(examples) > 0 {
		t.Logf("for example:\n%s", strings.Join(examples, "\n"))
	}
	sum.add("database %s for %s under %d API requests: %d×503 (%d malformed), %d×5xx other, %d unanswered, %d over %s",
		o.name, seconds(o.length), during, unavailable, malformed, errors5xx, noAnswer, hangs, o.bound)
	sum.add("/readyz not ready %s after the cut; first 2xx %s after the return", seconds(notReady), seconds(recovered))
}

// testSQLiteConcurrency runs redemptions and managers' writes at once on
// the embedded SQLite database for ten seconds: no answer may be a 5xx,
// and none may say the database is locked.
func testSQLiteConcurrency(t *testing.T, ctx context.Context, sum *faultSummary) {
	mail := newFaultMail(t)
	mail.open(t)
	dir := t.TempDir()
	env := &faultEnv{dbURL: filepath.Join(dir, "enrollkit.db"), dataDir: dir, smtpURL: mail.url()}
	org := mustCreateOrg(t, ctx, env, "Embedded")
	srv := startServer(t, ctx, "server", env)
	m := signIn(t, ctx, newClient(srv), org)
	groups := mustUserGroups(t, ctx, m, org, "Embedded", 2)
	direct := mustInvitation(t, ctx, m, org, "Direct", 100000, groups, false)
	verified := mustInvitation(t, ctx, m, org, "Verified", 100000, groups, true)
	var course struct{ ID string }
	m.must(t, ctx, "POST", "/api/v1/courses", map[string]string{"name": "Shared course"}, &course)

	public := newClient(srv)
	log := &answerLog{}
	load, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	var wg sync.WaitGroup
	var learner atomic.Int32
	redeemer := func(inv *faultInvitation, what string) {
		loop(load, &wg, 20*time.Millisecond, func(int) {
			log.call(load, public, what, "POST", "/api/v1/redemptions", redeemBody(inv.Passcode, burstEmail("embedded", int(learner.Add(1)))))
		})
	}
	// Two at a time, one per hashing slot: a third would wait for a slot,
	// and on a loaded machine past ENROLLKIT_PASSWORD_WAIT, whose 503 is
	// the hasher's answer, not the database's.
	redeemer(direct, "redeem")
	redeemer(verified, "redeem pending")
	loop(load, &wg, 10*time.Millisecond, func(i int) {
		var g struct{ ID string }
		a := log.call(load, m, "write", "POST", "/api/v1/user-groups", map[string]string{"name": fmt.Sprintf("Load group %d", i),
			"organization_group_id": org.OrganizationGroupID})
		if a.status != http.StatusCreated || json.Unmarshal(a.body, &g) != nil {
			return
		}
		log.call(load, m, "write", "PATCH", "/api/v1/user-groups/"+g.ID, map[string]string{"description": "patched"})
		log.call(load, m, "write", "POST", "/api/v1/user-groups/"+g.ID+"/courses", map[string]any{"course_ids": []string{course.ID}})
	})
	loop(load, &wg, 10*time.Millisecond, func(i int) {
		var c struct{ ID string }
		a := log.call(load, m, "write", "POST", "/api/v1/courses", map[string]string{"name": fmt.Sprintf("Load course %d", i)})
		if a.status != http.StatusCreated || json.Unmarshal(a.body, &c) != nil {
			return
		}
		log.call(load, m, "write", "PATCH", "/api/v1/courses/"+c.ID, map[string]string{"description": "patched"})
	})
	loop(load, &wg, 10*time.Millisecond, func(int) {
		log.call(load, m, "read", "GET", "/api/v1/user-groups?limit=50", nil)
	})
	wg.Wait()

	byWhat := map[string]map[int]int{}
	cutOff := map[string]int{}
	fivexx, locked, failed := 0, 0, 0
	var examples []string
	for _, a := range log.answers() {
		if a.err != nil {
			if load.Err() != nil && errors.Is(a.err, context.DeadlineExceeded) {
				cutOff[a.what]++ // cut off by the end of the load
				continue
			}
			failed++
			examples = append(examples, fmt.Sprintf("%s: %v", a.what, a.err))
			continue
		}
		if byWhat[a.what] == nil {
			byWhat[a.what] = map[int]int{}
		}
		byWhat[a.what][a.status]++
		if a.status >= 500 {
			fivexx++
			examples = append(examples, fmt.Sprintf("%s: %d %.200s", a.what, a.status, a.body))
		}
		if strings.Contains(strings.ToLower(string(a.body)), "database is locked") {
			locked++
			examples = append(examples, fmt.Sprintf("%s: %d %.200s", a.what, a.status, a.body))
		}
	}
	if fivexx > 0 || locked > 0 || failed > 0 {
		t.Errorf("%d answers 5xx, %d saying the database is locked, %d requests without an answer:\n%s",
			fivexx, locked, failed, strings.Join(examples[:min(len(examples), 10)], "\n"))
	}
	// The seats taken are the redemptions answered 201, and at most those
	// the end of the load cut off: one whose client left while it
	// committed is taken, as a retry would be told (a replay).
	var committedCutOff []string
	for _, c := range []struct {
		inv  *faultInvitation
		what string
	}{{direct, "redeem"}, {verified, "redeem pending"}} {
		var got struct {
			RegistrationsUsed int `json:"registrations_used"`
		}
		m.must(t, ctx, "GET", "/api/v1/invitations/"+c.inv.ID, nil, &got)
		created := byWhat[c.what][http.StatusCreated]
		if got.RegistrationsUsed < created || got.RegistrationsUsed > created+cutOff[c.what] {
			t.Errorf("%s: %d answered 201 and %d cut off by the end of the load, %d seats taken", c.what, created,
				cutOff[c.what], got.RegistrationsUsed)
		}
		committedCutOff = append(committedCutOff, fmt.Sprintf("%s %d (%d committed)", c.what, cutOff[c.what], got.RegistrationsUsed-created))
	}
	total := 0
	var parts []string
	for _, what := range []string{"redeem", "redeem pending", "write", "read"} {
		n := 0
		for _, v := range byWhat[what] {
			n += v
		}
		total += n
		parts = append(parts, fmt.Sprintf("%s %s", what, statusFigures(byWhat[what])))
	}
	sum.add("%d answers in 10s: %s", total, strings.Join(parts, ", "))
	sum.add("%d×5xx, %d 'database is locked', %d unanswered; cut off by the end of the load: %s", fivexx, locked, failed,
		strings.Join(committedCutOff, ", "))
}
