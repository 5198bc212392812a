package lms

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidText reports whether s is text a person could have typed into one of
// enrollkit's fields: valid UTF-8 with no control character (C0, DEL, C1;
// line feeds and tabs are allowed where multiline) and no character that
// reorders or splits what is displayed: the bidirectional marks, embeddings,
// overrides and isolates, and the Unicode line and paragraph separators.
// PostgreSQL refuses a NUL in text outright, CR and LF in a name forge lines
// in emails and exports, and a right-to-left override makes a name display
// as another. Zero-width joiners stay allowed: several scripts need them.
func ValidText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		switch {
		case r == '\n' || r == '\t':
			return !multiline
		case unicode.Is(unicode.Cc, r):
			return true
		case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return true // bidirectional formatting
		case r == '\u2028' || r == '\u2029':
			return true
		}
		return false
	})
}

// TextRule is what ValidText refuses, said to the person who typed it.
const TextRule = "must not contain control characters or bidirectional formatting characters"

// MaxQueryLen bounds a list's search text.
const MaxQueryLen = 200

// CheckQuery judges a list's search text (q): ValidText on one line and at
// most MaxQueryLen characters, or a bad_request error.
func CheckQuery(q string) error {
	if !ValidText(q, false) {
		return Errorf(EBadRequest, "q %s", TextRule)
	}
	if utf8.RuneCountInString(q) > MaxQueryLen {
		return Errorf(EBadRequest, "q must be at most %d characters", MaxQueryLen)
	}
	return nil
}
