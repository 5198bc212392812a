package lms

import (
	"context"
	"errors"
	"time"
)

// IdempotencyTTL is how long the answer to a request sent with an
// Idempotency-Key is kept: a retry within it is answered the same, once the
// request has run.
const IdempotencyTTL = 24 * time.Hour

// IdempotentAnswer is the answer recorded for a request sent with an
// Idempotency-Key, replayed to the requests that repeat it.
type IdempotentAnswer struct {
	Status      int
	ContentType string
	Location    string
	// Body is the answer's, without the credentials it carried (shown
	// once, never kept).
	Body []byte
}

// Errors of IdempotencyService.BeginIdempotent.
var (
	// ErrIdempotencyReused: the key was used with another request (another
	// path or body) within IdempotencyTTL.
	ErrIdempotencyReused = errors.New("lms: idempotency key used with another request")
	// ErrIdempotencyInProgress: a request with the key is still running.
	ErrIdempotencyInProgress = errors.New("lms: a request with this idempotency key is in progress")
)

// IdempotencyService keeps the answers of requests sent with an
// Idempotency-Key, per caller (scope) and key.
type IdempotencyService interface {
	// BeginIdempotent claims key for the request whose fingerprint is
	// given. It returns the recorded answer when the same request already
	// ran, or the owner token of the claim when the caller is to run it; a
	// claim left unfinished for longer than lease (its process died) is
	// taken over.
	BeginIdempotent(ctx context.Context, scope, key, fingerprint string, lease time.Duration) (answer *IdempotentAnswer, owner string, err error)
	// FinishIdempotent records the answer of the request that claimed key.
	FinishIdempotent(ctx context.Context, scope, key, owner string, a IdempotentAnswer) error
	// ReleaseIdempotent gives up a claim whose answer is not to be kept
	// (the request may be tried again with the key).
	ReleaseIdempotent(ctx context.Context, scope, key, owner string) error
}
