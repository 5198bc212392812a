package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// TestIdempotencyKeys: a key is claimed once; its request's answer is
// replayed to the same request and refused to another; a released claim
// and one left by a request that died can be claimed again; expired keys
// are deleted.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		ctx := context.Background()
		const scope, lease = "user:0190", time.Minute
		ans, owner, err := st.BeginIdempotent(ctx, scope, "k1", "fp-a", lease)
		if err != nil || ans != nil || owner == "" {
			t.Fatalf("first claim: %v %q %v", ans, owner, err)
		}
		if _, _, err := st.BeginIdempotent(ctx, scope, "k1", "fp-a", lease); !errors.Is(err, lms.ErrIdempotencyInProgress) {
			t.Fatalf("while it runs: %v, want in progress", err)
		}
		if _, _, err := st.BeginIdempotent(ctx, scope, "k1", "fp-b", lease); !errors.Is(err, lms.ErrIdempotencyReused) {
			t.Fatalf("another request: %v, want reused", err)
		}
		if _, o, err := st.BeginIdempotent(ctx, "user:other", "k1", "fp-b", lease); err != nil || o == "" {
			t.Fatalf("another caller's key: %q %v, want its own claim", o, err)
		}
		want := lms.IdempotentAnswer{Status: 201, ContentType: "application/json; charset=utf-8", Location: "/api/v1/x/1", Body: []byte(`{"id":"1"}`)}
		if err := st.FinishIdempotent(ctx, scope, "k1", owner, want); err != nil {
			t.Fatal(err)
		}
		got, _, err := st.BeginIdempotent(ctx, scope, "k1", "fp-a", lease)
		if err != nil || got == nil || got.Status != want.Status || got.Location != want.Location || string(got.Body) != string(want.Body) ||
			got.ContentType != want.ContentType {
			t.Fatalf("replay: %+v %v, want %+v", got, err, want)
		}
		if _, _, err := st.BeginIdempotent(ctx, scope, "k1", "fp-b", lease); !errors.Is(err, lms.ErrIdempotencyReused) {
			t.Fatalf("another request after the answer: %v, want reused", err)
		}

		_, owner2, _ := st.BeginIdempotent(ctx, scope, "k2", "fp-a", lease)
		if err := st.ReleaseIdempotent(ctx, scope, "k2", owner2); err != nil {
			t.Fatal(err)
		}
		if ans, o, err := st.BeginIdempotent(ctx, scope, "k2", "fp-a", lease); err != nil || ans != nil || o == "" || o == owner2 {
			t.Fatalf("after a release: %v %q %v, want a new claim", ans, o, err)
		}

		// A claim its request never finished (the process died) is taken
		// over once the lease has passed, by one request.
		_, dead, _ := st.BeginIdempotent(ctx, scope, "k3", "fp-a", lease)
		if err := db.Gorm().Exec("UPDATE idempotency_keys SET locked_at = ? WHERE request_key = 'k3'", time.Now().UTC().Add(-2*lease)).Error; err != nil {
			t.Fatal(err)
		}
		_, took, err := st.BeginIdempotent(ctx, scope, "k3", "fp-a", lease)
		if err != nil || took == "" || took == dead {
			t.Fatalf("after the lease: %q %v, want a new claim", took, err)
		}
		if err := st.FinishIdempotent(ctx, scope, "k3", dead, want); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.BeginIdempotent(ctx, scope, "k3", "fp-a", lease); !errors.Is(err, lms.ErrIdempotencyInProgress) {
			t.Fatalf("the dead claim's late answer was recorded over the new claim: %v", err)
		}

		// Expired: deleted by the sweep, and claimable by any request.
		if err := db.Gorm().Exec("UPDATE idempotency_keys SET expires_at = ? WHERE request_key = 'k1' AND scope = ?", time.Now().UTC().Add(-time.Second), scope).Error; err != nil {
			t.Fatal(err)
		}
		if n, err := st.DeleteExpiredIdempotencyKeys(ctx); err != nil || n != 1 {
			t.Fatalf("swept %d, %v; want 1", n, err)
		}
		if ans, o, err := st.BeginIdempotent(ctx, scope, "k1", "fp-b", lease); err != nil || ans != nil || o == "" {
			t.Fatalf("an expired key: %v %q %v, want a new claim", ans, o, err)
		}
	})
}

// TestIdempotencyKeyClaimedOnce: of twenty requests with one key at once,
// one claims it.
func TestIdempotencyKeyClaimedOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		var mu sync.Mutex
		claims, busy := 0, 0
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				_, owner, err := st.BeginIdempotent(context.Background(), "user:0191", "same", "fp", time.Minute)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && owner != "":
					claims++
				case errors.Is(err, lms.ErrIdempotencyInProgress):
					busy++
				default:
					t.Errorf("claim: %q %v", owner, err)
				}
			})
		}
		wg.Wait()
		if claims != 1 || busy != 19 {
			t.Fatalf("%d claims, %d told in progress; want 1 and 19", claims, busy)
		}
	})
}
