package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// startQueue gives st a job queue that sends through srv, retrying fast.
var startQueue = storetest.StartQueue

// bodies returns the decoded text and HTML parts of a received message.
func bodies(t *testing.T, m mailtest.Message) (text, html string) {
	t.Helper()
	text, html, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	return text, html
}

func waitDeliveries(t *testing.T, st *store.Store, ctx context.Context, invID string, done func([]*lms.Delivery) bool) []*lms.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		page, err := st.FindDeliveries(ctx, invID, lms.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if done(page.Items) {
			return page.Items
		}
		if time.Now().After(deadline) {
			for _, d := range page.Items {
				t.Logf("delivery %+v", *d)
			}
			t.Fatal("deliveries did not reach the expected state")
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func allSent(ds []*lms.Delivery) bool {
	for _, d := range ds {
		if d.Status != lms.DeliverySent {
			return false
		}
	}
	return len(ds) > 0
}

func TestInvitationEmailDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, true)
		ctx := f.org.Ctx
		inv := f.invite(t, "Mail-Robin-62", 10, lms.InvitationActive)
		msg := "Welcome aboard!\nPlease <script>alert(1)</script> enroll & start."
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Message: &msg}); err != nil {
			t.Fatal(err)
		}
		preview, err := f.st.InvitationEmail(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.st.CreateDeliveries(ctx, inv.ID, false, []string{"not-an-email"})
		wantCode(t, err, lms.EInvalid)
		_, err = f.st.CreateDeliveries(ctx, inv.ID, false, nil)
		wantCode(t, err, lms.EInvalid)
		ds, err := f.st.CreateDeliveries(ctx, inv.ID, true, []string{"A@Example.com", "a@example.com", "b@example.com"})
		if err != nil || len(ds) != 3 || !ds[0].Copy || ds[0].Recipient != f.org.ManagerEmail || ds[0].Status != lms.DeliveryQueued {
			t.Fatalf("deliveries = %+v, %v", ds, err)
		}
		waitDeliveries(t, f.st, ctx, inv.ID, allSent)
		got := srv.WaitFor(3, 5*time.Second)
		if len(got) != 3 {
			t.Fatalf("%d messages arrived, want 3", len(got))
		}
		to := map[string]bool{}
		for _, m := range got {
			to[m.To[0]] = true
			text, html := bodies(t, m)
			for _, want := range []string{inv.Passcode, "https://learn.example.com/enroll?passcode=Mail-Robin-62", "Welcome aboard!", "Safety 101", "Forklift basics", "First aid", "Warehouse", "Drivers"} {
				if !strings.Contains(text, want) {
					t.Errorf("text part lacks %q", want)
				}
			}
			if !strings.Contains(html, "&lt;script&gt;") || strings.Contains(html, "<script>") {
				t.Errorf("the message's <script> is not escaped in the HTML part")
			}
			if !strings.Contains(text, "<script>") {
				t.Errorf("the text part should carry the message as written")
			}
			if m.Header.Get("Subject") == "" || !strings.Contains(preview.Text, inv.Passcode) {
				t.Errorf("subject %q", m.Header.Get("Subject"))
			}
			if text != strings.ReplaceAll(preview.Text, "\r\n", "\n") && strings.ReplaceAll(text, "\r\n", "\n") != strings.ReplaceAll(preview.Text, "\r\n", "\n") {
				t.Errorf("sent text differs from the preview")
			}
		}
		if !to[f.org.ManagerEmail] || !to["a@example.com"] || !to["b@example.com"] {
			t.Fatalf("recipients = %v", to)
		}
	})
}

func TestDeliveryRetriesUntilSMTPIsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		srv.SetDown(true)
		startQueue(t, f.st, srv, true)
		inv := f.invite(t, "Retry-Stork-19", 10, lms.InvitationActive)
		if _, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, false, []string{"late@example.com"}); err != nil {
			t.Fatal(err)
		}
		waitDeliveries(t, f.st, f.org.Ctx, inv.ID, func(ds []*lms.Delivery) bool {
			return ds[0].Attempts >= 2 && ds[0].LastError != "" && ds[0].Status == lms.DeliveryQueued
		})
		srv.SetDown(false)
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, allSent)
		time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d messages arrived, want exactly 1", n)
		}
		if ds[0].LastError != "" || ds[0].SentAt == nil {
			t.Fatalf("delivery = %+v", *ds[0])
		}
	})
}

func TestDeliverySurvivesARestart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, false) // the process that answered 202, then stopped
		inv := f.invite(t, "Crash-Heron-84", 10, lms.InvitationActive)
		if _, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, true, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages before the restart", n)
		}
		restarted := storetest.NewStore(t, db) // a new process on the same database
		startQueue(t, restarted, srv, true)
		waitDeliveries(t, restarted, f.org.Ctx, inv.ID, allSent)
		time.Sleep(300 * time.Millisecond)
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d messages after the restart, want exactly 1", n)
		}
	})
}

