package store

import (
	"testing"
	"time"
)

// AdvanceClock moves st's clock forward by d, for tests of expiry. It is
// not safe while other goroutines use st.
func AdvanceClock(st *Store, d time.Duration) {
	prev := st.db.now
	st.db.now = func() time.Time { return prev().Add(d) }
}

// FailSeats makes the database refuse every seat taken from now on, inside
// the statement that takes it, until the returned function is called: a
// fault in the very path production runs (on PostgreSQL one statement, on
// SQLite a transaction), after the redemption's user, memberships and
// enrollments were written, to prove none of them remain. Each test has a
// database of its own, so the trigger touches no other test.
func FailSeats(tb testing.TB, db *DB) (restore func()) {
	tb.Helper()
	stmts := []string{`CREATE TRIGGER enrollkit_test_fault AFTER UPDATE OF registrations_used ON invitations
		FOR EACH ROW WHEN (NEW.registrations_used > OLD.registrations_used) BEGIN SELECT RAISE(ABORT, 'injected fault'); END`}
	drop := []string{"DROP TRIGGER enrollkit_test_fault"}
	if db.dialect == Postgres {
		stmts = []string{
			`CREATE FUNCTION enrollkit_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`,
			`CREATE TRIGGER enrollkit_test_fault AFTER UPDATE OF registrations_used ON invitations
			FOR EACH ROW WHEN (NEW.registrations_used > OLD.registrations_used) EXECUTE FUNCTION enrollkit_test_fault()`,
		}
		drop = []string{"DROP TRIGGER enrollkit_test_fault ON invitations", "DROP FUNCTION enrollkit_test_fault()"}
	}
	for _, s := range stmts {
		if err := db.gorm.Exec(s).Error; err != nil {
			tb.Fatalf("installing the fault: %v", err)
		}
	}
	return func() {
		for _, s := range drop {
			if err := db.gorm.Exec(s).Error; err != nil {
				tb.Fatalf("removing the fault: %v", err)
			}
		}
	}
}
