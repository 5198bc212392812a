package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// The OWASP Password Storage Cheat Sheet lists five argon2id configurations
// of equal strength, trading memory for passes: m=47104 t=1, m=19456 t=2,
// m=12288 t=3, m=9216 t=4, m=7168 t=5 (KiB, 1 lane). enrollkit uses the
// last: about the same CPU per hash as the others, and the least memory,
// which keeps a server hashing on every core under 100 MB resident (with
// m=19456 two concurrent hashes alone held 38 MiB and the process peaked at
// 170 MB in a login burst). Hashes made with other parameters still verify,
// since each PHC string names its own. Salt and key sizes follow RFC 9106.
const (
	defaultMemory      uint32 = 7 * 1024 // KiB
	defaultIterations  uint32 = 5
	defaultParallelism uint8  = 1
	saltLen                   = 16
	keyLen                    = 32
)

// Bounds applied when parsing a stored hash. Stored hashes come from our own
// database, but a corrupted or injected row must not be able to make a single
// Verify allocate gigabytes or spin for minutes, nor accept a trivially short
// key that would make collisions easy.
const (
	maxMemory     uint32 = 1 << 20 // KiB, i.e. 1 GiB
	maxIterations uint32 = 64
	minSaltLen           = 8
	maxSaltLen           = 64
	minKeyLen            = 16
	maxKeyLen            = 128
)

// errMalformedHash is returned (wrapped) by Verify for any stored value that is
// not a well-formed argon2id PHC string, so callers can tell data corruption
// from a wrong password.
var errMalformedHash = errors.New("auth: malformed argon2id hash")

// HasherOptions tunes a Hasher. Zero values select the OWASP defaults so the
// zero HasherOptions is the production configuration; tests pass smaller
// Memory and Iterations to stay fast.
type HasherOptions struct {
	// Memory is the argon2 memory cost in KiB (default 7168, i.e. 7 MiB, with 5 passes).
	Memory uint32
	// Iterations is the argon2 time cost, the number of passes over memory
	// (default 5).
	Iterations uint32
	// Parallelism is the number of argon2 lanes (default 1).
	Parallelism uint8
	// MaxConcurrent caps how many hashes run at once (default
	// runtime.NumCPU()). Each one holds Memory KiB, so this cap is what keeps
	// a burst of logins from exhausting RAM.
	MaxConcurrent int
	// MaxWait bounds how long a hash waits for a free slot before giving up
	// with ErrBusy (default 2s). Without a bound, a burst above what the
	// cores can hash queues every request until its client gives up.
	MaxWait time.Duration
	// ObserveWait, when set, is told how long each hash or check waited
	// for a slot (zero when one was free), e.g. for a metrics histogram.
	ObserveWait func(time.Duration)
}

// DefaultMaxWait is the wait for a hashing slot when HasherOptions.MaxWait
// is zero: a few hundred hashes' worth of queue on a small machine.
const DefaultMaxWait = 2 * time.Second

// ErrBusy is returned by Hash, Verify and VerifyDummy when every hashing
// slot stayed busy for MaxWait. The caller should answer "try again
// shortly" rather than queue.
var ErrBusy = errors.New("auth: every password hashing slot is busy")

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use. Its slots bound how many derivations run at once; each
// derivation takes its Memory KiB work area only once it holds a slot and
// gives it back to the collector when done, so the memory held for hashing
// is at most MaxConcurrent × Memory KiB regardless of load, and none while
// nothing is being hashed.
type Hasher struct {
	memory      uint32
	iterations  uint32
	parallelism uint8
	maxWait     time.Duration
	slots       chan struct{}
	derived     atomic.Uint64
	refused     atomic.Uint64
	waits       atomic.Uint64
	waiting     atomic.Int64
	waitedNanos atomic.Int64
	// observeWait, when set, is told every wait for a slot.
	observeWait func(time.Duration)

	dummyOnce sync.Once
	dummy     string
}

// NewHasher returns a Hasher configured by o, filling zero fields with the
// OWASP defaults.
func NewHasher(o HasherOptions) *Hasher {
	h := &Hasher{
		memory:      o.Memory,
		iterations:  o.Iterations,
		parallelism: o.Parallelism,
	}
	if h.memory == 0 {
		h.memory = defaultMemory
	}
	if h.iterations == 0 {
		h.iterations = defaultIterations
	}
	if h.parallelism == 0 {
		h.parallelism = defaultParallelism
	}
	// argon2 needs at least 8 KiB per lane; x/crypto would silently raise a
	// smaller value, which would make the m= recorded in the PHC string lie.
	if minMem := 8 * uint32(h.parallelism); h.memory < minMem {
		h.memory = minMem
	}
	n := o.MaxConcurrent
	if n <= 0 {
		n = runtime.NumCPU()
	}
	h.maxWait = o.MaxWait
	if h.maxWait <= 0 {
		h.maxWait = DefaultMaxWait
	}
	h.slots = make(chan struct{}, n)
	h.observeWait = o.ObserveWait
	return h
}

