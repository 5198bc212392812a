//go:build faults

package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultScenario is one subtest of TestFaults.
type faultScenario struct {
	name string
	// limit bounds the whole scenario, servers' start-ups included.
	limit time.Duration
	// heavy marks the scenarios that keep the password hasher busy or hold
	// many database connections at once; one of them runs at a time, so
	// that a scenario's answers are not another one's load (a redemption
	// starved of CPU waits past ENROLLKIT_PASSWORD_WAIT and is answered
	// 503) and the shared PostgreSQL keeps connections for everyone else.
	heavy bool
	run   func(t *testing.T, ctx context.Context, sum *faultSummary)
}

// faultHeavy lets one heavy scenario run at a time.
var faultHeavy = make(chan struct{}, 1)

// TestFaults is the fault suite. It runs real enrollkit processes and
// breaks what they stand on: it kills them in the middle of a redemption
// burst, stops them while requests are in flight, runs replicas side by
// side, takes the mail server and the database away, and then checks with
// SQL that seats, redemptions, memberships, enrollments and emails are
// exactly what was promised.
//
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -tags faults -run TestFaults -v -count=1 ./cmd/enrollkit/
//
// Each scenario prints one line, FAULT <name>: <figures>. Without
// TEST_DATABASE_URL only the SQLite scenario runs; without Redis at
// 127.0.0.1:6379, not the replicas one (outside CI).
func TestFaults(t *testing.T) {
	// Each heavy scenario is followed by a light one, which runs beside it
	// (go test runs two at a time on two cores).
	for _, s := range []faultScenario{
		{name: "kill9-burst", limit: 150 * time.Second, heavy: true, run: testKill9Burst},
		{name: "smtp-down", limit: 90 * time.Second, run: testSMTPDown},
		{name: "sigterm-inflight", limit: 60 * time.Second, heavy: true, run: testSIGTERMInFlight},
		{name: "smtp-down-sigkill", limit: 120 * time.Second, run: testSMTPDownSIGKILL},
		{name: "replicas", limit: 150 * time.Second, heavy: true, run: testReplicas},
		{name: "db-outage", limit: 60 * time.Second, run: testDBOutage},
		{name: "sqlite-concurrency", limit: 60 * time.Second, heavy: true, run: testSQLiteConcurrency},
		{name: "db-outage-stall", limit: 60 * time.Second, run: testDBOutageStall},
		{name: "smtp-sigkill-mid-send", limit: 200 * time.Second, run: testSMTPKillMidSend},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if s.heavy {
				faultHeavy <- struct{}{}
				// Registered first, so it runs after every other cleanup:
				// the next heavy one starts once this one's servers are gone.
				t.Cleanup(func() { <-faultHeavy })
			}
			ctx, cancel := context.WithTimeout(t.Context(), s.limit)
			defer cancel()
			sum := &faultSummary{name: s.name, start: time.Now()}
			defer sum.print(t)
			s.run(t, ctx, sum)
		})
	}
}

// faultSummary gathers a scenario's figures for its one FAULT line, which
// is printed however the scenario ends.
type faultSummary struct {
	name  string
	start time.Time
	mu    sync.Mutex
	parts []string
}

// add records one figure.
func (s *faultSummary) add(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = append(s.parts, fmt.Sprintf(format, args...))
}

func (s *faultSummary) print(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	figures := strings.Join(s.parts, "; ")
	switch {
	case t.Skipped():
		figures = "skipped"
	case t.Failed():
		figures += " (FAILED)"
	}
	fmt.Printf("FAULT %s: %s; %.1fs\n", s.name, figures, time.Since(s.start).Seconds())
}
