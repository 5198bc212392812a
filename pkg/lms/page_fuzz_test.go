package lms

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// fuzzCursorID is an ID of the form every record has.
const fuzzCursorID = "0192f0c4-8a4e-7cc1-b9a0-3b3c5d0e1f21"

// wantBadCursor fails unless err is the bad_request a list answers to a
// cursor it cannot use.
func wantBadCursor(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != EBadRequest || e.Message == "" {
		t.Fatalf(format+": got %v, want a %s error", append(args, err, EBadRequest)...)
	}
}

// FuzzDecodeCursor decodes any text as a cursor of any sort. It is refused
// with bad_request and nothing else, or it holds a position that encodes
// to a cursor decoding to the same position, for that sort only. (A cursor
// made by hand may spell its JSON in fewer bytes than EncodeCursor does,
// with characters raw that it escapes or invalid bytes that decode to
// U+FFFD, and so re-encode longer than MaxCursorLen; the cursors the
// server gives out are FuzzCursorRoundTrip's.)
func FuzzDecodeCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, s, sort string) {
		key, id, err := DecodeCursor(s, sort)
		if err != nil {
			wantBadCursor(t, err, "DecodeCursor(%q, %q)", s, sort)
			if key != "" || id != "" {
				t.Fatalf("DecodeCursor(%q, %q) refused the cursor but returned %q, %q", s, sort, key, id)
			}
			return
		}
		_, _, err = DecodeCursor(s, sort+"x")
		wantBadCursor(t, err, "DecodeCursor(%q, %q), a cursor made for %q", s, sort+"x", sort)
		again := EncodeCursor(sort, key, id)
		if len(again) > MaxCursorLen {
			return
		}
		k2, id2, err := DecodeCursor(again, sort)
		if err != nil || k2 != key || id2 != id {
			t.Fatalf("DecodeCursor(%q, %q) = %q, %q, which encodes to %q, which decodes to %q, %q, %v",
				s, sort, key, id, again, k2, id2, err)
		}
	})
}

// FuzzCursorRoundTrip encodes any position. A cursor the server gives out
// must work when the client sends it back: one for a key that a record can
// have as its sort key (an email address, a name; lower-cased names are
// names too) and a record's ID fits MaxCursorLen, and every cursor that
// fits decodes to its position, for its own sort only.
func FuzzCursorRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, sort, key, id string) {
		c := EncodeCursor(sort, key, id)
		issued := len(sort) <= len("-created_at") && ValidID(id) && (ValidEmail(key) || ValidName(key, MaxNameLen))
		if issued && len(c) > MaxCursorLen {
			t.Fatalf("the cursor after the record %q with the sort key %q is %d bytes, but lists refuse cursors over %d",
				id, key, len(c), MaxCursorLen)
		}
		if len(c) > MaxCursorLen || !utf8.ValidString(sort) || !utf8.ValidString(key) || !utf8.ValidString(id) {
			return // json.Marshal replaces invalid UTF-8: such text is no record's
		}
		k, i, err := DecodeCursor(c, sort)
		if err != nil || k != key || i != id {
			t.Fatalf("EncodeCursor(%q, %q, %q) = %q, which decodes to %q, %q, %v", sort, key, id, c, k, i, err)
		}
		_, _, err = DecodeCursor(c, sort+"x")
		wantBadCursor(t, err, "DecodeCursor of a cursor made for %q, for %q", sort, sort+"x")
	})
}