// acquire takes a hashing slot, giving up when ctx is done, so a client
// that hung up does not keep a queued request alive, or with ErrBusy after
// maxWait. Goroutines blocked on a channel are served in the order they
// came, so the wait is fair: an arrival never overtakes one that waits.
//
// waited reports whether the slot was not free at once.
func (h *Hasher) acquire(ctx context.Context) (waited bool, err error) {
	// Check first: select picks randomly among ready cases, and a cancelled
	// request should not start a derivation just because a slot was free.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case h.slots <- struct{}{}:
		h.waited(0)
		return false, nil
	default:
	}
	start := time.Now()
	wait := time.NewTimer(h.maxWait)
	defer wait.Stop()
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		h.waited(time.Since(start))
		return true, nil
	case <-ctx.Done():
		h.waited(time.Since(start))
		return true, ctx.Err()
	case <-wait.C:
		h.waited(time.Since(start))
		h.refused.Add(1)
		return true, ErrBusy
	}
}

// waited records how long one call waited for a slot.
func (h *Hasher) waited(d time.Duration) {
	h.waits.Add(1)
	h.waitedNanos.Add(int64(d))
	if h.observeWait != nil {
		h.observeWait(d)
	}
}

// release returns a slot taken by acquire.
func (h *Hasher) release() { <-h.slots }

// HasherStats is what a Hasher has done since it was made.
type HasherStats struct {
	// Derivations counts argon2id derivations (hashes and verifications).
	Derivations uint64
	// Busy counts calls refused with ErrBusy.
	Busy uint64
	// InUse is the number of slots deriving now, out of Slots.
	InUse, Slots int
	// Waiting is the number of calls waiting for a slot now.
	Waiting int
	// Waits counts calls that asked for a slot; Waited is the time they
	// spent waiting for one, in all.
	Waits  uint64
	Waited time.Duration
}

// Stats reports the hasher's counters, for metrics.
func (h *Hasher) Stats() HasherStats {
	return HasherStats{Derivations: h.derived.Load(), Busy: h.refused.Load(),
		InUse: len(h.slots), Slots: cap(h.slots), Waiting: int(h.waiting.Load()), Waits: h.waits.Load(), Waited: time.Duration(h.waitedNanos.Load())}
}

// derive computes an argon2id key with golang.org/x/crypto/argon2, which
// allocates the Memory KiB work area for each derivation; the caller holds
// a slot, which is what bounds how many work areas exist at once.
//
// The derivation is not kept on its OS thread (runtime.LockOSThread), as
// it was with the former copy of argon2 that reused its work area: with a
// fresh 7 MiB per hash the collector runs every second hash or so, and a
// locked derivation then waits for its own thread to be woken each time.
// BenchmarkHashDefault, alternating, on two cores: 24.9-25.9 ms per hash
// locked, 18.7-19.3 unlocked (docs/benchmarks.md).
func (h *Hasher) derive(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	h.derived.Add(1)
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// Hash derives an argon2id hash of password with a fresh random salt and
// returns it as a PHC string,
// $argon2id$v=19$m=7168,t=5,p=1$<salt>$<hash>, so the parameters travel
// with the hash and can be raised later without invalidating old rows.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	return h.HashIfStill(ctx, password, nil)
}

// HashIfStill is Hash for a caller whose reason to hash may pass while it
// waits for a slot: after a wait, still is asked first (and when the wait
// ends in ErrBusy, instead of answering that), and its error, if any, is
// returned without hashing. A redemption behind a rush asks whether a seat
// is left, so the rush past the last seat is told "full", not "retry", and
// costs no hash.
func (h *Hasher) HashIfStill(ctx context.Context, password string, still func(context.Context) error) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	waited, err := h.acquire(ctx)
	if waited && still != nil && (err == nil || errors.Is(err, ErrBusy)) {
		if serr := still(ctx); serr != nil {
			if err == nil {
				h.release()
			}
			return "", serr
		}
	}
	if err != nil {
		return "", err
	}
	defer h.release()
	key := h.derive([]byte(password), salt, h.iterations, h.memory, h.parallelism, keyLen)
	return encodePHC(h.memory, h.iterations, h.parallelism, salt, key), nil
}

