package api

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/ratelimit"
)

// maxAuthorizationHeader bounds the bearer header; a longer one is refused
// before any parsing.
const maxAuthorizationHeader = 4096

// authenticate requires a valid access token and puts the actor, as it is
// now in the database, into the request context.
func (s *Server) authenticate(c *gin.Context) {
	token, ok := bearerToken(c)
	if !ok {
		return
	}
	actor, err := s.Services.Auth.Authenticate(c.Request.Context(), token)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Request = c.Request.WithContext(lms.NewContextWithActor(c.Request.Context(), actor))
	c.Next()
}

// authenticateReads is authenticate for routes that only read and whose
// answers do not depend on the caller's role beyond requireRole's gate. On
// GET the caller's row is read in the same round trip as the handler's
// first query (lms.PendingCaller) instead of one of its own; settleFirst
// holds the answer back until the row has been judged, so a disabled user
// or a changed role is refused on the next request exactly as with
// authenticate. Other methods go through authenticate.
func (s *Server) authenticateReads(c *gin.Context) {
	if c.Request.Method != http.MethodGet {
		s.authenticate(c)
		return
	}
	token, ok := bearerToken(c)
	if !ok {
		return
	}
	ctx, err := s.Services.Auth.AuthenticateLater(c.Request.Context(), token)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Request = c.Request.WithContext(ctx)
	pending := lms.PendingCallerFromContext(ctx)
	if pending == nil { // an actor read at once (an integration client)
		c.Next()
		return
	}
	w := &settleFirst{ResponseWriter: c.Writer, c: c, header: maps.Clone(c.Writer.Header()), pending: pending}
	c.Writer = w
	c.Next()
	w.settle() // a handler that wrote nothing is judged too
	c.Writer = w.ResponseWriter
}

// bearerToken returns the request's bearer token, or answers 401 and
// reports false.
func bearerToken(c *gin.Context) (string, bool) {
	h := c.GetHeader("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		abortWith(c, lms.EUnauthorized, "send an access token as Authorization: Bearer <token>")
		return "", false
	}
	if len(h) > maxAuthorizationHeader {
		abortWith(c, lms.EUnauthorized, "the access token is invalid or expired")
		return "", false
	}
	return strings.TrimSpace(token), true
}

// routeRolesKey is where requireRole leaves the roles a route admits in the
// request's context, for settleFirst to judge the settled caller by.
type routeRolesKey struct{}

// routeRoles returns the roles requireRole admitted the request on, if it
// did.
func routeRoles(ctx context.Context) ([]lms.Role, bool) {
	roles, ok := ctx.Value(routeRolesKey{}).([]lms.Role)
	return roles, ok
}

// requireRole admits only actors holding one of roles. A pending caller
// (authenticateReads) is admitted on the role its token claims and judged
// again by its row before anything is answered; one whose token claims
// too little is settled first, since its row may say more.
func requireRole(roles ...lms.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		a := lms.ActorFromContext(ctx)
		if p := lms.PendingCallerFromContext(ctx); p != nil {
			a = p.Claimed()
			if _, settled := p.Settled(); settled || !hasRole(a, roles) {
				settled, err := p.Settle(ctx)
				if err != nil {
					writeError(c, err)
					return
				}
				a = settled
				c.Request = c.Request.WithContext(lms.NewContextWithActor(ctx, a))
			}
		}
		if !hasRole(a, roles) {
			writeError(c, errInsufficientRole(roles))
			return
		}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), routeRolesKey{}, roles))
		c.Next()
	}
}

func hasRole(a *lms.Actor, roles []lms.Role) bool {
	return a != nil && slices.Contains(roles, a.Role)
}

// errInsufficientRole is the refusal of an actor whose role is not among
// roles.
func errInsufficientRole(roles []lms.Role) error {
	return lms.Errorf(lms.EInsufficientRole, "this requires the role %s", roleList(roles))
}

func roleList(roles []lms.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// LoginRequest signs a person in.
type LoginRequest struct {
	Email    string `json:"email" example:"manager@example.com"`
	Password string `json:"password" example:"correct horse battery staple"`
	// Needed only when the email has accounts in several organizations.
	OrganizationID string `json:"organization_id,omitempty" format:"uuid"`
} // @name LoginRequest

// RefreshRequest carries a refresh token to rotate or revoke.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
} // @name RefreshRequest

