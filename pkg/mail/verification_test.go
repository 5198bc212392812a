package mail

import (
	"strings"
	"testing"
	"time"
)

func TestRenderVerification(t *testing.T) {
	t.Parallel()
	r, err := RenderVerification(Verification{OrganizationName: "Acme <b>", InvitationName: "Q3", FirstName: "Grace",
		VerifyURL: "https://learn.example.com/enroll/verify?token=abc_-9", ExpiresAt: time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{r.Text, r.HTML} {
		if !strings.Contains(part, "https://learn.example.com/enroll/verify?token=abc_-9") || !strings.Contains(part, "Friday, 4 December 2026 09:30 UTC") {
			t.Fatalf("a part lacks the link or the expiry:\n%s", part)
		}
	}
	if strings.Contains(r.HTML, "<b>") || !strings.Contains(r.HTML, "Acme &lt;b&gt;") {
		t.Fatal("the organization's name is not escaped in the HTML part")
	}
	if strings.ContainsAny(r.Subject, "\r\n") || !strings.Contains(r.Subject, "Acme") {
		t.Fatalf("subject %q", r.Subject)
	}
	if _, err := RenderVerification(Verification{VerifyURL: "javascript:alert(1)"}); err == nil {
		t.Fatal("a javascript: link was rendered")
	}
}

func TestRenderAccountNotice(t *testing.T) {
	t.Parallel()
	r, err := RenderAccountNotice(AccountNotice{OrganizationName: "Acme", InvitationName: "Q3 <i>",
		EnrollURL: "https://learn.example.com/enroll?passcode=KX7P-M3QD"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "already has an account") || !strings.Contains(r.HTML, "Q3 &lt;i&gt;") {
		t.Fatalf("notice:\n%s\n%s", r.Text, r.HTML)
	}
	if strings.Contains(r.Text, "verify?token") {
		t.Fatal("a notice carries a verification link")
	}
	if _, err := RenderAccountNotice(AccountNotice{EnrollURL: "/relative"}); err == nil {
		t.Fatal("a relative link was rendered")
	}
}
