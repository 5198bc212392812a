package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"
)

// Verification is everything the email that verifies a new account's
// address shows.
type Verification struct {
	OrganizationName string
	InvitationName   string
	// FirstName greets the person who registered.
	FirstName string
	// VerifyURL is the absolute http(s) URL of the page that completes the
	// registration, with the token in it.
	VerifyURL string
	ExpiresAt time.Time
}

var (
	verificationText = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/verification.txt.tmpl"))
	verificationHTML = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/verification.html.tmpl"))
)

// verificationView is what the verification templates see.
type verificationView struct {
	Subject          string
	OrganizationName string
	InvitationName   string
	FirstName        string
	VerifyURL        string
	Expires          string
}

// RenderVerification renders the verification email. Like
// RenderInvitation, it escapes every field in the HTML part and fails when
// the link is not an absolute http(s) URL.
func RenderVerification(v Verification) (Rendered, error) {
	if err := checkEnrollURL(v.VerifyURL); err != nil {
		return Rendered{}, err
	}
	view := verificationView{
		Subject:          singleLine(fmt.Sprintf("Confirm your email address to join %s", v.OrganizationName)),
		OrganizationName: v.OrganizationName,
		InvitationName:   v.InvitationName,
		FirstName:        v.FirstName,
		VerifyURL:        v.VerifyURL,
		Expires:          v.ExpiresAt.UTC().Format(expiryLayout),
	}
	var text, html bytes.Buffer
	if err := verificationText.Execute(&text, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering verification text: %w", err)
	}
	if err := verificationHTML.Execute(&html, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering verification HTML: %w", err)
	}
	return Rendered{Subject: view.Subject, Text: text.String(), HTML: html.String()}, nil
}

// AccountNotice tells an account's owner that its address was used to
// redeem an invitation with a password that is not the account's.
type AccountNotice struct {
	OrganizationName string
	InvitationName   string
	// EnrollURL is the invitation's enrollment page.
	EnrollURL string
}

var (
	noticeText = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/notice.txt.tmpl"))
	noticeHTML = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/notice.html.tmpl"))
)

// RenderAccountNotice renders the notice. It fails when the link is not an
// absolute http(s) URL.
func RenderAccountNotice(n AccountNotice) (Rendered, error) {
	if err := checkEnrollURL(n.EnrollURL); err != nil {
		return Rendered{}, err
	}
	view := struct {
		Subject                                     string
		OrganizationName, InvitationName, EnrollURL string
	}{singleLine("You already have an account with " + n.OrganizationName), n.OrganizationName, n.InvitationName, n.EnrollURL}
	var text, html bytes.Buffer
	if err := noticeText.Execute(&text, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering notice text: %w", err)
	}
	if err := noticeHTML.Execute(&html, view); err != nil {
		return Rendered{}, fmt.Errorf("mail: rendering notice HTML: %w", err)
	}
	return Rendered{Subject: view.Subject, Text: text.String(), HTML: html.String()}, nil
}