// TokenResponse is a successful sign-in.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type" example:"Bearer"`
	// Lifetime of the access token in seconds.
	ExpiresIn    int    `json:"expires_in" example:"900"`
	RefreshToken string `json:"refresh_token,omitempty"`
} // @name TokenResponse

func tokenResponse(p *lms.TokenPair) TokenResponse {
	return TokenResponse{AccessToken: p.AccessToken, TokenType: "Bearer",
		ExpiresIn: int(p.ExpiresIn / time.Second), RefreshToken: p.RefreshToken}
}

// guard is one throttle key of an attempt and the failures it counts.
type guard struct {
	rule   ratelimit.Rule
	key    string
	counts func(err error) bool
	// slows marks a guard that delays an attempt instead of refusing it
	// once its key is spent: the account-wide one, which anyone anywhere
	// can spend, so a hard block there would lock the owner out.
	slows bool
}

// maxSlowdown caps the delay a spent slowing guard adds to an attempt.
const maxSlowdown = 5 * time.Second

// accountGuards are the failed-credential guards of one account: a limit
// per account and client address (an IPv6 client by its /64), so that
// failures from one place block that place only and the owner from their
// usual address still signs in, and a looser account-wide budget which,
// once spent, slows every attempt on the account down instead of refusing
// it.
func (s *Server) accountGuards(c *gin.Context, account string) []guard {
	failed := isCode(lms.EUnauthorized)
	return []guard{{rule: s.Rules.LoginAccount, key: account + "|" + clientKey(c), counts: failed},
		{rule: s.Rules.LoginAccountAny, key: account, counts: failed, slows: true}}
}

// clientKey is the per-client throttle key of c's caller: its address,
// an IPv6 one as its /64 (see ratelimit.ClientKey).
func clientKey(c *gin.Context) string { return ratelimit.ClientKey(c.ClientIP()) }

// isCode returns a predicate matching errors of the given codes.
func isCode(codes ...string) func(error) bool {
	return func(err error) bool { return slices.Contains(codes, lms.ErrorCode(err)) }
}

// throttleUnavailable logs a throttle that could not be asked; the caller
// fails open.
func (s *Server) throttleUnavailable(c *gin.Context, r ratelimit.Rule, err error) {
	s.log.Warn("throttle unavailable", "rule", r.Name, "error", err.Error(), "request_id", requestID(c))
}

// guarded runs one attempt under its guards. Each guard reserves the
// attempt as a failure before it runs, atomically with the check, so a
// burst of concurrent attempts cannot slip past a limit; the reservation is
// given back when the attempt did not fail in a way that guard counts, so
// successes are never punished. While any guard is blocked the attempt is
// refused with 429, and so is an attempt that fails with *rateLimited (a
// throttle the attempt itself asked, see judgePasscode). If the shared
// limiter is unreachable the guard fails open, logged: a Redis outage must
// not lock every user out.
func (s *Server) guarded(c *gin.Context, guards []guard, attempt func() error) {
	s.guardedWith(c, guards, attempt, writeError)
}

// guardedWith is guarded with its own error writer.
func (s *Server) guardedWith(c *gin.Context, guards []guard, attempt func() error, write func(*gin.Context, error)) {
	ctx := c.Request.Context()
	j := s.judgeAttempt(c, guards)
	if j.wait > 0 {
		j.release(func(guard) bool { return false })
		write(c, errTooMany(j.wait))
		return
	}
	if j.slow > 0 {
		t := time.NewTimer(j.slow)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			j.release(func(guard) bool { return false })
			return
		}
	}
	err := attempt()
	j.release(func(g guard) bool { return err != nil && g.counts(err) })
	j.failSlowing(err)
	var limited *rateLimited
	var done answered
	switch {
	case errors.As(err, &limited):
		write(c, errTooMany(limited.retryAfter))
	case errors.As(err, &done):
	case err != nil:
		write(c, err)
	}
}

// judged is where an attempt stands with its guards before it runs: the
// reservations it holds, the slowing guards to tell of a failure, and how
// long it must wait (refused) or be slowed down.
type judged struct {
	s         *Server
	c         *gin.Context
	held      []guard
	decisions []ratelimit.Decision // of held, in order
	slowing   []guard
	wait      time.Duration
	slow      time.Duration
}

