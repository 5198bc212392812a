package auth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fastOpts keeps most tests quick; the format and logic do not depend on cost.
var fastOpts = HasherOptions{Memory: 1024, Iterations: 1}

func TestHashVerifyRoundtrip(t *testing.T) {
	t.Parallel()
	h := NewHasher(fastOpts)
	ctx := context.Background()

	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=1024,t=1,p=1$"; !strings.HasPrefix(enc, want) {
		t.Fatalf("encoded = %q, want prefix %q", enc, want)
	}
	ok, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v; want true, nil", ok, err)
	}
	ok, err = h.Verify(ctx, "correct horse battery stapler", enc)
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}
	ok, err = h.Verify(ctx, "", enc)
	if err != nil || ok {
		t.Fatalf("Verify(empty) = %v, %v; want false, nil", ok, err)
	}

	again, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Fatal("two hashes of the same password are equal; salt is not random")
	}
}

func TestHashDefaultParams(t *testing.T) {
	t.Parallel()
	h := NewHasher(HasherOptions{})
	if h.memory != 7168 || h.iterations != 5 || h.parallelism != 1 {
		t.Fatalf("defaults = m=%d t=%d p=%d; want 7168, 5, 1", h.memory, h.iterations, h.parallelism)
	}
	if cap(h.slots) != runtime.NumCPU() {
		t.Fatalf("MaxConcurrent default = %d; want NumCPU %d", cap(h.slots), runtime.NumCPU())
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=7168,t=5,p=1$"; !strings.HasPrefix(enc, want) {
		t.Fatalf("encoded = %q, want prefix %q", enc, want)
	}
	p, err := decodePHC(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.salt) != 16 || len(p.key) != 32 {
		t.Fatalf("salt %d bytes, key %d bytes; want 16, 32", len(p.salt), len(p.key))
	}
	if ok, err := h.Verify(ctx, "hunter2hunter2", enc); err != nil || !ok {
		t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
	}
}

// TestVerifyUsesEncodedParams checks that hashes made with other parameters
// (older settings, another implementation) still verify.
func TestVerifyUsesEncodedParams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := NewHasher(HasherOptions{Memory: 512, Iterations: 1, Parallelism: 2})
	enc, err := old.Hash(ctx, "long enough password")
	if err != nil {
		t.Fatal(err)
	}
	cur := NewHasher(HasherOptions{Memory: 2048, Iterations: 2})
	if ok, err := cur.Verify(ctx, "long enough password", enc); err != nil || !ok {
		t.Fatalf("Verify(old params) = %v, %v; want true, nil", ok, err)
	}
}

// TestVerifyInterop checks a hash produced by argon2-cffi (Python), so the
// PHC encoding is the standard one and not merely self-consistent.
func TestVerifyInterop(t *testing.T) {
	t.Parallel()
	const enc = "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"
	h := NewHasher(fastOpts)
	ok, err := h.Verify(context.Background(), "correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	const salt = "c29tZXNhbHRzb21lc2FsdA"                     // 16 bytes
	const key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA" // 32 bytes
	cases := map[string]string{
		"empty":             "",
		"plain text":        "hunter2",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"old version":       "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key,
		"no version":        "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key,
		"missing leading $": "argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "$",
		"extra field":       "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "$x",
		"missing param":     "$argon2id$v=19$m=1024,t=1$" + salt + "$" + key,
		"params reordered":  "$argon2id$v=19$t=1,m=1024,p=1$" + salt + "$" + key,
		"non-numeric m":     "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + key,
		"negative t":        "$argon2id$v=19$m=1024,t=-1,p=1$" + salt + "$" + key,
		"zero t":            "$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key,
		"huge t":            "$argon2id$v=19$m=1024,t=100000,p=1$" + salt + "$" + key,
		"zero p":            "$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + key,
		"p overflows uint8": "$argon2id$v=19$m=1024,t=1,p=256$" + salt + "$" + key,
		"m below 8p":        "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key,
		"huge m":            "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"bad salt base64":   "$argon2id$v=19$m=1024,t=1,p=1$!!!!$" + key,
		"padded salt":       "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "==$" + key,
		"short salt":        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$" + key,
		"bad hash base64":   "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$@@@@",
		"short hash":        "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$c2hvcnQ",
		"empty hash":        "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$",
	}
	h := NewHasher(fastOpts)
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, err := h.Verify(context.Background(), "password", enc)
			if ok || !errors.Is(err, errMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v; want false, malformed-hash error", enc, ok, err)
			}
		})
	}
	// Sanity: the salt and key used above are themselves valid.
	if _, err := decodePHC("$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key); err != nil {
		t.Fatalf("control value rejected: %v", err)
	}
}

