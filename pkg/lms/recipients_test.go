package lms

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckRecipients judges a recipient file's rows one by one: bad and
// repeated rows are rejected with their lines and reasons, the others kept
// normalized in order; a file with no row left, or more than the quota
// could take, is refused whole.
func TestCheckRecipients(t *testing.T) {
	t.Parallel()
	quota := MailQuota{PerHour: 3, PerDay: 5, Rate: 10}
	rows := []Recipient{
		{Email: " Priya.Nair@Example.com ", FirstName: " Priya ", LastName: "Nair", Line: 2},
		{Email: "jordan@northwind", FirstName: "Jordan", Line: 3},
		{Email: "sam@example.com", FirstName: strings.Repeat("S", MaxPersonNameLen+1), Line: 4},
		{Email: "PRIYA.NAIR@example.com", Line: 5},
		{Email: "lee@example.com", LastName: "Lee\u202e", Line: 7},
		{Email: "kim@example.com", Line: 8},
	}
	kept, rejected, err := CheckRecipients(rows, quota)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0] != (Recipient{Email: "priya.nair@example.com", FirstName: "Priya", LastName: "Nair", Line: 2}) ||
		kept[1].Email != "kim@example.com" {
		t.Fatalf("kept = %+v", kept)
	}
	want := []struct {
		line   int
		reason string
	}{{3, "email " + emailRule}, {4, "first_name must be 1 to 100 characters"}, {5, "the address is on line 2 already"}, {7, "last_name " + TextRule}}
	if len(rejected) != len(want) {
		t.Fatalf("rejected = %+v", rejected)
	}
	for i, w := range want {
		if rejected[i].Line != w.line || rejected[i].Reason != w.reason {
			t.Errorf("rejected[%d] = %+v, want line %d: %s", i, rejected[i], w.line, w.reason)
		}
	}
	if rejected[2].Email != "PRIYA.NAIR@example.com" {
		t.Errorf("a rejected row's email is %q, not as written", rejected[2].Email)
	}

	for name, tc := range map[string]struct {
		rows []Recipient
		want string
	}{
		"every row rejected": {[]Recipient{{Email: "nope", Line: 2}}, "line 2: email " + emailRule},
		"no rows":            {nil, "the file has no rows"},
		"over the quota":     {[]Recipient{{Email: "a@example.com"}, {Email: "b@example.com"}, {Email: "c@example.com"}, {Email: "d@example.com"}}, "an hour"},
		"too many rows":      {make([]Recipient, MaxRecipientRows+1), "at most 10000"},
	} {
		_, _, err := CheckRecipients(tc.rows, quota)
		var e *Error
		if ErrorCode(err) != EInvalid || !errors.As(err, &e) || len(e.Fields) == 0 || !strings.Contains(e.Fields[0].Message, tc.want) {
			t.Errorf("%s: %v (%+v), want validation_failed saying %q", name, err, e, tc.want)
		}
	}
}
