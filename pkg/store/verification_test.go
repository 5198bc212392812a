package store_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// inviteVerified is an active invitation of seats that requires email
// verification (the default).
func (f *invitationFixture) inviteVerified(t *testing.T, passcode string, seats int) *lms.Invitation {
	t.Helper()
	inv, err := f.st.CreateInvitation(f.org.Ctx, lms.NewInvitation{Name: "Verified", Passcode: passcode, MaxRegistrations: seats,
		OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs, Status: lms.InvitationActive})
	if err != nil {
		t.Fatal(err)
	}
	if !inv.RequireEmailVerification {
		t.Fatal("email verification is not on by default")
	}
	return inv
}

var tokenInLink = regexp.MustCompile(`/enroll/verify\?token=([A-Za-z0-9_-]+)`)

// linkToken waits until srv has more than skip messages for addr and
// returns the token of the newest one's link.
func linkToken(t *testing.T, srv *mailtest.Server, addr string, skip int) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if msgs := srv.To(addr); len(msgs) > skip {
			text, _ := bodies(t, msgs[len(msgs)-1])
			m := tokenInLink.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no link in:\n%s", text)
			}
			return m[1]
		}
	}
	t.Fatalf("no verification email %d to %s", skip+1, addr)
	return ""
}

func seatsUsed(t *testing.T, f *invitationFixture, id string) int {
	t.Helper()
	inv, err := f.st.FindInvitationByID(f.org.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return inv.RegistrationsUsed
}

func TestUnverifiedRedemptionsGiveTheirSeatBackOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		q := startQueue(t, f.st, srv, true)
		inv := f.inviteVerified(t, "Lapse-Heron-5120", 1)
		r, created, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Lapse-Heron-5120",
			Email: "late@example.com", FirstName: "Lee", LastName: "Late", Password: storetest.Password})
		if err != nil || !created || r.Status != lms.RedemptionPendingVerification || r.Tokens != nil || r.User != nil {
			t.Fatalf("redeem: %+v, %v, %v", r, created, err)
		}
		token := linkToken(t, srv, "late@example.com", 0)
		if n := seatsUsed(t, f, inv.ID); n != 1 {
			t.Fatalf("%d seats used by a pending redemption, want 1", n)
		}
		_, _, err = f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Lapse-Heron-5120",
			Email: "other@example.com", FirstName: "O", LastName: "Ther", Password: storetest.Password})
		if lms.ErrorCode(err) != lms.EInvitationFull {
			t.Fatalf("a second address while the one seat is pending: %v, want invitation_full", err)
		}

		// The process stops; the link is not opened in time; another
		// process starts on the same database: its sweep gives the seat
		// back, and nothing gives it back twice.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		q.Stop(ctx)
		cancel()
		store.AdvanceClock(f.st, lms.DefaultVerificationTTL+time.Minute)
		restarted := storetest.NewStoreHashingWith(t, db, f.hasher)
		startQueue(t, restarted, srv, true)
		for deadline := time.Now().Add(15 * time.Second); seatsUsed(t, f, inv.ID) != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the expired pending redemption's seat was not given back after a restart")
			}
		}
		for range 2 {
			if n, err := restarted.ExpirePendingRedemptions(context.Background(), ""); err != nil || n != 0 {
				t.Fatalf("expiring again gave back %d seats (%v), want 0", n, err)
			}
		}
		if n := seatsUsed(t, f, inv.ID); n != 0 {
			t.Fatalf("%d seats used after expiry, want 0", n)
		}
		if _, err := restarted.VerifyRedemption(context.Background(), token, storetest.Password); lms.ErrorCode(err) != lms.EVerificationInvalid {
			t.Fatalf("an expired link: %v, want verification_invalid", err)
		}
		if _, err := restarted.Login(context.Background(), "late@example.com", storetest.Password, ""); lms.ErrorCode(err) != lms.EUnauthorized {
			t.Fatalf("an unverified address signed in: %v", err)
		}
	})
}

