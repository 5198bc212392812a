package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// TestSeatRuleMatchesDomain holds the SQL that takes a seat, the guard of
// the invitation email's claim and the SQL of the list filters by derived
// status to the domain's rules (lms.Invitation.Redeemable, Sendable and
// EffectiveStatus) over every kind of
// invitation state: stored status × seats left or not × expiry none, past,
// this very instant or future.
func TestSeatRuleMatchesDomain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		now := time.Now().UTC().Truncate(time.Microsecond)
		past, future := now.Add(-time.Hour), now.Add(time.Hour)
		type row struct {
			id    string
			state lms.Invitation
		}
		var rows []row
		for _, status := range []lms.InvitationStatus{lms.InvitationDraft, lms.InvitationActive, lms.InvitationPaused, lms.InvitationRevoked} {
			for _, used := range []int{0, 1, 2} {
				for _, expires := range []*time.Time{nil, &past, &now, &future} {
					inv := f.invite(t, "", 2, lms.InvitationDraft)
					state := lms.Invitation{Status: status, MaxRegistrations: 2, RegistrationsUsed: used, ExpiresAt: expires}
					store.SetInvitationState(t, db, inv.ID, &state)
					rows = append(rows, row{inv.ID, state})
				}
			}
		}
		redeemable := 0
		for _, r := range rows {
			want := r.state.Redeemable(now)
			if got := store.TakesSeat(t, db, r.id, now); got != want {
				t.Errorf("%s with %d of %d seats used, expiring %v: the seat UPDATE took a seat: %v, Redeemable: %v",
					r.state.Status, r.state.RegistrationsUsed, r.state.MaxRegistrations, expiry(r.state.ExpiresAt, now), got, want)
			}
			if got, want := store.Sendable(t, db, r.id, now), r.state.Sendable(now); got != want {
				t.Errorf("%s expiring %v: the email claim's guard holds: %v, Sendable: %v", r.state.Status, expiry(r.state.ExpiresAt, now), got, want)
			}
			if want != (r.state.EffectiveStatus(now) == lms.InvitationActive) {
				t.Errorf("%+v: Redeemable is not EffectiveStatus active", r.state)
			}
			if want {
				redeemable++
			}
		}
		if redeemable == 0 || redeemable == len(rows) {
			t.Fatalf("%d of %d states redeemable: the table does not tell the rule apart", redeemable, len(rows))
		}
		// The list filters judge at the store's clock, a moment after now:
		// only the expiry at this very instant may differ, and is left out.
		for _, status := range []lms.InvitationStatus{lms.InvitationDraft, lms.InvitationActive, lms.InvitationPaused,
			lms.InvitationRevoked, lms.InvitationExpired, lms.InvitationFull} {
			listed := map[string]bool{}
			for _, inv := range listAll(t, f, status) {
				listed[inv.ID] = true
			}
			at := time.Now()
			for _, r := range rows {
				if r.state.ExpiresAt == &now {
					continue
				}
				if want := r.state.EffectiveStatus(at) == status; listed[r.id] != want {
					t.Errorf("status=%s lists %+v: %v, EffectiveStatus says %v", status, r.state, listed[r.id], want)
				}
			}
		}
	})
}

// listAll lists every invitation of f's organization with status.
func listAll(t *testing.T, f *invitationFixture, status lms.InvitationStatus) []*lms.Invitation {
	t.Helper()
	var all []*lms.Invitation
	filter := lms.InvitationFilter{Status: &status}
	filter.Limit = lms.MaxPageLimit
	for {
		page, err := f.st.FindInvitations(f.org.Ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		filter.Cursor = page.NextCursor
	}
}

func expiry(at *time.Time, now time.Time) string {
	if at == nil {
		return "never"
	}
	return fmt.Sprint(at.Sub(now))
}
