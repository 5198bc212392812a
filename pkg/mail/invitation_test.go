package mail

import (
	"strings"
	"testing"
	"time"
)

// testInvitation returns an invitation using every field, with a message
// that tries both HTML injection and a multi-line layout.
func testInvitation() Invitation {
	expires := time.Date(2026, time.March, 2, 17, 30, 0, 0, time.FixedZone("CET", 3600))
	return Invitation{
		OrganizationName: "Acme Training",
		InvitationName:   "Spring onboarding",
		ManagerName:      "Ada Lovelace",
		Message:          "Hello team,\r\nplease enroll <script>alert(1)</script> by Friday.\nQ&A: a & b",
		Passcode:         "K7QM-ZP4X",
		EnrollURL:        "https://learn.example.com/enroll?passcode=K7QM-ZP4X",
		Groups: []Group{
			{Name: "Sales <EMEA>", Courses: []string{"Ethics 101", "CRM basics"}},
			{Name: "Support", Courses: []string{"Handling complaints"}},
		},
		ExpiresAt: &expires,
	}
}

func TestRenderInvitationContent(t *testing.T) {
	t.Parallel()
	got, err := RenderInvitation(testInvitation())
	if err != nil {
		t.Fatalf("RenderInvitation: %v", err)
	}

	const expiry = "Monday, 2 March 2026 16:30 UTC" // 17:30 CET in UTC
	for _, want := range []string{
		"K7QM-ZP4X",
		"https://learn.example.com/enroll?passcode=K7QM-ZP4X",
		"Ada Lovelace",
		"Acme Training",
		"Support", "Ethics 101", "CRM basics", "Handling complaints",
		expiry,
		"enter it there",
	} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, got.Text)
		}
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, got.HTML)
		}
	}

	// The text part carries the manager's words as typed; the HTML part shows
	// them escaped, never as markup.
	for _, want := range []string{"Hello team,\nplease enroll <script>alert(1)</script> by Friday.\nQ&A: a & b", "Sales <EMEA>"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, got.Text)
		}
	}
	for _, want := range []string{
		"Hello team,<br>\nplease enroll &lt;script&gt;alert(1)&lt;/script&gt; by Friday.<br>\nQ&amp;A: a &amp; b",
		"Sales &lt;EMEA&gt;",
	} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, got.HTML)
		}
	}
	for _, bad := range []string{"<script>", "<EMEA>", "\r"} {
		if strings.Contains(got.HTML, bad) {
			t.Errorf("HTML part contains %q:\n%s", bad, got.HTML)
		}
	}

	// The manager's message comes first, then passcode, link, groups and
	// expiry, in both parts.
	for name, body := range map[string]string{"text": got.Text, "HTML": got.HTML} {
		last := -1
		for _, marker := range []string{"Hello team", "K7QM-ZP4X", "https://learn.example.com", "Sales", "Support", expiry} {
			i := strings.Index(body, marker)
			if i <= last {
				t.Errorf("%s part: %q is out of order", name, marker)
			}
			last = i
		}
	}

	if want := "Your invitation to enroll: Spring onboarding (Acme Training)"; got.Subject != want {
		t.Errorf("Subject = %q, want %q", got.Subject, want)
	}
}

func TestRenderInvitationWithoutExpiryOrMessage(t *testing.T) {
	t.Parallel()
	inv := testInvitation()
	inv.ExpiresAt = nil
	inv.Message = " \r\n "
	got, err := RenderInvitation(inv)
	if err != nil {
		t.Fatalf("RenderInvitation: %v", err)
	}
	const want = "This invitation does not expire."
	if !strings.Contains(got.Text, want) || !strings.Contains(got.HTML, want) {
		t.Errorf("want %q in both parts:\n%s\n%s", want, got.Text, got.HTML)
	}
	if strings.Contains(got.Text, "expires on") || strings.Contains(got.HTML, "expires on") {
		t.Error("an invitation without expiry shows an expiry date")
	}
	// A blank message adds nothing before the automatic part.
	if !strings.HasPrefix(got.Text, "Ada Lovelace has invited you") {
		t.Errorf("text part starts with something other than the automatic part:\n%s", got.Text)
	}
	if strings.Contains(got.HTML, "<hr") {
		t.Errorf("HTML part separates an empty message:\n%s", got.HTML)
	}
}