func TestSemaphoreBoundsConcurrency(t *testing.T) {
	t.Parallel()
	h := NewHasher(HasherOptions{Memory: 1024, Iterations: 1, MaxConcurrent: 1})
	if cap(h.slots) != 1 {
		t.Fatalf("semaphore size = %d; want 1", cap(h.slots))
	}
	enc, err := h.Hash(context.Background(), "password to check")
	if err != nil {
		t.Fatal(err)
	}

	// Hold the only slot, as a long-running hash would.
	if _, err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A request whose deadline passes while it queues gives up with the
	// context's error instead of hashing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password to check"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash while slot held = %v; want DeadlineExceeded", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel2)
	if ok, err := h.Verify(ctx2, "password to check", enc); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify while slot held = %v, %v; want false, Canceled", ok, err)
	}
	// An already-cancelled context fails even before queueing.
	if _, err := h.Hash(ctx2, "password to check"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with cancelled ctx = %v; want Canceled", err)
	}

	// A patient request waits for the slot and completes once it is freed.
	done := make(chan error, 1)
	go func() {
		ok, err := h.Verify(context.Background(), "password to check", enc)
		if err == nil && !ok {
			err = errors.New("verify returned false")
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Verify finished while the only slot was held (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	if err := <-done; err != nil {
		t.Fatalf("queued Verify: %v", err)
	}

	// An already-cancelled context is refused even when a slot is free.
	if _, err := h.Hash(ctx2, "password to check"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with cancelled ctx and free slot = %v; want Canceled", err)
	}
	if len(h.slots) != 0 {
		t.Fatalf("%d slots still held after all calls returned", len(h.slots))
	}
}

// TestSemaphoreUnderLoad runs many concurrent hashes through a small
// semaphore and checks they all succeed and leave no slot held.
func TestSemaphoreUnderLoad(t *testing.T) {
	t.Parallel()
	h := NewHasher(HasherOptions{Memory: 64, Iterations: 1, MaxConcurrent: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := h.Hash(context.Background(), "some password")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(h.slots) != 0 {
		t.Fatalf("%d slots still held", len(h.slots))
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	h := NewHasher(fastOpts)
	ctx := context.Background()
	h.VerifyDummy(ctx, "whatever password")
	first := h.dummy
	p, err := decodePHC(first)
	if err != nil {
		t.Fatalf("dummy hash %q is malformed: %v", first, err)
	}
	if p.memory != h.memory || p.iterations != h.iterations || p.parallelism != h.parallelism || len(p.key) != keyLen {
		t.Fatalf("dummy hash %q does not use the hasher's parameters", first)
	}
	h.VerifyDummy(ctx, "another password")
	if h.dummy != first {
		t.Fatal("dummy hash recomputed on second call")
	}
	if len(h.slots) != 0 {
		t.Fatal("VerifyDummy left a slot held")
	}

	// It queues on the semaphore like Verify and gives up with the context.
	h1 := NewHasher(HasherOptions{Memory: 1024, Iterations: 1, MaxConcurrent: 1})
	if _, err := h1.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	defer h1.release()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := h1.VerifyDummy(cctx, "password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("VerifyDummy while the slot is held = %v; want DeadlineExceeded", err)
	}
}

// TestBusyAfterMaxWait: with every slot held, a hash gives up with ErrBusy
// after MaxWait, whatever its context allows, and so does the dummy check of
// an unknown account; a slot freed in time is taken.
func TestBusyAfterMaxWait(t *testing.T) {
	t.Parallel()
	h := NewHasher(HasherOptions{Memory: 64, Iterations: 1, MaxConcurrent: 1, MaxWait: 30 * time.Millisecond})
	enc, err := h.Hash(context.Background(), "password to check")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(context.Background(), "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with every slot held = %v; want ErrBusy", err)
	}
	if _, err := h.Verify(context.Background(), "password to check", enc); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot held = %v; want ErrBusy", err)
	}
	if err := h.VerifyDummy(context.Background(), "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("VerifyDummy with every slot held = %v; want ErrBusy", err)
	}
	if st := h.Stats(); st.Busy != 3 || st.InUse != 1 || st.Slots != 1 || st.Derivations != 1 {
		t.Fatalf("Stats = %+v; want 3 busy, 1 of 1 slot in use, 1 derivation", st)
	}
	time.AfterFunc(5*time.Millisecond, func() { h.release() })
	if ok, err := h.Verify(context.Background(), "password to check", enc); !ok || err != nil {
		t.Fatalf("Verify after the slot was freed = %v, %v", ok, err)
	}
	if NewHasher(HasherOptions{}).maxWait != DefaultMaxWait {
		t.Fatal("MaxWait default is not DefaultMaxWait")
	}
}

// TestHashIfStill: a hash that got its slot at once does not ask; after a
// wait, still's refusal is answered without hashing (and instead of
// ErrBusy when no slot came), and the slot is given back.
func TestHashIfStill(t *testing.T) {
	t.Parallel()
	errGone := errors.New("no longer wanted")
	h := NewHasher(HasherOptions{Memory: 64, Iterations: 1, MaxConcurrent: 1, MaxWait: 30 * time.Millisecond})
	refuse := func(context.Context) error { return errGone }
	if _, err := h.HashIfStill(context.Background(), "x", refuse); err != nil {
		t.Fatalf("HashIfStill with a free slot = %v; want a hash without asking", err)
	}
	if _, err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.HashIfStill(context.Background(), "x", refuse); !errors.Is(err, errGone) {
		t.Fatalf("HashIfStill after a wait ending in ErrBusy = %v; want still's answer", err)
	}
	if _, err := h.HashIfStill(context.Background(), "x", func(context.Context) error { return nil }); !errors.Is(err, ErrBusy) {
		t.Fatalf("HashIfStill still wanted, no slot = %v; want ErrBusy", err)
	}
	time.AfterFunc(5*time.Millisecond, func() { h.release() })
	if _, err := h.HashIfStill(context.Background(), "x", refuse); !errors.Is(err, errGone) {
		t.Fatalf("HashIfStill after a wait = %v; want still's answer", err)
	}
	if st := h.Stats(); st.InUse != 0 || st.Derivations != 1 {
		t.Fatalf("Stats = %+v; want the slot given back and only the first hash derived", st)
	}
}

// TestVerifiesHashesOfTheFormerCode: hashes made before the hasher moved to
// golang.org/x/crypto/argon2 (by a copy of it that reused work areas, at
// the production and at small parameters) still verify, and a wrong
// password still fails against them.
func TestVerifiesHashesOfTheFormerCode(t *testing.T) {
	t.Parallel()
	h := NewHasher(fastOpts)
	for _, c := range []struct{ password, encoded string }{
		{"correct horse battery staple", "$argon2id$v=19$m=7168,t=5,p=1$oOf0ak6ozSxkMWSHx3hOcw$gUKa4ouwq3mkyEUu5tvr+j9UZJ2DM9dM1tCfKfsHSzg"},
		{"Tr0ub4dor&3", "$argon2id$v=19$m=64,t=1,p=1$BQwQMJelsT/KfibbUd6Ibw$Hi07GkjbIJgje4/jmRwSZ6g7RyklDyoaJCheFp/0N+g"},
	} {
		if ok, err := h.Verify(context.Background(), c.password, c.encoded); !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want true, nil", c.encoded, ok, err)
		}
		if ok, err := h.Verify(context.Background(), c.password+"!", c.encoded); ok || err != nil {
			t.Errorf("Verify(wrong password, %q) = %v, %v; want false, nil", c.encoded, ok, err)
		}
	}
}

// TestWaitIsFairAndCounted: callers waiting for the one slot get it in the
// order they came, and every wait is counted and told to ObserveWait.
func TestWaitIsFairAndCounted(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var observed []time.Duration
	h := NewHasher(HasherOptions{Memory: 8, Iterations: 1, MaxConcurrent: 1, MaxWait: 10 * time.Second,
		ObserveWait: func(d time.Duration) { mu.Lock(); observed = append(observed, d); mu.Unlock() }})
	if _, err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	const waiters = 8
	order := make(chan int, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() {
			if _, err := h.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			order <- i
			h.release()
		})
		// Let waiter i queue before waiter i+1 arrives.
		for h.Stats().Waiting < i+1 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	h.release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d got the slot in turn %d; want arrival order", got, want)
		}
		want++
	}
	st := h.Stats()
	if st.Waits != waiters+1 || st.Waited < 5*time.Millisecond*waiters/2 || len(observed) != waiters+1 {
		t.Fatalf("Stats = %+v, %d observed; want %d waits of at least a few ms in all", st, len(observed), waiters+1)
	}
}

