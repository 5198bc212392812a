package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
)

// Invitation is everything the invitation email shows. Callers fill it from
// their own invitation, organization and user group records, so this package
// stays free of domain and storage types.
type Invitation struct {
	OrganizationName string
	InvitationName   string
	// ManagerName is who sends the invitation, e.g. "Ada Lovelace".
	ManagerName string
	// FirstName is the recipient's first name, which the email greets
	// them by; "" when it is not known, and the email has no greeting.
	FirstName string
	// Message is the manager's own text: plain text with line breaks, never
	// HTML. It may be empty.
	Message  string
	Passcode string
	// EnrollURL is the absolute http(s) URL of the enrollment page with the
	// passcode already URL-encoded in it.
	EnrollURL string
	Groups    []Group
	// ExpiresAt is nil when the invitation never expires.
	ExpiresAt *time.Time
}

// Group is a user group of an invitation with the names of its courses, in
// the order the email lists them.
type Group struct {
	Name    string
	Courses []string
}

// Rendered is a rendered email: a single-line subject and the same content as
// plain text and as HTML.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// expiryLayout spells the day and month out and names the zone, so no reader
// in any locale confuses 02/01 with 01/02.
const expiryLayout = "Monday, 2 January 2006 15:04 MST"

//go:embed templates/*
var templateFS embed.FS

// The templates are parsed once at start-up; Must turns a broken embedded
// template into a panic that every test run catches, never a runtime error.
var (
	subjectTemplate = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/subject.txt.tmpl"))
	textTemplate    = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/invitation.txt.tmpl"))
	htmlTemplate    = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/invitation.html.tmpl"))
)

// invitationView is what the templates see: the invitation with its message
// normalised and split, and the expiry already formatted, so the templates
// hold no logic that the text and HTML parts could get out of step on.
type invitationView struct {
	Subject          string
	OrganizationName string
	InvitationName   string
	ManagerName      string
	FirstName        string
	Message          string
	MessageLines     []string
	Passcode         string
	EnrollURL        string
	Groups           []Group
	Expires          string
}

// RenderInvitation renders the invitation email: a greeting when the
// recipient's first name is known, the manager's message, then the part
// added automatically (passcode, enrollment link, user groups
// with their courses, expiry). The same input always gives the same bytes, so
// a preview shows exactly what will be sent. The HTML part escapes every
// field, the message included: a manager's text is shown, never interpreted.
//
// It fails when the passcode is empty or EnrollURL is not an absolute http or
// https URL, because such an email would not let anyone enroll.
func RenderInvitation(inv Invitation) (Rendered, error) {
	if strings.TrimSpace(inv.Passcode) == "" {
		return Rendered{}, errors.New("mail: invitation has no passcode")
	}
	if err := checkEnrollURL(inv.EnrollURL); err != nil {
		return Rendered{}, err
	}

	message := normalizeMessage(inv.Message)
	view := invitationView{
		OrganizationName: inv.OrganizationName,
		InvitationName:   inv.InvitationName,
		ManagerName:      inv.ManagerName,
		FirstName:        strings.TrimSpace(inv.FirstName),
		Message:          message,
		Passcode:         inv.Passcode,
		EnrollURL:        inv.EnrollURL,
		Groups:           inv.Groups,
	}
	if message != "" {
		view.MessageLines = strings.Split(message, "\n")
	}
	if inv.ExpiresAt != nil {
		view.Expires = inv.ExpiresAt.UTC().Format(expiryLayout)
	}

	var subject bytes.Buffer
	if err := subjectTemplate.Execute(&subject, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering invitation subject: %w", err)
	}
	view.Subject = singleLine(subject.String())

	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering invitation text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering invitation HTML: %w", err)
	}
	return Rendered{Subject: view.Subject, Text: text.String(), HTML: html.String()}, nil
}

// checkEnrollURL refuses links that are not absolute http(s) URLs. Without
// it html/template would quietly replace, say, a javascript: URL by
// "#ZgotmplZ" while the text part kept it, and the two parts would disagree.
func checkEnrollURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("mail: invalid enroll URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("mail: enroll URL %q is not an absolute http(s) URL", raw)
	}
	return nil
}

// normalizeMessage turns every line ending into "\n" and drops surrounding
// blank space, so a message typed on any system renders the same way and
// leaves no empty paragraph around it.
func normalizeMessage(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// singleLine replaces each run of control characters (CR and LF above all)
// by one space. A header value with a line break in it could otherwise start
// a new header, such as a Bcc the sender never meant.
func singleLine(s string) string {
	var b strings.Builder
	pendingSpace := false
	for _, r := range s {
		if unicode.IsControl(r) {
			pendingSpace = true
			continue
		}
		if pendingSpace && b.Len() > 0 {
			b.WriteByte(' ')
		}
		pendingSpace = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
