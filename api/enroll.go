package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// The enrollment page is the employee's side of the invitation email: the
// passcode, what it leads to, the registration form, and the landing of the
// verification link. It is plain HTML forms from a template and one style
// sheet embedded in the binary, no script: it works in any browser, with
// JavaScript or without. It goes through the same redemption service and
// the same throttles as POST /api/v1/redemptions.

//go:embed enrollpage
var enrollFiles embed.FS

var (
	enrollCSS      = mustRead("enrollpage/enroll.css")
	enrollCSSTag   = etag(enrollCSS)
	enrollTemplate = template.Must(template.New("enroll.html.tmpl").Funcs(template.FuncMap{"field": newFormField}).
			ParseFS(enrollFiles, "enrollpage/enroll.html.tmpl"))
	// enrollCSP allows the page's own style sheet and nothing else: no
	// script, no inline style, no other origin, forms posted only here.
	enrollCSP = []string{"default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
)

func mustRead(name string) []byte {
	b, err := enrollFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// etag is the entity tag of content: a quoted digest of it.
func etag(content []byte) string {
	sum := sha256.Sum256(content)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// enrollStyle godoc
//
//	@Summary     The enrollment page's style sheet
//	@Description Public: no token. The page's only style sheet, embedded in the binary, with an ETag and Cache-Control public, max-age=3600; an If-None-Match with that ETag is answered 304 without a body. Off, like the page, with ENROLLKIT_ENROLL_PAGE=off.
//	@Tags        enrollment page
//	@Produce     text/css
//	@Success     200 {string} string "the style sheet"
//	@Success     304 {string} string "not modified"
//	@ID          getEnrollStyle
//	@Router  /enroll/enroll.css [get]
func (s *Server) enrollStyle(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("ETag", enrollCSSTag)
	h.Set("Cache-Control", "public, max-age=3600")
	if c.GetHeader("If-None-Match") == enrollCSSTag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "text/css; charset=utf-8", enrollCSS)
}

// formField is one labelled input of the page.
type formField struct {
	Name, Label, Type, Autocomplete, Value, Error, Hint string
	// Focus puts the cursor in the first field that has an error, so that
	// a keyboard or screen reader user lands on it.
	Focus bool
	// Required is false for the names, which an existing account does not
	// need.
	Required bool
}

func newFormField(name, label, typ, autocomplete, value, errMsg, hint string, first string) formField {
	return formField{name, label, typ, autocomplete, value, errMsg, hint, errMsg != "" && first == name,
		name != "first_name" && name != "last_name"}
}

// enrollView is what the page shows: one step, what was typed (passwords
// never), and the outcome of the last post next to what it concerns.
type enrollView struct {
	Title   string
	Step    string // passcode, register, pending, verify, done
	CSRF    string
	General string
	Errors  map[string]string

	Passcode, Email, FirstName, LastName, Token string
	PasswordRules                               string
	Preview                                     *lms.RedemptionPreview
	Expires                                     string
	Groups, Courses                             []string
}

// Err is the outcome shown next to field, if any.
func (v *enrollView) Err(field string) string { return v.Errors[field] }

// stepFields are the fields each step shows, in order.
var stepFields = map[string][]string{"passcode": {"passcode"}, "register": {"email", "first_name", "last_name", "password"},
	"verify": {"password"}}

// FirstError is the first field of the step that has an error.
func (v *enrollView) FirstError() string {
	for _, f := range stepFields[v.Step] {
		if v.Errors[f] != "" {
			return f
		}
	}
	return ""
}

// csrfCookie holds the page's double-submit token: a post is believed only
// when its form carries the same value (and the browser, where it says,
// sent it from this origin).
const csrfCookie = "enroll_csrf"

// formToken returns the caller's form token, setting a new one if it has
// none; secure marks the cookie for HTTPS only (the public URL is https,
// whether or not TLS ends at this process). Lax, not Strict: the token and
// Sec-Fetch-Site refuse cross-site posts already, and a Strict cookie
// would be withheld from the click in a webmail and minted anew, failing
// the forms of other tabs.
func formToken(c *gin.Context, secure bool) string {
	if v, err := c.Cookie(csrfCookie); err == nil && len(v) >= 32 && len(v) <= 64 {
		return v
	}
	v, err := auth.NewOpaqueToken()
	if err != nil {
		panic(err) // the system's random source failed
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: csrfCookie, Value: v, Path: "/enroll", HttpOnly: true,
		Secure: c.Request.TLS != nil || secure, SameSite: http.SameSiteLaxMode, MaxAge: 24 * 60 * 60})
	return v
}

// sameOrigin reports whether a post comes from this page: the browser's
// Sec-Fetch-Site, where it sends one, says so, and the form's token is the
// cookie's.
func sameOrigin(c *gin.Context) bool {
	switch c.GetHeader("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	cookie, err := c.Cookie(csrfCookie)
	form := c.PostForm("csrf")
	return err == nil && cookie != "" && subtle.ConstantTimeCompare([]byte(cookie), []byte(form)) == 1
}

func (s *Server) newEnrollView(c *gin.Context, step string) *enrollView {
	return &enrollView{Title: "Enroll", Step: step, CSRF: formToken(c, s.SecureCookies),
		Errors: map[string]string{}, PasswordRules: auth.PasswordRules()}
}

// renderEnroll writes the page with its own headers: a strict CSP, never
// cached, never referred (the passcode may be in the URL).
func renderEnroll(c *gin.Context, status int, v *enrollView) {
	var b bytes.Buffer
	if err := enrollTemplate.Execute(&b, v); err != nil {
		writeError(c, err)
		return
	}
	h := c.Writer.Header()
	h["Content-Security-Policy"] = enrollCSP
	h["Cache-Control"] = noStore
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// showPreview fills v with what the passcode leads to.
func (v *enrollView) showPreview(p *lms.RedemptionPreview) {
	v.Step, v.Preview, v.Title = "register", p, "Join "+p.OrganizationName
	if p.ExpiresAt != nil {
		v.Expires = p.ExpiresAt.UTC().Format("Monday 2 January 2006, 15:04 MST")
	}
}

// enrollFailed shows err on the page, next to the field it concerns.
func (s *Server) enrollFailed(c *gin.Context, v *enrollView, err error) {
	p := problemFor(c, err) // the status, Retry-After and the log of an internal error
	// A page asks for a password, not for a token: no bearer challenge.
	c.Writer.Header().Del("WWW-Authenticate")
	switch p.Code {
	case lms.EPasscodeInvalid:
		v.Step, v.Title, v.Preview = "passcode", "Enroll", nil
		v.Errors["passcode"] = "This passcode is not valid. Check it against your invitation, or ask whoever sent it whether it is still open."
	case lms.EInvitationFull:
		v.General = "Every place of this invitation is taken. Ask whoever sent it for another."
	case lms.EUnauthorized:
		if v.Step == "verify" {
			v.Errors["password"] = "This is not the password chosen when registering with this address. If you forgot it, register again with your passcode: a new link will come."
		} else {
			v.Errors["password"] = "This is not the password. If this email address already has an account here, enter that account's password; your manager can reset it."
		}
	case lms.EInvalid, lms.EConflict:
		for _, f := range p.Errors {
			if f.Field == "passcode" {
				v.Step, v.Title, v.Preview = "passcode", "Enroll", nil
			}
		}
		var other []string
		for _, f := range p.Errors {
			if slices.Contains(stepFields[v.Step], f.Field) {
				if v.Errors[f.Field] == "" {
					v.Errors[f.Field] = sentence(f.Field, f.Message)
				}
			} else {
				other = append(other, sentence(f.Field, f.Message))
			}
		}
		if len(p.Errors) == 0 {
			other = append(other, sentence("", p.Detail))
		}
		v.General = strings.Join(other, " ")
		if v.Step == "register" && v.Preview == nil {
			// The fields were judged before the passcode: what it leads to
			// is shown once it is judged, as on the page's first visit.
			if prev, err := s.judgedPreview(c, v.Passcode); err == nil {
				v.showPreview(prev)
			}
		}
	case lms.ERateLimited:
		v.General = "Too many attempts from here. Try again in " + waitText(c.Writer.Header().Get("Retry-After")) + "."
	case lms.EUnavailable:
		v.General = "The server is busy right now. Nothing was saved: try again in a moment."
	case lms.EVerificationInvalid:
		v.Step, v.Title = "passcode", "Enroll"
		v.General = "This link does not work any more: it was used, a newer link replaced it, or it expired. Register again with your passcode for a new one."
	default:
		v.General = "Something went wrong on our side. Nothing was saved; please try again later (reference " + requestID(c) + ")."
	}
	renderEnroll(c, p.Status, v)
}

// sentence turns a field error into a sentence for the page.
func sentence(field, msg string) string {
	name := map[string]string{"email": "The email address", "first_name": "The first name", "last_name": "The last name",
		"password": "The password", "passcode": "The passcode"}[field]
	switch {
	case msg == "":
		return "Please check what you typed."
	case name != "":
		return name + " " + msg + "."
	}
	r, size := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[size:] + "."
}

// waitText says how long Retry-After's seconds are, in words.
func waitText(secs string) string {
	n, err := strconv.Atoi(secs)
	switch {
	case err != nil || n < 1:
		return "a moment"
	case n < 120:
		return strconv.Itoa(n) + " seconds"
	case n < 2*60*60:
		return strconv.Itoa((n+30)/60) + " minutes"
	}
	return strconv.Itoa((n+1800)/3600) + " hours"
}

// navigation reports whether a GET is a person opening the page: no
// Sec-Fetch metadata (a client that sends none), a visit from this site or
// from no site (a mail program), or a top-level navigation another site's
// page made on a click (a webmail's link).
func navigation(c *gin.Context) bool {
	switch c.GetHeader("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return c.GetHeader("Sec-Fetch-Dest") == "document" && c.GetHeader("Sec-Fetch-User") == "?1"
}

// enrollPage godoc
//
//	@Summary     The enrollment page
//	@Description Public: no token. The invitation email's link. Without a passcode, a form asks for it; with one, the page shows what it leads to (organization, invitation, user groups, courses, places left, expiry) and the registration form, with the password rules stated. HTML for browsers, no script. Wrong passcodes count against the client as on POST /api/v1/redemptions/preview. Strict Content-Security-Policy, Referrer-Policy no-referrer and no-store, since the passcode is in the URL; the access log never records query strings. Off with ENROLLKIT_ENROLL_PAGE=off.
//	@Tags        enrollment page
//	@Produce     html
//	@Param       passcode query    string false "the passcode, as the email's link carries it"
//	@Success     200      {string} string "the page"
//	@Failure     404 {string} string "the page, the passcode form saying the passcode is not valid (unknown, draft, paused, revoked or expired)"
//	@Failure     422 {string} string "the page, the passcode form saying the passcode has characters it may not contain"
//	@Failure     429 {string} string "the page, saying this address is out of wrong-passcode guesses and when to try again"
//	@Failure     500 {string} string "the page, saying something went wrong, with the request ID to quote"
//	@ID          getEnrollPage
//	@Router      /enroll [get]
func (s *Server) enrollPage(c *gin.Context) {
	v := s.newEnrollView(c, "passcode")
	v.Passcode = strings.TrimSpace(c.Query("passcode"))
	if v.Passcode == "" {
		renderEnroll(c, http.StatusOK, v)
		return
	}
	if !navigation(c) {
		// Loaded by another site (an image, a frame, a script's fetch):
		// the passcode is not looked up, so that no page elsewhere can
		// spend the guesses of the address its visitors share.
		renderEnroll(c, http.StatusOK, v)
		return
	}
	fail := func(c *gin.Context, err error) { s.enrollFailed(c, v, err) }
	s.guardedWith(c, nil, func() error {
		p, err := s.judgedPreview(c, v.Passcode)
		if err != nil {
			return err
		}
		v.showPreview(p)
		renderEnroll(c, http.StatusOK, v)
		return nil
	}, fail)
}

// enrollSubmit godoc
//
//	@Summary     Register through the enrollment page
//	@Description Public: no token. The page's form post (application/x-www-form-urlencoded: csrf, passcode, email, first_name, last_name, password), through the same redemption and throttles as POST /api/v1/redemptions. Answers the page: the groups and courses the person is enrolled in, "check your inbox" where the invitation verifies addresses, or the outcome next to the field it concerns, with what was typed kept but the password. 403 when the form's token is not the page's cookie's, or the browser says the post came from another site.
//	@Tags        enrollment page
//	@Accept      x-www-form-urlencoded
//	@Produce     html
//	@Param       csrf       formData string true  "the form's token, the page's enroll_csrf cookie"
//	@Param       passcode   formData string true  "the passcode, as on the page"
//	@Param       email      formData string true  "the person's email address"
//	@Param       first_name formData string false "for a new account"
//	@Param       last_name  formData string false "for a new account"
//	@Param       password   formData string true  "a new account's password, or the existing account's"
//	@Success     200 {string} string "the page"
//	@Failure     401 {string} string "the page, saying the password is not the existing account's (an invitation that does not verify addresses)"
//	@Failure     403 {string} string "the page, saying the form expired: its token is not the cookie's, or the browser says the post came from another site"
//	@Failure     404 {string} string "the page, the passcode form saying the passcode is not valid"
//	@Failure     409 {string} string "the page, saying every place is taken, or the field that conflicts (an address that looks like another one)"
//	@Failure     422 {string} string "the page, each invalid field's message next to it"
//	@Failure     429 {string} string "the page, saying there were too many attempts from here and when to try again"
//	@Failure     503 {string} string "the page, saying the server is busy and nothing was saved"
//	@Failure     500 {string} string "the page, saying something went wrong, with the request ID to quote"
//	@ID          submitEnrollPage
//	@Router      /enroll [post]
func (s *Server) enrollSubmit(c *gin.Context) {
	v := s.newEnrollView(c, "register")
	v.Passcode = strings.TrimSpace(c.PostForm("passcode"))
	v.Email, v.FirstName, v.LastName = c.PostForm("email"), c.PostForm("first_name"), c.PostForm("last_name")
	if !sameOrigin(c) {
		v.Step, v.General = "passcode", "This form expired. Open the link from your invitation again."
		renderEnroll(c, http.StatusForbidden, v)
		return
	}
	fail := func(c *gin.Context, err error) { s.enrollFailed(c, v, err) }
	in := lms.NewRedemption{Passcode: v.Passcode, Email: v.Email, FirstName: v.FirstName, LastName: v.LastName,
		Password: c.PostForm("password"),
		// What the passcode leads to stays on the page whatever the
		// outcome, once the redemption has judged the passcode live and
		// the client's throttle has let it through: never for a guess.
		OnPasscode: func(ctx context.Context, live bool) error {
			if live {
				if p, err := s.Services.Redemptions.PreviewRedemption(ctx, v.Passcode); err == nil {
					v.showPreview(p)
				}
			}
			return nil
		}}
	s.guardedWith(c, s.redemptionAccountGuards(c, v.Email), func() error {
		return s.redemptionAttempt(c, in, func(r *lms.Redemption, _ bool) { showRedemption(c, v, r) }, fail)
	}, fail)
}

// showRedemption answers a redemption on the page.
func showRedemption(c *gin.Context, v *enrollView, r *lms.Redemption) {
	v.Email = r.Email
	if r.User != nil {
		v.Email = r.User.Email
	}
	if r.Status == lms.RedemptionPendingVerification {
		v.Step, v.Title, v.Expires = "pending", "Check your inbox", ""
		if r.VerificationExpiresAt != nil {
			v.Expires = r.VerificationExpiresAt.UTC().Format("Monday 2 January 2006, 15:04 MST")
		}
		renderEnroll(c, http.StatusOK, v)
		return
	}
	v.Step, v.Title = "done", "You are enrolled"
	for _, g := range r.UserGroups {
		v.Groups = append(v.Groups, g.Name)
	}
	for _, e := range r.Enrollments {
		v.Courses = append(v.Courses, e.CourseName)
	}
	renderEnroll(c, http.StatusOK, v)
}

// enrollVerifyPage godoc
//
//	@Summary     The verification link's landing
//	@Description Public: no token. The link in the verification email: asks for the password chosen when registering, then posts it with the link's token. Opening it changes nothing, so mail scanners that follow links verify nothing.
//	@Tags        enrollment page
//	@Produce     html
//	@Param       token query    string false "the link's token"
//	@Success     200   {string} string "the page"
//	@ID          getVerifyPage
//	@Router      /enroll/verify [get]
func (s *Server) enrollVerifyPage(c *gin.Context) {
	v := s.newEnrollView(c, "verify")
	v.Title, v.Token = "Finish your registration", c.Query("token")
	if v.Token == "" {
		v.Step, v.Title = "passcode", "Enroll"
		v.General = "This link is incomplete. Open the whole link from the email, or register again with your passcode."
	}
	renderEnroll(c, http.StatusOK, v)
}

// enrollVerifySubmit godoc
//
//	@Summary     Finish a registration from the verification link
//	@Description Public: no token. The landing's form post (application/x-www-form-urlencoded: csrf, token, password), through POST /api/v1/redemptions/verify's service and throttle. Answers the page with the groups and courses the person is now enrolled in, or the outcome.
//	@Tags        enrollment page
//	@Accept      x-www-form-urlencoded
//	@Produce     html
//	@Param       csrf     formData string true "the form's token, the page's enroll_csrf cookie"
//	@Param       token    formData string true "the verification link's token"
//	@Param       password formData string true "the password chosen when registering"
//	@Success     200 {string} string "the page"
//	@Failure     401 {string} string "the page, saying this is not the password chosen when registering"
//	@Failure     403 {string} string "the page, saying the form expired: its token is not the cookie's, or the browser says the post came from another site"
//	@Failure     404 {string} string "the page, saying the link was used, replaced by a newer one or expired"
//	@Failure     409 {string} string "the page, saying the verification collided with concurrent changes of the address"
//	@Failure     429 {string} string "the page, saying there were too many attempts from here and when to try again"
//	@Failure     503 {string} string "the page, saying the server is busy and nothing was saved"
//	@Failure     500 {string} string "the page, saying something went wrong, with the request ID to quote"
//	@ID          submitVerifyPage
//	@Router      /enroll/verify [post]
func (s *Server) enrollVerifySubmit(c *gin.Context) {
	v := s.newEnrollView(c, "verify")
	v.Title, v.Token = "Finish your registration", c.PostForm("token")
	if !sameOrigin(c) {
		v.General = "This form expired. Open the link from the email again."
		renderEnroll(c, http.StatusForbidden, v)
		return
	}
	fail := func(c *gin.Context, err error) { s.enrollFailed(c, v, err) }
	s.guardedWith(c, s.verifyGuards(c, v.Token), func() error {
		r, err := s.Services.Redemptions.VerifyRedemption(c.Request.Context(), v.Token, c.PostForm("password"))
		if err != nil {
			return err
		}
		showRedemption(c, v, r)
		return nil
	}, fail)
}