func TestRedeemingAgainReplacesThePendingRedemption(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		q := startQueue(t, f.st, srv, true)
		inv := f.inviteVerified(t, "Twice-Otter-7315", 3)
		redeem := func(password string) (*lms.Redemption, bool, error) {
			return f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Twice-Otter-7315",
				Email: "sam@example.com", FirstName: "Sam", LastName: "Again", Password: password})
		}
		first, _, err := redeem(storetest.Password)
		if err != nil {
			t.Fatal(err)
		}
		oldToken := linkToken(t, srv, "sam@example.com", 0)
		var le *lms.Error
		if _, _, err := redeem(storetest.Password); !errors.As(err, &le) || le.Code != lms.ERateLimited || le.RetryAfter <= 0 {
			t.Fatalf("a new link at once: %v, want rate_limited with a wait", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		q.Stop(ctx)
		cancel()
		store.AdvanceClock(f.st, 2*time.Minute)
		const newPassword = "A-new-passphrase-42"
		second, created, err := redeem(newPassword)
		if err != nil || created || second.ID != first.ID || second.Status != lms.RedemptionPendingVerification {
			t.Fatalf("redeeming again: %+v, created %v, %v; want the same pending redemption, not created", second, created, err)
		}
		if !second.VerificationExpiresAt.Equal(*first.VerificationExpiresAt) {
			t.Fatal("a new link moved the seat's expiry: resending could hold a seat for ever")
		}
		startQueue(t, storetest.NewStoreHashingWith(t, db, f.hasher), srv, true)
		newToken := linkToken(t, srv, "sam@example.com", 1)
		if n := seatsUsed(t, f, inv.ID); n != 1 {
			t.Fatalf("%d seats used after redeeming twice, want 1", n)
		}
		if _, err := f.st.VerifyRedemption(context.Background(), oldToken, storetest.Password); lms.ErrorCode(err) != lms.EVerificationInvalid {
			t.Fatalf("the replaced link: %v, want verification_invalid", err)
		}
		// Whoever redeemed the address again chose the new password: the
		// new link does not complete with the old one.
		if _, err := f.st.VerifyRedemption(context.Background(), newToken, storetest.Password); lms.ErrorCode(err) != lms.EUnauthorized {
			t.Fatalf("the new link with the first password: %v, want unauthorized", err)
		}
		r, err := f.st.VerifyRedemption(context.Background(), newToken, newPassword)
		if err != nil || r.Status != lms.RedemptionActive || r.Tokens == nil || len(r.Enrollments) != 3 {
			t.Fatalf("verify: %+v, %v", r, err)
		}
		if _, err := f.st.Login(context.Background(), "sam@example.com", storetest.Password, ""); lms.ErrorCode(err) != lms.EUnauthorized {
			t.Fatalf("the replaced password still signs in: %v", err)
		}
		if _, err := f.st.Login(context.Background(), "sam@example.com", newPassword, ""); err != nil {
			t.Fatalf("the new password: %v", err)
		}
		if n := seatsUsed(t, f, inv.ID); n != 1 {
			t.Fatalf("%d seats used after verification, want 1", n)
		}
	})
}

func TestAFailedPendingRedemptionWritesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := f.inviteVerified(t, "Fault-Wren-2231", 2)
		restore := store.FailSeats(t, db)
		_, _, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Fault-Wren-2231",
			Email: "f@example.com", FirstName: "F", LastName: "Ault", Password: storetest.Password})
		if err == nil {
			t.Fatal("the fault did not fail the redemption")
		}
		restore()
		if n := seatsUsed(t, f, inv.ID); n != 0 {
			t.Fatalf("%d seats used after a failed pending redemption", n)
		}
		// Nothing pending remains: the address redeems as new, not as a replay.
		if _, created, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Fault-Wren-2231",
			Email: "f@example.com", FirstName: "F", LastName: "Ault", Password: storetest.Password}); err != nil || !created {
			t.Fatalf("after the fault: created %v, %v", created, err)
		}
	})
}

