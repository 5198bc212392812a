// Package ratelimit provides a failure-counting throttle.
//
// A caller first asks Check whether a key (a client IP, an account, ...) is
// currently blocked; Check consumes nothing. The caller then does its work
// and calls Fail only when the attempt failed. Successful attempts are never
// counted.
//
// Both implementations use GCRA, i.e. a token bucket with Burst = Limit that
// refills Limit tokens per Period: a fresh key may fail Limit times in a row;
// after that it is blocked until one more failure "fits" again, which takes
// Period/Limit. A key whose bucket is full (no recent failures) is
// indistinguishable from a key that was never seen.
//
// Error handling: Memory only returns errors for invalid rules. Redis returns
// every Redis error, wrapped with %w (errors.Is/As keep working); it is up to
// the caller whether to fail open (let the attempt through) or fail closed
// (reject it) when the throttle is unavailable.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Rule says how many failures a key may accumulate per Period before it is
// blocked (GCRA / token bucket: Burst = Limit, refill Limit per Period).
type Rule struct {
	// Name is the key prefix, e.g. "login-ip". Rules with different names
	// never share counters.
	Name string
	// Limit is the number of failures allowed per Period (and the burst).
	Limit int
	// Period is the window in which Limit failures refill.
	Period time.Duration
}

// Decision is the outcome of a check.
type Decision struct {
	// Allowed reports whether the key may make another attempt.
	Allowed bool
	// RetryAfter is >0 when !Allowed: the time until one more attempt is
	// allowed, rounded up to whole seconds and at least 1s. It is 0 when
	// Allowed.
	RetryAfter time.Duration
	// Remaining is how many more failures the key may take before it is
	// blocked: after this one, for Fail and Reserve.
	Remaining int
	// Reset is how long until the key's failures are all forgotten.
	Reset time.Duration
}

// Throttle counts failures per key.
//
// Implementations are safe for concurrent use.
type Throttle interface {
	// Check reports whether key is currently allowed under r. It consumes
	// nothing.
	Check(ctx context.Context, r Rule, key string) (Decision, error)
	// Fail records one failure for key under r; the Decision tells whether
	// the key is blocked now (i.e. what Check would return right after).
	// Failures recorded while the key is already blocked saturate the
	// bucket: they do not extend the block.
	Fail(ctx context.Context, r Rule, key string) (Decision, error)
	// Reserve counts one attempt as a failure before it is made, in one
	// atomic step with the check, so that concurrent attempts cannot all
	// pass a check made before any failure was recorded. Allowed is false
	// (and nothing is recorded) when the key is already blocked.
	Reserve(ctx context.Context, r Rule, key string) (Decision, error)
	// Refund gives back one reservation whose attempt did not fail.
	Refund(ctx context.Context, r Rule, key string) error
}

// ErrInvalidRule is returned (wrapped) for a Rule with an empty Name, a
// non-positive Limit or a non-positive Period.
var ErrInvalidRule = errors.New("ratelimit: invalid rule")

// KeyPrefix is the prefix of every key this package builds:
// KeyPrefix + rule name + ":" + hashed key.
const KeyPrefix = "enrollkit:rl:"

func (r Rule) validate() error {
	if r.Name == "" || r.Limit <= 0 || r.Period <= 0 {
		return fmt.Errorf("%w: name=%q limit=%d period=%s", ErrInvalidRule, r.Name, r.Limit, r.Period)
	}
	return nil
}

// storageKey returns KeyPrefix + r.Name + ":" + the first 32 hex characters
// of sha256(key). Hashing makes user-supplied keys (emails, ...) of any
// length and content safe to use as a Redis key and bounds memory use.
func storageKey(r Rule, key string) string {
	return KeyPrefix + r.Name + ":" + hashKey(key)
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// decide is the Decision for a key whose theoretical arrival time is debt
// ahead of now (GCRA): blocked while the debt is more than the slack, and
// each emission interval of the period it leaves free one more failure.
func decide(r Rule, debt time.Duration) Decision {
	interval, slack := emission(r)
	debt = max(0, debt)
	d := Decision{Allowed: true, Reset: debt, Remaining: min(r.Limit, int((r.Period-debt)/interval))}
	if wait := debt - slack; wait > 0 {
		d.Allowed, d.RetryAfter, d.Remaining = false, roundUpSeconds(wait), 0
	}
	return d
}

// reserved is the Decision of a reservation that was taken: allowed, with
// the key's state after it.
func reserved(post Decision) Decision {
	post.Allowed, post.RetryAfter = true, 0
	return post
}

func roundUpSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	if rem := d % time.Second; rem != 0 {
		d += time.Second - rem
	}
	return d
}
