package lms

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Error codes are stable machine strings: clients branch on them and the API
// maps each to one HTTP status in a single table.
const (
	EBadRequest       = "bad_request"
	EInvalid          = "validation_failed"
	EUnauthorized     = "unauthorized"
	EForbidden        = "forbidden"
	EInsufficientRole = "insufficient_role"
	ENotFound         = "not_found"
	EConflict         = "conflict"
	ETooLarge         = "payload_too_large"
	ERateLimited      = "rate_limited"
	EInternal         = "internal"
	EPasscodeInvalid  = "passcode_invalid"
	EPasscodeWeak     = "passcode_weak"
	EInvitationFull   = "invitation_full"
	EUnavailable      = "unavailable"
	// EVerificationInvalid: an email verification link that is unknown,
	// used or expired.
	EVerificationInvalid = "verification_invalid"
)

// FieldError names one invalid input field and why it is invalid.
type FieldError struct {
	Field   string
	Message string
}

// Error is the one error type of the domain. Message is safe to show to
// clients; anything that is not an *Error is treated as internal and never
// shown.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, for rate_limited, is how long to wait before trying
	// again; the API sends it as Retry-After.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("enrollkit error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EInternal for anything else.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Validation collects field errors so that a request is judged as a whole
// and the client learns every problem at once.
type Validation struct {
	fields []FieldError
}

// Add records a problem with one field.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldError{Field: field, Message: message})
}

// Check records message for field when ok is false.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.Add(field, message)
	}
}

// Name checks a required display name: ValidText on one line, not blank,
// at most max characters.
func (v *Validation) Name(field, s string, max int) {
	switch {
	case !ValidText(s, false):
		v.Add(field, TextRule)
	case !ValidName(s, max):
		v.Add(field, "must be 1 to "+strconv.Itoa(max)+" characters")
	}
}

// Text checks an optional text of at most max characters: ValidText, on
// one line unless multiline.
func (v *Validation) Text(field, s string, max int, multiline bool) {
	switch {
	case !ValidText(s, multiline):
		v.Add(field, TextRule)
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "must be at most "+strconv.Itoa(max)+" characters")
	}
}

// Err returns a validation_failed *Error listing every problem, or nil.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EInvalid, Message: invalidMessage, Fields: v.fields}
}

// invalidMessage is the message of every validation_failed error; its
// fields say what is wrong.
const invalidMessage = "the request has invalid fields"

// Invalid returns a validation_failed error about one field.
func Invalid(field, message string) error {
	return &Error{Code: EInvalid, Message: invalidMessage, Fields: []FieldError{{Field: field, Message: message}}}
}

// PasswordRule judges a new password for the account of email, returning
// what is wrong with it (shown to the person who chose it) or nil. The
// policy lives beside the password hashing, outside the domain.
type PasswordRule func(password, email string) error

// Password records what rule finds wrong with a new password.
func (v *Validation) Password(field, password, email string, rule PasswordRule) {
	if err := rule(password, email); err != nil {
		v.Add(field, err.Error())
	}
}
