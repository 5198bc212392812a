package store

import (
	"context"
	"errors"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// passwords is the store's view of the password hasher: the same calls,
// with a full hashing queue turned into the domain's "unavailable" error,
// which the API answers 503 with Retry-After instead of queueing the
// request for as long as its client waits.
type passwords struct{ h *auth.Hasher }

func busy(err error) error {
	if errors.Is(err, auth.ErrBusy) {
		return lms.Errorf(lms.EUnavailable, "too many password checks at once; retry in a moment")
	}
	return err
}

func (p passwords) Hash(ctx context.Context, password string) (string, error) {
	hash, err := p.h.Hash(ctx, password)
	return hash, busy(err)
}

// HashIfStill is auth.Hasher.HashIfStill with ErrBusy made unavailable.
func (p passwords) HashIfStill(ctx context.Context, password string, still func(context.Context) error) (string, error) {
	hash, err := p.h.HashIfStill(ctx, password, still)
	return hash, busy(err)
}

func (p passwords) Verify(ctx context.Context, password, encoded string) (bool, error) {
	ok, err := p.h.Verify(ctx, password, encoded)
	return ok, busy(err)
}

func (p passwords) VerifyDummy(ctx context.Context, password string) error {
	return busy(p.h.VerifyDummy(ctx, password))
}