// judgeAttempt reserves the attempt under each refusing guard and checks
// each slowing one, reporting the refusing guards' limits on the answer.
func (s *Server) judgeAttempt(c *gin.Context, guards []guard) *judged {
	ctx := c.Request.Context()
	j := &judged{s: s, c: c}
	for _, g := range guards {
		if g.slows {
			j.slowing = append(j.slowing, g)
			d, err := s.Throttle.Check(ctx, g.rule, g.key)
			if err != nil {
				s.throttleUnavailable(c, g.rule, err)
			} else if !d.Allowed {
				j.slow = max(j.slow, min(d.RetryAfter, maxSlowdown))
			}
			continue
		}
		d, err := s.Throttle.Reserve(ctx, g.rule, g.key)
		if err != nil {
			s.throttleUnavailable(c, g.rule, err)
			continue
		}
		reportLimit(c, g.rule, d)
		if !d.Allowed {
			j.wait = max(j.wait, d.RetryAfter)
			continue
		}
		j.held, j.decisions = append(j.held, g), append(j.decisions, d)
	}
	return j
}

// release gives back every reservation keep does not keep.
func (j *judged) release(keep func(guard) bool) {
	for i, g := range j.held {
		if keep(g) {
			continue
		}
		if err := j.s.Throttle.Refund(context.WithoutCancel(j.c.Request.Context()), g.rule, g.key); err != nil {
			j.s.throttleUnavailable(j.c, g.rule, err)
			continue
		}
		reportLimit(j.c, g.rule, refunded(j.decisions[i], g.rule)) // too late for an answer already written
	}
}

// failSlowing counts the attempt's failure err against each slowing guard
// that counts it.
func (j *judged) failSlowing(err error) {
	if err == nil {
		return
	}
	for _, g := range j.slowing {
		if !g.counts(err) {
			continue
		}
		if _, ferr := j.s.Throttle.Fail(context.WithoutCancel(j.c.Request.Context()), g.rule, g.key); ferr != nil {
			j.s.throttleUnavailable(j.c, g.rule, ferr)
		}
	}
}

// answered is the failure of an attempt that wrote its own answer: the
// guards count err, and nothing more is written.
type answered struct{ err error }

func (a answered) Error() string { return a.err.Error() }
func (a answered) Unwrap() error { return a.err }

// credentialAttempt signs in under the guards and answers the tokens.
func (s *Server) credentialAttempt(c *gin.Context, guards []guard, signIn func() (*lms.TokenPair, error)) {
	s.credentialAttemptWith(c, guards, signIn, writeError)
}

func (s *Server) credentialAttemptWith(c *gin.Context, guards []guard, signIn func() (*lms.TokenPair, error), write func(*gin.Context, error)) {
	s.guardedWith(c, guards, func() error {
		pair, err := signIn()
		if err != nil {
			return err
		}
		c.Header("Cache-Control", "no-store")
		writeJSON(c, http.StatusOK, tokenResponse(pair))
		return nil
	}, write)
}

// writeOAuthError answers a token request's failure as a problem document
// that also carries the RFC 6749 section 5.2 error code.
func writeOAuthError(c *gin.Context, err error) {
	p := problemFor(c, err)
	switch p.Status {
	case http.StatusUnauthorized:
		p.Error = oauthInvalidClient
		c.Header("WWW-Authenticate", `Basic realm="enrollkit"`)
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusUnsupportedMediaType:
		p.Error = oauthInvalidRequest
	}
	writeProblem(c, p)
}

// login godoc
//
//	@Summary     Sign in with email and password
//	@Description Failed attempts are throttled per client IP (an IPv6 client by its /64) and per account and client address (429 with Retry-After), so failures from elsewhere never lock the owner out; past an account-wide budget (ENROLLKIT_LOGIN_ACCOUNT_ANY_LIMIT) every attempt on the account is slowed down by up to 5 s instead. Every failure answers the same 401. 503 unavailable with Retry-After when every password-hashing slot stayed busy for ENROLLKIT_PASSWORD_WAIT (a burst beyond what the cores can hash).
//	@Tags        auth
//	@Accept      json
//	@Produce     json
//	@Param       body body     LoginRequest true "credentials"
//	@Success     200  {object} TokenResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field, or an email with control characters"
//	@Failure     401 {object} Problem "invalid credentials: an unknown email, a wrong password, a disabled account or one without a password, one answer for all"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     429 {object} Problem "rate_limited: too many failed sign-ins from this client address, or for this account from this address"
//	@Failure     503 {object} Problem "unavailable: no password-hashing slot within ENROLLKIT_PASSWORD_WAIT; retry after Retry-After"
//	@Header      429,503 {integer} Retry-After "seconds to wait before trying again"
//	@ID          login
//	@Router      /api/v1/auth/login [post]
func (s *Server) login(c *gin.Context) {
	var req LoginRequest
	if !bindJSON(c, &req) {
		return
	}
	guards := append([]guard{{rule: s.Rules.LoginIP, key: clientKey(c), counts: isCode(lms.EUnauthorized)}},
		s.accountGuards(c, lms.NormalizeEmail(req.Email))...)
	s.credentialAttempt(c, guards, func() (*lms.TokenPair, error) {
		return s.Services.Auth.Login(c.Request.Context(), req.Email, req.Password, req.OrganizationID)
	})
}

