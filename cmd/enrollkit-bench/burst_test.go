package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// burstServer answers a redemption 503 with Retry-After: 1 until the same
// body has been refused refusals times, then 201.
func burstServer(t *testing.T, refusals int) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(b)]++
		n := seen[string(b)]
		mu.Unlock()
		if n <= refusals {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func burstBodies(n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = []byte(`{"employee":` + strconv.Itoa(i) + `}`)
	}
	return bodies
}

func TestBurstRetriesAfterRetryAfter(t *testing.T) {
	const n = 40
	srv := burstServer(t, 1)
	plan := &burstPlan{url: srv.URL, bodies: burstBodies(n), rate: 200, arrivals: 30 * time.Second, deadline: 90 * time.Second}
	t0 := time.Now()
	b := runBurst(context.Background(), plan, 0)
	if b.Registered != n || b.Attempts != 2*n || b.Retries != n || b.Codes["201"] != n || b.Count503 != n || b.GaveUp != 0 {
		t.Fatalf("every employee refused once should register on its retry: %+v", b)
	}
	// Each employee waited its second and no more, and the retries, due
	// while the arrivals were still coming, did not wait for one another.
	if b.P50Ms < 1000 || b.MaxMs > 1800 {
		t.Errorf("per employee p50 %.0f ms, max %.0f ms: want a little over the 1 s Retry-After", b.P50Ms, b.MaxMs)
	}
	if d := time.Since(t0); d > 2500*time.Millisecond {
		t.Errorf("the burst took %s: the retries were not sent on time", d)
	}
	// 39 gaps of 5 ms: 0.195 s when paced exactly. The pacer catches up
	// after a late first hit (a loaded machine), so the span can come out
	// shorter; half of it still tells paced arrivals from all at once.
	if b.ArrivalSeconds < 0.095 || b.ArrivalSeconds > 0.5 {
		t.Errorf("%d arrivals at 200/s took %.2f s", n, b.ArrivalSeconds)
	}
}

func TestBurstGivesUpAtTheDeadline(t *testing.T) {
	const n = 10
	srv := burstServer(t, 1_000)
	plan := &burstPlan{url: srv.URL, bodies: burstBodies(n), rate: 100, arrivals: 30 * time.Second, deadline: 1500 * time.Millisecond}
	b := runBurst(context.Background(), plan, 0)
	if b.Registered != 0 || b.GaveUp != n || b.Retries != n || b.Attempts != 2*n {
		t.Fatalf("a retry past the deadline must not be sent: %+v", b)
	}
}

func TestBurstArrivalsStopAtTheirBound(t *testing.T) {
	srv := burstServer(t, 0)
	plan := &burstPlan{url: srv.URL, bodies: burstBodies(20), rate: 10, arrivals: 450 * time.Millisecond, deadline: time.Second}
	b := runBurst(context.Background(), plan, 0)
	// Arrivals at 0, 100, …, 400 ms.
	if b.Registered != 5 || b.NeverArrived != 15 {
		t.Fatalf("want 5 arrivals within 450 ms at 10/s: %+v", b)
	}
}
