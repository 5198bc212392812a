package main

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/store"
)

// scale sizes the measured organization. Memberships, group courses and
// enrollments follow from the numbers below; see seed.
type scale struct {
	Name            string
	Users           int // learners
	Courses         int
	Groups          int // ordinary user groups
	MembersPerGroup int
	CoursesPerGroup int
	Invitations     int
	// LargeGroupMembers is the size of the one large group that courses
	// are added to.
	LargeGroupMembers int
}

// The two scales: about 13 thousand and about 1 million rows in the
// measured organization (users, courses, user groups, memberships, group
// courses, enrollments, invitations and their groups).
var scales = map[string]scale{
	"small": {Name: "small", Users: 1_000, Courses: 2_000, Groups: 500, MembersPerGroup: 3, CoursesPerGroup: 2,
		Invitations: 500, LargeGroupMembers: 1_000},
	"large": {Name: "large", Users: 100_000, Courses: 200_000, Groups: 50_000, MembersPerGroup: 3, CoursesPerGroup: 2,
		Invitations: 50_000, LargeGroupMembers: 10_000},
}

// Fixed pools, the same at both scales so that the redemption figures
// compare like with like.
const (
	// redeemPool invitations (the first ones seeded) have plenty of seats
	// and are redeemed by the spread workload through the API.
	redeemPool = 200
	// pgbenchPool invitations are redeemed by the pgbench references only.
	pgbenchPool = 200
	// plentySeats is the most max_registrations allows.
	plentySeats = lms.MaxRegistrations
	// largeGroupCourses are linked to the large group when seeded; the
	// add-courses workload adds the others.
	largeGroupCourses = 2
)

// searchTerms are the substrings the course search workload rotates
// through; each is one of the 16 topics seeded, so it matches about one
// course in 16. pgbench/search_courses.sql lists the same terms.
var searchTerms = []string{"safety", "excel", "leadership", "onboarding", "python", "compliance", "negotiation", "privacy"}

const (
	courseLevels = `'Introduction to','Advanced','Practical','Foundations of','Mastering'`
	courseTopics = `'Safety','Excel','Leadership','Onboarding','Python','Compliance','Negotiation','Privacy',` +
		`'Accounting','Design','Marketing','Security','Kubernetes','Writing','Ethics','Statistics'`
	firstNames = `'Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','Ken'`
	lastNames  = `'Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Thompson'`
)

// idPrefix namespaces the deterministic IDs of seeded rows.
const idPrefix = "enrollkit-bench:"

// idEpochMs is the time (2026-01-01T00:00:00Z, in Unix milliseconds) that
// seeded row 0 of every kind pretends to have been created at; row i was
// created i milliseconds later.
const idEpochMs = 1_767_225_600_000

