package lms

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

// FuzzReadRecipientCSV parses any file as a recipient file. A file that is
// not CSV with as many fields on every row as in its header (what
// encoding/csv itself reads of it), whose header is not made of email and
// optionally first_name and last_name, or that has no row is refused with
// a validation_failed error and no rows at all: the send changes nothing.
// A file that is read gives one recipient per row, in order, each with its
// line, and reads the same when the columns are written in another order;
// CheckRecipients then keeps or rejects every row, each once.
func FuzzReadRecipientCSV(f *testing.F) {
	quota := MailQuota{PerHour: MaxRecipientRows, PerDay: MaxRecipientRows, Rate: 10}
	f.Fuzz(func(t *testing.T, file []byte) {
		rows, err := ReadRecipientCSV(bytes.NewReader(file))
		records, csvErr := csv.NewReader(bytes.NewReader(file)).ReadAll()
		if err != nil {
			if rows != nil {
				t.Fatalf("refused the file (%v) but returned %d rows", err, len(rows))
			}
			if ErrorCode(err) != EInvalid {
				t.Fatalf("refused the file with %v, not validation_failed", err)
			}
			return
		}
		if csvErr != nil {
			t.Fatalf("read %d rows of a file that is not CSV (%v)", len(rows), csvErr)
		}
		if len(rows) == 0 || len(rows) != len(records)-1 {
			t.Fatalf("read %d rows of a file of %d records after its header", len(rows), len(records)-1)
		}
		for i, r := range rows {
			if r.Line < 2 || (i > 0 && r.Line <= rows[i-1].Line) {
				t.Fatalf("row %d has line %d after line %d", i, r.Line, rows[max(i-1, 0)].Line)
			}
		}
		if again := reorderedRecipientCSV(t, rows); !sameRecipients(again, rows) {
			t.Fatalf("the rows written back as last_name,first_name,email read as %+v, not %+v", again, rows)
		}
		kept, rejected, err := CheckRecipients(rows, quota)
		if err != nil {
			if ErrorCode(err) != EInvalid || len(kept)+len(rejected) != 0 {
				t.Fatalf("CheckRecipients refused the rows with %v but returned %d and %d", err, len(kept), len(rejected))
			}
			return
		}
		if len(kept) == 0 || len(kept)+len(rejected) != len(rows) {
			t.Fatalf("%d rows came out as %d kept and %d rejected", len(rows), len(kept), len(rejected))
		}
		seen := map[string]bool{}
		for _, r := range kept {
			if !ValidEmail(r.Email) || seen[r.Email] {
				t.Fatalf("kept the row of line %d with the address %q, invalid or repeated", r.Line, r.Email)
			}
			seen[r.Email] = true
		}
	})
}

// reorderedRecipientCSV writes rows as a file whose columns are in the
// reverse order and reads it back. A field with a carriage return cannot
// be written back as it was read (encoding/csv drops a CR before LF), so
// such rows are returned as they are.
func reorderedRecipientCSV(t *testing.T, rows []Recipient) []Recipient {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"last_name", "first_name", "email"})
	for _, r := range rows {
		if strings.ContainsRune(r.Email+r.FirstName+r.LastName, '\r') {
			return rows
		}
		w.Write([]string{r.LastName, r.FirstName, r.Email})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	again, err := ReadRecipientCSV(&b)
	if err != nil {
		t.Fatalf("the rows written back do not read: %v\n%s", err, b.Bytes())
	}
	return again
}

// sameRecipients compares recipients without their lines, which depend on
// how the file was laid out.
func sameRecipients(a, b []Recipient) bool {
	return slices.EqualFunc(a, b, func(x, y Recipient) bool {
		return x.Email == y.Email && x.FirstName == y.FirstName && x.LastName == y.LastName
	})
}
