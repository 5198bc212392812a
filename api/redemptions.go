package api

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
)

// GroupRefResponse names a user group.
type GroupRefResponse struct {
	ID   string `json:"id" format:"uuid"`
	Name string `json:"name" example:"New sales hires"`
} // @name GroupRef

// CourseRefResponse names a course.
type CourseRefResponse struct {
	ID   string `json:"id" format:"uuid"`
	Name string `json:"name" example:"Workplace safety"`
} // @name CourseRef

func groupRefs(gs []lms.GroupRef) []GroupRefResponse {
	out := make([]GroupRefResponse, len(gs))
	for i, g := range gs {
		out[i] = GroupRefResponse(g)
	}
	return out
}

// PasscodeRequest carries a passcode to preview.
type PasscodeRequest struct {
	Passcode string `json:"passcode" example:"KX7P-M3QD"`
} // @name PasscodeRequest

// RedemptionPreviewResponse is what a passcode leads to.
type RedemptionPreviewResponse struct {
	OrganizationName       string              `json:"organization_name"`
	InvitationName         string              `json:"invitation_name"`
	UserGroups             []GroupRefResponse  `json:"user_groups"`
	Courses                []CourseRefResponse `json:"courses"`
	RegistrationsRemaining int                 `json:"registrations_remaining"`
	ExpiresAt              *string             `json:"expires_at" format:"date-time" extensions:"x-nullable"`
} // @name RedemptionPreview

// RedeemRequest registers (or signs in) an employee with a passcode.
type RedeemRequest struct {
	Passcode string `json:"passcode" example:"KX7P-M3QD"`
	Email    string `json:"email" example:"new.hire@example.com"`
	// Required for a new account; ignored for an existing one.
	FirstName string `json:"first_name,omitempty" example:"Grace"`
	LastName  string `json:"last_name,omitempty" example:"Hopper"`
	// A new account's password, or the existing account's.
	Password string `json:"password"`
} // @name RedeemRequest

// RedemptionResponse is a redemption with the tokens that sign the learner
// in. While it is pending_verification there is no account yet: no user, no
// enrollments and no tokens; email, first_name and last_name say who it
// will be, verification_expires_at until when the link works.
type RedemptionResponse struct {
	ID           string `json:"id" format:"uuid"`
	InvitationID string `json:"invitation_id" format:"uuid"`
	Status       string `json:"status" enums:"active,pending_verification"`
	Email        string `json:"email" example:"new.hire@example.com"`
	FirstName    string `json:"first_name" example:"Grace"`
	LastName     string `json:"last_name" example:"Hopper"`
	// The account; absent while pending.
	User        *UserResponse        `json:"user,omitempty"`
	UserGroups  []GroupRefResponse   `json:"user_groups"`
	Enrollments []EnrollmentResponse `json:"enrollments"`
	CreatedAt   string               `json:"created_at" format:"date-time"`
	// Until when the verification link works; absent once active.
	VerificationExpiresAt string `json:"verification_expires_at,omitempty" format:"date-time"`
	// Tokens that sign the learner in; absent while pending, and when a
	// verified address already had an account of its own (its owner signs
	// in with its password).
	Tokens *TokenResponse `json:"tokens,omitempty"`
} // @name Redemption

// redemptionResponse is the answer of a redemption or a verification.
func redemptionResponse(r *lms.Redemption) RedemptionResponse {
	out := RedemptionResponse{ID: r.ID, InvitationID: r.InvitationID, Status: string(r.Status), Email: r.Email,
		FirstName: r.FirstName, LastName: r.LastName, UserGroups: groupRefs(r.UserGroups),
		Enrollments: make([]EnrollmentResponse, len(r.Enrollments)), CreatedAt: stamp(r.CreatedAt)}
	if r.User != nil {
		u := userResponse(r.User)
		out.User, out.Email, out.FirstName, out.LastName = &u, u.Email, u.FirstName, u.LastName
	}
	for i, e := range r.Enrollments {
		out.Enrollments[i] = enrollmentResponse(e)
	}
	if r.VerificationExpiresAt != nil {
		out.VerificationExpiresAt = stamp(*r.VerificationExpiresAt)
	}
	if r.Tokens != nil {
		t := tokenResponse(r.Tokens)
		out.Tokens = &t
	}
	return out
}