// Verify reports whether password matches encoded, a PHC string produced by
// Hash (possibly with older parameters, which are read from the string). A
// wrong password yields (false, nil); a malformed encoded value or a done ctx
// yields an error, so callers can tell corruption from a failed login.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, err := decodePHC(encoded)
	if err != nil {
		return false, err
	}
	if _, err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	key := h.derive([]byte(password), p.salt, p.iterations, p.memory, p.parallelism, uint32(len(p.key)))
	// Constant-time so response timing does not reveal how many leading
	// bytes of a guess's hash matched.
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// VerifyDummy spends the same work as a Verify against a hash made with this
// Hasher's parameters and discards the result. Call it when a login names an
// unknown email so that the response takes as long as a wrong password and
// does not reveal which accounts exist. It goes through the same semaphore as
// Verify so the timing matches under load too, and fails as Verify would
// (ErrBusy, a done ctx), so a busy server answers unknown emails as it
// answers known ones.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	h.dummyOnce.Do(func() {
		// The dummy need not be the hash of anything: Verify's cost depends
		// only on the parameters, so random bytes serve and computing the
		// dummy costs nothing extra on the first call.
		salt := make([]byte, saltLen)
		key := make([]byte, keyLen)
		_, _ = rand.Read(salt)
		_, _ = rand.Read(key)
		h.dummy = encodePHC(h.memory, h.iterations, h.parallelism, salt, key)
	})
	_, err := h.Verify(ctx, password, h.dummy)
	return err
}

// phc holds the fields of a parsed argon2id PHC string.
type phc struct {
	memory      uint32
	iterations  uint32
	parallelism uint8
	salt        []byte
	key         []byte
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict rejects non-canonical trailing bits so each hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// encodePHC formats argon2id parameters, salt and key as a PHC string.
func encodePHC(memory, iterations uint32, parallelism uint8, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memory, iterations, parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodePHC parses and bounds-checks an argon2id PHC string.
func decodePHC(encoded string) (phc, error) {
	var p phc
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return p, fmt.Errorf("%w: want 5 $-separated fields", errMalformedHash)
	}
	if fields[1] != "argon2id" {
		return p, fmt.Errorf("%w: algorithm %q is not argon2id", errMalformedHash, fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: unsupported version %q", errMalformedHash, fields[2])
	}
	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return p, fmt.Errorf("%w: want parameters m,t,p", errMalformedHash)
	}
	m, err := parseParam(params[0], "m", 32)
	if err != nil {
		return p, err
	}
	t, err := parseParam(params[1], "t", 32)
	if err != nil {
		return p, err
	}
	par, err := parseParam(params[2], "p", 8)
	if err != nil {
		return p, err
	}
	p.memory, p.iterations, p.parallelism = uint32(m), uint32(t), uint8(par)
	switch {
	case p.parallelism == 0:
		return p, fmt.Errorf("%w: p must be at least 1", errMalformedHash)
	case p.memory < 8*uint32(p.parallelism) || p.memory > maxMemory:
		return p, fmt.Errorf("%w: m=%d out of range", errMalformedHash, p.memory)
	case p.iterations == 0 || p.iterations > maxIterations:
		return p, fmt.Errorf("%w: t=%d out of range", errMalformedHash, p.iterations)
	}
	if p.salt, err = b64.DecodeString(fields[4]); err != nil {
		return p, fmt.Errorf("%w: salt: %v", errMalformedHash, err)
	}
	if len(p.salt) < minSaltLen || len(p.salt) > maxSaltLen {
		return p, fmt.Errorf("%w: salt length %d out of range", errMalformedHash, len(p.salt))
	}
	if p.key, err = b64.DecodeString(fields[5]); err != nil {
		return p, fmt.Errorf("%w: hash: %v", errMalformedHash, err)
	}
	if len(p.key) < minKeyLen || len(p.key) > maxKeyLen {
		return p, fmt.Errorf("%w: hash length %d out of range", errMalformedHash, len(p.key))
	}
	return p, nil
}

// parseParam parses one "name=value" PHC parameter as an unsigned integer of
// the given bit size, insisting on the expected name.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %s in %q", errMalformedHash, name, s)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: parameter %s: %v", errMalformedHash, name, err)
	}
	return n, nil
}
