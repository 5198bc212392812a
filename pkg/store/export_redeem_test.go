package store

// SetRedeemFault makes every redemption of st fail with err after its seat
// was taken (nil removes the fault).
func SetRedeemFault(st *Store, err error) {
	if err == nil {
		st.redeemFault = nil
		return
	}
	st.redeemFault = func() error { return err }
}
