package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser the enrollment page is tested in: Debian's
// chromium, which .ci/run installs, or $CHROMIUM. Without one the test is
// skipped, but not in CI, where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium for the browser test (.ci/run installs Debian's chromium)")
	}
	t.Skip("no chromium: install Debian's chromium, or set CHROMIUM, to run the browser test")
	return ""
}

// api calls the server's JSON API as its example manager.
type apiClient struct {
	t     *testing.T
	p     *proc
	token string
}

func (a *apiClient) call(method, path string, body, out any) {
	a.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.p.url(path), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

var enrollLink = regexp.MustCompile(`https?://[^\s"<>]+/enroll\?passcode=[^\s"<>]+`)

// emailedLink waits for the email written to dir's mail folder for addr
// and returns the enrollment link in its text part.
func emailedLink(t *testing.T, dir, addr string) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "mail", "*-"+addr+".eml"))
		if len(files) == 0 {
			continue
		}
		raw, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		r := multipart.NewReader(m.Body, params["boundary"])
		for {
			part, err := r.NextPart()
			if err != nil {
				t.Fatalf("no text part with a link in %s: %v", files[0], err)
			}
			text, _ := io.ReadAll(part) // quoted-printable undone by the reader
			if link := enrollLink.Find(text); link != nil {
				return string(link)
			}
		}
	}
	t.Fatalf("no email to %s", addr)
	return ""
}

