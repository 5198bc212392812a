package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

var formTokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browser is one visitor of the enrollment page: its form token cookie and
// the token of the form it was last shown.
type browser struct {
	e      *env
	cookie string
	csrf   string
	remote string
}

func (e *env) browser(remote string) *browser { return &browser{e: e, remote: remote} }

// get opens a page and keeps its cookie and form token.
func (b *browser) get(path string) *response {
	b.e.t.Helper()
	h := map[string]string{}
	if b.cookie != "" {
		h["Cookie"] = b.cookie
	}
	res := b.e.do(req{method: "GET", path: path, header: h, remote: b.remote})
	b.keep(res)
	return res
}

func (b *browser) keep(res *response) {
	for _, c := range res.Header.Values("Set-Cookie") {
		if name, rest, ok := strings.Cut(c, "="); ok && name == "enroll_csrf" {
			v, _, _ := strings.Cut(rest, ";")
			b.cookie = "enroll_csrf=" + v
		}
	}
	if m := formTokenRE.FindSubmatch(res.Body); m != nil {
		b.csrf = string(m[1])
	}
}

// post submits a form of the page, as a browser on the page's origin does.
func (b *browser) post(path string, fields map[string]string) *response {
	b.e.t.Helper()
	form := url.Values{"csrf": {b.csrf}}
	for k, v := range fields {
		form.Set(k, v)
	}
	res := b.e.do(req{method: "POST", path: path, body: form.Encode(), remote: b.remote, header: map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Cookie": b.cookie, "Sec-Fetch-Site": "same-origin"}})
	b.keep(res)
	return res
}

func wantPage(t *testing.T, res *response, status int, contains ...string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d:\n%s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q", ct)
	}
	for _, want := range contains {
		if !bytes.Contains(res.Body, []byte(want)) {
			t.Fatalf("the page lacks %q:\n%s", want, res.Body)
		}
	}
}

func TestEnrollmentPage(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		var logs bytes.Buffer
		var logMu sync.Mutex
		e := newEnvWithMailbox(t, dialect, func(o *api.Options) {
			o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil))
			o.Rules.RedeemIP = ratelimit.Rule{Name: "redeem-ip", Limit: 3, Period: time.Hour}
		})
		full := e.tokens["full"]
		kiosk := e.newInvitationBody("Kiosk-Plover-3316", 2)
		kiosk["name"] = "Warehouse <b>onboarding</b>"
		e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: kiosk})

		// The link from the email: what the passcode leads to, escaped, and
		// the form with the password rules, under a strict policy.
		b := e.browser("192.0.2.10:1000")
		res := b.get("/enroll?passcode=" + url.QueryEscape("kiosk plover 3316"))
		wantPage(t, res, 200, "Join Acme", "Warehouse &lt;b&gt;onboarding&lt;/b&gt;", "Course ", "2 places left",
			auth.PasswordRules(), `<label for="email">`)
		for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'; style-src 'self';",
			"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if !strings.Contains(res.Header.Get(h), want) {
				t.Errorf("%s: %q, want %q", h, res.Header.Get(h), want)
			}
		}
		if strings.Contains(string(res.Body), "<script") {
			t.Fatal("the page carries a script")
		}
		// No inline style either: the style sheet is the page's own file,
		// cached by its tag.
		if strings.Contains(string(res.Body), "<style") || strings.Contains(string(res.Body), "style=") {
			t.Fatal("the page carries inline style")
		}
		css := e.do(req{method: "GET", path: "/enroll/enroll.css"})
		if css.Status != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || css.Header.Get("ETag") == "" {
			t.Fatalf("the style sheet: %d %v", css.Status, css.Header)
		}
		if again := e.do(req{method: "GET", path: "/enroll/enroll.css", header: map[string]string{"If-None-Match": css.Header.Get("ETag")}}); again.Status != 304 {
			t.Fatalf("the style sheet again: %d", again.Status)
		}

		// A weak password: said next to it, what was typed kept but it.
		form := map[string]string{"passcode": "kiosk plover 3316", "email": "ada@example.com", "first_name": "Ada",
			"last_name": "Lovelace", "password": "password"}
		res = b.post("/enroll", form)
		wantPage(t, res, 422, `id="password-error"`, `value="Ada"`, `value="ada@example.com"`)
		if strings.Contains(string(res.Body), `value="password"`) {
			t.Fatal("the password was echoed")
		}
		// Registered: the groups and courses.
		form["password"] = storetest.Password
		wantPage(t, b.post("/enroll", form), 200, "You are enrolled", "ada@example.com", "Your courses", "Course ")
		// An existing account is asked for its own password.
		form["password"] = "Not-her-passphrase-9"
		wantPage(t, b.post("/enroll", form), 401, `id="password-error"`, "already has an account")
		// The last place, then a full invitation.
		wantPage(t, b.post("/enroll", map[string]string{"passcode": "Kiosk-Plover-3316", "email": "bob@example.com",
			"first_name": "Bob", "last_name": "B", "password": storetest.Password}), 200, "You are enrolled")
		wantPage(t, b.post("/enroll", map[string]string{"passcode": "Kiosk-Plover-3316", "email": "cy@example.com",
			"first_name": "Cy", "last_name": "C", "password": storetest.Password}), 409, "Every place of this invitation is taken")

		// A forged post: no form token, or from another site.
		wantPage(t, e.do(req{method: "POST", path: "/enroll", body: "passcode=Kiosk-Plover-3316&email=x%40example.com",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}), 403, "This form expired")
		wantPage(t, e.do(req{method: "POST", path: "/enroll", body: "csrf=" + b.csrf + "&passcode=Kiosk-Plover-3316",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Cookie": b.cookie,
				"Sec-Fetch-Site": "cross-site"}}), 403, "This form expired")

		// Wrong passcodes, then too many of them from this address.
		g := e.browser("198.51.100.40:1")
		for i := range 3 {
			wantPage(t, g.get("/enroll?passcode=Wrong-Guess-000"+string(rune('1'+i))), 404, `id="passcode-error"`, "not valid")
		}
		wantPage(t, g.get("/enroll?passcode=Wrong-Guess-0009"), 429, "Too many attempts from here. Try again in")

		// Posts count the same, and once out of guesses a live passcode
		// shows nothing of where it leads, whatever else the post lacks.
		o := e.browser("198.51.100.41:1")
		o.get("/enroll?passcode=Kiosk-Plover-3316") // the form, and its token
		for i := range 3 {
			wantPage(t, o.post("/enroll", map[string]string{"passcode": "Wrong-Post-000" + string(rune('1'+i))}), 422)
		}
		if res := o.post("/enroll", map[string]string{"passcode": "Kiosk-Plover-3316"}); bytes.Contains(res.Body, []byte("Warehouse")) ||
			bytes.Contains(res.Body, []byte("Join Acme")) {
			t.Fatalf("a client out of guesses was shown where a passcode leads:\n%s", res.Body)
		}
		// Another site's page cannot spend an address's guesses: what it
		// loads (an image here) looks nothing up.
		x := e.browser("198.51.100.42:1")
		for range 5 {
			res := e.do(req{method: "GET", path: "/enroll?passcode=Wrong-Image-0001", remote: x.remote,
				header: map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}})
			wantPage(t, res, 200, `value="Wrong-Image-0001"`)
		}
		res = e.do(req{method: "GET", path: "/enroll?passcode=Kiosk-Plover-3316", remote: x.remote, header: map[string]string{
			"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1"}})
		wantPage(t, res, 200, "Join Acme")

		// With verification: check your inbox, then the link lands here.
		v := e.verifiedInvitationBody("Inbox-Curlew-7731", 3)
		e.do(req{method: "POST", path: "/api/v1/invitations", token: full, body: v})
		w := e.browser("192.0.2.11:1000")
		w.get("/enroll?passcode=Inbox-Curlew-7731")
		wantPage(t, w.post("/enroll", map[string]string{"passcode": "Inbox-Curlew-7731", "email": "grace@example.com",
			"first_name": "Grace", "last_name": "Hopper", "password": storetest.Password}), 200, "Check your inbox", "grace@example.com")
		token := e.verificationToken("grace@example.com", 0)
		wantPage(t, w.get("/enroll/verify?token="+token), 200, "Finish your registration", `type="password"`)
		wantPage(t, w.post("/enroll/verify", map[string]string{"token": token, "password": "Another-passphrase-2"}), 401,
			`id="password-error"`, "chosen when registering")
		wantPage(t, w.post("/enroll/verify", map[string]string{"token": token, "password": storetest.Password}), 200,
			"You are enrolled", "grace@example.com", "Course ")
		wantPage(t, w.post("/enroll/verify", map[string]string{"token": token, "password": storetest.Password}), 404,
			"This link does not work any more")

		// No passcode, token or password ever reaches the log.
		logMu.Lock()
		defer logMu.Unlock()
		for _, secret := range []string{"plover", "Plover", "Curlew", token, storetest.Password, "Wrong-Guess"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds %q", secret)
			}
		}
	})
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestEnrollmentPageWhenBusy(t *testing.T) {
	t.Parallel()
	storetest.EachDialect(t, func(t *testing.T, dialect string) { enrollWhenBusy(t, dialect) })
}

