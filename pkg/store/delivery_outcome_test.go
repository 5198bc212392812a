package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// fastSender sends through srv with a command timeout and a data timeout of
// a test's scale.
func fastSender(tb testing.TB, srv *mailtest.Server, command, data time.Duration) mail.Sender {
	tb.Helper()
	s, err := mail.NewSMTPSender(srv.URL(), true, mail.WithSMTPCommandTimeout(command), mail.WithSMTPDataTimeout(data))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sendOne queues one invitation email of a new invitation of f.
func sendOne(t *testing.T, f *invitationFixture, passcode, to string) *lms.Invitation {
	t.Helper()
	inv := f.invite(t, passcode, 10, lms.InvitationActive)
	if _, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, false, []string{to}); err != nil {
		t.Fatal(err)
	}
	return inv
}

func deliveryIs(st lms.DeliveryStatus) func([]*lms.Delivery) bool {
	return func(ds []*lms.Delivery) bool { return len(ds) == 1 && ds[0].Status == st }
}

// TestDeliveryInterruptedWhileSendingIsNotSentAgain: a delivery left
// sending (its attempt was cut off by a crash after the claim, as when the
// process is killed mid-send) is not sent again when its job runs again,
// as after River rescues it: it ends unknown, with why, and no retry.
func TestDeliveryInterruptedWhileSendingIsNotSentAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, false) // the process that claimed the delivery, then died
		inv := sendOne(t, f, "Crash-Plover-37", "cut-off@example.com")
		page, err := f.st.FindDeliveries(f.org.Ctx, inv.ID, lms.PageRequest{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("deliveries = %v, %v", page, err)
		}
		id := page.Items[0].ID
		if err := db.Gorm().Exec("UPDATE invitation_deliveries SET status = ?, attempts = 1 WHERE id = ?",
			string(lms.DeliverySending), id).Error; err != nil {
			t.Fatal(err)
		}

		restarted := storetest.NewStore(t, db)
		startQueue(t, restarted, srv, true) // its job runs again
		waitDeliveries(t, restarted, f.org.Ctx, inv.ID, deliveryIs(lms.DeliveryUnknown))
		time.Sleep(500 * time.Millisecond) // room for a send or a retry to show up
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages sent for a delivery found sending, want none", n)
		}
		ds := waitDeliveries(t, restarted, f.org.Ctx, inv.ID, deliveryIs(lms.DeliveryUnknown))
		if d := ds[0]; d.Attempts != 1 || d.LastError == "" || d.SentAt != nil {
			t.Fatalf("delivery = %+v, want unknown after its one attempt, with why", *d)
		}
	})
}

// TestDeliveryWaitsForASlowRelay: a relay that takes longer than the
// command timeout to accept the message (the fault run's took 12 s against
// a 10 s limit, and got three copies) is waited for: one copy, sent. While
// it waits, the deliveries list says sending.
func TestDeliveryWaitsForASlowRelay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		srv.SetDataDelay(2 * time.Second)
		storetest.StartQueueWith(t, f.st, fastSender(t, srv, 500*time.Millisecond, 20*time.Second), true)
		inv := sendOne(t, f, "Slow-Curlew-58", "patient@example.com")

		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, deliveryIs(lms.DeliverySending))
		if d := ds[0]; d.Attempts != 1 || d.SentAt != nil {
			t.Fatalf("delivery while sending = %+v, want its first attempt counted", *d)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages accepted while the delivery says sending", n)
		}
		ds = waitDeliveries(t, f.st, f.org.Ctx, inv.ID, allSent)
		time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
		if n := len(srv.To("patient@example.com")); n != 1 {
			t.Fatalf("%d copies arrived, want exactly 1", n)
		}
		if d := ds[0]; d.Attempts != 1 || d.LastError != "" || d.SentAt == nil {
			t.Fatalf("delivery = %+v, want sent at the first attempt", *d)
		}
	})
}

