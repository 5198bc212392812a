package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// newInvitationBody is a valid single-call invitation of e's organization,
// without email verification: its redemptions are active at once.
func (e *env) newInvitationBody(passcode string, seats int) map[string]any {
	g := storetest.MustCreateUserGroup(e.t, e.st, e.org, fmt.Sprintf("Group %d", time.Now().UnixNano()))
	c := storetest.MustCreateCourse(e.t, e.st, e.org, fmt.Sprintf("Course %d", time.Now().UnixNano()))
	if _, err := e.st.AddUserGroupCourses(e.org.Ctx, g.ID, []string{c.ID}); err != nil {
		e.t.Fatal(err)
	}
	body := map[string]any{"name": "Q3 onboarding", "max_registrations": seats, "organization_group_id": e.org.OrganizationGroupID,
		"user_group_ids": []string{g.ID}, "status": "active", "message": "Welcome!", "require_email_verification": false}
	if passcode != "" {
		body["passcode"] = passcode
	}
	return body
}

func TestInvitationsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	full := e.tokens["full"]
	res := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Blue-Heron-42", 3)})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	inv := res.JSON(t)
	id := inv["id"].(string)
	if inv["passcode"] != "Blue-Heron-42" || inv["status"] != "active" || inv["registrations_remaining"].(float64) != 3 ||
		inv["enroll_url"] != "https://learn.example.com/enroll?passcode=Blue-Heron-42" {
		t.Fatalf("invitation = %v", inv)
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("blue heron 42", 3)}), 409, lms.EConflict)
	p := wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Password123", 3)}), 422, lms.EPasscodeWeak)
	if p["errors"].([]any)[0].(map[string]any)["field"] != "passcode" {
		t.Fatalf("weak passcode problem = %v", p)
	}
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations/" + id, token: e.tokens["limited"]}), 403, lms.EInsufficientRole)
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations/" + id, token: e.tokens["other"]}), 404, lms.ENotFound)

	// The wizard: a draft, then its message, then activation.
	draft := e.newInvitationBody("", 2)
	delete(draft, "status")
	d := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: draft}).JSON(t)
	if d["status"] != "draft" {
		t.Fatalf("draft = %v", d)
	}
	did := d["id"].(string)
	exp := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	upd := e.do(req{method: "PATCH", path: "/api/v1/invitations/" + did, token: full, body: map[string]any{"message": "Line one\nLine two", "expires_at": exp}}).JSON(t)
	if upd["message"] != "Line one\nLine two" || upd["expires_at"] == nil {
		t.Fatalf("patched = %v", upd)
	}
	email := e.do(req{method: "GET", path: "/api/v1/invitations/" + did + "/email", token: full}).JSON(t)
	for _, want := range []string{d["passcode"].(string), "Line one", "enroll?passcode="} {
		if !strings.Contains(email["text"].(string), want) {
			t.Errorf("email text lacks %q", want)
		}
	}
	wantProblem(t, e.do(req{method: "PATCH", path: "/api/v1/invitations/" + did, token: full, body: map[string]string{"status": "paused"}}), 409, lms.EConflict)
	act := e.do(req{method: "PATCH", path: "/api/v1/invitations/" + did, token: full, body: map[string]any{"status": "active", "expires_at": nil}}).JSON(t)
	if act["status"] != "active" || act["expires_at"] != nil {
		t.Fatalf("activated = %v", act)
	}
	sent := e.do(req{method: "POST", path: "/api/v1/invitations/" + did + "/deliveries", token: full,
		body: map[string]any{"send_copy": true, "recipients": []string{"x@example.com", "X@example.com"}}})
	if sent.Status != 202 || len(sent.JSON(t)["data"].([]any)) != 2 {
		t.Fatalf("deliveries: %d %s", sent.Status, sent.Body)
	}
	list := e.do(req{method: "GET", path: "/api/v1/invitations/" + did + "/deliveries", token: full}).JSON(t)
	if len(list["data"].([]any)) != 2 || list["data"].([]any)[0].(map[string]any)["status"] != "queued" {
		t.Fatalf("delivery list = %v", list)
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations/" + did + "/deliveries", token: full, body: map[string]any{"recipients": []string{"nope"}}}), 422, lms.EInvalid)
	// An address literal would send straight to a host of the sender's
	// choosing; a list of bad addresses gets a small answer.
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/invitations/" + did + "/deliveries", token: full, body: map[string]any{"recipients": []string{"a@[127.0.0.1]"}}}), 422, lms.EInvalid)
	junk := make([]string, 1000)
	for i := range junk {
		junk[i] = strings.Repeat("x", 900)
	}
	for _, list := range [][]string{junk, append(junk, "one-too-many")} {
		res := e.do(req{method: "POST", path: "/api/v1/invitations/" + did + "/deliveries", token: full, body: map[string]any{"recipients": list}})
		wantProblem(t, res, 422, lms.EInvalid)
		if len(res.Body) > 4096 {
			t.Fatalf("%d bad recipients answered %d bytes", len(list), len(res.Body))
		}
	}

	// Filters.
	active := e.do(req{method: "GET", path: "/api/v1/invitations?status=active&q=onboarding", token: full}).JSON(t)
	if n := len(active["data"].([]any)); n != 2 {
		t.Fatalf("active invitations = %d", n)
	}
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/invitations?status=lost", token: full}), 400, lms.EBadRequest)

	// Revoke is final; delete only without redemptions.
	e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Blue-Heron-42", "email": "r@example.com", "first_name": "R", "last_name": "S", "password": storetest.Password}})
	wantProblem(t, e.do(req{method: "DELETE", path: "/api/v1/invitations/" + id, token: full}), 409, lms.EConflict)
	e.do(req{method: "PATCH", path: "/api/v1/invitations/" + id, token: full, body: map[string]string{"status": "revoked"}})
	wantProblem(t, e.do(req{method: "PATCH", path: "/api/v1/invitations/" + id, token: full, body: map[string]string{"status": "active"}}), 409, lms.EConflict)

	// Redemptions as JSON and as CSV.
	red := e.do(req{method: "GET", path: "/api/v1/invitations/" + id + "/redemptions", token: full}).JSON(t)
	if len(red["data"].([]any)) != 1 {
		t.Fatalf("redemptions = %v", red)
	}
	csvRes := e.do(req{method: "GET", path: "/api/v1/invitations/" + id + "/redemptions", token: full, header: map[string]string{"Accept": "text/csv"}})
	rows, err := csv.NewReader(bytes.NewReader(csvRes.Body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][2] != "email" || rows[1][2] != "r@example.com" || !strings.HasPrefix(csvRes.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV = %q %v", csvRes.Body, err)
	}
}

// TestCSVExportIsNoFormula: every exported field is quoted, and a cell or
// a segment of one after a comma or semicolon that a spreadsheet would read
// as a formula is made text, in a ;-separated locale too.
func TestCSVExportIsNoFormula(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Formula-Cell-4127", 5)}).JSON(t)
	for _, name := range [][2]string{{"Bob;=1+1;x", "-2+3"}, {"@SUM(A1)", "Ann, +1; -x"}, {"Plain", "O\"Brien"}} {
		res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Formula-Cell-4127",
			"email": strings.ToLower(strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
					return r
				}
				return -1
			}, name[0]+name[1])) + "@example.com", "first_name": name[0], "last_name": name[1], "password": storetest.Password}})
		if res.Status != 201 {
			t.Fatalf("redeem as %q: %d %s", name, res.Status, res.Body)
		}
	}
	res := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string) + "/redemptions?sort=created_at", token: e.tokens["full"],
		header: map[string]string{"Accept": "text/csv"}})
	body := string(res.Body)
	// Lists of people are never cached: the CSV, the JSON page, the users.
	for _, r := range []*response{res,
		e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string) + "/redemptions", token: e.tokens["full"]}),
		e.do(req{method: "GET", path: "/api/v1/users", token: e.tokens["full"]})} {
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("a list of people with Cache-Control %q, want no-store", got)
		}
	}
	for _, want := range []string{`"Bob;'=1+1;x","'-2+3"`, `"'@SUM(A1)","Ann, '+1; '-x"`, `"Plain","O""Brien"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the CSV lacks %s:\n%s", want, body)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("CSV = %q, %v", body, err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if !strings.HasPrefix(line, `"`) || !strings.HasSuffix(line, `"`) || strings.Count(line, `","`) != 4 {
			t.Errorf("a record with a field not quoted: %s", line)
		}
	}
}

func TestRedemptionOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	full := e.tokens["full"]
	e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Green-Owl-58", 2)})

	prev := e.do(req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]string{"passcode": "green owl 58"}}).JSON(t)
	if prev["organization_name"] != "Acme" || prev["registrations_remaining"].(float64) != 2 || len(prev["courses"].([]any)) != 1 {
		t.Fatalf("preview = %v", prev)
	}
	body := map[string]string{"passcode": "GREEN-OWL-58", "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "password": storetest.Password}
	res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: body, header: map[string]string{"User-Agent": "onboarding-spa/1.0"}})
	if res.Status != 201 {
		t.Fatalf("redeem: %d %s", res.Status, res.Body)
	}
	r := res.JSON(t)
	token := r["tokens"].(map[string]any)["access_token"].(string)
	if len(r["enrollments"].([]any)) != 1 || r["user"].(map[string]any)["role"] != "learner" {
		t.Fatalf("redemption = %v", r)
	}
	mine := e.do(req{method: "GET", path: "/api/v1/me/enrollments", token: token}).JSON(t)
	if len(mine["data"].([]any)) != 1 {
		t.Fatalf("learner's enrollments = %v", mine)
	}
	again := e.do(req{method: "POST", path: "/api/v1/redemptions", body: body})
	if again.Status != 200 || again.JSON(t)["id"] != r["id"] {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	wrong := map[string]string{"passcode": "GREEN-OWL-58", "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
		"password": "not-her-password"}
	login := e.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "grace@example.com", "password": "not-her-password"}}).JSON(t)
	p := wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", body: wrong}), 401, lms.EUnauthorized)
	if p["detail"] != login["detail"] {
		t.Fatalf("wrong password answers %v, a failed login %v", p["detail"], login["detail"])
	}
	e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Green-Owl-58", "email": "b@example.com", "first_name": "B", "last_name": "C", "password": storetest.Password}})
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Green-Owl-58", "email": "c@example.com", "first_name": "C", "last_name": "D", "password": storetest.Password}}), 409, lms.EInvitationFull)
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Green-Owl-58", "email": "bad"}}), 422, lms.EInvalid)

	// Unknown, draft, paused and revoked passcodes: one identical answer.
	draft := e.newInvitationBody("Draft-Wren-31", 5)
	draft["status"] = "draft"
	e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: draft})
	paused := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Pause-Lynx-64", 5)}).JSON(t)
	e.do(req{method: "PATCH", path: "/api/v1/invitations/" + paused["id"].(string), token: full, body: map[string]string{"status": "paused"}})
	revoked := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Gone-Crane-27", 5)}).JSON(t)
	e.do(req{method: "PATCH", path: "/api/v1/invitations/" + revoked["id"].(string), token: full, body: map[string]string{"status": "revoked"}})
	var first string
	for _, pc := range []string{"Never-Seen-99", "Draft-Wren-31", "Pause-Lynx-64", "Gone-Crane-27"} {
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]string{"passcode": pc}}), 404, lms.EPasscodeInvalid)
		res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": pc, "email": "z@example.com", "first_name": "Z", "last_name": "Z", "password": storetest.Password}})
		p := wantProblem(t, res, 404, lms.EPasscodeInvalid)
		delete(p, "instance")
		b, _ := json.Marshal(p)
		if first == "" {
			first = string(b)
		} else if string(b) != first {
			t.Fatalf("%s answers %s, an unknown passcode %s", pc, b, first)
		}
	}
}

func TestPasscodeThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 10, Period: 15 * time.Minute}
	})
	e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Valid-Pass-7731", 100)})
	good := func(i int) map[string]string {
		return map[string]string{"passcode": "Valid-Pass-7731", "email": fmt.Sprintf("ok%d@example.com", i), "first_name": "O", "last_name": "K", "password": storetest.Password}
	}
	// Successes are not punished.
	for i := range 12 {
		if res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: good(i)}); res.Status != 201 {
			t.Fatalf("success %d: %d", i, res.Status)
		}
	}
	for i := range 10 {
		res := e.do(req{method: "POST", path: "/api/v1/redemptions/preview", body: map[string]string{"passcode": fmt.Sprintf("Guess-%04d", i)},
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}})
		wantProblem(t, res, 404, lms.EPasscodeInvalid)
	}
	res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: good(99), header: map[string]string{"X-Forwarded-For": "203.0.113.99"}})
	wantProblem(t, res, 429, lms.ERateLimited)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestConcurrentRedemptionsOverHTTP: 200 concurrent requests with distinct
// emails against 50 seats through the whole HTTP stack, on both dialects.
func TestConcurrentRedemptionsOverHTTP(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Rush-Hour-4412", 50)}).JSON(t)
		type result struct {
			status int
			req    *http.Request
			body   []byte
			rec    *httptest.ResponseRecorder
		}
		results := make([]result, 200)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				b, _ := json.Marshal(map[string]string{"passcode": "Rush-Hour-4412", "email": fmt.Sprintf("p%03d@example.com", i),
					"first_name": "P", "last_name": "Q", "password": storetest.Password})
				r := httptest.NewRequest("POST", "/api/v1/redemptions", bytes.NewReader(b))
				r.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, r)
				results[i] = result{status: rec.Code, req: r, body: b, rec: rec}
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, r := range results {
			count[r.status]++
			validateResponse(t, r.req, r.body, &response{Status: r.rec.Code, Header: r.rec.Header(), Body: r.rec.Body.Bytes()})
		}
		if count[201] != 50 || count[409] != 150 || len(count) != 2 {
			t.Fatalf("statuses = %v, want 50 x 201 and 150 x 409", count)
		}
		got := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: e.tokens["full"]}).JSON(t)
		if got["registrations_used"].(float64) != 50 || got["status"] != "full" {
			t.Fatalf("invitation after the burst = %v", got)
		}
	})
}

// TestOfficeBehindOneAddress: a whole office redeems one passcode from one
// address under the default limits. Correct attempts never count as passcode
// guesses, however many are in flight: 50 at once against 20 seats give
// exactly 20 × 201 and 30 × 409, none 429. Wrong passcodes from that address
// are then limited as before, the 11th refused, and another address is not
// affected.
func TestOfficeBehindOneAddress(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, func(o *api.Options) { o.Rules.RedeemIP = ratelimit.Rule{} })
		inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Office-Rush-7316", 20)}).JSON(t)
		const office = "203.0.113.7:40000"
		rs := make([]req, 50)
		for i := range rs {
			rs[i] = req{method: "POST", path: "/api/v1/redemptions", remote: office, body: map[string]string{"passcode": "Office-Rush-7316",
				"email": fmt.Sprintf("employee%02d@example.com", i), "first_name": "E", "last_name": "Mployee", "password": storetest.Password}}
		}
		answers := e.doAll(rs)
		if got := statuses(answers); got[201] != 20 || got[409] != 30 || len(got) != 2 {
			t.Fatalf("50 correct redemptions from one address against 20 seats: %v, want 20 x 201 and 30 x 409", got)
		}
		winner := rs[slices.IndexFunc(answers, func(r *response) bool { return r.Status == 201 })].body.(map[string]string)
		got := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: e.tokens["full"]}).JSON(t)
		if got["registrations_used"].(float64) != 20 {
			t.Fatalf("seats used = %v, want 20", got["registrations_used"])
		}
		// Replays, a full invitation and a wrong password on an existing
		// account are not passcode guesses either.
		for range 12 {
			if res := e.do(req{method: "POST", path: "/api/v1/redemptions", remote: office, body: winner}); res.Status != 200 {
				t.Fatalf("replay: %d %s", res.Status, res.Body)
			}
		}
		for i := range 10 {
			wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", remote: office, body: map[string]string{"passcode": "Office-Rush-7316",
				"email": fmt.Sprintf("late%02d@example.com", i), "first_name": "L", "last_name": "Ate", "password": storetest.Password}}), 409, lms.EInvitationFull)
		}
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/redemptions", remote: office, body: map[string]string{"passcode": "Office-Rush-7316",
			"email": winner["email"], "first_name": "W", "last_name": "In", "password": "not-the-password"}}), 401, lms.EUnauthorized)
		guess := func(i int, from string) *response {
			return e.do(req{method: "POST", path: "/api/v1/redemptions", remote: from, body: map[string]string{"passcode": fmt.Sprintf("Office-Rush-%04d", i),
				"email": "guesser@example.com", "first_name": "G", "last_name": "Uess", "password": storetest.Password}})
		}
		for i := range 10 {
			wantProblem(t, guess(i, office), 404, lms.EPasscodeInvalid)
		}
		res := guess(10, office)
		wantProblem(t, res, 429, lms.ERateLimited)
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		wantProblem(t, guess(11, "198.51.100.20:5000"), 404, lms.EPasscodeInvalid)
		// The site's wrong guesses are counted for alerting, whichever
		// address they come from: 12, one of them refused. The office's 50
		// correct passcodes are not.
		rec := httptest.NewRecorder()
		e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, want := range []string{`enrollkit_passcode_guesses_total{outcome="wrong"} 12`, `enrollkit_passcode_guesses_total{outcome="refused"} 1`} {
			if !strings.Contains(rec.Body.String(), want+"\n") {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// TestThrottlesHoldUnderConcurrency: a burst of simultaneous failures gets
// exactly the allowed number of attempts, not one per request in flight.
func TestThrottlesHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.LoginAccount = ratelimit.Rule{Name: "login-account", Limit: 3, Period: time.Hour}
		o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 3, Period: time.Hour}
	})
	burst := func(path string, body func(i int) string) map[int]int {
		var mu sync.Mutex
		count := map[int]int{}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				r := httptest.NewRequest("POST", path, strings.NewReader(body(i)))
				r.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, r)
				mu.Lock()
				count[rec.Code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return count
	}
	logins := burst("/api/v1/auth/login", func(int) string {
		return fmt.Sprintf(`{"email":%q,"password":"wrong-password-1"}`, e.org.ManagerEmail)
	})
	if logins[401] != 3 || logins[429] != 37 {
		t.Fatalf("40 simultaneous wrong logins: %v, want 3 x 401 and 37 x 429", logins)
	}
	guesses := burst("/api/v1/redemptions/preview", func(i int) string { return fmt.Sprintf(`{"passcode":"Guess-%04d"}`, i) })
	if guesses[404] != 3 || guesses[429] != 37 {
		t.Fatalf("40 simultaneous passcode guesses: %v, want 3 x 404 and 37 x 429", guesses)
	}
}

// TestPasscodeProbingIsThrottled: passcodes are unique across
// organizations, so "taken" answers are throttled per organization.
func TestPasscodeProbingIsThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Rules.PasscodeConflict = ratelimit.Rule{Name: "passcode-conflict", Limit: 2, Period: time.Hour}
	})
	e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Harbor-Lights-2031", 5)})
	g := storetest.MustCreateUserGroup(t, e.st, e.other, "Probe")
	probe := func(pc string) *response {
		return e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["other"], body: map[string]any{"name": "Probe",
			"passcode": pc, "max_registrations": 1, "organization_group_id": e.other.OrganizationGroupID, "user_group_ids": []string{g.ID}}})
	}
	wantProblem(t, probe("Harbor-Lights-2031"), 409, lms.EConflict)
	wantProblem(t, probe("harbor lights 2031"), 409, lms.EConflict)
	wantProblem(t, probe("Harbor-Lights-2031"), 429, lms.ERateLimited)
	// The prober can still write invitations that claim no passcode of its
	// choosing, and another manager of its organization is not held back.
	if res := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["other"], body: map[string]any{"name": "Generated",
		"max_registrations": 1, "organization_group_id": e.other.OrganizationGroupID, "user_group_ids": []string{g.ID}}}); res.Status != 201 {
		t.Fatalf("the prober's invitation with a generated passcode: %d %s", res.Status, res.Body)
	}
	colleague := storetest.MustCreateUser(t, e.st, e.other, lms.RoleFullManager)
	if res := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.login(colleague.Email), body: map[string]any{"name": "Mine",
		"passcode": "Quiet-Meadow-6620", "max_registrations": 1, "organization_group_id": e.other.OrganizationGroupID, "user_group_ids": []string{g.ID}}}); res.Status != 201 {
		t.Fatalf("another manager of the probing organization: %d %s", res.Status, res.Body)
	}
	// The first organization is not affected by the other's probing.
	if res := e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("", 5)}); res.Status != 201 {
		t.Fatalf("the probed organization was throttled: %d", res.Status)
	}
}

// TestBusyHashingAnswers503: when every password-hashing slot stays busy
// past the wait, sign-ins and redemptions are answered 503 with
// Retry-After at once, unknown emails like known ones, and nothing is
// written; once the slot is free they go through.
// occupyHasher occupies h's only slot with a derivation that takes about a
// second (a stored hash with far larger parameters, as an old row could
// have) and returns when it is busy; the channel closes when it is done.
func occupyHasher(h *auth.Hasher) <-chan struct{} {
	slow := "$argon2id$v=19$m=65536,t=16,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Verify(context.Background(), "x", slow)
	}()
	for h.Stats().InUse == 0 {
		time.Sleep(time.Millisecond)
	}
	return done
}

func TestBusyHashingAnswers503(t *testing.T) {
	t.Parallel()
	h := auth.NewHasher(auth.HasherOptions{Memory: 64, Iterations: 1, MaxConcurrent: 1, MaxWait: time.Millisecond})
	e := newEnvHashing(t, "sqlite", h)
	full := e.tokens["full"]
	inv := e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: e.newInvitationBody("Busy-Heron-42", 5)}).JSON(t)

	done := occupyHasher(h)
	for _, r := range []req{
		{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": e.org.ManagerEmail, "password": storetest.Password}},
		{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "nobody@example.com", "password": storetest.Password}},
		{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Busy-Heron-42", "email": "new@example.com", "first_name": "N", "last_name": "W", "password": storetest.Password}},
	} {
		res := e.do(r)
		wantProblem(t, res, 503, lms.EUnavailable)
		if res.Header.Get("Retry-After") != "1" {
			t.Fatalf("%s: 503 with Retry-After %q, want 1", r.path, res.Header.Get("Retry-After"))
		}
	}
	select {
	case <-done:
		t.Fatal("the slow derivation ended before the requests were answered; the test proves nothing")
	default:
	}
	<-done
	got := e.do(req{method: "GET", path: "/api/v1/invitations/" + inv["id"].(string), token: full}).JSON(t)
	if got["registrations_used"].(float64) != 0 {
		t.Fatalf("a 503 redemption took a seat: %v", got)
	}
	if res := e.do(req{method: "POST", path: "/api/v1/redemptions", body: map[string]string{"passcode": "Busy-Heron-42", "email": "new@example.com", "first_name": "N", "last_name": "W", "password": storetest.Password}}); res.Status != 201 {
		t.Fatalf("redemption once the slot is free: %d %s", res.Status, res.Body)
	}
	if st := h.Stats(); st.Busy != 3 {
		t.Fatalf("hasher stats %+v, want 3 busy refusals", st)
	}
}

// noVerification turns email verification off for an invitation whose
// redemptions the test wants active at once.
var noVerification = new(bool)
