package mail

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// markupFree replaces the characters that could open markup by a letter,
// keeping the text's lines and blank space where they were.
var markupFree = strings.NewReplacer("<", "x", ">", "x", "&", "x", `"`, "x", "'", "x")

// wantSafeEmail checks what every rendered email promises whatever its
// fields hold: a subject on one line, a text part that is valid UTF-8 when
// the fields are (the domain refuses any other text before it is stored),
// and an HTML part in which the fields add no markup: it has as many '<' as
// the same email rendered from the fields with every markup character
// replaced by a letter, and no script.
func wantSafeEmail(t *testing.T, got, plain Rendered, validInput bool) {
	t.Helper()
	if strings.ContainsFunc(got.Subject, unicode.IsControl) {
		t.Fatalf("subject %q is not one line", got.Subject)
	}
	if validInput && (!utf8.ValidString(got.Text) || !utf8.ValidString(got.HTML) || !utf8.ValidString(got.Subject)) {
		t.Fatalf("an email of valid UTF-8 fields is not valid UTF-8:\n%q\n%q", got.Text, got.HTML)
	}
	if strings.Contains(strings.ToLower(got.HTML), "<script") {
		t.Fatalf("HTML part holds a script:\n%s", got.HTML)
	}
	if n, want := strings.Count(got.HTML, "<"), strings.Count(plain.HTML, "<"); n != want {
		t.Fatalf("HTML part has %d '<', but %d without markup in its fields: a field was not escaped:\n%s", n, want, got.HTML)
	}
}

// allValidUTF8 reports whether every field is valid UTF-8 on its own: two
// invalid halves can make a valid whole.
func allValidUTF8(fields ...string) bool {
	for _, s := range fields {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// FuzzRenderInvitation renders the invitation email from any organization,
// invitation, manager's first and last names (the first also greeting the
// recipient), message, passcode, user group and course. It fails only for a blank passcode; otherwise the text
// part shows the passcode as it is and the email is safe (wantSafeEmail).
func FuzzRenderInvitation(f *testing.F) {
	expires := time.Date(2026, time.March, 2, 17, 30, 0, 0, time.UTC)
	render := func(org, name, first, last, message, passcode, group, course string, expiring bool) (Rendered, error) {
		inv := Invitation{OrganizationName: org, InvitationName: name, ManagerName: strings.TrimSpace(first + " " + last),
			FirstName: first, Message: message, Passcode: passcode, EnrollURL: "https://learn.example.com/enroll?passcode=" + url.QueryEscape(passcode)}
		if group != "" {
			inv.Groups = []Group{{Name: group}}
			if course != "" {
				inv.Groups[0].Courses = []string{course, course}
			}
		}
		if expiring {
			inv.ExpiresAt = &expires
		}
		return RenderInvitation(inv)
	}
	f.Fuzz(func(t *testing.T, org, name, first, last, message, passcode, group, course string, expiring bool) {
		got, err := render(org, name, first, last, message, passcode, group, course, expiring)
		if strings.TrimSpace(passcode) == "" {
			if err == nil {
				t.Fatalf("rendered an invitation with the blank passcode %q", passcode)
			}
			return
		}
		if err != nil {
			t.Fatalf("RenderInvitation: %v", err)
		}
		if !strings.Contains(got.Text, passcode) {
			t.Fatalf("text part does not show the passcode %q:\n%s", passcode, got.Text)
		}
		m := markupFree.Replace
		plain, err := render(m(org), m(name), m(first), m(last), m(message), m(passcode), m(group), m(course), expiring)
		if err != nil {
			t.Fatalf("RenderInvitation without markup: %v", err)
		}
		wantSafeEmail(t, got, plain, allValidUTF8(org, name, first, last, message, passcode, group, course))
	})
}

// FuzzRenderVerification renders the verification email from any
// organization, invitation and first name of the person who registered:
// it never fails for a valid link and is safe (wantSafeEmail).
func FuzzRenderVerification(f *testing.F) {
	render := func(org, name, first string) (Rendered, error) {
		return RenderVerification(Verification{OrganizationName: org, InvitationName: name, FirstName: first,
			VerifyURL: "https://learn.example.com/enroll/verify?token=k3Jx9QeV0m2LwT8rYb6NcA1uHs5ZpD7fGi4oE0tRyWq",
			ExpiresAt: time.Date(2026, time.March, 4, 17, 30, 0, 0, time.UTC)})
	}
	f.Fuzz(func(t *testing.T, org, name, first string) {
		got, err := render(org, name, first)
		if err != nil {
			t.Fatalf("RenderVerification: %v", err)
		}
		m := markupFree.Replace
		plain, err := render(m(org), m(name), m(first))
		if err != nil {
			t.Fatalf("RenderVerification without markup: %v", err)
		}
		wantSafeEmail(t, got, plain, allValidUTF8(org, name, first))
	})
}