// TestMailQuotaPerOrganization is finding 5: one organization's invitation
// emails are bounded per hour and per day, a send that would pass either is
// refused whole with how long to wait, and other organizations are not
// affected.
func TestMailQuotaPerOrganization(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		quota := func(d *store.Deps) { d.MailQuota = lms.MailQuota{PerHour: 5, PerDay: 8, Rate: 100} }
		a, b := newInvitationFixtureWith(t, db, quota), newInvitationFixtureWith(t, db, quota)
		srv := mailtest.NewServer(t)
		startQueue(t, a.st, srv, false)
		startQueue(t, b.st, srv, false)
		invA, invB := a.invite(t, "Quota-Finch-3301", 10, lms.InvitationActive), b.invite(t, "Quota-Crow-4402", 10, lms.InvitationActive)
		send := func(f *invitationFixture, inv *lms.Invitation, n int) error {
			addrs := make([]string, n)
			for i := range addrs {
				addrs[i] = fmt.Sprintf("r%d-%d@example.com", time.Now().UnixNano(), i)
			}
			_, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, false, addrs)
			return err
		}
		count := func(f *invitationFixture, inv *lms.Invitation) int {
			page, err := f.st.FindDeliveries(f.org.Ctx, inv.ID, lms.PageRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Items)
		}
		wantWait := func(err error, atLeast, atMost time.Duration) {
			t.Helper()
			var le *lms.Error
			if !errors.As(err, &le) || le.Code != lms.ERateLimited || le.RetryAfter < atLeast || le.RetryAfter > atMost {
				var wait time.Duration
				if le != nil {
					wait = le.RetryAfter
				}
				t.Fatalf("got %v (wait %v), want rate_limited with a wait of %v to %v", err, wait, atLeast, atMost)
			}
		}
		if err := send(a, invA, 3); err != nil {
			t.Fatal(err)
		}
		wantWait(send(a, invA, 3), 59*time.Minute, time.Hour)
		if n := count(a, invA); n != 3 {
			t.Fatalf("%d deliveries after a refused send, want the 3 before it", n)
		}
		wantCode(t, send(a, invA, 6), lms.EInvalid) // more than an hour's quota: never
		if _, err := a.st.CreateDeliveries(a.org.Ctx, invA.ID, true, []string{"1@example.com", "2@example.com", "3@example.com",
			"4@example.com", "5@example.com"}); lms.ErrorCode(err) != lms.EInvalid {
			t.Fatalf("five recipients and the copy against an hour's five: %v, want validation_failed", err)
		}
		if err := send(b, invB, 5); err != nil {
			t.Fatalf("another organization's send: %v", err)
		}
		// An hour on, the hour has room again; the day's quota still counts.
		store.AdvanceClock(a.st, 61*time.Minute)
		for _, n := range []int{2, 2} {
			if err := send(a, invA, n); err != nil {
				t.Fatalf("after an hour: %v", err)
			}
		}
		// 7 today + 2 > 8: room when the first 3 are a day old.
		wantWait(send(a, invA, 2), 23*time.Hour-2*time.Minute, 23*time.Hour)
		store.AdvanceClock(a.st, 61*time.Minute)
		wantWait(send(a, invA, 2), 22*time.Hour-3*time.Minute, 22*time.Hour-time.Minute)
	})
}

// TestMailIsPacedFairlyBetweenOrganizations is finding 5's fair
// scheduling: an organization's emails leave at its pace, so another
// organization's email queued after them goes out before they are done.
func TestMailIsPacedFairlyBetweenOrganizations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		pace := func(d *store.Deps) { d.MailQuota = lms.MailQuota{PerHour: 1000, PerDay: 1000, Rate: 10} }
		big, small := newInvitationFixtureWith(t, db, pace), newInvitationFixtureWith(t, db, pace)
		srv := mailtest.NewServer(t)
		startQueue(t, big.st, srv, true)
		startQueue(t, small.st, srv, false) // its jobs are worked by big's workers: one queue
		invBig, invSmall := big.invite(t, "Bulk-Gull-5120", 10, lms.InvitationActive), small.invite(t, "Lone-Wren-6230", 10, lms.InvitationActive)
		addrs := make([]string, 30)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("bulk%02d@example.com", i)
		}
		ds, err := big.st.CreateDeliveries(big.org.Ctx, invBig.ID, false, addrs)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(ds); i++ {
			if gap := ds[i].ScheduledAt.Sub(ds[i-1].ScheduledAt); gap != 100*time.Millisecond {
				t.Fatalf("deliveries %d and %d are %v apart, want 100ms at 10 a second", i-1, i, gap)
			}
		}
		more, err := big.st.CreateDeliveries(big.org.Ctx, invBig.ID, false, []string{"bulk-late@example.com"})
		if err != nil || !more[0].ScheduledAt.After(ds[len(ds)-1].ScheduledAt) {
			t.Fatalf("a later send of the same organization is not scheduled after its queue: %v %v", more, err)
		}
		lone, err := small.st.CreateDeliveries(small.org.Ctx, invSmall.ID, false, []string{"lone@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		// Due at once, not behind the big send's queue.
		if lone[0].ScheduledAt.After(time.Now()) || !lone[0].ScheduledAt.Before(ds[len(ds)-1].ScheduledAt) {
			t.Fatalf("another organization's email is scheduled at %v, the big send's last at %v", lone[0].ScheduledAt, ds[len(ds)-1].ScheduledAt)
		}
		for deadline := time.Now().Add(15 * time.Second); len(srv.To("lone@example.com")) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the lone email was not sent")
			}
		}
		if n := len(srv.Messages()) - 1; n >= len(addrs) {
			t.Fatalf("the lone email waited for all %d of the big send's", n)
		}
	})
}
