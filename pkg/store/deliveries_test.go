package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// startQueue gives st a job queue that sends through srv, retrying fast.
func startQueue(t *testing.T, st *store.Store, srv *mailtest.Server, work bool) *store.Queue {
	t.Helper()
	sender, err := mail.NewSMTPSender(srv.URL(), true)
	if err != nil {
		t.Fatal(err)
	}
	q, err := st.NewQueue(store.QueueOptions{Work: work, Sender: sender, From: "enrollkit <no-reply@enrollkit.example>",
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

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