// VerifyRequest carries the token of a verification link and the password
// given when registering.
type VerifyRequest struct {
	// The token query parameter of the link in the verification email.
	Token string `json:"token" example:"k3Jx9QeV0m2LwT8rYb6NcA1uHs5ZpD7fGi4oE0tRyWq"`
	// The password given with the (last) redemption of this address.
	Password string `json:"password"`
} // @name VerifyRequest

// rateLimited is an attempt a throttle refused; guarded answers it 429
// with Retry-After.
type rateLimited struct{ retryAfter time.Duration }

func (e *rateLimited) Error() string { return "rate limited" }

// judgePasscode is the per-client passcode throttle, asked once the
// passcode has been looked up. A wrong passcode is a guess: it takes one of
// the client's failures atomically with the check, so a burst of wrong
// guesses gets exactly the limit's answers and the rest 429. A live one
// takes nothing and is only checked: correct attempts from one address (an
// office behind NAT) never hold anything another attempt could wait for,
// and a client out of guesses gets 429 for right and wrong passcodes alike,
// so the 429 tells it nothing about its guess. An IPv6 client is counted by
// its /64 and, more loosely, by its /48. Whatever comes after the
// lookup (a full invitation, a replay, a wrong password, a weak one, a
// busy hasher) is not a passcode guess and never counts here. If the
// shared limiter is unreachable the throttle fails open, logged.
func (s *Server) judgePasscode(c *gin.Context, live bool) error {
	keys := []guard{{rule: s.Rules.RedeemIP, key: clientKey(c)}}
	if site, ok := ratelimit.SiteKey(c.ClientIP()); ok {
		keys = append(keys, guard{rule: s.Rules.RedeemSite, key: site})
	}
	ctx := c.Request.Context()
	var wait time.Duration
	var taken []int
	decisions := make([]ratelimit.Decision, len(keys))
	for i, k := range keys {
		var d ratelimit.Decision
		var err error
		if live {
			d, err = s.Throttle.Check(ctx, k.rule, k.key)
		} else {
			d, err = s.Throttle.Reserve(ctx, k.rule, k.key)
		}
		if err == nil {
			decisions[i] = d
			reportLimit(c, k.rule, d)
		}
		switch {
		case err != nil:
			s.throttleUnavailable(c, k.rule, err)
		case !d.Allowed:
			wait = max(wait, d.RetryAfter)
		case !live:
			taken = append(taken, i)
		}
	}
	if !live {
		s.metrics.guesses.WithLabelValues("wrong").Inc()
	}
	if wait == 0 {
		return nil
	}
	s.metrics.guesses.WithLabelValues("refused").Inc()
	// Refused: a guess that was not answered is not counted either.
	for _, i := range taken {
		if err := s.Throttle.Refund(context.WithoutCancel(ctx), keys[i].rule, keys[i].key); err != nil {
			s.throttleUnavailable(c, keys[i].rule, err)
			continue
		}
		reportLimit(c, keys[i].rule, refunded(decisions[i], keys[i].rule))
	}
	return &rateLimited{retryAfter: wait}
}

// redemptionAccountGuards throttle a wrong password on an existing account
// through a redemption as a failed sign-in of that account.
func (s *Server) redemptionAccountGuards(c *gin.Context, email string) []guard {
	if email == "" {
		return nil
	}
	return s.accountGuards(c, lms.NormalizeEmail(email))
}