func enrollWhenBusy(t *testing.T, dialect string) {
	h := auth.NewHasher(auth.HasherOptions{Memory: 64, Iterations: 1, MaxConcurrent: 1, MaxWait: time.Millisecond})
	e := newEnvHashing(t, dialect, h)
	e.do(req{method: "POST", path: "/api/v1/invitations", token: e.tokens["full"], body: e.newInvitationBody("Busy-Page-4410", 5)})
	b := e.browser("192.0.2.12:1")
	b.get("/enroll?passcode=Busy-Page-4410")
	done := occupyHasher(h)
	res := b.post("/enroll", map[string]string{"passcode": "Busy-Page-4410", "email": "busy@example.com",
		"first_name": "B", "last_name": "Usy", "password": storetest.Password})
	wantPage(t, res, 503, "The server is busy right now", `value="busy@example.com"`)
	if res.Header.Get("Retry-After") != "1" {
		t.Fatalf("503 with Retry-After %q", res.Header.Get("Retry-After"))
	}
	<-done
}

func TestEnrollmentPageCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", func(o *api.Options) { o.EnrollPage = false })
	// Not through e.do: the spec describes the page as served.
	for _, path := range []string{"/enroll", "/enroll/verify", "/enroll/enroll.css"} {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET %s with the page off: %d %s", path, rec.Code, rec.Body)
		}
	}
}