// TestEnrollmentInABrowser opens the link of a delivered invitation email
// in headless Chromium, registers and sees the enrolled courses; then the
// same invitation, full, says so; then, with JavaScript off, another
// registration completes too. With ENROLLKIT_SCREENSHOTS=1 it writes the
// page's screenshots, desktop and 360 px wide, into docs/.
func TestEnrollmentInABrowser(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	dir := t.TempDir()
	p := start(t, dir)
	var password string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "password:" {
			password = f[1]
		}
	}
	manager := &apiClient{t: t, p: p}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	manager.call("POST", "/api/v1/auth/login", map[string]string{"email": "manager@example.com", "password": password}, &login)
	manager.token = login.AccessToken
	var me struct {
		OrganizationGroupID string `json:"organization_group_id"`
	}
	manager.call("GET", "/api/v1/me", nil, &me)
	var group, course struct{ ID string }
	manager.call("POST", "/api/v1/user-groups", map[string]string{"name": "New warehouse staff", "organization_group_id": me.OrganizationGroupID}, &group)
	manager.call("POST", "/api/v1/courses", map[string]string{"name": "Forklift Safety", "code": "WH-101"}, &course)
	manager.call("POST", "/api/v1/user-groups/"+group.ID+"/courses", map[string][]string{"course_ids": {course.ID}}, nil)
	invite := func(name string, seats int) string {
		var inv struct{ ID string }
		manager.call("POST", "/api/v1/invitations", map[string]any{"name": name, "max_registrations": seats,
			"organization_group_id": me.OrganizationGroupID, "user_group_ids": []string{group.ID}, "status": "active",
			"require_email_verification": false, "message": "Welcome to the team!"}, &inv)
		return inv.ID
	}
	one, two := invite("Warehouse onboarding", 1), invite("Night shift", 2)
	manager.call("POST", "/api/v1/invitations/"+one+"/deliveries", map[string]any{"recipients": []string{"ada@browser.example"}}, nil)
	manager.call("POST", "/api/v1/invitations/"+two+"/deliveries", map[string]any{"recipients": []string{"bob@browser.example"}}, nil)
	linkOne, linkTwo := emailedLink(t, dir, "ada@browser.example"), emailedLink(t, dir, "bob@browser.example")

	browse := func(t *testing.T, script bool, width, height int64, actions ...chromedp.Action) {
		t.Helper()
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
			chromedp.Flag("disable-gpu", true), chromedp.WindowSize(int(width), int(height)))
		actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancel()
		ctx, cancel := chromedp.NewContext(actx)
		defer cancel()
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		setup := chromedp.Tasks{emulation.SetDeviceMetricsOverride(width, height, 1, width < 600)}
		if !script {
			setup = append(setup, emulation.SetScriptExecutionDisabled(true))
		}
		if err := chromedp.Run(ctx, append(setup, actions...)...); err != nil {
			t.Fatal(err)
		}
	}
	fill := func(email, first, last string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.WaitVisible("#email", chromedp.ByID),
			chromedp.SendKeys("#email", email, chromedp.ByID),
			chromedp.SendKeys("#first_name", first, chromedp.ByID),
			chromedp.SendKeys("#last_name", last, chromedp.ByID),
			chromedp.SendKeys("#password", "Learner-passphrase-1", chromedp.ByID),
		}
	}
	shots := os.Getenv("ENROLLKIT_SCREENSHOTS") != ""
	shoot := func(name string, buf *[]byte) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			if !shots {
				return nil
			}
			if err := chromedp.FullScreenshot(buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name), *buf, 0o644)
		})
	}

	t.Run("registers and sees the courses", func(t *testing.T) {
		var preview, done string
		var shot []byte
		browse(t, true, 1280, 900,
			chromedp.Navigate(linkOne),
			chromedp.WaitVisible("#email", chromedp.ByID),
			chromedp.Text("main", &preview, chromedp.ByQuery),
			fill("ada@browser.example", "Ada", "Lovelace"),
			shoot("enroll-desktop.png", &shot),
			chromedp.Click("button[type=submit]", chromedp.ByQuery),
			chromedp.WaitVisible(".courses", chromedp.ByQuery),
			chromedp.Text("main", &done, chromedp.ByQuery),
			shoot("enrolled-desktop.png", &shot),
		)
		for _, want := range []string{"Warehouse onboarding", "New warehouse staff", "Forklift Safety", "1 place left"} {
			if !strings.Contains(preview, want) {
				t.Errorf("the preview lacks %q:\n%s", want, preview)
			}
		}
		if !strings.Contains(done, "You are enrolled") || !strings.Contains(done, "Forklift Safety") {
			t.Fatalf("after registering:\n%s", done)
		}
	})
	t.Run("a full invitation says so", func(t *testing.T) {
		var text string
		browse(t, true, 360, 780,
			chromedp.Navigate(linkOne),
			fill("late@browser.example", "Late", "Comer"),
			chromedp.Click("button[type=submit]", chromedp.ByQuery),
			chromedp.WaitVisible(".error", chromedp.ByQuery),
			chromedp.Text("main", &text, chromedp.ByQuery),
		)
		if !strings.Contains(text, "Every place of this invitation is taken") {
			t.Fatalf("a full invitation:\n%s", text)
		}
	})
	t.Run("without JavaScript", func(t *testing.T) {
		var text string
		var shot []byte
		browse(t, false, 360, 780,
			chromedp.Navigate(linkTwo),
			fill("bob@browser.example", "Bob", "Night"),
			shoot("enroll-phone.png", &shot),
			chromedp.Click("button[type=submit]", chromedp.ByQuery),
			chromedp.WaitVisible(".courses", chromedp.ByQuery),
			chromedp.Text("main", &text, chromedp.ByQuery),
		)
		if !strings.Contains(text, "You are enrolled") || !strings.Contains(text, "Forklift Safety") {
			t.Fatalf("without JavaScript:\n%s", text)
		}
	})
	// Swagger UI runs under its Content-Security-Policy: its scripts load,
	// it reads this server's document and lists the operations by tag.
	t.Run("Swagger UI", func(t *testing.T) {
		var title, ops string
		browse(t, true, 1280, 900,
			chromedp.Navigate("http://"+p.addr+"/swagger/index.html"),
			chromedp.WaitVisible(".swagger-ui .info .title", chromedp.ByQuery),
			chromedp.Text(".swagger-ui .info .title", &title, chromedp.ByQuery),
			chromedp.WaitVisible(`[id="operations-invitations-createInvitation"]`, chromedp.ByQuery),
			chromedp.Text(".swagger-ui", &ops, chromedp.ByQuery),
		)
		if !strings.Contains(title, "enrollkit API") || !strings.Contains(ops, "/redemptions") {
			t.Fatalf("Swagger UI: title %q\n%.500s", title, ops)
		}
	})
}
