package lms

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// recipientColumns are the columns a recipient file may have; only email
// is required.
var recipientColumns = []string{"email", "first_name", "last_name"}

// ReadRecipientCSV parses a recipient file whole before anything is
// queued, so that a malformed file is refused as a whole and changes
// nothing: not CSV (bad quoting, a row with more or fewer fields than the
// header), no header or no row after it, a header without an email column
// or with a column other than email, first_name and last_name (in any
// order, case-insensitive, a byte order mark ignored), or more than
// MaxRecipientRows rows. Each is a validation_failed error that says what
// is wrong, with the line for CSV; an error reading r itself (a body past
// its size limit) is returned as it is, for the caller to tell apart. Each
// row keeps its line, for CheckRecipients, which judges the rows, to name
// those it rejects.
func ReadRecipientCSV(r io.Reader) ([]Recipient, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every row must have as many fields as the header
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, malformedRecipients("the file is empty; it needs a header row such as email,first_name,last_name")
	} else if err != nil {
		return nil, recipientReadError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(recipientColumns, h) {
			return nil, malformedRecipients(fmt.Sprintf("unknown column %q in the header; use email, first_name and last_name", h))
		}
		if _, dup := col[h]; dup {
			return nil, malformedRecipients(fmt.Sprintf("column %q appears twice in the header", h))
		}
		col[h] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, malformedRecipients("the header has no email column")
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	var rows []Recipient
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, recipientReadError(err)
		}
		if len(rows) >= MaxRecipientRows {
			return nil, malformedRecipients(fmt.Sprintf("more than %d rows; split the file", MaxRecipientRows))
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, Recipient{Email: field(rec, "email"), FirstName: field(rec, "first_name"),
			LastName: field(rec, "last_name"), Line: line})
	}
	if len(rows) == 0 {
		return nil, malformedRecipients("the file has no rows after its header; give each address a row")
	}
	return rows, nil
}

// malformedRecipients is the validation_failed error of a recipient file
// that cannot be read.
func malformedRecipients(why string) error {
	return Errorf(EInvalid, "the recipient file cannot be read, so nothing was sent: %s", why)
}

// recipientReadError tells a file that is not CSV, whose error names its
// line and column, from a failure to read the file at all.
func recipientReadError(err error) error {
	var parse *csv.ParseError
	if errors.As(err, &parse) && (errors.Is(parse.Err, csv.ErrBareQuote) || errors.Is(parse.Err, csv.ErrQuote) ||
		errors.Is(parse.Err, csv.ErrFieldCount)) {
		return malformedRecipients("it is not valid CSV: " + parse.Error())
	}
	return err
}
