package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// readRecipients parses file as the API parses an upload.
func readRecipients(t *testing.T, file string) []lms.Recipient {
	t.Helper()
	rows, err := lms.ReadRecipientCSV(strings.NewReader(file))
	if err != nil {
		t.Fatalf("read the file: %v", err)
	}
	return rows
}

// countWhere runs a COUNT query on db.
func countWhere(t *testing.T, db *store.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// queued counts an invitation's deliveries and the delivery jobs, with
// how many deliveries the jobs name.
func queued(t *testing.T, db *store.DB, invID string) (deliveries, jobs, jobDeliveries int64) {
	t.Helper()
	return countWhere(t, db, "SELECT COUNT(*) FROM invitation_deliveries WHERE invitation_id = ?", invID),
		countWhere(t, db, "SELECT COUNT(*) FROM river_job WHERE kind = ?", store.DeliveryArgs{}.Kind()),
		countWhere(t, db, "SELECT COUNT(DISTINCT args) FROM river_job WHERE kind = ?", store.DeliveryArgs{}.Kind())
}

// roomy is a quota that takes a whole recipient file at once.
func roomy(d *store.Deps) {
	d.MailQuota = lms.MailQuota{PerHour: 2 * lms.MaxRecipientRows, PerDay: 2 * lms.MaxRecipientRows, Rate: 1000}
}

// TestRecipientFileOfTenThousandRows sends a file of the most rows allowed
// in one call: every row becomes one delivery with one job, in one
// transaction, none twice.
func TestRecipientFileOfTenThousandRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixtureWith(t, db, roomy)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := f.invite(t, "Bulk-Otter-4821", 10, lms.InvitationActive)
		var b strings.Builder
		b.WriteString("email,first_name,last_name\n")
		for i := range lms.MaxRecipientRows {
			fmt.Fprintf(&b, "staff%05d@department.example.com,First%05d,Last\n", i, i)
		}
		if b.Len() > 1<<20 {
			t.Fatalf("the file is %d bytes, over the default body limit", b.Len())
		}
		sent, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID, readRecipients(t, b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if len(sent.Deliveries) != lms.MaxRecipientRows || len(sent.Rejected) != 0 {
			t.Fatalf("%d queued and %d rejected, want %d and none", len(sent.Deliveries), len(sent.Rejected), lms.MaxRecipientRows)
		}
		if d := sent.Deliveries[4321]; d.Recipient != "staff04321@department.example.com" || d.FirstName != "First04321" || d.LastName != "Last" {
			t.Fatalf("delivery 4321 = %+v", *d)
		}
		deliveries, jobs, named := queued(t, db, inv.ID)
		if want := int64(lms.MaxRecipientRows); deliveries != want || jobs != want || named != want {
			t.Fatalf("%d deliveries, %d jobs naming %d deliveries; want %d of each", deliveries, jobs, named, want)
		}
		if n := countWhere(t, db, "SELECT COUNT(DISTINCT recipient) FROM invitation_deliveries WHERE invitation_id = ?", inv.ID); n != deliveries {
			t.Fatalf("%d addresses among %d deliveries", n, deliveries)
		}
	})
}

// TestRecipientFileWithBadLines: the rows that are not a new, valid
// address are reported with their lines and the others are queued.
func TestRecipientFileWithBadLines(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := f.invite(t, "Line-Heron-7350", 10, lms.InvitationActive)
		file := "email,first_name\n" +
			"ada@example.com,Ada\n" +
			"grace@example,Grace\n" + // line 3
			"alan@example.com,Alan\n" +
			"ADA@example.com,Ada again\n" // line 5
		sent, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID, readRecipients(t, file))
		if err != nil {
			t.Fatal(err)
		}
		if len(sent.Deliveries) != 2 || sent.Deliveries[0].Recipient != "ada@example.com" || sent.Deliveries[1].Recipient != "alan@example.com" {
			t.Fatalf("deliveries = %+v", sent.Deliveries)
		}
		if len(sent.Rejected) != 2 || sent.Rejected[0].Line != 3 || sent.Rejected[0].Email != "grace@example" ||
			sent.Rejected[1].Line != 5 || !strings.Contains(sent.Rejected[1].Reason, "line 2") {
			t.Fatalf("rejected = %+v", sent.Rejected)
		}
		if deliveries, jobs, _ := queued(t, db, inv.ID); deliveries != 2 || jobs != 2 {
			t.Fatalf("%d deliveries and %d jobs, want 2 and 2", deliveries, jobs)
		}
	})
}

