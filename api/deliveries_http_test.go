package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// csvHeader sends a body as a CSV file.
var csvHeader = map[string]string{"Content-Type": "text/csv; charset=utf-8"}

// withSentDelivery fills :id with a delivery of a fresh invitation whose
// email has been sent, which may be sent again. It needs an env whose
// queue works (newEnvWithMailbox).
func withSentDelivery(e *env, route string) string {
	e.t.Helper()
	inv := e.activeInvitation()
	ds, err := e.st.CreateDeliveries(e.org.Ctx, inv.ID, false, []string{"resend-" + uuid.NewString()[:8] + "@example.com"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitDelivery(inv.ID, lms.DeliverySent)
	return fill(route, ds[0].ID)
}

// waitDelivery waits until the one delivery of invitation id is in status
// st, and returns it.
func (e *env) waitDelivery(id string, st lms.DeliveryStatus) *lms.Delivery {
	e.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := e.st.FindDeliveries(e.org.Ctx, id, lms.PageRequest{})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(page.Items) == 1 && page.Items[0].Status == st {
			return page.Items[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the delivery of invitation %s did not become %s: %+v", id, st, page.Items)
		}
	}
}

// deliveryCount is how many deliveries invitation id has.
func (e *env) deliveryCount(id string) int {
	e.t.Helper()
	page, err := e.st.FindDeliveries(e.org.Ctx, id, lms.PageRequest{Limit: lms.MaxPageLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(page.Items)
}

// TestCreateDeliveriesFromCSV uploads a recipient file: its good rows are
// queued with their names, its bad and repeated rows come back with their
// lines, and a file that cannot be read is refused whole, queuing nothing.
func TestCreateDeliveriesFromCSV(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		full := e.tokens["full"]
		inv := e.activeInvitation()
		path := "/api/v1/invitations/" + inv.ID + "/deliveries"
		file := "\ufeffLast_Name,EMAIL,first_name\r\n" +
			"Nair,Priya.Nair@Example.com,Priya\r\n" +
			"Ellis,jordan.ellis@northwind,Jordan\r\n" + // line 3: no domain name
			"\r\n" +
			",sam@example.com,\r\n" + // line 5: no names
			"Again,priya.nair@example.com,Priya\r\n" // line 6: line 2's address
		res := e.do(req{method: "POST", path: path, token: full, header: csvHeader, body: file})
		if res.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		got := res.JSON(t)
		data, rejected := got["data"].([]any), got["rejected"].([]any)
		if len(data) != 2 || len(rejected) != 2 {
			t.Fatalf("%d queued and %d rejected, want 2 and 2: %s", len(data), len(rejected), res.Body)
		}
		priya, sam := data[0].(map[string]any), data[1].(map[string]any)
		if priya["recipient"] != "priya.nair@example.com" || priya["first_name"] != "Priya" || priya["last_name"] != "Nair" ||
			priya["status"] != "queued" {
			t.Errorf("first delivery = %v", priya)
		}
		if sam["recipient"] != "sam@example.com" || sam["first_name"] != nil || sam["last_name"] != nil {
			t.Errorf("a row without names = %v, want null names", sam)
		}
		for i, want := range []struct {
			line  float64
			email string
		}{{3, "jordan.ellis@northwind"}, {6, "priya.nair@example.com"}} {
			r := rejected[i].(map[string]any)
			if r["line"] != want.line || r["email"] != want.email || r["reason"] == "" {
				t.Errorf("rejected[%d] = %v, want line %v, %s", i, r, want.line, want.email)
			}
		}
		if !strings.Contains(rejected[1].(map[string]any)["reason"].(string), "line 2") {
			t.Errorf("a repeated address does not name the line that has it: %v", rejected[1])
		}
		list := e.do(req{method: "GET", path: path, token: full}).JSON(t)["data"].([]any)
		if len(list) != 2 || list[0].(map[string]any)["first_name"] != "Priya" {
			t.Fatalf("the deliveries list = %v", list)
		}

		// A JSON send's answer has the same shape, with nothing rejected.
		res = e.do(req{method: "POST", path: path, token: full, body: map[string]any{"recipients": []string{"json@example.com"}}})
		if res.Status != http.StatusAccepted || len(res.JSON(t)["rejected"].([]any)) != 0 {
			t.Fatalf("JSON send: %d %s", res.Status, res.Body)
		}
		before := e.deliveryCount(inv.ID)

		rows := func(n int) string {
			var b strings.Builder
			b.WriteString("email,first_name,last_name\n")
			for i := range n {
				fmt.Fprintf(&b, "firstname.lastname%05d@department.example.com,Firstname,Lastname-%05d\n", i, i)
			}
			return b.String()
		}
		for _, tc := range []struct{ name, file string }{
			{"empty", ""},
			{"header only", "email,first_name\n"},
			{"no email column", "first_name,last_name\nPriya,Nair\n"},
			{"unknown column", "email,phone\nx@example.com,555\n"},
			{"column twice", "email,Email\nx@example.com,y@example.com\n"},
			{"bad quoting", "email\n\"x@example.com\n"},
			{"bare quote", "email,first_name\nx@example.com,Pri\"ya\n"},
			{"wrong field count", "email,first_name\nx@example.com,X\ny@example.com\n"},
			{"more rows than allowed", rows(lms.MaxRecipientRows + 1)},
			{"every row rejected", "email\nnot-an-address\nalso not\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantProblem(t, e.do(req{method: "POST", path: path, token: full, header: csvHeader, body: tc.file}), 422, lms.EInvalid)
			})
		}
		if n := e.deliveryCount(inv.ID); n != before {
			t.Fatalf("%d deliveries after the refused files, want the %d before them", n, before)
		}

		// 10,000 rows of usual length fit the default 1 MiB body limit:
		// the file is read, and refused only by the default hourly quota of
		// 1000 emails, which no wait could make room for.
		if n := len(rows(lms.MaxRecipientRows)); n > 1<<20 {
			t.Fatalf("a %d-byte file does not fit the default body limit", n)
		}
		p := wantProblem(t, e.do(req{method: "POST", path: path, token: full, header: csvHeader, body: rows(lms.MaxRecipientRows)}), 422, lms.EInvalid)
		if !strings.Contains(fmt.Sprint(p["errors"]), "an hour") {
			t.Errorf("10,000 rows against a quota of 1000 an hour: %v", p)
		}
		big := "email\n" + strings.Repeat("someone.with.a.long.address@a-very-long-domain-name.example.com\n", 20_000)
		wantProblem(t, e.do(req{method: "POST", path: path, token: full, header: csvHeader, body: big}), 413, lms.ETooLarge)
		wantProblem(t, e.do(req{method: "POST", path: path, token: full, header: map[string]string{"Content-Type": "text/plain"},
			body: "email\nx@example.com\n"}), 415, "unsupported_media")
		if n := e.deliveryCount(inv.ID); n != before {
			t.Fatalf("%d deliveries after the refused files, want the %d before them", n, before)
		}

		wantProblem(t, e.do(req{method: "POST", path: path, token: e.tokens["limited"], header: csvHeader, body: "email\nx@example.com\n"}),
			403, lms.EInsufficientRole)
		wantProblem(t, e.do(req{method: "POST", path: path, token: e.tokens["other"], header: csvHeader, body: "email\nx@example.com\n"}),
			404, lms.ENotFound)
	})
}

// TestResendDelivery sends a delivery again: 202 and queued, its email
// sent a second time with its attempts counted on; 409 while it is on its
// way and once its invitation is revoked; 403 for a Limited Manager and
// 404 for another organization.
func TestResendDelivery(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWithMailbox(t, dialect)
		full := e.tokens["full"]
		inv := e.activeInvitation()
		res := e.do(req{method: "POST", path: "/api/v1/invitations/" + inv.ID + "/deliveries", token: full, header: csvHeader,
			body: "email,first_name,last_name\nagain@example.com,Robin,Okafor\n"})
		if res.Status != http.StatusAccepted {
			t.Fatalf("send: %d %s", res.Status, res.Body)
		}
		id := res.JSON(t)["data"].([]any)[0].(map[string]any)["id"].(string)
		path := "/api/v1/deliveries/" + id + "/resend"
		wantProblem(t, e.do(req{method: "POST", path: path, token: e.tokens["limited"]}), 403, lms.EInsufficientRole)
		wantProblem(t, e.do(req{method: "POST", path: path, token: e.tokens["other"]}), 404, lms.ENotFound)
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/deliveries/" + uuid.NewString() + "/resend", token: full}), 404, lms.ENotFound)
		first := e.waitDelivery(inv.ID, lms.DeliverySent)

		res = e.do(req{method: "POST", path: path, token: full})
		if res.Status != http.StatusAccepted {
			t.Fatalf("resend: %d %s", res.Status, res.Body)
		}
		d := res.JSON(t)
		if d["id"] != id || d["status"] != "queued" || d["attempts"] != float64(first.Attempts) || d["sent_at"] != nil ||
			d["first_name"] != "Robin" {
			t.Fatalf("resent delivery = %v, want it queued with its %d attempts", d, first.Attempts)
		}
		// Queued (or already sending): on its way, not to be queued twice.
		if again := e.do(req{method: "POST", path: path, token: full}); again.Status != http.StatusAccepted {
			wantProblem(t, again, 409, lms.EConflict)
		} else {
			t.Fatalf("a second resend while the first is on its way: %s", again.Body)
		}
		second := e.waitDelivery(inv.ID, lms.DeliverySent)
		if second.Attempts != first.Attempts+1 {
			t.Errorf("attempts = %d after the resend, want %d", second.Attempts, first.Attempts+1)
		}
		msgs := e.mailbox.WaitFor(2, 5*time.Second)
		if n := len(e.mailbox.To("again@example.com")); n != 2 {
			t.Fatalf("%d emails to the address (of %d), want 2", n, len(msgs))
		}
		for _, m := range e.mailbox.To("again@example.com") {
			if text, _, err := m.Parts(); err != nil || !strings.HasPrefix(text, "Hello Robin,") {
				t.Errorf("email does not greet by name (%v):\n%s", err, text)
			}
		}

		revoked := lms.InvitationRevoked
		if _, err := e.st.UpdateInvitation(e.org.Ctx, inv.ID, lms.InvitationUpdate{Status: &revoked}); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, e.do(req{method: "POST", path: path, token: full}), 409, lms.EConflict)
	})
}