// previewRedemption godoc
//
//	@Summary     What a passcode leads to
//	@Description Public, no token; consumes and changes nothing, and a full invitation is answered with registrations_remaining 0 (a new redemption of it is then 409 invitation_full), while unknown, draft, paused, revoked and expired passcodes all answer the same 404 passcode_invalid. Wrong passcodes are throttled per client IP, an IPv6 client by its /64 (ENROLLKIT_REDEEM_IP_LIMIT, default 10 per 15 minutes, refilled one per 90 s) and, more loosely, by its /48 (ENROLLKIT_REDEEM_SITE_LIMIT, default 100); correct ones never count. A client out of guesses gets 429 with Retry-After for every passcode, right or wrong, so the 429 tells nothing about the guess.
//	@Tags        redemptions
//	@Accept      json
//	@Produce     json
//	@Param       body body     PasscodeRequest true "the passcode"
//	@Success     200  {object} RedemptionPreviewResponse
//	@Failure     400 {object} Problem "malformed JSON or an unknown field"
//	@Failure     404 {object} Problem "passcode_invalid: unknown, draft, paused, revoked or expired, one answer for all"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: the passcode has control or bidirectional formatting characters"
//	@Failure     429 {object} Problem "rate_limited: this client address (or its IPv6 /64 or /48) is out of wrong-passcode guesses"
//	@Header      429 {integer} Retry-After "seconds to wait before trying again"
//	@ID          previewRedemption
//	@Router      /api/v1/redemptions/preview [post]
func (s *Server) previewRedemption(c *gin.Context) {
	var req PasscodeRequest
	if !bindJSON(c, &req) {
		return
	}
	s.guarded(c, nil, func() error {
		p, err := s.judgedPreview(c, req.Passcode)
		if err != nil {
			return err
		}
		out := RedemptionPreviewResponse{OrganizationName: p.OrganizationName, InvitationName: p.InvitationName,
			UserGroups: groupRefs(p.UserGroups), Courses: make([]CourseRefResponse, len(p.Courses)),
			RegistrationsRemaining: p.RegistrationsRemaining, ExpiresAt: stampPtr(p.ExpiresAt)}
		for i, cr := range p.Courses {
			out.Courses[i] = CourseRefResponse(cr)
		}
		c.Header("Cache-Control", "no-store")
		writeJSON(c, http.StatusOK, out)
		return nil
	})
}

// judgedPreview is what a passcode leads to, the passcode judged by the
// client's throttle as a redemption's is.
func (s *Server) judgedPreview(c *gin.Context, passcode string) (*lms.RedemptionPreview, error) {
	p, err := s.Services.Redemptions.PreviewRedemption(c.Request.Context(), passcode)
	if err == nil || lms.ErrorCode(err) == lms.EPasscodeInvalid {
		if jerr := s.judgePasscode(c, err == nil); jerr != nil {
			return nil, jerr
		}
	}
	return p, err
}

