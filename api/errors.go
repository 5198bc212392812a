package api

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// Problem is an RFC 9457 problem document, the body of every error.
type Problem struct {
	Type     string         `json:"type" example:"https://enrollkit.dev/problems/validation_failed"`
	Title    string         `json:"title" example:"Validation failed"`
	Status   int            `json:"status" example:"422"`
	Detail   string         `json:"detail" example:"the request has invalid fields"`
	Instance string         `json:"instance,omitempty" example:"urn:request:0192f0c4-8a4e-7cc1-b9a0-3b3c5d0e1f21"`
	Code     string         `json:"code" example:"validation_failed"`
	Errors   []FieldProblem `json:"errors,omitempty"`
	// The RFC 6749 error code, on /api/v1/oauth/token only, for OAuth
	// client libraries.
	Error string `json:"error,omitempty" example:"invalid_client"`
} // @name Problem

// FieldProblem names one invalid field of a request.
type FieldProblem struct {
	Field   string `json:"field" example:"email"`
	Message string `json:"message" example:"must be an email address"`
} // @name FieldProblem

// problemKind is one row of the table that maps error codes to HTTP.
type problemKind struct {
	status int
	title  string
}

// problemKinds is the one table from domain error codes to HTTP statuses.
var problemKinds = map[string]problemKind{
	lms.EBadRequest:           {http.StatusBadRequest, "Bad request"},
	lms.EInvalid:              {http.StatusUnprocessableEntity, "Validation failed"},
	lms.EPasscodeWeak:         {http.StatusUnprocessableEntity, "Passcode too weak"},
	lms.EUnauthorized:         {http.StatusUnauthorized, "Unauthorized"},
	lms.EForbidden:            {http.StatusForbidden, "Forbidden"},
	lms.EInsufficientRole:     {http.StatusForbidden, "Insufficient role"},
	lms.ENotFound:             {http.StatusNotFound, "Not found"},
	lms.EPasscodeInvalid:      {http.StatusNotFound, "Passcode invalid"},
	lms.EConflict:             {http.StatusConflict, "Conflict"},
	lms.EInvitationFull:       {http.StatusConflict, "Invitation full"},
	lms.ETooLarge:             {http.StatusRequestEntityTooLarge, "Payload too large"},
	lms.ERateLimited:          {http.StatusTooManyRequests, "Too many requests"},
	lms.EInternal:             {http.StatusInternalServerError, "Internal server error"},
	lms.EUnavailable:          {http.StatusServiceUnavailable, "Service unavailable"},
	lms.EVerificationInvalid:  {http.StatusNotFound, "Verification link invalid"},
	"method_not_allowed":      {http.StatusMethodNotAllowed, "Method not allowed"},
	"unsupported_media":       {http.StatusUnsupportedMediaType, "Unsupported media type"},
	"not_acceptable":          {http.StatusNotAcceptable, "Not acceptable"},
	codeIdempotencyReused:     {http.StatusUnprocessableEntity, "Idempotency key reused"},
	codeIdempotencyInProgress: {http.StatusConflict, "Request in progress"},
}

// ProblemCodes are the codes a problem document may carry, sorted: the
// document's enum of Problem.code.
func ProblemCodes() []string { return slices.Sorted(maps.Keys(problemKinds)) }

// ProblemKind returns the status and title of a problem code, for the
// document's examples.
func ProblemKind(code string) (status int, title string) {
	k := problemKinds[code]
	return k.status, k.title
}

// The RFC 6749 section 5.2 error codes the token endpoint also sends, in
// Problem.error, for OAuth client libraries.
const (
	oauthInvalidClient        = "invalid_client"
	oauthInvalidRequest       = "invalid_request"
	oauthInvalidScope         = "invalid_scope"
	oauthUnsupportedGrantType = "unsupported_grant_type"
)

// OAuthErrors are those codes, sorted: the document's enum of Problem.error.
func OAuthErrors() []string {
	return []string{oauthInvalidClient, oauthInvalidRequest, oauthInvalidScope, oauthUnsupportedGrantType}
}

// problemType returns the type URI of a code. The URIs name the codes; they
// are identifiers and need not resolve.
func problemType(code string) string { return "https://enrollkit.dev/problems/" + code }

