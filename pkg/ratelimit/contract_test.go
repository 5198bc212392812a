package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// setupFunc returns a fresh Throttle and a rule-name prefix unique to the
// calling test. Any cleanup is registered on t.
type setupFunc func(t *testing.T) (th Throttle, prefix string)

func randomPrefix(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b[:])
}

func mustCheck(t *testing.T, th Throttle, r Rule, key string) Decision {
	t.Helper()
	d, err := th.Check(context.Background(), r, key)
	if err != nil {
		t.Fatalf("Check(%s, %q): %v", r.Name, key, err)
	}
	return d
}

func mustFail(t *testing.T, th Throttle, r Rule, key string) Decision {
	t.Helper()
	d, err := th.Fail(context.Background(), r, key)
	if err != nil {
		t.Fatalf("Fail(%s, %q): %v", r.Name, key, err)
	}
	return d
}

// assertBlocked checks that d is a well-formed "blocked" decision whose
// RetryAfter is whole seconds, > 0 and <= max.
func assertBlocked(t *testing.T, d Decision, max time.Duration) {
	t.Helper()
	if d.Allowed {
		t.Fatalf("decision = %+v, want blocked", d)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > max {
		t.Fatalf("RetryAfter = %s, want in (0, %s]", d.RetryAfter, max)
	}
	if d.RetryAfter%time.Second != 0 {
		t.Fatalf("RetryAfter = %s, want whole seconds", d.RetryAfter)
	}
}

func assertAllowed(t *testing.T, d Decision) {
	t.Helper()
	if !d.Allowed || d.RetryAfter != 0 {
		t.Fatalf("decision = %+v, want allowed with RetryAfter 0", d)
	}
}

// testContract is the behaviour both implementations must share.
func testContract(t *testing.T, setup setupFunc) {
	// Period is long so that real time passing during the Redis tests
	// refills nothing noticeable; Period/Limit = 20m.
	const limit = 3
	const period = time.Hour
	oneInterval := period / limit

	t.Run("RemainingAndReset", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-remaining", Limit: limit, Period: period}
		ctx := context.Background()
		near := func(got, want time.Duration) bool { return got <= want && got > want-time.Minute }
		if d := mustCheck(t, th, r, "k"); d.Remaining != limit || d.Reset != 0 {
			t.Fatalf("fresh: %+v, want %d remaining and nothing to reset", d, limit)
		}
		for left := limit - 1; left >= 0; left-- {
			d, err := th.Reserve(ctx, r, "k")
			if err != nil || !d.Allowed || d.Remaining != left || !near(d.Reset, time.Duration(limit-left)*oneInterval) {
				t.Fatalf("reservation leaving %d: %+v, %v", left, d, err)
			}
		}
		if d, _ := th.Reserve(ctx, r, "k"); d.Allowed || d.Remaining != 0 || !near(d.Reset, period) {
			t.Fatalf("past the limit: %+v, want blocked with 0 remaining and a period to reset", d)
		}
		if err := th.Refund(ctx, r, "k"); err != nil {
			t.Fatal(err)
		}
		if d := mustCheck(t, th, r, "k"); !d.Allowed || d.Remaining != 1 {
			t.Fatalf("after a refund: %+v, want 1 remaining", d)
		}
		if d := mustFail(t, th, r, "k"); d.Allowed || d.Remaining != 0 {
			t.Fatalf("failing the last: %+v, want blocked", d)
		}
	})

	t.Run("FreshKeyAllowed", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-login-ip", Limit: limit, Period: period}
		assertAllowed(t, mustCheck(t, th, r, "203.0.113.7"))
	})

	t.Run("BlockedAfterLimitFailures", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-login-account", Limit: limit, Period: period}
		key := "alice@example.com"
		for i := 1; i < limit; i++ {
			assertAllowed(t, mustFail(t, th, r, key))
			assertAllowed(t, mustCheck(t, th, r, key))
		}
		// The Limit-th failure blocks the key.
		assertBlocked(t, mustFail(t, th, r, key), period)
		d := mustCheck(t, th, r, key)
		assertBlocked(t, d, period)
		// GCRA: the next attempt fits after one emission interval.
		if d.RetryAfter > oneInterval {
			t.Fatalf("RetryAfter = %s, want <= %s", d.RetryAfter, oneInterval)
		}
		// Failures while blocked saturate instead of extending the block.
		for range 5 {
			assertBlocked(t, mustFail(t, th, r, key), oneInterval)
		}
		assertBlocked(t, mustCheck(t, th, r, key), oneInterval)
	})

	t.Run("ConcurrentReservationsAdmitExactlyLimit", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-redeem-ip", Limit: limit, Period: period}
		var mu sync.Mutex
		admitted := 0
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				d, err := th.Reserve(context.Background(), r, "198.51.100.1")
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if admitted != limit {
			t.Fatalf("%d of 40 concurrent reservations admitted, want %d", admitted, limit)
		}
	})

	t.Run("RefundGivesTheReservationBack", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-redeem-ip", Limit: limit, Period: period}
		ctx := context.Background()
		for range 10 * limit { // successful attempts: reserve, then refund
			d, err := th.Reserve(ctx, r, "k")
			if err != nil || !d.Allowed {
				t.Fatalf("reserve: %+v %v", d, err)
			}
			if err := th.Refund(ctx, r, "k"); err != nil {
				t.Fatal(err)
			}
		}
		assertAllowed(t, mustCheck(t, th, r, "k"))
		if err := th.Refund(ctx, r, "never-seen"); err != nil {
			t.Fatalf("refund of an unknown key: %v", err)
		}
	})

	t.Run("CheckDoesNotConsume", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-login-ip", Limit: limit, Period: period}
		key := "198.51.100.1"
		for range 100 {
			assertAllowed(t, mustCheck(t, th, r, key))
		}
		for range limit - 1 {
			assertAllowed(t, mustFail(t, th, r, key))
		}
		for range 100 {
			assertAllowed(t, mustCheck(t, th, r, key))
		}
		assertBlocked(t, mustFail(t, th, r, key), period)
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		r := Rule{Name: p + "-login-account", Limit: limit, Period: period}
		odd := "Bob+tag@Example.COM \x00 \u2603 " + strings.Repeat("x", 10000)
		for range limit {
			mustFail(t, th, r, odd)
		}
		assertBlocked(t, mustCheck(t, th, r, odd), period)
		for _, other := range []string{"bob@example.com", "", "Bob+tag@Example.COM", odd[:len(odd)-1]} {
			assertAllowed(t, mustCheck(t, th, r, other))
		}
		assertAllowed(t, mustFail(t, th, r, "bob@example.com"))
		assertBlocked(t, mustCheck(t, th, r, odd), period)
	})

	t.Run("RuleNamesIndependent", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		ip := Rule{Name: p + "-login-ip", Limit: limit, Period: period}
		pass := Rule{Name: p + "-passcode-ip", Limit: limit, Period: period}
		key := "192.0.2.55"
		for range limit {
			mustFail(t, th, ip, key)
		}
		assertBlocked(t, mustCheck(t, th, ip, key), period)
		assertAllowed(t, mustCheck(t, th, pass, key))
		assertAllowed(t, mustFail(t, th, pass, key))
		assertBlocked(t, mustCheck(t, th, ip, key), period)
	})

	t.Run("ConcurrentFailuresCountedExactly", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		const lim = 5
		r := Rule{Name: p + "-login-ip", Limit: lim, Period: period}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
		)
		for range 20 {
			wg.Go(func() {
				d, err := th.Fail(context.Background(), r, "10.0.0.1")
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if allowed != lim-1 {
			t.Fatalf("%d Fail calls reported allowed, want %d", allowed, lim-1)
		}
		assertBlocked(t, mustCheck(t, th, r, "10.0.0.1"), period)
	})

	t.Run("LimitOneFractionalPeriod", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		// Regression: float-seconds GCRA (redis_rate) reports such a
		// fresh key as blocked.
		for _, period := range []time.Duration{150 * time.Millisecond, 1500 * time.Millisecond, 7 * time.Minute / 3} {
			r := Rule{Name: p + "-one", Limit: 1, Period: period}
			for i := range 20 {
				key := fmt.Sprint(period, i)
				assertAllowed(t, mustCheck(t, th, r, key))
				assertBlocked(t, mustFail(t, th, r, key), roundUpSeconds(period))
				if period >= time.Second { // Redis runs on a real clock
					assertBlocked(t, mustCheck(t, th, r, key), roundUpSeconds(period))
				}
			}
		}
	})

	t.Run("InvalidRule", func(t *testing.T) {
		t.Parallel()
		th, p := setup(t)
		for _, r := range []Rule{
			{Name: "", Limit: 1, Period: time.Minute},
			{Name: p, Limit: 0, Period: time.Minute},
			{Name: p, Limit: 1, Period: 0},
		} {
			if _, err := th.Check(context.Background(), r, "k"); !errors.Is(err, ErrInvalidRule) {
				t.Errorf("Check(%+v) error = %v, want ErrInvalidRule", r, err)
			}
			if _, err := th.Fail(context.Background(), r, "k"); !errors.Is(err, ErrInvalidRule) {
				t.Errorf("Fail(%+v) error = %v, want ErrInvalidRule", r, err)
			}
		}
	})
}