// redeem godoc
//
//	@Summary     Redeem a passcode: register, join the groups, get enrolled
//	@Description Public: no token. Atomically takes one seat, creates the learner in the invitation's organization group (or checks the password of an existing account of that organization and creates nothing), adds it to every user group of the invitation and enrolls it in their courses. 201 with tokens that sign the learner in. When the invitation requires email verification (its default) and the address has no account yet, the seat is taken as pending instead: 201 with status pending_verification and no user, enrollments or tokens, and a link is emailed to the address; POST /api/v1/redemptions/verify with the link's token and the password makes the account (see there); unverified, the seat is given back after ENROLLKIT_VERIFICATION_TTL (default 48h). The same email redeeming again gets 200 with the original redemption and takes no seat; a pending one gets the new password and names and a new link, and the older link stops working (429 with Retry-After within a minute of the last link, and after 5 new links; the seat still returns when the first link expires). Addresses are compared in Unicode NFKC and lower case; a new address that looks like another address of the organization (the same UTS #39 skeleton, e.g. a Cyrillic а for a Latin a) is refused with 409 conflict, and one outside the invitation's allowed_email_domains with 422. 404 passcode_invalid for unknown, draft, paused, revoked and expired passcodes; 409 invitation_full when no seat is left; the answer never tells whether an address has an account: every field (the password by the policy of new accounts too) is judged before any lookup; without first_name and last_name the answer is 422 after the same password work whether or not the address has an account; on an invitation that verifies addresses, an existing account's wrong password is answered as a pending redemption and holds a seat under the same rules (201, then the same 429 and 200 answers, the same expiry), while the account's owner is emailed that it already has an account instead of a link, and the account taking the invitation later with its password takes that seat over; on one that does not, it is 401. Each of these, and every pending answer, full invitation and 429 of a new address, counts against the address's sign-in limit, not as a passcode guess; 503 unavailable with Retry-After when every password-hashing slot stayed busy for ENROLLKIT_PASSWORD_WAIT (a rush beyond what the cores can hash: retry after Retry-After; nothing was written). The passcode is judged as soon as it has been looked up, before any password work: only a wrong passcode counts against the client IP's limit (as for the preview), so any number of correct redemptions from one address (an office behind NAT) may be in flight at once; 429 with Retry-After once the address is out of guesses, for every passcode, or when the account has too many failed sign-ins.
//	@Tags        redemptions
//	@Accept      json
//	@Produce     json
//	@Param       body body     RedeemRequest true "passcode and account"
//	@Success     200  {object} RedemptionResponse "the same email had already redeemed this invitation"
//	@Success     201  {object} RedemptionResponse
//	@Failure     400 {object} Problem "malformed JSON or an unknown field"
//	@Failure     401 {object} Problem "unauthorized: the address has an account and the password is not its own, on an invitation that does not verify addresses"
//	@Failure     404 {object} Problem "passcode_invalid: unknown, draft, paused, revoked or expired, one answer for all"
//	@Failure     409 {object} Problem "invitation_full (no seat left), or conflict: the address looks like another address of the organization, or the redemption collided with concurrent ones of the address (retry)"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a missing or invalid field, a password the policy refuses, missing names, or an address outside allowed_email_domains"
//	@Failure     429 {object} Problem "rate_limited: out of wrong-passcode guesses, too many failed sign-ins of the account, or a new verification link asked for too soon or too often"
//	@Failure     503 {object} Problem "unavailable: no password-hashing slot within ENROLLKIT_PASSWORD_WAIT; nothing was written, retry after Retry-After"
//	@Header      429,503 {integer} Retry-After "seconds to wait before trying again"
//	@ID          redeemPasscode
//	@Router      /api/v1/redemptions [post]
func (s *Server) redeem(c *gin.Context) {
	var req RedeemRequest
	if !bindJSON(c, &req) {
		return
	}
	in := lms.NewRedemption{Passcode: req.Passcode, Email: req.Email, FirstName: req.FirstName, LastName: req.LastName,
		Password: req.Password}
	s.guarded(c, s.redemptionAccountGuards(c, req.Email), func() error {
		return s.redemptionAttempt(c, in, func(r *lms.Redemption, created bool) { answerRedemption(c, r, created) }, writeError)
	})
}

// redemptionAttempt runs one redemption under the guards of its caller and
// answers it with answer, or its failure with write. What it returns is what
// the guards count: a concealed failure is answered as it is shown and
// counted as what it is, and a new address's pending answers, full
// invitations and 429s are counted like an account's wrong password, which
// is answered the same way, so that the address's limit does not run out
// sooner for one that has an account.
func (s *Server) redemptionAttempt(c *gin.Context, in lms.NewRedemption, answer func(*lms.Redemption, bool), write func(*gin.Context, error)) error {
	in.ClientIP, in.UserAgent = c.ClientIP(), c.Request.UserAgent()
	next := in.OnPasscode
	in.OnPasscode = func(ctx context.Context, live bool) error {
		if err := s.judgePasscode(c, live); err != nil {
			return err
		}
		if next != nil {
			return next(ctx, live) // the caller's, once the throttle let the attempt through
		}
		return nil
	}
	r, created, err := s.Services.Redemptions.Redeem(c.Request.Context(), in)
	var hidden *lms.Concealed
	if errors.As(err, &hidden) {
		if hidden.Shown != nil {
			write(c, hidden.Shown)
		} else {
			answer(hidden.Answer, hidden.Created)
		}
		return answered{err}
	}
	switch code := lms.ErrorCode(err); {
	case err == nil && r.Status == lms.RedemptionPendingVerification, code == lms.ERateLimited, code == lms.EInvitationFull:
		if err != nil {
			write(c, err)
		} else {
			answer(r, created)
		}
		return answered{errCounted}
	case err != nil:
		return err
	}
	answer(r, created)
	return nil
}

// errCounted marks an answered redemption that the address's sign-in
// guards count as a failure.
var errCounted = lms.Errorf(lms.EUnauthorized, "counted")

