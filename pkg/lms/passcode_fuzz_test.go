package lms

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// passcodeSeparators are what NormalizePasscode drops between the parts of
// a passcode as people type it, one of each kind it names.
var passcodeSeparators = []string{" ", "-", "\u2010", "\u2013", "\t", "\u00a0", "\u3000", " - "}

// FuzzNormalizePasscode holds the form passcodes are matched in to what
// its documentation promises: normalizing twice changes nothing, the form
// has no white space or dash left, and separators typed between two parts
// are ignored wherever they fall.
func FuzzNormalizePasscode(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string, sep uint8) {
		n := NormalizePasscode(a)
		if again := NormalizePasscode(n); again != n {
			t.Fatalf("NormalizePasscode(%q) = %q, but normalizing that gives %q", a, n, again)
		}
		if i := strings.IndexFunc(n, func(r rune) bool { return unicode.IsSpace(r) || r == '-' || r == '‐' || r == '–' }); i >= 0 {
			t.Fatalf("NormalizePasscode(%q) = %q keeps a separator at byte %d", a, n, i)
		}
		if utf8.RuneCountInString(n) > utf8.RuneCountInString(a) {
			t.Fatalf("NormalizePasscode(%q) = %q has more characters than its input", a, n)
		}
		typed := a + passcodeSeparators[int(sep)%len(passcodeSeparators)] + b
		if got, want := NormalizePasscode(typed), n+NormalizePasscode(b); got != want {
			t.Fatalf("NormalizePasscode(%q) = %q, want %q: the separator was not ignored", typed, got, want)
		}
	})
}

// FuzzCheckPasscode judges any passcode against any invitation and
// organization names. The answer is nil, validation_failed or passcode_weak
// about the passcode field; a passcode it accepts could be a passcode at
// redemption (CouldBePasscode), normalizes to 6 to 64 characters, is
// accepted in its normalized form too, and stays accepted when the names
// are left out, since a name can only make a passcode weaker.
func FuzzCheckPasscode(f *testing.F) {
	f.Fuzz(func(t *testing.T, passcode, invitation, organization string) {
		err := CheckPasscode(passcode, invitation, organization)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != EInvalid && e.Code != EPasscodeWeak) {
				t.Fatalf("CheckPasscode(%q) = %v, want nil, %s or %s", passcode, err, EInvalid, EPasscodeWeak)
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != "passcode" || e.Fields[0].Message == "" {
				t.Fatalf("CheckPasscode(%q) = %+v, want one message about the passcode field", passcode, e)
			}
			return
		}
		n := NormalizePasscode(passcode)
		if l := utf8.RuneCountInString(n); n == "" || l < MinPasscodeLen || l > MaxPasscodeLen {
			t.Fatalf("CheckPasscode accepts %q, which normalizes to %q (%d characters)", passcode, n, l)
		}
		if !CouldBePasscode(passcode) {
			t.Fatalf("CheckPasscode accepts %q, which a redemption would refuse unread (CouldBePasscode)", passcode)
		}
		if err := CheckPasscode(n, invitation, organization); err != nil {
			t.Fatalf("CheckPasscode accepts %q but not its normalized form %q: %v", passcode, n, err)
		}
		if err := CheckPasscode(passcode); err != nil {
			t.Fatalf("CheckPasscode accepts %q with the names %q and %q but not without them: %v",
				passcode, invitation, organization, err)
		}
	})
}

// FuzzGeneratedPasscodeForm builds a passcode of the form GeneratePasscode
// returns from any bytes. Whatever its letters, that form could be a
// passcode, is valid text, normalizes to its eight letters however it is
// typed back (lower case, spaces), and CheckPasscode finds it at most weak,
// never of the wrong length. Each input also checks one real
// GeneratePasscode against the form.
func FuzzGeneratedPasscodeForm(f *testing.F) {
	f.Fuzz(func(t *testing.T, letters []byte) {
		var b strings.Builder
		for i := range 8 {
			if i == 4 {
				b.WriteByte('-')
			}
			c := byte(0)
			if i < len(letters) {
				c = letters[i]
			}
			b.WriteByte(passcodeAlphabet[int(c)%len(passcodeAlphabet)])
		}
		p := b.String()
		want := strings.ReplaceAll(p, "-", "")
		if !CouldBePasscode(p) || !ValidText(p, false) {
			t.Fatalf("%q, of the generated form, could not be a passcode", p)
		}
		for _, typed := range []string{p, strings.ToLower(p), " " + p[:4] + " " + p[5:] + " ", strings.ToLower(want)} {
			if got := NormalizePasscode(typed); got != want {
				t.Fatalf("NormalizePasscode(%q) = %q, want %q", typed, got, want)
			}
		}
		if err := CheckPasscode(p); err != nil && ErrorCode(err) != EPasscodeWeak {
			t.Fatalf("CheckPasscode(%q) = %v, want nil or %s", p, err, EPasscodeWeak)
		}
		g, err := GeneratePasscode()
		if err != nil {
			t.Fatal(err)
		}
		if len(g) != len(p) || g[4] != '-' || strings.Trim(g[:4]+g[5:], passcodeAlphabet) != "" {
			t.Fatalf("GeneratePasscode() = %q, not of the form XXXX-XXXX from %s", g, passcodeAlphabet)
		}
	})
}