// TestResendsAreBounded: a pending redemption is sent at most lms.MaxVerificationResends
// new links, and its seat returns at the first link's expiry.
func TestResendsAreBounded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		f.inviteVerified(t, "Spam-Shrike-7708", 2)
		redeem := func() error {
			_, _, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Spam-Shrike-7708",
				Email: "victim@example.com", FirstName: "V", LastName: "Ictim", Password: storetest.Password})
			return err
		}
		if err := redeem(); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			store.AdvanceClock(f.st, 2*time.Minute)
			if err := redeem(); err != nil {
				t.Fatal(err)
			}
		}
		store.AdvanceClock(f.st, 2*time.Minute)
		var le *lms.Error
		if err := redeem(); !errors.As(err, &le) || le.Code != lms.ERateLimited || le.RetryAfter < 40*time.Hour {
			t.Fatalf("a sixth new link: %v, want rate_limited until the first link's expiry", err)
		}
	})
}

// TestAnAccountTakesOverTheSeatItsWrongPasswordHeld: on an invitation that
// verifies addresses, an account's wrong password is answered as pending
// and holds a seat; the account redeeming with its password takes it over.
func TestAnAccountTakesOverTheSeatItsWrongPasswordHeld(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := f.inviteVerified(t, "Seat-Swap-6104", 1)
		mgr := f.org.ManagerEmail
		_, _, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Seat-Swap-6104", Email: mgr,
			FirstName: "M", LastName: "Gr", Password: "Not-the-managers-passphrase-1"})
		var hidden *lms.Concealed
		if !errors.As(err, &hidden) || hidden.Answer == nil || hidden.Answer.Status != lms.RedemptionPendingVerification {
			t.Fatalf("a wrong password on an account: %v, want a concealed pending answer", err)
		}
		if n := seatsUsed(t, f, inv.ID); n != 1 {
			t.Fatalf("%d seats used by the concealed answer, want 1", n)
		}
		r, created, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: "Seat-Swap-6104", Email: mgr,
			Password: storetest.Password})
		if err != nil || !created || r.Status != lms.RedemptionActive {
			t.Fatalf("the account with its password on the one seat it held: %+v %v %v", r, created, err)
		}
		if n := seatsUsed(t, f, inv.ID); n != 1 {
			t.Fatalf("%d seats used after the take-over, want 1", n)
		}
		if n, err := f.st.ExpirePendingRedemptions(context.Background(), ""); err != nil || n != 0 {
			t.Fatalf("something pending remained: %d, %v", n, err)
		}
	})
}

// TestTwoLinksOfOneAddressVerifiedAtOnce: an address pending on two
// invitations of one organization opens both links at the same moment; one
// makes the account, the other joins it, and neither fails.
func TestTwoLinksOfOneAddressVerifiedAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, true)
		a, b := f.inviteVerified(t, "Twin-Link-4401", 2), f.inviteVerified(t, "Twin-Link-5502", 2)
		for i, pc := range []string{"Twin-Link-4401", "Twin-Link-5502"} {
			if _, _, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: pc, Email: "twin@example.com",
				FirstName: "T", LastName: "Win", Password: storetest.Password}); err != nil {
				t.Fatal(err)
			}
			linkToken(t, srv, "twin@example.com", i)
		}
		var tokens []string
		for _, m := range srv.To("twin@example.com") {
			text, _ := bodies(t, m)
			tokens = append(tokens, tokenInLink.FindStringSubmatch(text)[1])
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range tokens {
			wg.Go(func() { _, errs[i] = f.st.VerifyRedemption(context.Background(), tokens[i], storetest.Password) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("link %d: %v", i, err)
			}
		}
		for _, inv := range []*lms.Invitation{a, b} {
			page, err := f.st.FindRedemptions(f.org.Ctx, inv.ID, lms.PageRequest{})
			if err != nil || len(page.Items) != 1 || seatsUsed(t, f, inv.ID) != 1 {
				t.Fatalf("invitation %s: %+v %v", inv.Name, page, err)
			}
		}
	})
}
