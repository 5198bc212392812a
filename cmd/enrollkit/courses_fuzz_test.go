package main

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// FuzzReadCourseCSV parses any file as a course import. A file that is not
// CSV with as many fields on every row as in its header (what encoding/csv
// itself reads of it) or whose header is not made of name, code and
// description is refused with no rows at all: the import changes nothing.
// A file that is read gives one course per row, in order, each with its
// line, and reads the same when the columns are written in another order.
func FuzzReadCourseCSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte) {
		rows, err := readCourseCSV(bytes.NewReader(file))
		records, csvErr := csv.NewReader(bytes.NewReader(file)).ReadAll()
		if err != nil {
			if rows != nil {
				t.Fatalf("refused the file (%v) but returned %d rows", err, len(rows))
			}
			return
		}
		if csvErr != nil {
			t.Fatalf("read %d rows of a file that is not CSV (%v)", len(rows), csvErr)
		}
		if len(rows) != len(records)-1 {
			t.Fatalf("read %d rows of a file of %d records after its header", len(rows), len(records)-1)
		}
		for i, r := range rows {
			if r.Line < 2 || (i > 0 && r.Line <= rows[i-1].Line) {
				t.Fatalf("row %d has line %d after line %d", i, r.Line, rows[max(i-1, 0)].Line)
			}
		}
		if again := reorderedCourseCSV(t, rows); !sameCourses(again, rows) {
			t.Fatalf("the rows written back as description,code,name read as %+v, not %+v", again, rows)
		}
	})
}

// reorderedCourseCSV writes rows as a file whose columns are in the
// reverse order and reads it back. A field with a carriage return cannot
// be written back as it was read (encoding/csv drops a CR before LF), so
// such rows are returned as they are.
func reorderedCourseCSV(t *testing.T, rows []lms.NewCourse) []lms.NewCourse {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"description", "code", "name"})
	for _, r := range rows {
		if strings.ContainsRune(r.Name+r.Code+r.Description, '\r') {
			return rows
		}
		w.Write([]string{r.Description, r.Code, r.Name})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	again, err := readCourseCSV(&b)
	if err != nil {
		t.Fatalf("the rows written back do not read: %v\n%s", err, b.Bytes())
	}
	return again
}

// sameCourses compares courses without their lines, which depend on how
// the file was laid out.
func sameCourses(a, b []lms.NewCourse) bool {
	return slices.EqualFunc(a, b, func(x, y lms.NewCourse) bool {
		return x.Name == y.Name && x.Code == y.Code && x.Description == y.Description
	})
}