// writeError answers err as a problem document. Anything that is not an
// lms.Error is logged with the request ID and answered as a bare 500, so no
// SQL or internal detail ever reaches a client.
func writeError(c *gin.Context, err error) {
	writeProblem(c, problemFor(c, err))
}

// problemFor builds the problem document of err.
func problemFor(c *gin.Context, err error) Problem {
	code := lms.ErrorCode(err)
	kind, ok := problemKinds[code]
	if !ok {
		code, kind = lms.EInternal, problemKinds[lms.EInternal]
	}
	p := Problem{Type: problemType(code), Title: kind.title, Status: kind.status, Code: code,
		Detail: lms.ErrorMessage(err), Instance: "urn:request:" + requestID(c)}
	if code == lms.EInternal && transient(err) {
		code, kind = lms.EUnavailable, problemKinds[lms.EUnavailable]
		p.Type, p.Title, p.Status, p.Code = problemType(code), kind.title, kind.status, code
		p.Detail = "the database did not answer in time; retry in a moment"
		slog.WarnContext(c.Request.Context(), "request not served: database unavailable", "request_id", requestID(c),
			"route", c.FullPath(), "error", err.Error())
	} else if code == lms.EInternal {
		p.Detail = "an unexpected error occurred; quote the instance when reporting it"
		if !errors.Is(err, errPanic) {
			slog.ErrorContext(c.Request.Context(), "request failed", "request_id", requestID(c),
				"route", c.FullPath(), "error", err.Error())
		}
	}
	var e *lms.Error
	if errors.As(err, &e) {
		for _, f := range e.Fields {
			p.Errors = append(p.Errors, FieldProblem(f))
		}
	}
	switch kind.status {
	case http.StatusTooManyRequests:
		if e != nil && e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="enrollkit"`)
	case http.StatusServiceUnavailable:
		// Overload clears as fast as queued hashes finish: a second.
		c.Header("Retry-After", "1")
	}
	return p
}

func writeProblem(c *gin.Context, p Problem) {
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p)
}

// abortWith answers with a problem of the given code and message.
func abortWith(c *gin.Context, code, format string, args ...any) {
	writeError(c, lms.Errorf(code, format, args...))
}

// errTooMany is a throttle's refusal: rate_limited, with the whole seconds
// to wait, which the writers send as Retry-After.
func errTooMany(retryAfter time.Duration) *lms.Error {
	secs := max(int(retryAfter.Round(time.Second)/time.Second), 1)
	return &lms.Error{Code: lms.ERateLimited, RetryAfter: time.Duration(secs) * time.Second,
		Message: fmt.Sprintf("too many attempts; retry in %d seconds", secs)}
}

var errPanic = errors.New("panic")

// transient reports whether err is the database (or the way to it) failing
// for now, not the request or the code: a refused, lost or timed-out
// connection, a full pool, the request's deadline, a statement or lock
// timeout, a server shutting down or out of connections, a serialization
// failure or deadlock, SQLite's busy timeout. Those are answered 503 with
// Retry-After and logged at WARN, never 500. The drivers are recognized by
// the interfaces their errors implement, so this package imports none.
func transient(err error) bool {
	var netErr net.Error
	var state interface{ SQLState() string }
	var sqliteErr interface{ Code() int }
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.As(err, &state):
		return transientSQLState(state.SQLState())
	case errors.As(err, &sqliteErr):
		// SQLITE_BUSY and SQLITE_LOCKED, in their extended forms too.
		return sqliteErr.Code()&0xff == 5 || sqliteErr.Code()&0xff == 6
	}
	return false
}

// transientSQLState reports whether a PostgreSQL SQLSTATE says "retry":
// connection exceptions (08), insufficient resources (53), operator
// intervention (57: cancelled by statement_timeout, shutting down, not yet
// accepting connections), lock_timeout (55P03), serialization failure
// (40001) and deadlock (40P01).
func transientSQLState(s string) bool {
	switch {
	case strings.HasPrefix(s, "08"), strings.HasPrefix(s, "53"), strings.HasPrefix(s, "57"):
		return true
	}
	return s == "55P03" || s == "40001" || s == "40P01"
}
