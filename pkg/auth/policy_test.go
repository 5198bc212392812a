package auth

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, password, email string
		want                  error
	}{
		{"ok", "violet staple orbit", "ada@example.com", nil},
		{"ok without email", "violet staple orbit", "", nil},
		{"exactly 8", "vX9#qLm2", "ada@example.com", nil},
		{"7 runes", "vX9#qLm", "ada@example.com", ErrPasswordTooShort},
		{"empty", "", "ada@example.com", ErrPasswordTooShort},
		// 7 runes but 14 bytes: length is counted in characters.
		{"7 multibyte runes", "ééééééé", "ada@example.com", ErrPasswordTooShort},
		{"8 multibyte runes", "éàüöñçøß", "ada@example.com", nil},
		{"exactly 128", strings.Repeat("ab", 64), "ada@example.com", nil},
		{"129", strings.Repeat("ab", 64) + "c", "ada@example.com", ErrPasswordTooLong},
		{"128 multibyte runes", strings.Repeat("é", 128), "ada@example.com", nil},
		{"common", "password", "ada@example.com", ErrPasswordCommon},
		{"common any case", "PassWord123", "ada@example.com", ErrPasswordCommon},
		{"common digits", "12345678", "ada@example.com", ErrPasswordCommon},
		{"common keyboard walk", "1Q2W3E4R", "ada@example.com", ErrPasswordCommon},
		{"service name", "EnrollKit123", "ada@example.com", ErrPasswordCommon},
		{"equals email", "ada.lovelace@example.com", "ada.lovelace@example.com", ErrPasswordMatchesEmail},
		{"equals email any case", "Ada.Lovelace@Example.COM", "ada.lovelace@example.com", ErrPasswordMatchesEmail},
		{"equals email with spaces", "ada.lovelace@example.com", "  ada.lovelace@example.com ", ErrPasswordMatchesEmail},
		{"equals local part", "Ada.Lovelace", "ada.lovelace@example.com", ErrPasswordMatchesEmail},
		{"contains local part", "ada.lovelace!", "ada.lovelace@example.com", nil},
		{"email without at", "ada.lovelace", "ada.lovelace", ErrPasswordMatchesEmail},
		{"quoted local part with at", "first@last", `"first@last"@example.com`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPassword(c.password, c.email)
			if c.want == nil {
				if err != nil {
					t.Fatalf("CheckPassword(%q, %q) = %v; want nil", c.password, c.email, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckPassword(%q, %q) = %v; want %v", c.password, c.email, err, c.want)
			}
		})
	}
}

func TestErrPasswordMatchesEmailIsCommon(t *testing.T) {
	t.Parallel()
	if !errors.Is(CheckPassword("ada.lovelace", "ada.lovelace@example.com"), ErrPasswordCommon) {
		t.Fatal("email-equal password should also match ErrPasswordCommon")
	}
}

// TestCommonPasswordList guards the embedded file: it must be substantial,
// and every entry must be something the length rules let through (otherwise
// it is dead weight) and lower case (the map is keyed in lower case).
func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	list := commonPasswords()
	if len(list) < 150 {
		t.Fatalf("blocklist has %d entries; want at least 150", len(list))
	}
	seen := map[string]bool{}
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if seen[line] {
			t.Errorf("duplicate entry %q", line)
		}
		seen[line] = true
		if n := utf8.RuneCountInString(line); n < MinPasswordRunes || n > MaxPasswordRunes {
			t.Errorf("entry %q has %d runes; the length rules already decide it", line, n)
		}
		if line != strings.ToLower(line) {
			t.Errorf("entry %q is not lower case", line)
		}
		if !errors.Is(CheckPassword(line, ""), ErrPasswordCommon) {
			t.Errorf("entry %q is not refused", line)
		}
	}
}
