package store

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// SetInvitationState writes an invitation's stored status, seats and expiry
// as given, past every rule, for tests of the rules themselves.
func SetInvitationState(tb testing.TB, db *DB, id string, state *lms.Invitation) {
	tb.Helper()
	var expires any
	if state.ExpiresAt != nil {
		expires = state.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	err := db.gorm.Model(&invitation{}).Where("id = ?", id).Updates(map[string]any{"status": string(state.Status),
		"max_registrations": state.MaxRegistrations, "registrations_used": state.RegistrationsUsed, "expires_at": expires}).Error
	if err != nil {
		tb.Fatal(err)
	}
}

// TakesSeat runs the seat UPDATE of redemptions on invitation id at now in
// a transaction it rolls back, and reports whether it took a seat.
func TakesSeat(tb testing.TB, db *DB, id string, now time.Time) bool {
	tb.Helper()
	rollback := errors.New("rolled back")
	taken := false
	err := db.gorm.Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(takeSeatSQL, map[string]any{"inv": id, "now": now})
		if res.Error != nil {
			return res.Error
		}
		taken = res.RowsAffected == 1
		return rollback
	})
	if !errors.Is(err, rollback) {
		tb.Fatal(err)
	}
	return taken
}

// Sendable reports whether sendableSQL, the guard of the invitation email's
// claim, holds for invitation id at now.
func Sendable(tb testing.TB, db *DB, id string, now time.Time) bool {
	tb.Helper()
	var n int64
	if err := db.gorm.Model(&invitation{}).Where("id = @id AND "+sendableSQL, sql.Named("id", id), sql.Named("now", now)).Count(&n).Error; err != nil {
		tb.Fatal(err)
	}
	return n == 1
}