func TestNewHasherClampsMemory(t *testing.T) {
	t.Parallel()
	h := NewHasher(HasherOptions{Memory: 4, Iterations: 1, Parallelism: 2})
	if h.memory != 16 {
		t.Fatalf("memory = %d; want 16 (8 KiB per lane)", h.memory)
	}
	enc, err := h.Hash(context.Background(), "a password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=16,t=1,p=2$") {
		t.Fatalf("encoded = %q", enc)
	}
}

// BenchmarkHashDefault measures hashing at the production (OWASP) settings
// from every core: hashes/s is what the machine's logins and redemptions
// cannot exceed. It also reports what each hash costs the process beyond
// the derivation: CPU (user+system, all threads, so the collector's share
// is included), collections, and the peak resident set, the figures
// docs/benchmarks.md compares for the fresh work area upstream's argon2
// allocates per hash.
func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(HasherOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, faults0 := processCPU(b), minorFaults(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu, faults := processCPU(b)-cpu0, minorFaults(b)-faults0
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "hashes/s")
	b.ReportMetric(cpu.Seconds()*1000/n, "cpu-ms/hash")
	b.ReportMetric(float64(after.NumGC-before.NumGC)/n, "gc/hash")
	b.ReportMetric(float64(faults)/n, "page-faults/hash")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-rss-MiB")
}

// processCPU is the CPU time the process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minorFaults counts the page faults the process has taken so far that
// needed no disk: each first touch of memory the kernel hands out (or
// takes back and hands out again), zeroed page by page.
func minorFaults(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Minflt
}

// peakRSS is the process's highest resident set so far, in bytes.
func peakRSS(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Maxrss * 1024
}