// verifyGuards count a verification's wrong passwords against its link, as
// failed sign-ins count against an account.
func (s *Server) verifyGuards(c *gin.Context, token string) []guard {
	return s.accountGuards(c, "verify|"+auth.HashOpaqueToken(token))
}

// answerRedemption answers a redemption: 201 when it is new, 200 when it
// had been made before.
func answerRedemption(c *gin.Context, r *lms.Redemption, created bool) {
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	} else {
		c.Header("Location", "/api/v1/invitations/"+r.InvitationID+"/redemptions")
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, status, redemptionResponse(r))
}

// verifyRedemption godoc
//
//	@Summary     Verify the address of a pending redemption
//	@Description Public: no token. Completes a redemption that was pending_verification with the token of the link emailed to its address and the password given with the address's last redemption: the account is made with that password, joins the invitation's user groups and is enrolled in their courses, once; the answer is the redemption, active, with tokens that sign the learner in. The password is asked again because anyone holding the passcode may redeem the address again, which sends the address a new link: only the person who reads the address and chose the password completes it. When the address got an account of its own meanwhile (a manager added it), the redemption joins that account and has no tokens: its owner signs in with its own password. 404 verification_invalid for a token that is unknown, used, replaced by a newer link or expired, or whose invitation was revoked: one answer for all, so it tells nothing. 401 for another password (counted per link like failed sign-ins: 429 with Retry-After when too many). The link's page (`/enroll/verify?token=…` under ENROLLKIT_PUBLIC_URL) asks for the password and posts both here; a GET never changes anything, so mail scanners that open links do not verify.
//	@Tags        redemptions
//	@Accept      json
//	@Produce     json
//	@Param       body body     VerifyRequest true "the token of the link"
//	@Success     200  {object} RedemptionResponse
//	@Failure     400 {object} Problem "malformed JSON or an unknown field"
//	@Failure     401 {object} Problem "unauthorized: not the password given with the address's last redemption"
//	@Failure     404 {object} Problem "verification_invalid: the token is unknown, used, replaced by a newer link or expired, or its invitation was revoked"
//	@Failure     409 {object} Problem "conflict: the verification collided with concurrent changes of the address; retry"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     429 {object} Problem "rate_limited: too many wrong passwords for this link from this client address"
//	@Failure     503 {object} Problem "unavailable: no password-hashing slot within ENROLLKIT_PASSWORD_WAIT; nothing was written, retry after Retry-After"
//	@Header      429,503 {integer} Retry-After "seconds to wait before trying again"
//	@ID          verifyRedemption
//	@Router      /api/v1/redemptions/verify [post]
func (s *Server) verifyRedemption(c *gin.Context) {
	var req VerifyRequest
	if !bindJSON(c, &req) {
		return
	}
	// A wrong password counts against the link as a failed sign-in
	// would against an account.
	s.guarded(c, s.verifyGuards(c, req.Token), func() error {
		r, err := s.Services.Redemptions.VerifyRedemption(c.Request.Context(), req.Token, req.Password)
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		writeJSON(c, http.StatusOK, redemptionResponse(r))
		return nil
	})
}

// RedemptionRecordResponse is one redemption in a manager's list.
type RedemptionRecordResponse struct {
	ID         string             `json:"id" format:"uuid"`
	UserID     string             `json:"user_id" format:"uuid"`
	Email      string             `json:"email"`
	FirstName  string             `json:"first_name"`
	LastName   string             `json:"last_name"`
	UserGroups []GroupRefResponse `json:"user_groups"`
	CreatedAt  string             `json:"created_at" format:"date-time"`
} // @name RedemptionRecord

func redemptionRecordResponse(r *lms.RedemptionRecord) RedemptionRecordResponse {
	return RedemptionRecordResponse{ID: r.ID, UserID: r.UserID, Email: r.Email, FirstName: r.FirstName,
		LastName: r.LastName, UserGroups: groupRefs(r.UserGroups), CreatedAt: stamp(r.CreatedAt)}
}