// TestDeliveryWithoutTheRelaysReplyIsUnknown: when the relay's reply to
// the whole message does not come within the data timeout, the relay may
// deliver it anyway (this one does): the delivery ends unknown and is not
// retried, so the recipient has one copy, not one per attempt.
func TestDeliveryWithoutTheRelaysReplyIsUnknown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		srv.SetDataDelay(3 * time.Second)
		storetest.StartQueueWith(t, f.st, fastSender(t, srv, 5*time.Second, 500*time.Millisecond), true)
		inv := sendOne(t, f, "Mute-Godwit-71", "maybe@example.com")

		waitDeliveries(t, f.st, f.org.Ctx, inv.ID, deliveryIs(lms.DeliveryUnknown))
		if got := srv.WaitFor(1, 15*time.Second); len(got) != 1 {
			t.Fatalf("the relay kept %d messages, want the one it was slow to accept", len(got))
		}
		time.Sleep(time.Second) // room for a retry to be claimed and sent
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d copies arrived, want exactly 1", n)
		}
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, deliveryIs(lms.DeliveryUnknown))
		if d := ds[0]; d.Attempts != 1 || d.LastError == "" || d.SentAt != nil {
			t.Fatalf("delivery = %+v, want unknown after one attempt, with why", *d)
		}
	})
}

// TestDeliveryRetriesARefusedConnection: a relay that refuses connections
// fails every attempt before anything is handed over, so the delivery goes
// back to queued and is retried, and once the relay is up it is sent, once.
func TestDeliveryRetriesARefusedConnection(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewClosedServer(t)
		storetest.StartQueueWith(t, f.st, fastSender(t, srv, 2*time.Second, 10*time.Second), true)
		inv := sendOne(t, f, "Down-Dunlin-92", "later@example.com")

		waitDeliveries(t, f.st, f.org.Ctx, inv.ID, func(ds []*lms.Delivery) bool {
			return len(ds) == 1 && ds[0].Attempts >= 2 && ds[0].LastError != "" && ds[0].Status == lms.DeliveryQueued
		})
		srv.Open()
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, allSent)
		time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d messages arrived, want exactly 1", n)
		}
		if d := ds[0]; d.LastError != "" || d.SentAt == nil {
			t.Fatalf("delivery = %+v", *d)
		}
	})
}

// TestDeliveryStatusesAreTheSchemas holds pkg/lms's delivery statuses and
// the database's CHECK constraint to the same list, on both dialects.
func TestDeliveryStatusesAreTheSchemas(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := sendOne(t, f, "Check-Stint-15", "check@example.com")
		page, err := f.st.FindDeliveries(f.org.Ctx, inv.ID, lms.PageRequest{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("deliveries = %v, %v", page, err)
		}
		set := func(st string) error {
			return db.Gorm().Exec("UPDATE invitation_deliveries SET status = ? WHERE id = ?", st, page.Items[0].ID).Error
		}
		for _, st := range []lms.DeliveryStatus{lms.DeliveryQueued, lms.DeliverySending, lms.DeliverySent,
			lms.DeliveryFailed, lms.DeliveryUnknown} {
			if err := set(string(st)); err != nil {
				t.Errorf("status %q refused by the schema: %v", st, err)
			}
		}
		if err := set("delivered"); err == nil {
			t.Error("the schema accepts a status pkg/lms does not have")
		}
	})
}

// TestDeliveryBeatsWhileTheRelayTakesItsTime: an attempt waiting for a slow
// relay keeps its delivery alive (the queue's beat is 200 ms here, so the
// sweep takes a delivery silent for 800 ms for interrupted): the delivery
// still says sending after twice that, and ends sent, one copy.
func TestDeliveryBeatsWhileTheRelayTakesItsTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		srv.SetDataDelay(2500 * time.Millisecond)
		storetest.StartQueueWith(t, f.st, fastSender(t, srv, 500*time.Millisecond, 20*time.Second), true)
		inv := sendOne(t, f, "Beat-Dunlin-24", "alive@example.com")
		waitDeliveries(t, f.st, f.org.Ctx, inv.ID, deliveryIs(lms.DeliverySending))
		time.Sleep(1600 * time.Millisecond)
		page, err := f.st.FindDeliveries(f.org.Ctx, inv.ID, lms.PageRequest{})
		if err != nil || len(page.Items) != 1 || page.Items[0].Status != lms.DeliverySending {
			t.Fatalf("deliveries while the relay takes its time = %+v, %v; want sending", page.Items, err)
		}
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, allSent)
		if n := len(srv.To("alive@example.com")); n != 1 || ds[0].Attempts != 1 {
			t.Fatalf("%d copies, %d attempts; want 1 and 1", n, ds[0].Attempts)
		}
	})
}

