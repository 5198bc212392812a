package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Length limits of a password in runes, following NIST SP 800-63B: at least 8 characters,
// and a generous maximum that still stops someone from making the server
// hash megabytes per request.
const (
	MinPasswordRunes = 8
	MaxPasswordRunes = 128
)

// ErrPasswordTooShort is returned by CheckPassword for passwords under 8
// characters, which fall to offline guessing too quickly.
var ErrPasswordTooShort = errors.New("password must be at least 8 characters")

// ErrPasswordTooLong is returned by CheckPassword for passwords over 128
// characters; the cap bounds the work an attacker can force per request.
var ErrPasswordTooLong = errors.New("password must be at most 128 characters")

// ErrPasswordCommon is returned by CheckPassword for passwords on the
// common-password blocklist, which are the first ones any attacker tries.
var ErrPasswordCommon = errors.New("password is too common")

// ErrPasswordMatchesEmail is returned by CheckPassword when the password is
// the account's email address or its local part. It wraps ErrPasswordCommon,
// because such a password is as guessable as a blocklisted one, so callers
// that only check errors.Is(err, ErrPasswordCommon) still handle it.
var ErrPasswordMatchesEmail = fmt.Errorf("%w: it must not be your email address", ErrPasswordCommon)

// commonPasswordsText is the blocklist source: one lower-case password per
// line, blank lines and lines starting with # ignored.
//
//go:embed common-passwords.txt
var commonPasswordsText string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// commonPasswords parses the embedded blocklist on first use, so programs
// that never check a password do not pay for the map.
func commonPasswords() map[string]struct{} {
	commonOnce.Do(func() {
		common = make(map[string]struct{})
		for line := range strings.Lines(commonPasswordsText) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			common[strings.ToLower(line)] = struct{}{}
		}
	})
	return common
}

// PasswordRules states the password policy for the people choosing one.
func PasswordRules() string {
	return fmt.Sprintf("At least %d characters (a few words make a good one), at most %d; not a common password, and not your email address.",
		MinPasswordRunes, MaxPasswordRunes)
}

// CheckPassword applies the password policy for sign-up and password change
// and returns nil if password is acceptable for the account with the given
// email. It does not impose composition rules (digits, symbols), which NIST
// SP 800-63B advises against; instead it refuses passwords that are short,
// absurdly long, on a list of common passwords, or equal to the email
// address or its local part (all compared case-insensitively).
func CheckPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordRunes {
		return ErrPasswordTooShort
	}
	if n > MaxPasswordRunes {
		return ErrPasswordTooLong
	}
	if _, ok := commonPasswords()[strings.ToLower(password)]; ok {
		return ErrPasswordCommon
	}
	email = strings.TrimSpace(email)
	if email != "" && strings.EqualFold(password, email) {
		return ErrPasswordMatchesEmail
	}
	if at := strings.LastIndexByte(email, '@'); at > 0 && strings.EqualFold(password, email[:at]) {
		return ErrPasswordMatchesEmail
	}
	return nil
}