// RedemptionList is a page of redemptions.
type RedemptionList struct {
	Data       []RedemptionRecordResponse `json:"data"`
	NextCursor *string                    `json:"next_cursor" extensions:"x-nullable"`
} // @name RedemptionList

// maxCSVRows bounds one CSV export; an invitation has at most 100,000 seats.
const maxCSVRows = 100_000

// listRedemptions godoc
//
//	@Summary     Who redeemed the invitation, and when
//	@Description Full Managers only. The people who redeemed the invitation, with their account's names and the invitation's current user groups, oldest first by default; redemptions still pending email verification hold a seat but are not listed until verified. JSON pages by default, keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next"; a cursor works only with the sort it was made for. With Accept: text/csv, every redemption in one attachment (header row first_name, last_name, email, redeemed_at, user_groups, the groups joined by "; ", every cell quoted and guarded against spreadsheet formulas), in the sort's order; cursor is then ignored, and limit too, though it must still be a number from 1 to 200.
//	@Tags        invitations
//	@Produce     json,text/csv
//	@Param       id     path     string true  "invitation ID" format(uuid)
//	@Param       limit  query    int    false "page size (1-200, default 50); JSON only"
//	@Param       cursor query    string false "next_cursor of the previous page; JSON only"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at)
//	@Success     200    {object} RedemptionList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: only a full_manager reaches invitations, reads included"
//	@Failure     404 {object} Problem "not_found: no such invitation in the caller's organization"
//	@Security    BearerAuth
//	@ID          listRedemptions
//	@Router      /api/v1/invitations/{id}/redemptions [get]
func (s *Server) listRedemptions(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	if c.NegotiateFormat(gin.MIMEJSON, "text/csv") != "text/csv" {
		page, err := s.Services.Redemptions.FindRedemptions(c.Request.Context(), c.Param("id"), p)
		if err != nil {
			writeError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		writePage(c, page, redemptionRecordResponse)
		return
	}
	// CSV: walk every page first, so that an error is still a problem
	// document rather than a truncated file.
	p.Limit, p.Cursor = lms.MaxPageLimit, ""
	var all []*lms.RedemptionRecord
	for {
		page, err := s.Services.Redemptions.FindRedemptions(c.Request.Context(), c.Param("id"), p)
		if err != nil {
			writeError(c, err)
			return
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" || len(all) >= maxCSVRows {
			break
		}
		p.Cursor = page.NextCursor
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="redemptions-`+c.Param("id")+`.csv"`)
	c.Status(http.StatusOK)
	b := bufio.NewWriter(c.Writer)
	writeCSVRow(b, "first_name", "last_name", "email", "redeemed_at", "user_groups")
	for _, r := range all {
		names := make([]string, len(r.UserGroups))
		for i, g := range r.UserGroups {
			names[i] = g.Name
		}
		writeCSVRow(b, r.FirstName, r.LastName, r.Email, r.CreatedAt.UTC().Format(time.RFC3339), strings.Join(names, "; "))
	}
	b.Flush()
}

// writeCSVRow writes one RFC 4180 record of cells, each quoted and
// neutralised by csvCell.
func writeCSVRow(b *bufio.Writer, cells ...string) {
	for i, cell := range cells {
		if i > 0 {
			b.WriteByte(',')
		}
		csvCell(b, cell)
	}
	b.WriteString("\r\n")
}

// csvCell writes s as a quoted CSV field that no spreadsheet program reads
// as a formula (CSV injection). Every field is quoted, so a delimiter of
// another locale (a semicolon, a tab) inside it does not split it; and the
// cell, and each segment of it that follows a comma or a semicolon (and
// spaces), gets a leading apostrophe when it begins with =, +, -, @, a tab
// or a carriage return, so that "Bob;=1+1;x" stays text even where a
// program splits the cell on its semicolons after all.
func csvCell(b *bufio.Writer, s string) {
	b.WriteByte('"')
	segmentStart := true
	for _, r := range s {
		if segmentStart && strings.ContainsRune("=+-@\t\r", r) {
			b.WriteByte('\'')
		}
		segmentStart = r == ';' || r == ',' || (segmentStart && r == ' ')
		if r == '"' {
			b.WriteByte('"')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
}