// benchID is the ID of seeded row i of kind tag, the same value as
// bench.id(tag, i) in SQL: shaped like the server's UUIDv7s, with the
// row's pretend creation time in the first 48 bits and an MD5 of tag and i
// in the random bits. Deterministic IDs keep seeding set-based (a
// membership names its user by number) and let the pgbench scripts pick
// random rows with \set. Time-ordered ones matter too: the table's physical
// order follows ID order, as it does for rows the server creates, so that a
// keyset page ordered by ID reads neighbouring heap pages, not one page per
// row.
func benchID(tag string, i int) string {
	sum := md5.Sum([]byte(idPrefix + tag + ":" + strconv.Itoa(i)))
	h := hex.EncodeToString(sum[:])
	h = fmt.Sprintf("%012x", idEpochMs+int64(i)) + "7" + h[13:16] + "8" + h[17:20] + h[20:32]
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// largeGroupID is the large group's ID. It starts with f so that it sorts
// after every ordinary group at both scales: the list workload's first page
// then holds ordinary groups, and its cost does not depend on whether the
// 10,000-member group happens to land on it.
func largeGroupID() string { return "ffffffff" + benchID("large-group", 0)[8:] }

// passcode is the passcode of seeded invitation i.
func passcode(i int) string { return fmt.Sprintf("BENCH-%07d", i) }

// tenant is the measured organization and what the workloads need to know
// about it.
type tenant struct {
	orgSetup
	ManagerEmail    string
	ManagerPassword string
	LargeGroupID    string
	// lookupKey and sealKey are the server's passcode keys, derived from
	// secret, the server's ENROLLKIT_SECRET (which its access-token key is
	// derived from too, for the stack floor).
	lookupKey, sealKey, secret []byte
	// Rows counts the rows of each table after seeding.
	Rows      map[string]int64
	TotalRows int64
}

func newTenant(setup *orgSetup, secret, email, password string) *tenant {
	return &tenant{orgSetup: *setup, ManagerEmail: email, ManagerPassword: password, LargeGroupID: largeGroupID(),
		lookupKey: auth.DeriveKey([]byte(secret), "enrollkit passcode lookup v1"),
		sealKey:   auth.DeriveKey([]byte(secret), "enrollkit passcode seal v1"), secret: []byte(secret)}
}

// passcodeHash is what the server stores in passcode_hash and
// passcode_claim for a passcode (store.passcodeHash).
func (t *tenant) passcodeHash(p string) string {
	return auth.KeyedHash(t.lookupKey, lms.NormalizePasscode(p))
}

// seed fills the organization with set-based SQL: one INSERT … SELECT
// generate_series per table, so that a million rows take seconds, not
// hours. Only the invitations need values computed in Go (the keyed
// passcode hash and the sealed passcode, as the server makes them); they
// go in as arrays unnested by one INSERT per batch.
func seed(ctx context.Context, db *pgx.Conn, t *tenant, s scale, log *logger) error {
	start := time.Now()
	exec := func(what, sql string, args ...any) error {
		t0 := time.Now()
		tag, err := db.Exec(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("seed %s: %w", what, err)
		}
		log.Printf("  seeded %-22s %9d rows in %s", what, tag.RowsAffected(), time.Since(t0).Round(time.Millisecond))
		return nil
	}
	type step struct {
		what, sql string
		args      []any
	}
	helpers := []step{
		// Helpers of the seeding SQL and of the pgbench scripts, in their
		// own schema: bench.id is benchID, bench.claim the passcode lookup
		// value of the pgbench-only invitations (see seedInvitations).
		{"schema bench", `CREATE SCHEMA IF NOT EXISTS bench`, nil},
		{"bench.id()", `CREATE OR REPLACE FUNCTION bench.id(tag text, i bigint) RETURNS uuid
			LANGUAGE sql IMMUTABLE PARALLEL SAFE
			AS $$ SELECT (lpad(to_hex(` + strconv.FormatInt(idEpochMs, 10) + ` + i), 12, '0') || '7' ||
				substr(md5('` + idPrefix + `' || tag || ':' || i), 14, 3) || '8' ||
				substr(md5('` + idPrefix + `' || tag || ':' || i), 18, 15))::uuid $$`, nil},
		{"bench.claim()", `CREATE OR REPLACE FUNCTION bench.claim(tag text, i bigint) RETURNS text
			LANGUAGE sql IMMUTABLE PARALLEL SAFE
			AS $$ SELECT encode(sha256(convert_to('` + idPrefix + `pgbench-claim:' || tag || ':' || i, 'UTF8')), 'hex') $$`, nil},
	}
	tables := []step{
		// Learners: no password (they never sign in during the run), and no
		// email skeleton (which SQL cannot compute): nobody redeems with a
		// look-alike of theirs.
		{"users", `INSERT INTO users (id, organization_id, organization_group_id, email, first_name, last_name,
				search, role, status, password_hash, token_version, created_at, updated_at)
			SELECT bench.id('user', i), $1, $2, u.email, u.first, u.last,
				lower(u.email || ' ' || u.first || ' ' || u.last), 'learner', 'active', NULL, 0, u.t, u.t
			FROM generate_series(0, $3::int - 1) AS i,
			LATERAL (SELECT 'learner' || i || '@bench.example' AS email,
				(ARRAY[` + firstNames + `])[1 + i % 8] AS first,
				(ARRAY[` + lastNames + `])[1 + (i / 8) % 8] AS last,
				now() - make_interval(secs => $3::int - i) AS t) u`,
			[]any{t.OrganizationID, t.OrganizationGroupID, s.Users}},
		// Courses: "<level> <topic> <n>", code C-0000123; search is
		// name_key and code_key, as course.setSearch makes it.
		{"courses", `INSERT INTO courses (id, organization_id, name, name_key, code, code_key, description, search,
				created_at, updated_at)
			SELECT bench.id('course', i), $1, c.name, lower(c.name), c.code, lower(c.code), '',
				lower(c.name) || ' ' || lower(c.code), c.t, c.t
			FROM generate_series(0, $2::int - 1) AS i,
			LATERAL (SELECT (ARRAY[` + courseLevels + `])[1 + i % 5] || ' ' ||
				(ARRAY[` + courseTopics + `])[1 + (i / 5) % 16] || ' ' || i AS name,
				'C-' || lpad(i::text, 7, '0') AS code,
				now() - make_interval(secs => $2::int - i) AS t) c`,
			[]any{t.OrganizationID, s.Courses}},
		{"user_groups", `INSERT INTO user_groups (id, organization_id, organization_group_id, name, name_key,
				description, created_at, updated_at)
			SELECT bench.id('group', i), $1, $2, 'Team ' || i, 'team ' || i, '', now(), now()
			FROM generate_series(0, $3::int - 1) AS i`,
			[]any{t.OrganizationID, t.OrganizationGroupID, s.Groups}},
		{"large user group", `INSERT INTO user_groups (id, organization_id, organization_group_id, name, name_key,
				description, created_at, updated_at)
			VALUES ($1, $2, $3, 'Everyone (large group)', 'everyone (large group)', '', now(), now())`,
			[]any{t.LargeGroupID, t.OrganizationID, t.OrganizationGroupID}},
		// Group g has users g*k … g*k+k-1 (modulo the user count).
		{"user_group_members", `INSERT INTO user_group_members (user_group_id, user_id, created_at)
			SELECT bench.id('group', g), bench.id('user', (g * $2::int + j) % $3::int), now()
			FROM generate_series(0, $1::int - 1) AS g, generate_series(0, $2::int - 1) AS j
			ON CONFLICT DO NOTHING`,
			[]any{s.Groups, s.MembersPerGroup, s.Users}},
		{"large group members", `INSERT INTO user_group_members (user_group_id, user_id, created_at)
			SELECT $1, bench.id('user', i), now() FROM generate_series(0, $2::int - 1) AS i`,
			[]any{t.LargeGroupID, s.LargeGroupMembers}},
		{"user_group_courses", `INSERT INTO user_group_courses (user_group_id, course_id, created_at)
			SELECT bench.id('group', g), bench.id('course', (g * $2::int + j) % $3::int), now()
			FROM generate_series(0, $1::int - 1) AS g, generate_series(0, $2::int - 1) AS j
			ON CONFLICT DO NOTHING`,
			[]any{s.Groups, s.CoursesPerGroup, s.Courses}},
		{"large group courses", `INSERT INTO user_group_courses (user_group_id, course_id, created_at)
			SELECT $1, bench.id('course', i), now() FROM generate_series(0, $2::int - 1) AS i`,
			[]any{t.LargeGroupID, largeGroupCourses}},
		// Every member is enrolled in every course of each of its groups,
		// as adding them through the API would have done, with IDs made by
		// the server's expression.
		{"enrollments", `INSERT INTO enrollments (id, organization_id, user_id, course_id, user_group_id, created_at)
			SELECT ` + store.PostgresNewIDSQL() + `, $1, m.user_id, gc.course_id, m.user_group_id, now()
			FROM user_group_members m JOIN user_group_courses gc USING (user_group_id)
			ON CONFLICT (user_id, course_id) DO NOTHING`,
			[]any{t.OrganizationID}},
	}
	for _, st := range helpers {
		if err := exec(st.what, st.sql, st.args...); err != nil {
			return err
		}
	}
	if err := checkHelpers(ctx, db); err != nil {
		return err
	}
	for _, st := range tables {
		if err := exec(st.what, st.sql, st.args...); err != nil {
			return err
		}
	}
	if err := seedInvitations(ctx, db, t, s, log); err != nil {
		return err
	}
	log.Printf("  vacuum analyze")
	if _, err := db.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	// Write the seeded pages out now rather than in a checkpoint in the
	// middle of a measurement.
	if _, err := db.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	rows, total, err := countRows(ctx, db)
	if err != nil {
		return err
	}
	t.Rows, t.TotalRows = rows, total
	log.Printf("  %d rows in the measured organization's tables, seeded in %s", total, time.Since(start).Round(time.Millisecond))
	return nil
}

// checkHelpers makes sure that bench.id and benchID, bench.claim and the
// Go claim agree, since the pgbench scripts and the workloads name the same
// rows through them.
func checkHelpers(ctx context.Context, db *pgx.Conn) error {
	var id, claim string
	if err := db.QueryRow(ctx, "SELECT bench.id('check', 123456)::text, bench.claim('check', 7)").Scan(&id, &claim); err != nil {
		return err
	}
	if id != benchID("check", 123456) || claim != pgbenchClaim("check", 7) {
		return fmt.Errorf("bench.id or bench.claim disagrees with the Go code: %s %s", id, claim)
	}
	return nil
}

// pgbenchClaim is bench.claim(tag, i): the passcode_claim of the pgbench
// invitations.
func pgbenchClaim(tag string, i int) string {
	return sha256Hex(idPrefix + "pgbench-claim:" + tag + ":" + strconv.Itoa(i))
}

// seedInvitations inserts the scale's invitations (the first redeemPool of
// them with plenty of seats, the rest with 50), each for one user group,
// plus the pgbench pool and the pgbench hot invitation.
//
// Every invitation carries a passcode sealed with the server's key, so
// that GET /invitations/{id} can open it. The API's invitations also carry
// the real keyed hash of their passcode so that they can be redeemed. The
// pgbench ones carry sha256('…pgbench-claim:i') instead, a value the
// pgbench script can compute in SQL; they are never redeemed through the
// API.
func seedInvitations(ctx context.Context, db *pgx.Conn, t *tenant, s scale, log *logger) error {
	const batch = 10_000
	t0 := time.Now()
	insert := func(tag string, from, to int, hashes, sealed []string, seats func(i int) int) error {
		maxes := make([]int32, 0, to-from)
		for i := from; i < to; i++ {
			maxes = append(maxes, int32(seats(i)))
		}
		// The seeded invitations verify no addresses, so that a
		// redemption is measured to its tokens and its enrollments.
		_, err := db.Exec(ctx, `INSERT INTO invitations (id, organization_id, organization_group_id, name, search,
				passcode_hash, passcode_claim, passcode_sealed, max_registrations, registrations_used, message,
				status, expires_at, require_email_verification, created_by, created_at, updated_at)
			SELECT bench.id($1, $2::int + n - 1), $3, $4, 'Invitation ' || $1 || ' ' || ($2::int + n - 1),
				lower('Invitation ' || $1 || ' ' || ($2::int + n - 1)), h, h, s, m, 0, '', 'active', NULL, false, $5, now(), now()
			FROM unnest($6::text[], $7::text[], $8::int[]) WITH ORDINALITY AS x(h, s, m, n)`,
			tag, from, t.OrganizationID, t.OrganizationGroupID, t.ManagerID, hashes, sealed, maxes)
		if err != nil {
			return fmt.Errorf("seed invitations %s: %w", tag, err)
		}
		_, err = db.Exec(ctx, `INSERT INTO invitation_user_groups (invitation_id, user_group_id)
			SELECT bench.id($1, i), bench.id('group', i % $4::int) FROM generate_series($2::int, $3::int - 1) AS i`,
			tag, from, to, s.Groups)
		if err != nil {
			return fmt.Errorf("seed invitation groups %s: %w", tag, err)
		}
		return nil
	}
	for from := 0; from < s.Invitations; from += batch {
		to := min(from+batch, s.Invitations)
		hashes, sealed := make([]string, 0, to-from), make([]string, 0, to-from)
		for i := from; i < to; i++ {
			sl, err := auth.Seal(t.sealKey, passcode(i))
			if err != nil {
				return err
			}
			hashes, sealed = append(hashes, t.passcodeHash(passcode(i))), append(sealed, sl)
		}
		err := insert("inv", from, to, hashes, sealed, func(i int) int {
			if i < redeemPool {
				return plentySeats
			}
			return 50
		})
		if err != nil {
			return err
		}
	}
	for _, p := range []struct {
		tag string
		n   int
	}{{"pgbinv", pgbenchPool}, {"pgbhot", 1}} {
		hashes, sealed := make([]string, p.n), make([]string, p.n)
		for i := range p.n {
			sum := pgbenchClaim(p.tag, i)
			sl, err := auth.Seal(t.sealKey, fmt.Sprintf("PGBENCH-%d", i))
			if err != nil {
				return err
			}
			hashes[i], sealed[i] = sum, sl
		}
		if err := insert(p.tag, 0, p.n, hashes, sealed, func(int) int { return plentySeats }); err != nil {
			return err
		}
	}
	log.Printf("  seeded %-22s %9d rows in %s", "invitations (+groups)", s.Invitations+pgbenchPool+1, time.Since(t0).Round(time.Millisecond))
	return nil
}

// createInvitation inserts an active invitation with the given seats, for
// user group 0, as the workloads that need one of their own (the hot
// invitation, the office burst) use it, and returns its ID and passcode,
// a random one starting with codePrefix.
func createInvitation(ctx context.Context, db *pgx.Conn, t *tenant, name, codePrefix string, seats int) (id, code string, err error) {
	id = store.NewID()
	code = codePrefix + strings.ToUpper(randomHex(6))
	sealed, err := auth.Seal(t.sealKey, code)
	if err != nil {
		return "", "", err
	}
	h := t.passcodeHash(code)
	// Without email verification, as the seeded invitations above.
	_, err = db.Exec(ctx, `INSERT INTO invitations (id, organization_id, organization_group_id, name, search,
			passcode_hash, passcode_claim, passcode_sealed, max_registrations, registrations_used, message,
			status, expires_at, require_email_verification, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, lower($4), $5, $5, $6, $7, 0, '', 'active', NULL, false, $8, now(), now())`,
		id, t.OrganizationID, t.OrganizationGroupID, name, h, sealed, seats, t.ManagerID)
	if err == nil {
		_, err = db.Exec(ctx, `INSERT INTO invitation_user_groups (invitation_id, user_group_id) VALUES ($1, bench.id('group', 0))`, id)
	}
	return id, code, err
}

// seatState reads an invitation's seats and counts its redemptions.
func seatState(ctx context.Context, db *pgx.Conn, id string) (used, max, redemptions int, err error) {
	err = db.QueryRow(ctx, `SELECT registrations_used, max_registrations,
			(SELECT count(*) FROM redemptions WHERE invitation_id = $1)
		FROM invitations WHERE id = $1`, id).Scan(&used, &max, &redemptions)
	return used, max, redemptions, err
}

// seededTables are the tables counted as the organization's rows.
var seededTables = []string{"users", "courses", "user_groups", "user_group_members", "user_group_courses",
	"enrollments", "invitations", "invitation_user_groups"}

func countRows(ctx context.Context, db *pgx.Conn) (map[string]int64, int64, error) {
	rows := map[string]int64{}
	var total int64
	for _, tbl := range seededTables {
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("count %s: %w", tbl, err)
		}
		rows[tbl] = n
		total += n
	}
	return rows, total, nil
}
