package store

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

var _ lms.IdempotencyService = (*Idempotency)(nil)

// Idempotency keeps the answers of requests sent with an Idempotency-Key.
type Idempotency struct{ *core }

type idempotencyKey struct {
	Scope       string `gorm:"primaryKey"`
	RequestKey  string `gorm:"primaryKey"`
	Fingerprint string
	Owner       string
	Status      int
	ContentType *string
	Location    *string
	Body        []byte
	LockedAt    time.Time
	ExpiresAt   time.Time
}

func (idempotencyKey) TableName() string { return "idempotency_keys" }

// BeginIdempotent implements lms.IdempotencyService. The claim is the
// primary key's INSERT, so of concurrent requests with one key exactly one
// runs; the others find its row and are told it is in progress, or, once
// it has finished, get its answer.
func (s *Idempotency) BeginIdempotent(ctx context.Context, scope, key, fingerprint string, lease time.Duration) (*lms.IdempotentAnswer, string, error) {
	for range 3 {
		now := s.now()
		owner := newID()
		row := idempotencyKey{Scope: scope, RequestKey: key, Fingerprint: fingerprint, Owner: owner, LockedAt: now,
			ExpiresAt: now.Add(lms.IdempotencyTTL)}
		res := s.q(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return nil, "", res.Error
		}
		if res.RowsAffected == 1 {
			return nil, owner, nil
		}
		var got idempotencyKey
		err := s.q(ctx).Where("scope = ? AND request_key = ?", scope, key).Take(&got).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // released meanwhile: claim it again
		} else if err != nil {
			return nil, "", err
		}
		expired := got.ExpiresAt.Before(now)
		switch {
		case !expired && got.Fingerprint != fingerprint:
			return nil, "", lms.ErrIdempotencyReused
		case !expired && got.Status == 0 && !got.LockedAt.Before(now.Add(-lease)):
			return nil, "", lms.ErrIdempotencyInProgress
		case !expired && got.Status != 0:
			a := &lms.IdempotentAnswer{Status: got.Status, Body: got.Body}
			if got.ContentType != nil {
				a.ContentType = *got.ContentType
			}
			if got.Location != nil {
				a.Location = *got.Location
			}
			return a, "", nil
		}
		// Expired, or claimed by a request that never finished (its process
		// died): taken over by the one request whose UPDATE still finds it
		// so.
		take := s.q(ctx).Model(&idempotencyKey{}).Where("scope = ? AND request_key = ? AND owner = ?", scope, key, got.Owner).
			Updates(map[string]any{"fingerprint": fingerprint, "owner": owner, "status": 0, "content_type": nil, "location": nil,
				"body": nil, "locked_at": now, "expires_at": now.Add(lms.IdempotencyTTL)})
		if take.Error != nil {
			return nil, "", take.Error
		}
		if take.RowsAffected == 1 {
			return nil, owner, nil
		}
	}
	return nil, "", lms.ErrIdempotencyInProgress
}

// FinishIdempotent implements lms.IdempotencyService.
func (s *Idempotency) FinishIdempotent(ctx context.Context, scope, key, owner string, a lms.IdempotentAnswer) error {
	changes := map[string]any{"status": a.Status, "content_type": nullable(a.ContentType), "location": nullable(a.Location), "body": a.Body}
	return s.q(ctx).Model(&idempotencyKey{}).Where("scope = ? AND request_key = ? AND owner = ? AND status = 0", scope, key, owner).
		Updates(changes).Error
}

// ReleaseIdempotent implements lms.IdempotencyService.
func (s *Idempotency) ReleaseIdempotent(ctx context.Context, scope, key, owner string) error {
	return s.q(ctx).Where("scope = ? AND request_key = ? AND owner = ? AND status = 0", scope, key, owner).
		Delete(&idempotencyKey{}).Error
}

// DeleteExpiredIdempotencyKeys deletes the answers kept for longer than
// lms.IdempotencyTTL.
func (s *Idempotency) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	res := s.q(ctx).Where("expires_at < ?", s.now()).Delete(&idempotencyKey{})
	return res.RowsAffected, res.Error
}

// nullable stores "" (an unknown name, no content type) as NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// IdempotencySweepArgs is the periodic job that deletes expired
// idempotency keys.
type IdempotencySweepArgs struct{}

// Kind implements river.JobArgs.
func (IdempotencySweepArgs) Kind() string { return "idempotency_sweep" }

// idempotencySweep is how often expired idempotency keys are deleted.
const idempotencySweep = time.Hour

type idempotencySweepWorker struct {
	river.WorkerDefaults[IdempotencySweepArgs]
	store *Idempotency
}

// Work implements river.Worker.
func (w *idempotencySweepWorker) Work(ctx context.Context, _ *river.Job[IdempotencySweepArgs]) error {
	_, err := w.store.DeleteExpiredIdempotencyKeys(ctx)
	return err
}
