package store

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// rowTypes are the row types find and readBuilt scan by position: each
// names its columns in columns() and hands out its fields in fields(), and
// nothing but these tests holds the two against each other and against the
// struct. TestRowTypesListed keeps the table complete.
var rowTypes = map[string]row{
	"actorRow":            new(actorRow),
	"clientRow":           new(clientRow),
	"course":              new(course),
	"invitation":          new(invitation),
	"invitationUserGroup": new(invitationUserGroup),
	"userGroup":           new(userGroup),
}

// TestRowColumns holds each row type's column list against the struct's
// fields as GORM parses them with the store's naming strategy, in order:
// the columns() list, and the pointers fields() hands out. A swapped,
// missing or extra column would otherwise be read into the wrong field
// without an error wherever the two columns' types agree.
func TestRowColumns(t *testing.T) {
	t.Parallel()
	namer := storeNamer(t)
	for name, r := range rowTypes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := checkRow(r, r.columns(), namer); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCheckRowCatches makes sure that checkRow, on which TestRowColumns
// relies, refuses a list with two columns swapped, one missing, one extra
// or one renamed, a column of another table, and fields handed out out of
// order.
func TestCheckRowCatches(t *testing.T) {
	t.Parallel()
	namer := storeNamer(t)
	r := new(invitation)
	cols := splitColumns(r.columns())
	swapped := slices.Clone(cols)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	for what, list := range map[string][]string{
		"swapped": swapped,
		"missing": cols[:len(cols)-1],
		"extra":   append(slices.Clone(cols), "id"),
		"renamed": append(slices.Clone(cols[:len(cols)-1]), "modified_at"),
	} {
		if err := checkRow(r, strings.Join(list, ", "), namer); err == nil {
			t.Errorf("checkRow accepted the invitation's columns with one %s", what)
		}
	}
	if err := checkRow(&swappedFields{}, "a, b", namer); err == nil {
		t.Error("checkRow accepted fields() handing out b's pointer before a's")
	}
	g := new(userGroup)
	if err := checkRow(g, strings.ReplaceAll(g.columns(), "user_groups.name,", "courses.name,"), namer); err == nil {
		t.Error("checkRow accepted a column of another table")
	}
}

// swappedFields hands out its fields in the wrong order.
type swappedFields struct{ A, B string }

func (*swappedFields) columns() string { return "a, b" }

func (s *swappedFields) fields(dst []any) []any { return append(dst[:0], &s.B, &s.A) }

// TestRowTypesListed finds every type of the package with a columns
// method, so that a new row type is checked too.
func TestRowTypesListed(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "columns" {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			id, ok := typ.(*ast.Ident)
			if !ok {
				t.Errorf("%s: columns on an unexpected receiver", fset.Position(fn.Pos()))
				continue
			}
			if _, ok := rowTypes[id.Name]; !ok {
				t.Errorf("%s: the row type %s is missing from rowTypes in columns_test.go", fset.Position(fn.Pos()), id.Name)
			}
		}
	}
}

// storeNamer returns the naming strategy of the store's GORM session.
func storeNamer(t *testing.T) schema.Namer {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "columns.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.gorm.NamingStrategy
}

// checkRow reports how r's column list cols and its fields() differ from
// its struct: the n-th column must be the n-th field's column (a table
// qualifier, if any, the struct's table; "expr AS name" counts as name),
// and fields() must hand out the n-th field's address n-th.
func checkRow(r row, cols string, namer schema.Namer) error {
	s, err := schema.Parse(r, &sync.Map{}, namer)
	if err != nil {
		return err
	}
	var want []string
	for _, f := range s.Fields {
		if f.DBName != "" {
			want = append(want, f.DBName)
		}
	}
	var got []string
	for _, c := range splitColumns(cols) {
		name, err := columnName(c, s.Table)
		if err != nil {
			return err
		}
		got = append(got, name)
	}
	if !slices.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("%s: columns() differs from the struct's fields at column %d:\n columns(): %q\n struct:    %q", s.Name, i+1, got, want)
	}
	v := reflect.ValueOf(r).Elem()
	ptrs := r.fields(nil)
	if len(ptrs) != len(want) {
		return fmt.Errorf("%s: fields() hands out %d pointers for %d columns", s.Name, len(ptrs), len(want))
	}
	i := 0
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue
		}
		addr := v.FieldByIndex(f.StructField.Index).Addr()
		p := reflect.ValueOf(ptrs[i])
		if p.Type() != addr.Type() || p.Pointer() != addr.Pointer() {
			return fmt.Errorf("%s: fields() hands out %s for column %d, %s, not the address of its field %s", s.Name, fieldAt(v, s, p), i+1, f.DBName, f.Name)
		}
		i++
	}
	return nil
}

// fieldAt names the field of v that p points to.
func fieldAt(v reflect.Value, s *schema.Schema, p reflect.Value) string {
	for _, f := range s.Fields {
		if a := v.FieldByIndex(f.StructField.Index).Addr(); a.Type() == p.Type() && a.Pointer() == p.Pointer() {
			return "the address of " + f.Name
		}
	}
	return "a " + p.Type().String() + " outside the row"
}

// splitColumns splits a SELECT list at its top-level commas.
func splitColumns(list string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range list {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(list[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(list[start:]))
}

// columnName is the name an item of a SELECT list is read as: its alias,
// or the column without its table, which must then be table.
func columnName(item, table string) (string, error) {
	if i := strings.LastIndex(strings.ToUpper(item), " AS "); i >= 0 {
		return strings.TrimSpace(item[i+len(" AS "):]), nil
	}
	if strings.ContainsAny(item, " ()") {
		return "", fmt.Errorf("%s: the expression %q has no alias", table, item)
	}
	if t, col, ok := strings.Cut(item, "."); ok {
		if t != table {
			return "", fmt.Errorf("%s: the column %q is of another table", table, item)
		}
		return col, nil
	}
	return item, nil
}
