package ratelimit

import (
	"context"
	"sync"
	"time"
)

const (
	// memPruneThreshold is the map size above which Fail prunes full
	// buckets. After a prune the threshold becomes max(memPruneThreshold,
	// 2*len(map)) so pruning stays amortised O(1) even when most entries
	// are live.
	memPruneThreshold = 10000
	// memPruneInterval is the lazy schedule: a Fail at least this long
	// after the previous prune prunes regardless of the map size, so
	// memory is released after a burst of traffic ends.
	memPruneInterval = time.Minute
)

type memKey struct {
	rule string
	key  string // hashed
}

// Memory is an in-process Throttle. It keeps one GCRA state (a theoretical
// arrival time) per rule name and hashed key in a map guarded by a mutex.
// Full buckets are pruned lazily from Fail (when the map grows beyond a
// threshold or at most once per minute); no goroutines are started.
//
// Counters are not shared between processes; use Redis for that.
type Memory struct {
	// Now returns the current time. It defaults to time.Now; tests may
	// replace it before the Memory is first used.
	Now func() time.Time

	mu        sync.Mutex
	tat       map[memKey]time.Time
	pruneAt   int // prune when len(tat) > pruneAt
	minPrune  int // lower bound for pruneAt
	lastPrune time.Time
}

var _ Throttle = (*Memory)(nil)

// NewMemory returns an empty in-process Throttle.
func NewMemory() *Memory {
	return &Memory{
		Now:      time.Now,
		tat:      make(map[memKey]time.Time),
		pruneAt:  memPruneThreshold,
		minPrune: memPruneThreshold,
	}
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// emission returns the GCRA emission interval (Period/Limit, truncated) and
// the slack Period-interval: a key is blocked while its theoretical arrival
// time is more than slack in the future. Redis uses the same formulas in
// microseconds.
func emission(r Rule) (interval, slack time.Duration) {
	interval = max(1, r.Period/time.Duration(r.Limit))
	slack = max(0, r.Period-interval)
	return interval, slack
}

// Check implements Throttle. It consumes nothing.
func (m *Memory) Check(_ context.Context, r Rule, key string) (Decision, error) {
	if err := r.validate(); err != nil {
		return Decision{}, err
	}
	k := memKey{rule: r.Name, key: hashKey(key)}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tat, ok := m.tat[k]
	if !ok {
		return decide(r, 0), nil
	}
	if !tat.After(now) {
		delete(m.tat, k) // bucket is full again: same as never seen
		return decide(r, 0), nil
	}
	return decide(r, tat.Sub(now)), nil
}

// Fail implements Throttle.
func (m *Memory) Fail(_ context.Context, r Rule, key string) (Decision, error) {
	pre, post, err := m.record(r, key)
	if err != nil || !pre.Allowed {
		return pre, err
	}
	return post, nil
}

// maybePrune deletes full buckets (tat <= now). m.mu must be held.
func (m *Memory) maybePrune(now time.Time) {
	if len(m.tat) <= m.pruneAt && now.Sub(m.lastPrune) < memPruneInterval {
		return
	}
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
	m.lastPrune = now
	m.pruneAt = max(m.minPrune, 2*len(m.tat))
}

// Len returns the number of keys currently tracked (including full buckets
// not yet pruned). It is meant for tests and metrics.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}

// Reserve implements Throttle.
func (m *Memory) Reserve(_ context.Context, r Rule, key string) (Decision, error) {
	pre, post, err := m.record(r, key)
	if err != nil || !pre.Allowed {
		return pre, err
	}
	return reserved(post), nil
}

// record counts one failure for key unless it is already blocked. pre is
// the key's state before (not allowed: nothing was recorded), post its
// state after recording.
func (m *Memory) record(r Rule, key string) (pre, post Decision, err error) {
	if err := r.validate(); err != nil {
		return Decision{}, Decision{}, err
	}
	k := memKey{rule: r.Name, key: hashKey(key)}
	interval, _ := emission(r)

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.maybePrune(now)
	tat, ok := m.tat[k]
	if !ok || tat.Before(now) {
		tat = now
	}
	if pre = decide(r, tat.Sub(now)); !pre.Allowed {
		return pre, Decision{}, nil
	}
	newTat := tat.Add(interval)
	m.tat[k] = newTat
	return pre, decide(r, newTat.Sub(now)), nil
}

// Refund implements Throttle.
func (m *Memory) Refund(_ context.Context, r Rule, key string) error {
	if err := r.validate(); err != nil {
		return err
	}
	k := memKey{rule: r.Name, key: hashKey(key)}
	interval, _ := emission(r)

	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[k]
	if !ok {
		return nil
	}
	if tat = tat.Add(-interval); tat.After(m.now()) {
		m.tat[k] = tat
	} else {
		delete(m.tat, k)
	}
	return nil
}
