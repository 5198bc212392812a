package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// maxImportRows bounds one import file, so a wrong file cannot exhaust
// memory; a million-course catalog is loaded in several files.
const maxImportRows = 1_000_000

// coursesCommand handles `enrollkit courses import --org ORG_ID FILE.csv`.
// The file has a header row naming the columns name, code and description
// (in any order; only name is required). A file that is not valid CSV
// changes nothing; rows that are valid CSV but invalid courses are rejected
// one by one and reported with their line, and the rest are created in one
// transaction.
func coursesCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	usage := usageError{"usage: enrollkit courses import --org ORG_ID FILE.csv"}
	if len(args) == 0 || args[0] != "import" {
		return usage
	}
	fs := flag.NewFlagSet("courses import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	org := fs.String("org", "", "the organization's ID")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"courses import: " + err.Error()}
	}
	if *org == "" || fs.NArg() != 1 {
		return usage
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return usageError{"courses import: " + err.Error()}
	}
	defer f.Close()
	rows, err := readCourseCSV(f)
	if err != nil {
		return usageError{"courses import: " + fs.Arg(0) + ": " + err.Error() + "; nothing was imported"}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	db, st, err := openStore(ctx, cfg, auth.NewHasher(auth.HasherOptions{}))
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := st.ImportCourses(ctx, *org, rows)
	if lms.ErrorCode(err) == lms.ENotFound {
		return usageError{"courses import: --org: no such organization"}
	}
	if err != nil {
		return err
	}
	type rejection struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	}
	out := struct {
		Created  int         `json:"created"`
		Rejected []rejection `json:"rejected"`
	}{Created: res.Created, Rejected: []rejection{}}
	for _, r := range res.Rejected {
		out.Rejected = append(out.Rejected, rejection(r))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// readCourseCSV parses the whole file before anything is written, so that a
// malformed file is refused as a whole.
func readCourseCSV(r io.Reader) ([]lms.NewCourse, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every row must have as many fields as the header
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty; it needs a header row: name,code,description")
	} else if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch h {
		case "name", "code", "description":
			if _, dup := col[h]; dup {
				return nil, fmt.Errorf("column %q appears twice in the header", h)
			}
			col[h] = i
		default:
			return nil, fmt.Errorf("unknown column %q in the header; use name, code and description", h)
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, errors.New("the header has no name column")
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	var rows []lms.NewCourse
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		} else if err != nil {
			return nil, err
		}
		if len(rows) >= maxImportRows {
			return nil, fmt.Errorf("more than %d rows; split the file", maxImportRows)
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, lms.NewCourse{Name: field(rec, "name"), Code: field(rec, "code"),
			Description: field(rec, "description"), Line: line})
	}
}