func TestContract(t *testing.T) {
	t.Parallel()
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		testContract(t, func(t *testing.T) (Throttle, string) {
			m := NewMemory()
			m.Now = newFakeClock().Now
			return m, randomPrefix(t)
		})
	})
	t.Run("Redis", func(t *testing.T) {
		t.Parallel()
		testContract(t, func(t *testing.T) (Throttle, string) {
			c := redisClient(t)
			p := randomPrefix(t)
			cleanupKeys(t, c, p)
			return NewRedis(c), p
		})
	})
}

func TestRoundUpSeconds(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]time.Duration{
		-time.Second:                        time.Second,
		0:                                   time.Second,
		time.Nanosecond:                     time.Second,
		time.Second:                         time.Second,
		time.Second + time.Nanosecond:       2 * time.Second,
		1199*time.Second + time.Millisecond: 1200 * time.Second,
		20 * time.Minute:                    20 * time.Minute,
	} {
		if got := roundUpSeconds(in); got != want {
			t.Errorf("roundUpSeconds(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestStorageKey(t *testing.T) {
	t.Parallel()
	r := Rule{Name: "login-account", Limit: 1, Period: time.Minute}
	k := storageKey(r, "alice@example.com")
	// sha256("alice@example.com") = ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976
	want := "enrollkit:rl:login-account:ff8d9819fc0e12bf0d24892e45987e24"
	if k != want {
		t.Fatalf("storageKey = %q, want %q", k, want)
	}
	if got := storageKey(r, strings.Repeat("é", 5000)); len(got) != len("enrollkit:rl:login-account:")+32 {
		t.Fatalf("long key not bounded: len %d", len(got))
	}
}
