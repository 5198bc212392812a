package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/pkg/store"
)

// scriptStatements are the SQL statements of an embedded pgbench script,
// in order: its comments and meta-commands (\set, \startpipeline …) left
// out, split at the semicolons.
func scriptStatements(t *testing.T, script string) []string {
	t.Helper()
	b, err := pgbenchScripts.ReadFile("pgbench/" + script)
	if err != nil {
		t.Fatal(err)
	}
	var sql strings.Builder
	for line := range strings.Lines(string(b)) {
		if l := strings.TrimSpace(line); l == "" || strings.HasPrefix(l, "--") || strings.HasPrefix(l, `\`) {
			continue
		}
		sql.WriteString(line)
	}
	var out []string
	for stmt := range strings.SplitSeq(sql.String(), ";") {
		if strings.TrimSpace(stmt) != "" {
			out = append(out, stmt)
		}
	}
	return out
}

var (
	// What a pgbench script writes where the store binds a value: a
	// pgbench variable (but not a cast's ::), a seeded row's ID or claim,
	// the time, a search pattern built from the script's terms.
	rePgbenchVar   = regexp.MustCompile(`(^|[^:]):[A-Za-z_][A-Za-z0-9_]*`)
	rePgbenchID    = regexp.MustCompile(`bench\.(id|claim)\([^()]*\)`)
	rePgbenchNow   = regexp.MustCompile(`\bnow\(\)`)
	rePgbenchLike  = regexp.MustCompile(`'%' \|\| .*? \|\| '%'`)
	reStorePlace   = regexp.MustCompile(`\$[0-9]+|@[A-Za-z_][A-Za-z0-9_]*`)
	reSpace        = regexp.MustCompile(`\s+`)
	reSpaceInParen = regexp.MustCompile(`\( | \)| ,`)
)

// normalSQL is a statement with its layout, its identifiers' quotes and a
// trailing semicolon taken out, so that two statements that differ in
// nothing else compare equal.
func normalSQL(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ";")
	s = strings.TrimSpace(reSpace.ReplaceAllString(strings.ReplaceAll(s, `"`, ""), " "))
	return reSpaceInParen.ReplaceAllStringFunc(s, func(m string) string { return strings.TrimSpace(m) })
}

// normalPgbench is normalSQL of a pgbench statement with every value the
// server would bind made a ?.
func normalPgbench(s string) string {
	s = normalSQL(s)
	s = rePgbenchID.ReplaceAllString(s, "?")
	s = rePgbenchNow.ReplaceAllString(s, "?")
	s = rePgbenchVar.ReplaceAllString(s, "$1?")
	return rePgbenchLike.ReplaceAllString(s, "?")
}

// normalStore is normalSQL of a store statement with its placeholders
// ($n, or @name) made a ?.
func normalStore(s string) string { return reStorePlace.ReplaceAllString(normalSQL(s), "?") }

func TestNormalSQL(t *testing.T) {
	pg := normalPgbench("SELECT * FROM courses\n  WHERE organization_id = :org AND id = bench.id('c', :i)\n" +
		"  AND search LIKE '%' || (ARRAY['a','b'])[:k] || '%' AND t > now() AND x = y::int LIMIT :one;")
	st := normalStore(`SELECT * FROM "courses" WHERE organization_id = $1 AND id = $2 AND search LIKE $3 AND t > $4 AND x = y::int LIMIT $5`)
	if pg != st {
		t.Fatalf("\n%s\n%s", pg, st)
	}
	if normalStore("SELECT a FROM t WHERE id = $1") == normalStore("SELECT a, b FROM t WHERE id = $1") {
		t.Fatal("another column list compares equal")
	}
}

// TestPgbenchScriptsRunTheStoresStatements holds the pgbench scripts to the
// statements the store sends, as the store builds them: a script that
// drifted from the server's SQL would measure another query.
func TestPgbenchScriptsRunTheStoresStatements(t *testing.T) {
	st, err := store.PostgresStatements()
	if err != nil {
		t.Fatal(err)
	}
	redeemSeat := func(t *testing.T) string {
		stmts := scriptStatements(t, "redeem_tx.sql")
		seat, ok := strings.CutPrefix(strings.TrimSpace(stmts[len(stmts)-1]), "WITH seat AS (")
		if ok {
			seat, _, ok = strings.Cut(seat, "RETURNING id")
		}
		if !ok {
			t.Fatal("redeem_tx.sql's last statement does not start with the seat UPDATE")
		}
		return seat
	}
	for _, c := range []struct {
		script string
		index  int
		what   string
		store  string
	}{
		{"list_user_groups.sql", 0, "the caller's row", st.Actor},
		{"list_user_groups.sql", 1, "the user groups page", st.UserGroupsPage},
		{"search_courses.sql", 0, "the caller's row", st.Actor},
		{"search_courses.sql", 1, "the course search", st.CoursesSearch},
		{"get_invitation.sql", 0, "the caller's row", st.Actor},
		{"get_invitation.sql", 1, "the invitation", st.Invitation},
		{"get_invitation.sql", 2, "the invitation's user groups", st.InvitationGroups},
		{"add_courses.sql", 0, "the caller's row", st.Actor},
		{"add_courses.sql", 5, "the enrollments", st.EnrollGroupCourse},
		{"seat_hot.sql", 0, "the seat UPDATE", st.Seat},
		{"seat_spread.sql", 0, "the seat UPDATE", st.Seat},
		{"redeem_tx.sql", -1, "the seat UPDATE", st.Seat},
		{"login.sql", 0, "the candidate accounts", st.Login},
	} {
		t.Run(c.script+"/"+c.what, func(t *testing.T) {
			var got string
			if c.index < 0 {
				got = redeemSeat(t)
			} else if stmts := scriptStatements(t, c.script); c.index < len(stmts) {
				got = stmts[c.index]
			}
			if g, w := normalPgbench(got), normalStore(c.store); g != w {
				t.Errorf("statement %d of %s differs from the store's\nscript: %s\nstore:  %s", c.index, c.script, g, w)
			}
		})
	}
	// The redemption's membership and enrollment steps are the store's.
	for _, step := range []string{"m", "e"} {
		stmts := scriptStatements(t, "redeem_tx.sql")
		if g, w := normalPgbench(cteStep(stmts[len(stmts)-1], step)), normalStore(cteStep(st.RedeemNew, step)); g == "" || g != w {
			t.Errorf("redeem_tx.sql's step %s differs from the store's\nscript: %s\nstore:  %s", step, g, w)
		}
	}
	// The set-based inserts make their IDs with the store's expression.
	for _, script := range []string{"add_courses.sql", "redeem_tx.sql"} {
		b, _ := pgbenchScripts.ReadFile("pgbench/" + script)
		if !strings.Contains(normalSQL(string(b)), normalSQL(store.PostgresNewIDSQL())) {
			t.Errorf("%s does not make new IDs with the store's expression %s", script, store.PostgresNewIDSQL())
		}
	}
}

// cteStep is the body of the named step of a WITH statement, from its
// "name AS (" to the next step's "), ", or "" without it.
func cteStep(stmt, name string) string {
	_, body, ok := strings.Cut(reSpace.ReplaceAllString(stmt, " "), " "+name+" AS (")
	if !ok {
		return ""
	}
	body, _, _ = strings.Cut(body, "), ")
	return body
}
