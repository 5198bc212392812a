package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestMemory() (*Memory, *fakeClock) {
	m := NewMemory()
	clk := newFakeClock()
	m.Now = clk.Now
	return m, clk
}

func TestMemoryRecoversAfterPeriod(t *testing.T) {
	t.Parallel()
	m, clk := newTestMemory()
	r := Rule{Name: "login-ip", Limit: 3, Period: 15 * time.Minute}
	key := "203.0.113.9"
	for range 3 {
		mustFail(t, m, r, key)
	}
	d := mustCheck(t, m, r, key)
	assertBlocked(t, d, r.Period)
	if d.RetryAfter != 5*time.Minute {
		t.Fatalf("RetryAfter = %s, want 5m (Period/Limit)", d.RetryAfter)
	}

	clk.Advance(5*time.Minute - time.Second)
	d = mustCheck(t, m, r, key)
	assertBlocked(t, d, r.Period)
	if d.RetryAfter != time.Second {
		t.Fatalf("RetryAfter = %s, want 1s", d.RetryAfter)
	}

	// One emission interval later exactly one more failure fits.
	clk.Advance(time.Second)
	assertAllowed(t, mustCheck(t, m, r, key))
	assertBlocked(t, mustFail(t, m, r, key), r.Period)

	// After a whole period the bucket is full again: Limit failures fit.
	clk.Advance(r.Period)
	assertAllowed(t, mustCheck(t, m, r, key))
	for range r.Limit - 1 {
		assertAllowed(t, mustFail(t, m, r, key))
	}
	assertBlocked(t, mustFail(t, m, r, key), r.Period)
}

func TestMemoryRetryAfterRoundsUp(t *testing.T) {
	t.Parallel()
	m, clk := newTestMemory()
	r := Rule{Name: "passcode-ip", Limit: 1, Period: 10 * time.Second}
	mustFail(t, m, r, "k")
	clk.Advance(9*time.Second + time.Millisecond)
	d := mustCheck(t, m, r, "k")
	if d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("decision = %+v, want blocked with RetryAfter 1s", d)
	}
	clk.Advance(998 * time.Millisecond)
	d = mustCheck(t, m, r, "k")
	if d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("decision = %+v, want blocked with RetryAfter 1s", d)
	}
	clk.Advance(time.Millisecond)
	assertAllowed(t, mustCheck(t, m, r, "k"))
}

func TestMemoryCheckCreatesNothing(t *testing.T) {
	t.Parallel()
	m, _ := newTestMemory()
	r := Rule{Name: "login-ip", Limit: 2, Period: time.Minute}
	for i := range 1000 {
		mustCheck(t, m, r, fmt.Sprint(i))
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("Len = %d after only Checks, want 0", n)
	}
}

func TestMemoryPruneKeepsMapBounded(t *testing.T) {
	t.Parallel()
	m, clk := newTestMemory()
	r := Rule{Name: "login-ip", Limit: 5, Period: 10 * time.Second}
	// One new key per second, each live for at most 10s: at most ~10 live
	// keys at a time, far more keys in total than the threshold.
	const total = 3 * memPruneThreshold
	for i := range total {
		mustFail(t, m, r, fmt.Sprintf("key-%d", i))
		clk.Advance(time.Millisecond)
		if n := m.Len(); n > memPruneThreshold+1 {
			t.Fatalf("after %d keys Len = %d, want <= %d", i+1, n, memPruneThreshold+1)
		}
		if i%100 == 0 {
			clk.Advance(time.Second)
		}
	}
	// Lazy schedule: after traffic stops, the next Fail releases memory
	// even though the map is below the threshold.
	clk.Advance(memPruneInterval)
	mustFail(t, m, r, "last")
	if n := m.Len(); n != 1 {
		t.Fatalf("Len = %d after interval prune, want 1", n)
	}
}

func TestMemoryPruneNeverDropsLiveKeys(t *testing.T) {
	t.Parallel()
	m, clk := newTestMemory()
	m.minPrune, m.pruneAt = 100, 100
	r := Rule{Name: "login-account", Limit: 1, Period: 30 * time.Second}
	const live = 1000
	for i := range live {
		assertBlocked(t, mustFail(t, m, r, fmt.Sprint(i)), r.Period)
	}
	if n := m.Len(); n != live {
		t.Fatalf("Len = %d, want %d (live keys must not be pruned)", n, live)
	}
	for i := range live {
		assertBlocked(t, mustCheck(t, m, r, fmt.Sprint(i)), r.Period)
	}
	// Threshold grew with the live set, so pruning stays amortised.
	if m.pruneAt < live {
		t.Fatalf("pruneAt = %d, want >= %d", m.pruneAt, live)
	}

	// Once they have all expired, new traffic eventually prunes them.
	clk.Advance(r.Period)
	for i := range 2 * live {
		mustFail(t, m, r, fmt.Sprint("new-", i))
		if n := m.Len(); n > 2*live+1 {
			t.Fatalf("Len = %d, want <= %d", n, 2*live+1)
		}
	}
	if n := m.Len(); n > 2*live {
		t.Fatalf("Len = %d after expiry, want <= %d", n, 2*live)
	}
}

func TestMemoryZeroValueNowFallsBack(t *testing.T) {
	t.Parallel()
	m := NewMemory()
	m.Now = nil
	r := Rule{Name: "x", Limit: 1, Period: time.Hour}
	if d, err := m.Fail(context.Background(), r, "k"); err != nil || d.Allowed {
		t.Fatalf("Fail = %+v, %v; want blocked", d, err)
	}
}