// refresh godoc
//
//	@Summary     Rotate a refresh token
//	@Description Anyone holding a refresh token may call it (no access token needed). Returns a new access token and a new refresh token; the old one is spent. Presenting a spent token again revokes every token of its family, so the session ends for whoever holds it. Failures count against the client address's sign-in limit (ENROLLKIT_LOGIN_IP_LIMIT), like failed sign-ins.
//	@Tags        auth
//	@Accept      json
//	@Produce     json
//	@Param       body body     RefreshRequest true "the refresh token"
//	@Success     200  {object} TokenResponse
//	@Failure     400 {object} Problem "malformed JSON or an unknown field"
//	@Failure     401 {object} Problem "invalid credentials: the refresh token is unknown, spent, revoked or expired, or its user is disabled"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     429 {object} Problem "rate_limited: too many failed attempts from this client address"
//	@Header      429 {integer} Retry-After "seconds to wait before trying again"
//	@ID          refreshTokens
//	@Router      /api/v1/auth/refresh [post]
func (s *Server) refresh(c *gin.Context) {
	var req RefreshRequest
	if !bindJSON(c, &req) {
		return
	}
	guards := []guard{{rule: s.Rules.LoginIP, key: clientKey(c), counts: isCode(lms.EUnauthorized)}}
	s.credentialAttempt(c, guards, func() (*lms.TokenPair, error) {
		return s.Services.Auth.Refresh(c.Request.Context(), req.RefreshToken)
	})
}

