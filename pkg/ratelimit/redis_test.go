package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const testRedisAddr = "127.0.0.1:6379"

// redisClient returns a client for the local Redis or skips the test.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:               testRedisAddr,
		DialTimeout:        time.Second,
		DialerRetryTimeout: 10 * time.Millisecond, // skip quickly if Redis is down
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Skipf("skipping Redis test: Redis not reachable at %s: %v", testRedisAddr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cleanupKeys deletes, at the end of the test, every key written for rule
// names starting with prefix. Register it after redisClient so it runs
// before the client is closed.
func cleanupKeys(t *testing.T, c *redis.Client, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, KeyPrefix+prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup scan: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup del: %v", err)
			}
		}
	})
}

func TestRedisSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	c1 := redisClient(t)
	c2 := redisClient(t)
	p := randomPrefix(t)
	cleanupKeys(t, c1, p)
	a, b := NewRedis(c1), NewRedis(c2)
	r := Rule{Name: p + "-login-ip", Limit: 4, Period: time.Hour}
	key := "198.51.100.23"

	assertAllowed(t, mustFail(t, a, r, key))
	assertAllowed(t, mustFail(t, b, r, key))
	assertAllowed(t, mustFail(t, a, r, key))
	assertAllowed(t, mustCheck(t, b, r, key))
	assertBlocked(t, mustFail(t, b, r, key), r.Period)
	assertBlocked(t, mustCheck(t, a, r, key), r.Period)
	assertBlocked(t, mustCheck(t, b, r, key), r.Period)
}

func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := randomPrefix(t)
	cleanupKeys(t, c, p)
	th := NewRedis(c)
	ctx := context.Background()
	r := Rule{Name: p + "-login-account", Limit: 2, Period: time.Minute}
	email := "Carol.O'Neil+x@example.org"
	redisKey := storageKey(r, email)

	for range 10 {
		mustCheck(t, th, r, email)
	}
	if n, err := c.Exists(ctx, redisKey).Result(); err != nil || n != 0 {
		t.Fatalf("after Checks only: Exists = %d, %v; want 0 (Check must write nothing)", n, err)
	}
	mustFail(t, th, r, email)
	if n, err := c.Exists(ctx, redisKey).Result(); err != nil || n != 1 {
		t.Fatalf("after Fail: Exists(%q) = %d, %v; want 1", redisKey, n, err)
	}
	ttl, err := c.TTL(ctx, redisKey).Result()
	if err != nil || ttl <= 0 || ttl > r.Period {
		t.Fatalf("TTL = %s, %v; want in (0, %s]", ttl, err, r.Period)
	}
}

func TestRedisRecoversAfterInterval(t *testing.T) {
	t.Parallel()
	c := redisClient(t)
	p := randomPrefix(t)
	cleanupKeys(t, c, p)
	th := NewRedis(c)
	r := Rule{Name: p + "-passcode-ip", Limit: 1, Period: 150 * time.Millisecond}
	assertBlocked(t, mustFail(t, th, r, "k"), time.Second)
	assertBlocked(t, mustCheck(t, th, r, "k"), time.Second)
	time.Sleep(r.Period + 20*time.Millisecond)
	assertAllowed(t, mustCheck(t, th, r, "k"))
	assertBlocked(t, mustFail(t, th, r, "k"), time.Second)
}

func TestRedisErrorsAreReturned(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1; the connection is refused immediately.
	c := redis.NewClient(&redis.Options{
		Addr:        "127.0.0.1:1",
		DialTimeout: 200 * time.Millisecond,
		MaxRetries:  -1,
		// Retry the refused dial quickly instead of the default 100ms.
		DialerRetryTimeout: time.Millisecond,
	})
	t.Cleanup(func() { _ = c.Close() })
	th := NewRedis(c)
	r := Rule{Name: "login-ip", Limit: 1, Period: time.Minute}
	if d, err := th.Check(context.Background(), r, "k"); err == nil {
		t.Fatalf("Check = %+v, nil; want error", d)
	}
	if d, err := th.Fail(context.Background(), r, "k"); err == nil {
		t.Fatalf("Fail = %+v, nil; want error", d)
	}
}