// TestRefusedRecipientFileQueuesNothing: a file that cannot be read is
// refused before the store is asked, and one the store refuses whole (no
// row left to send, more than the quota could take, a revoked invitation)
// queues nothing either.
func TestRefusedRecipientFileQueuesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixtureWith(t, db, func(d *store.Deps) { d.MailQuota = lms.MailQuota{PerHour: 2, PerDay: 10, Rate: 10} })
		startQueue(t, f.st, mailtest.NewServer(t), false)
		inv := f.invite(t, "Void-Plover-2096", 10, lms.InvitationActive)
		for _, file := range []string{"", "email\n", "name\nx\n", "email,phone\na@example.com,1\n", "email\n\"a@example.com\n",
			"email,first_name\na@example.com\n"} {
			if rows, err := lms.ReadRecipientCSV(strings.NewReader(file)); lms.ErrorCode(err) != lms.EInvalid || rows != nil {
				t.Errorf("file %q: %d rows, %v; want validation_failed", file, len(rows), err)
			}
		}
		for name, file := range map[string]string{
			"every row rejected": "email\nnope\n",
			"over the quota":     "email\na@example.com\nb@example.com\nc@example.com\n",
		} {
			_, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID, readRecipients(t, file))
			if lms.ErrorCode(err) != lms.EInvalid {
				t.Errorf("%s: %v, want validation_failed", name, err)
			}
		}
		revoked := lms.InvitationRevoked
		if _, err := f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: &revoked}); err != nil {
			t.Fatal(err)
		}
		_, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID, readRecipients(t, "email\na@example.com\n"))
		wantCode(t, err, lms.EConflict)
		if deliveries, jobs, _ := queued(t, db, inv.ID); deliveries != 0 || jobs != 0 {
			t.Fatalf("%d deliveries and %d jobs after refused sends, want none", deliveries, jobs)
		}
	})
}

// TestRecipientNamesGreetTheEmail: a delivery keeps the names its row
// gave, and its email greets the recipient by first name; an address
// without a name gets the email the preview shows, without a greeting.
func TestRecipientNamesGreetTheEmail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, true)
		inv := f.invite(t, "Name-Curlew-5163", 10, lms.InvitationActive)
		sent, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID,
			readRecipients(t, "email,first_name,last_name\npriya@example.com,Priya,Nair\nanon@example.com,,\n"))
		if err != nil {
			t.Fatal(err)
		}
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, allSent)
		if ds[0].FirstName != "Priya" || ds[0].LastName != "Nair" || ds[1].FirstName != "" || ds[1].LastName != "" ||
			sent.Deliveries[0].FirstName != "Priya" {
			t.Fatalf("deliveries = %+v, %+v", *ds[0], *ds[1])
		}
		preview, err := f.st.InvitationEmail(f.org.Ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(preview.Text, "Hello") {
			t.Fatalf("the preview greets someone:\n%s", preview.Text)
		}
		srv.WaitFor(2, 5*time.Second)
		unix := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
		for _, tc := range []struct{ to, greeting string }{{"priya@example.com", "Hello Priya,\n\n"}, {"anon@example.com", ""}} {
			got := srv.To(tc.to)
			if len(got) != 1 {
				t.Fatalf("%d messages to %s, want 1", len(got), tc.to)
			}
			text, html := bodies(t, got[0])
			if unix(text) != tc.greeting+unix(preview.Text) {
				t.Errorf("to %s: the text is not %q and the preview:\n%s", tc.to, tc.greeting, text)
			}
			if greets := strings.Contains(html, "<p>Hello Priya,</p>"); greets != (tc.greeting != "") {
				t.Errorf("to %s: HTML greeting %v, want %v", tc.to, greets, tc.greeting != "")
			}
		}
	})
}

