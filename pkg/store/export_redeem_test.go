package store

import "time"

// AdvanceClock moves st's clock forward by d, for tests of expiry. It is
// not safe while other goroutines use st.
func AdvanceClock(st *Store, d time.Duration) {
	prev := st.db.now
	st.db.now = func() time.Time { return prev().Add(d) }
}

// SetRedeemFault makes every redemption of st fail with err after its seat
// was taken (nil removes the fault).
func SetRedeemFault(st *Store, err error) {
	if err == nil {
		st.redeemFault = nil
		return
	}
	st.redeemFault = func() error { return err }
}