// logout godoc
//
//	@Summary     Revoke a refresh token and its family
//	@Description Anyone holding a refresh token may call it (no access token needed). Revokes the token and every token rotated from it, and ends every access token of its user at once, on the user's other sessions too (their refresh tokens still work and give new access tokens). Idempotent: an unknown, spent, revoked or empty token is answered 204 as well.
//	@Tags        auth
//	@Accept      json
//	@Produce     json
//	@Param       body body RefreshRequest true "the refresh token"
//	@Success     204
//	@Failure     400 {object} Problem "malformed JSON or an unknown field"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@ID          logout
//	@Router  /api/v1/auth/logout [post]
func (s *Server) logout(c *gin.Context) {
	var req RefreshRequest
	if !bindJSON(c, &req) {
		return
	}
	if err := s.Services.Auth.Logout(c.Request.Context(), req.RefreshToken); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ClientCredentialsRequest is an RFC 6749 section 4.4 token request.
type ClientCredentialsRequest struct {
	GrantType    string `json:"grant_type" form:"grant_type" example:"client_credentials"`
	ClientID     string `json:"client_id,omitempty" form:"client_id" format:"uuid"`
	ClientSecret string `json:"client_secret,omitempty" form:"client_secret"`
	// Accepted (at most 1000 characters) and ignored: a client's token
	// always carries its role.
	Scope string `json:"scope,omitempty" form:"scope"`
} // @name ClientCredentialsRequest

// oauthToken godoc
//
//	@Summary     Client credentials token for integration clients
//	@Description RFC 6749 section 4.4, for integration clients. Send grant_type=client_credentials as a form (application/x-www-form-urlencoded) or as JSON (any other Content-Type is read as JSON), with client_id and client_secret in the body or as HTTP Basic credentials, which win; scope is ignored. The access token carries the role the client was created with; no refresh token is issued, so ask again when it expires. Failed attempts are throttled like sign-ins (per client address, and per client and address); the 400 and 401 problem documents here also carry RFC 6749's error.
//	@Tags        auth
//	@Accept      json,x-www-form-urlencoded
//	@Produce     json
//	@Param       body body     ClientCredentialsRequest true "the client's credentials"
//	@Success     200  {object} TokenResponse
//	@Failure     400 {object} Problem "invalid_request (malformed JSON or form, an unknown JSON field) or unsupported_grant_type (grant_type is not client_credentials)"
//	@Failure     401 {object} Problem "invalid_client: unknown client_id or wrong client_secret; WWW-Authenticate: Basic"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     429 {object} Problem "rate_limited: too many failed attempts from this client address, or for this client from this address"
//	@Header      429 {integer} Retry-After "seconds to wait before trying again"
//	@ID          issueClientToken
//	@Router      /api/v1/oauth/token [post]
func (s *Server) oauthToken(c *gin.Context) {
	var req ClientCredentialsRequest
	if strings.HasPrefix(c.ContentType(), "application/x-www-form-urlencoded") {
		if err := c.Request.ParseForm(); err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				writeOAuthError(c, lms.Errorf(lms.ETooLarge, "the body is larger than %d bytes", maxErr.Limit))
				return
			}
			writeOAuthError(c, lms.Errorf(lms.EBadRequest, "the form could not be read"))
			return
		}
		req.GrantType, req.ClientID, req.ClientSecret = c.PostForm("grant_type"), c.PostForm("client_id"), c.PostForm("client_secret")
		req.Scope = c.PostForm("scope")
	} else if err := decodeJSON(c.Request.Body, &req); err != nil {
		writeOAuthError(c, err)
		return
	}
	if id, secret, ok := c.Request.BasicAuth(); ok {
		// RFC 6749 section 2.3.1: both are form-encoded before Basic.
		req.ClientID, req.ClientSecret = formDecode(id), formDecode(secret)
	}
	if utf8.RuneCountInString(req.Scope) > lms.MaxScopeLen {
		p := problemFor(c, lms.Errorf(lms.EBadRequest, "scope must be at most %d characters", lms.MaxScopeLen))
		p.Error = oauthInvalidScope
		writeProblem(c, p)
		return
	}
	if req.GrantType != "client_credentials" {
		p := problemFor(c, lms.Errorf(lms.EBadRequest, "grant_type must be client_credentials"))
		p.Error = oauthUnsupportedGrantType
		writeProblem(c, p)
		return
	}
	guards := append([]guard{{rule: s.Rules.LoginIP, key: clientKey(c), counts: isCode(lms.EUnauthorized)}},
		s.accountGuards(c, "client:"+req.ClientID)...)
	s.credentialAttemptWith(c, guards, func() (*lms.TokenPair, error) {
		return s.Services.Auth.ClientCredentials(c.Request.Context(), req.ClientID, req.ClientSecret)
	}, writeOAuthError)
}

func formDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// MeResponse is the caller: a user, or an integration client (kind
// "client", without email or names).
type MeResponse struct {
	ID                  string `json:"id" format:"uuid"`
	Kind                string `json:"kind" enums:"user,client"`
	Email               string `json:"email,omitempty"`
	FirstName           string `json:"first_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	Role                string `json:"role" enums:"full_manager,limited_manager,learner"`
	OrganizationID      string `json:"organization_id" format:"uuid"`
	OrganizationGroupID string `json:"organization_group_id,omitempty" format:"uuid"`
} // @name Me

// me godoc
//
//	@Summary     Who am I
//	@Description Any valid access token: a person of any role, or an integration client. Answers the caller as stored now (a role changed since the token was issued ends the token, 401); kind tells a person (user, with email and names) from an integration client (client, with neither and no organization_group_id).
//	@Tags        auth
//	@Produce     json
//	@Success     200 {object} MeResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Security    BearerAuth
//	@ID          getMe
//	@Router  /api/v1/me [get]
func (s *Server) me(c *gin.Context) {
	a := lms.ActorFromContext(c.Request.Context())
	if a.Kind == lms.ActorClient {
		writeJSON(c, http.StatusOK, MeResponse{ID: a.ID, Kind: string(a.Kind), Role: string(a.Role), OrganizationID: a.OrganizationID})
		return
	}
	u, err := s.Services.Auth.Me(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, MeResponse{ID: u.ID, Kind: string(lms.ActorUser), Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Role: string(u.Role), OrganizationID: u.OrganizationID, OrganizationGroupID: u.OrganizationGroupID})
}