// TestResendDelivery holds a resend to its rules: a sent, failed or
// unknown delivery goes back to queued with a new job, its attempts kept,
// an audit event and its place in the quota; a queued or sending one, one
// of another organization, or one whose invitation is revoked or expired
// is refused and changes nothing.
func TestResendDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixtureWith(t, db, func(d *store.Deps) { d.MailQuota = lms.MailQuota{PerHour: 4, PerDay: 10, Rate: 10} })
		startQueue(t, f.st, mailtest.NewServer(t), false) // jobs are queued, never worked
		other := storetest.MustCreateOrganization(t, f.st, "Elsewhere")
		inv := f.invite(t, "Again-Dunlin-8842", 10, lms.InvitationActive)
		sent, err := f.st.CreateRecipientDeliveries(f.org.Ctx, inv.ID,
			readRecipients(t, "email,first_name\none@example.com,One\ntwo@example.com,Two\n"))
		if err != nil {
			t.Fatal(err)
		}
		one, two := sent.Deliveries[0], sent.Deliveries[1]
		setStatus := func(id string, st lms.DeliveryStatus, attempts int) {
			t.Helper()
			if err := db.Gorm().Exec("UPDATE invitation_deliveries SET status = ?, attempts = ?, last_error = ?, sent_at = ? WHERE id = ?",
				string(st), attempts, "the mail server refused the message or its address", time.Now().UTC(), id).Error; err != nil {
				t.Fatal(err)
			}
		}

		_, err = f.st.ResendDelivery(f.org.Ctx, one.ID)
		wantCode(t, err, lms.EConflict) // queued: on its way
		setStatus(one.ID, lms.DeliverySending, 1)
		_, err = f.st.ResendDelivery(f.org.Ctx, one.ID)
		wantCode(t, err, lms.EConflict)
		_, err = f.st.ResendDelivery(other.Ctx, one.ID)
		wantCode(t, err, lms.ENotFound)
		_, err = f.st.ResendDelivery(f.org.Ctx, "not-an-id")
		wantCode(t, err, lms.ENotFound)
		if _, jobs, _ := queued(t, db, inv.ID); jobs != 2 {
			t.Fatalf("%d jobs after refused resends, want the 2 of the send", jobs)
		}

		for _, st := range []lms.DeliveryStatus{lms.DeliveryFailed, lms.DeliverySent, lms.DeliveryUnknown} {
			setStatus(one.ID, st, 2)
			store.AdvanceClock(f.st, time.Second)
			d, err := f.st.ResendDelivery(f.org.Ctx, one.ID)
			if st == lms.DeliveryUnknown {
				// 2 sent and 2 resent: the hour's quota of 4 is spent.
				wantCode(t, err, lms.ERateLimited)
				continue
			}
			if err != nil {
				t.Fatalf("resend of a %s delivery: %v", st, err)
			}
			if d.ID != one.ID || d.Status != lms.DeliveryQueued || d.Attempts != 2 || d.LastError != "" || d.SentAt != nil ||
				d.FirstName != "One" || !d.ScheduledAt.After(two.ScheduledAt) {
				t.Fatalf("resent %s delivery = %+v", st, *d)
			}
		}
		deliveries, jobs, _ := queued(t, db, inv.ID)
		resends := countWhere(t, db, "SELECT COUNT(*) FROM audit_events WHERE action = ? AND target_id = ?", "delivery.resend", one.ID)
		if deliveries != 2 || jobs != 4 || resends != 2 {
			t.Fatalf("%d deliveries, %d jobs, %d resend events; want 2, 4 and 2", deliveries, jobs, resends)
		}
		// The resends hold their place in the quota like new emails.
		_, err = f.st.CreateDeliveries(f.org.Ctx, inv.ID, false, []string{"three@example.com"})
		wantCode(t, err, lms.ERateLimited)

		store.AdvanceClock(f.st, time.Hour)
		setStatus(two.ID, lms.DeliveryFailed, 5)
		revoked := lms.InvitationRevoked
		if _, err := f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: &revoked}); err != nil {
			t.Fatal(err)
		}
		_, err = f.st.ResendDelivery(f.org.Ctx, two.ID)
		wantCode(t, err, lms.EConflict)

		expiring := f.inviteUntil(t, "Soon", "Late-Godwit-3307", time.Now().Add(2*time.Hour)) // the store's clock is an hour ahead
		ds, err := f.st.CreateDeliveries(f.org.Ctx, expiring.ID, false, []string{"late@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		setStatus(ds[0].ID, lms.DeliveryFailed, 1)
		store.AdvanceClock(f.st, 2*time.Hour)
		_, err = f.st.ResendDelivery(f.org.Ctx, ds[0].ID)
		wantCode(t, err, lms.EConflict)
		if _, jobs, _ := queued(t, db, inv.ID); jobs != 5 {
			t.Fatalf("%d jobs after refused resends, want the 5 before them", jobs)
		}
	})
}