func TestRenderInvitationIsDeterministic(t *testing.T) {
	t.Parallel()
	first, err := RenderInvitation(testInvitation())
	if err != nil {
		t.Fatalf("RenderInvitation: %v", err)
	}
	for range 5 {
		again, err := RenderInvitation(testInvitation())
		if err != nil {
			t.Fatalf("RenderInvitation: %v", err)
		}
		if again != first {
			t.Fatalf("two renders of the same invitation differ:\n%#v\n%#v", first, again)
		}
	}
}

func TestRenderInvitationSubjectIsOneLine(t *testing.T) {
	t.Parallel()
	inv := testInvitation()
	inv.InvitationName = "Onboarding\r\nBcc: x@example.com"
	inv.OrganizationName = "Acme\nX-Injected: 1"
	got, err := RenderInvitation(inv)
	if err != nil {
		t.Fatalf("RenderInvitation: %v", err)
	}
	if strings.ContainsAny(got.Subject, "\r\n") {
		t.Fatalf("Subject has a line break: %q", got.Subject)
	}
	if want := "Your invitation to enroll: Onboarding Bcc: x@example.com (Acme X-Injected: 1)"; got.Subject != want {
		t.Errorf("Subject = %q, want %q", got.Subject, want)
	}
}

func TestRenderInvitationSubjectWithoutNames(t *testing.T) {
	t.Parallel()
	inv := testInvitation()
	inv.InvitationName, inv.OrganizationName = "", ""
	got, err := RenderInvitation(inv)
	if err != nil {
		t.Fatalf("RenderInvitation: %v", err)
	}
	if want := "Your invitation to enroll"; got.Subject != want {
		t.Errorf("Subject = %q, want %q", got.Subject, want)
	}
}

func TestRenderInvitationRefusesUnusableEmails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Invitation)
	}{
		{"no passcode", func(inv *Invitation) { inv.Passcode = "  " }},
		{"relative link", func(inv *Invitation) { inv.EnrollURL = "/enroll?passcode=K7QM-ZP4X" }},
		{"script link", func(inv *Invitation) { inv.EnrollURL = "javascript:alert(1)" }},
		{"no link", func(inv *Invitation) { inv.EnrollURL = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := testInvitation()
			tt.change(&inv)
			if _, err := RenderInvitation(inv); err == nil {
				t.Error("RenderInvitation succeeded, want an error")
			}
		})
	}
}

func TestSingleLine(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nBcc: b", "a Bcc: b"},
		{"a\n\n\nb", "a b"},
		{"\r\nlead and trail\n", "lead and trail"},
		{"tab\there\u0085next", "tab here next"},
	}
	for _, tt := range tests {
		if got := singleLine(tt.in); got != tt.want {
			t.Errorf("singleLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRenderInvitationGreetsByFirstName: an email to a recipient whose
// first name is known opens with a greeting, escaped in the HTML part, and
// is otherwise the email without a name, which has no greeting at all.
func TestRenderInvitationGreetsByFirstName(t *testing.T) {
	t.Parallel()
	plain, err := RenderInvitation(testInvitation())
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(plain.Text, "Hello ") && !strings.HasPrefix(plain.Text, "Hello team") {
		t.Fatalf("an email without a name greets someone:\n%s", plain.Text)
	}
	inv := testInvitation()
	inv.FirstName = "  Priya & <Co>  "
	named, err := RenderInvitation(inv)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Hello Priya & <Co>,\n\n"; named.Text != want+plain.Text {
		t.Errorf("text part is not the greeting %q and the email without a name:\n%s", want, named.Text)
	}
	greeting := "\n<p>Hello Priya &amp; &lt;Co&gt;,</p>"
	if !strings.Contains(named.HTML, greeting) || strings.Replace(named.HTML, greeting, "", 1) != plain.HTML {
		t.Errorf("HTML part is not the email without a name with the greeting %q:\n%s", greeting, named.HTML)
	}
	if i, j := strings.Index(named.HTML, "Hello Priya"), strings.Index(named.HTML, "Hello team"); i < 0 || i > j {
		t.Errorf("the greeting does not come before the manager's message:\n%s", named.HTML)
	}
	if named.Subject != plain.Subject {
		t.Errorf("subject %q changed with the name, want %q", named.Subject, plain.Subject)
	}
}