// TestSweepInterruptedDeliveries: a delivery left sending by an attempt that
// stopped refreshing it (its process died mid-send) is recorded unknown,
// with why, by the sweep; one whose attempt refreshed it lately, and the
// queued ones, are left alone.
func TestSweepInterruptedDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false) // deliveries are queued, never sent
		inv := f.invite(t, "Sweep-Stint-63", 10, lms.InvitationActive)
		if _, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, false,
			[]string{"dead@example.com", "alive@example.com", "waiting@example.com"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for to, at := range map[string]time.Time{"dead@example.com": now.Add(-2 * time.Minute), "alive@example.com": now.Add(-10 * time.Second)} {
			if err := db.Gorm().Exec("UPDATE invitation_deliveries SET status = ?, attempts = 1, updated_at = ? WHERE recipient = ? AND invitation_id = ?",
				string(lms.DeliverySending), at, to, inv.ID).Error; err != nil {
				t.Fatal(err)
			}
		}
		n, err := f.st.SweepInterrupted(context.Background(), time.Minute)
		if err != nil || n != 1 {
			t.Fatalf("swept %d, %v; want 1", n, err)
		}
		page, err := f.st.FindDeliveries(f.org.Ctx, inv.ID, lms.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]lms.DeliveryStatus{"dead@example.com": lms.DeliveryUnknown, "alive@example.com": lms.DeliverySending,
			"waiting@example.com": lms.DeliveryQueued}
		for _, d := range page.Items {
			if d.Status != want[d.Recipient] {
				t.Errorf("%s: %s, want %s", d.Recipient, d.Status, want[d.Recipient])
			}
			if d.Status == lms.DeliveryUnknown && (d.LastError == "" || d.Attempts != 1) {
				t.Errorf("%s: %+v, want why and its one attempt", d.Recipient, *d)
			}
		}
	})
}

// TestDeliveryOrphanedBeforeItsClaimIsResumed: a delivery whose job a dead
// process had taken but not yet claimed (the job running, the delivery
// still queued) is sent by a new job within seconds, once, instead of
// waiting for River to rescue the orphan.
func TestDeliveryOrphanedBeforeItsClaimIsResumed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, false) // the process that took the job, then died
		inv := sendOne(t, f, "Orphan-Knot-52", "orphan@example.com")
		took := "UPDATE river_job SET state = 'running', attempted_at = now() - interval '2 minutes' WHERE kind = 'invitation_delivery'"
		if db.Dialect() == store.SQLite {
			took = "UPDATE river_job SET state = 'running', attempted_at = datetime('now', '-2 minutes', 'subsec') WHERE kind = 'invitation_delivery'"
		}
		if err := db.Gorm().Exec(took).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm().Exec("UPDATE invitation_deliveries SET updated_at = ? WHERE invitation_id = ?",
			time.Now().UTC().Add(-2*time.Minute), inv.ID).Error; err != nil {
			t.Fatal(err)
		}

		restarted := storetest.NewStore(t, db)
		startQueue(t, restarted, srv, true)
		ds := waitDeliveries(t, restarted, f.org.Ctx, inv.ID, allSent)
		time.Sleep(time.Second) // room for a second job's copy
		if n := len(srv.To("orphan@example.com")); n != 1 || ds[0].Attempts != 1 {
			t.Fatalf("%d copies, %d attempts; want 1 and 1", n, ds[0].Attempts)
		}
	})
}
