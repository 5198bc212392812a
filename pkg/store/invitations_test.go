package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// invitationFixture is an organization with two user groups holding three
// courses, ready for invitations.
type invitationFixture struct {
	st       *store.Store
	hasher   *auth.Hasher
	db       *store.DB
	org      *storetest.Org
	groupIDs []string
	courses  []*lms.Course
}

func newInvitationFixture(t *testing.T, db *store.DB) *invitationFixture {
	t.Helper()
	return newInvitationFixtureWith(t, db, func(*store.Deps) {})
}

// newInvitationFixtureWith is newInvitationFixture on a store whose
// dependencies change changes.
func newInvitationFixtureWith(t *testing.T, db *store.DB, change func(*store.Deps)) *invitationFixture {
	t.Helper()
	h := storetest.NewHasher()
	st := storetest.NewStoreWith(t, db, h, change)
	f := &invitationFixture{st: st, hasher: h, db: db, org: storetest.MustCreateOrganization(t, st, "Acme")}
	for i, name := range []string{"Safety 101", "Forklift basics", "First aid"} {
		c, err := st.CreateCourse(f.org.Ctx, lms.NewCourse{Name: name, Code: fmt.Sprintf("C-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		f.courses = append(f.courses, c)
	}
	for i, name := range []string{"Warehouse", "Drivers"} {
		g, err := st.CreateUserGroup(f.org.Ctx, lms.NewUserGroup{Name: name, OrganizationGroupID: f.org.OrganizationGroupID})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{f.courses[0].ID, f.courses[1+i].ID}
		if _, err := st.AddUserGroupCourses(f.org.Ctx, g.ID, ids); err != nil {
			t.Fatal(err)
		}
		f.groupIDs = append(f.groupIDs, g.ID)
	}
	return f
}

func (f *invitationFixture) invite(t *testing.T, passcode string, seats int, status lms.InvitationStatus) *lms.Invitation {
	t.Helper()
	inv, err := f.st.CreateInvitation(f.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Onboarding", Passcode: passcode,
		MaxRegistrations: seats, OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs, Status: status})
	if err != nil {
		t.Fatalf("create invitation: %v", err)
	}
	return inv
}

// inviteUntil is an active one-seat invitation named name that expires at
// expires.
func (f *invitationFixture) inviteUntil(t *testing.T, name, passcode string, expires time.Time) *lms.Invitation {
	t.Helper()
	inv, err := f.st.CreateInvitation(f.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: name, Passcode: passcode, MaxRegistrations: 1,
		OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs, ExpiresAt: &expires, Status: lms.InvitationActive})
	if err != nil {
		t.Fatalf("create invitation: %v", err)
	}
	return inv
}

func TestInvitationLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		st, ctx := f.st, f.org.Ctx

		gen := f.invite(t, "", 5, "")
		if gen.Status != lms.InvitationDraft || len(gen.Passcode) != 9 || !strings.Contains(gen.EnrollURL, "passcode="+gen.Passcode) {
			t.Fatalf("generated = %+v", gen)
		}
		inv := f.invite(t, "Blue-Heron-42", 2, lms.InvitationActive)
		if inv.RegistrationsRemaining() != 2 || len(inv.UserGroupIDs) != 2 {
			t.Fatalf("invitation = %+v", inv)
		}
		t.Run("passcodes are unique among live invitations, normalized", func(t *testing.T) {
			other := storetest.MustCreateOrganization(t, st, "Other")
			for _, pc := range []string{"blue heron 42", "BLUEHERON-42"} {
				_, err := st.CreateInvitation(other.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "X", Passcode: pc, MaxRegistrations: 1,
					OrganizationGroupID: other.OrganizationGroupID, UserGroupIDs: []string{f.groupIDs[0]}})
				wantCode(t, err, lms.EInvalid) // the other organization cannot use Acme's user group
			}
			g, err := st.CreateUserGroup(other.Ctx, lms.NewUserGroup{Name: "G", OrganizationGroupID: other.OrganizationGroupID})
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.CreateInvitation(other.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "X", Passcode: "blue heron 42", MaxRegistrations: 1,
				OrganizationGroupID: other.OrganizationGroupID, UserGroupIDs: []string{g.ID}})
			wantCode(t, err, lms.EConflict)
		})
		t.Run("weak and invalid input", func(t *testing.T) {
			for pc, code := range map[string]string{"123456": lms.EPasscodeWeak, "acme-1234": lms.EPasscodeWeak, "ab": lms.EInvalid} {
				_, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "X", Passcode: pc, MaxRegistrations: 1,
					OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs})
				wantCode(t, err, code)
			}
			_, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "X", MaxRegistrations: 0, OrganizationGroupID: f.org.OrganizationGroupID})
			wantCode(t, err, lms.EInvalid)
			sub, err := st.CreateOrganizationGroup(ctx, "Branch", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "X", MaxRegistrations: 1, OrganizationGroupID: sub.ID, UserGroupIDs: f.groupIDs})
			wantCode(t, err, lms.EInvalid) // groups outside the organization group
		})
		t.Run("status transitions", func(t *testing.T) {
			d := f.invite(t, "", 1, lms.InvitationDraft)
			set := func(s lms.InvitationStatus) error {
				_, err := st.UpdateInvitation(ctx, d.ID, lms.InvitationUpdate{Status: &s})
				return err
			}
			wantCode(t, set(lms.InvitationPaused), lms.EConflict)
			for _, s := range []lms.InvitationStatus{lms.InvitationActive, lms.InvitationPaused, lms.InvitationActive, lms.InvitationRevoked} {
				if err := set(s); err != nil {
					t.Fatalf("to %s: %v", s, err)
				}
			}
			wantCode(t, set(lms.InvitationActive), lms.EConflict)
			// A revoked invitation's passcode is free again.
			again := f.invite(t, d.Passcode, 1, lms.InvitationActive)
			if again.Passcode != d.Passcode {
				t.Fatal("passcode not reused")
			}
		})
		t.Run("an expired holder gives its passcode up", func(t *testing.T) {
			soon := time.Now().Add(time.Hour)
			old := f.inviteUntil(t, "Old", "Red-Fox-77", soon)
			_, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "New", Passcode: "red fox 77", MaxRegistrations: 1,
				OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs})
			wantCode(t, err, lms.EConflict)
			store.AdvanceClock(st, time.Hour+time.Minute)
			if got, _ := st.FindInvitationByID(ctx, old.ID); got.EffectiveStatus(soon.Add(time.Minute)) != lms.InvitationExpired {
				t.Fatalf("status = %s", got.EffectiveStatus(soon.Add(time.Minute)))
			}
			f.invite(t, "red fox 77", 1, lms.InvitationActive)
			// Reviving the old one, by a new expiry or by none, must claim its
			// passcode again, which the new one now holds.
			later := time.Now().Add(48 * time.Hour)
			_, err = st.UpdateInvitation(ctx, old.ID, lms.InvitationUpdate{ExpiresAt: &later})
			wantCode(t, err, lms.EConflict)
			_, err = st.UpdateInvitation(ctx, old.ID, lms.InvitationUpdate{ClearExpiry: true})
			wantCode(t, err, lms.EConflict)
			store.AdvanceClock(st, -time.Hour-time.Minute)
		})
		t.Run("another organization gets an expired passcode only after the grace", func(t *testing.T) {
			soon := time.Now().Add(time.Hour)
			old := f.inviteUntil(t, "Lapsed", "Grey-Wolf-31", soon)
			other := storetest.MustCreateOrganization(t, st, "Elsewhere")
			g := storetest.MustCreateUserGroup(t, st, other, "Catch")
			claim := func() error {
				_, err := st.CreateInvitation(other.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Catch", Passcode: "grey wolf 31", MaxRegistrations: 1,
					OrganizationGroupID: other.OrganizationGroupID, UserGroupIDs: []string{g.ID}, Status: lms.InvitationActive})
				return err
			}
			defer store.AdvanceClock(st, -lms.PasscodeClaimGrace-50*time.Hour)
			store.AdvanceClock(st, time.Hour+time.Minute) // expired
			wantCode(t, claim(), lms.EConflict)
			// Its owner can still extend it, and its employees still reach it.
			later := soon.Add(48 * time.Hour)
			if _, err := st.UpdateInvitation(ctx, old.ID, lms.InvitationUpdate{ExpiresAt: &later}); err != nil {
				t.Fatalf("extending the expired invitation: %v", err)
			}
			if p, err := st.PreviewRedemption(context.Background(), "Grey-Wolf-31"); err != nil || p.OrganizationName != "Acme" {
				t.Fatalf("preview after extending = %+v, %v", p, err)
			}
			// Expired again (at about 49 h), an hour short of the grace, then past
			// it: only now may another organization have it.
			store.AdvanceClock(st, lms.PasscodeClaimGrace+46*time.Hour+59*time.Minute)
			wantCode(t, claim(), lms.EConflict)
			store.AdvanceClock(st, 2*time.Hour)
			if err := claim(); err != nil {
				t.Fatalf("claiming a passcode expired past the grace: %v", err)
			}
			if p, err := st.PreviewRedemption(context.Background(), "Grey-Wolf-31"); err != nil || p.OrganizationName != "Elsewhere" {
				t.Fatalf("preview after the other organization's claim = %+v, %v", p, err)
			}
		})
		t.Run("seats never drop below those used; delete only without redemptions", func(t *testing.T) {
			if _, _, err := st.Redeem(context.Background(), lms.NewRedemption{Passcode: inv.Passcode, Email: "a@example.com",
				FirstName: "A", LastName: "B", Password: storetest.Password}); err != nil {
				t.Fatal(err)
			}
			_, err := st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{MaxRegistrations: ptr(0)})
			wantCode(t, err, lms.EInvalid)
			if _, err := st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{MaxRegistrations: ptr(1)}); err != nil {
				t.Fatalf("max down to the used seats: %v", err)
			}
			wantCode(t, st.DeleteInvitation(ctx, inv.ID), lms.EConflict)
			wantCode(t, st.DeleteUserGroup(ctx, f.groupIDs[0]), lms.EConflict) // a live invitation targets it
			lone, err := st.CreateUserGroup(ctx, lms.NewUserGroup{Name: "Lone", OrganizationGroupID: f.org.OrganizationGroupID})
			if err != nil {
				t.Fatal(err)
			}
			gone, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "G", MaxRegistrations: 1,
				OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: []string{lone.ID}})
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, st.DeleteUserGroup(ctx, lone.ID), lms.EConflict)
			if _, err := st.UpdateInvitation(ctx, gone.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationRevoked)}); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteUserGroup(ctx, lone.ID); err != nil {
				t.Fatalf("delete a group only a revoked invitation targets: %v", err)
			}
			if err := st.DeleteInvitation(ctx, gen.ID); err != nil {
				t.Fatal(err)
			}
			_, err = st.FindInvitationByID(ctx, gen.ID)
			wantCode(t, err, lms.ENotFound)
		})
		t.Run("lists by derived status and name", func(t *testing.T) {
			full := lms.InvitationFull
			page, err := st.FindInvitations(ctx, lms.InvitationFilter{Status: &full})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != inv.ID {
				t.Fatalf("full invitations = %+v, %v", page, err)
			}
			page, err = st.FindInvitations(ctx, lms.InvitationFilter{Q: "OLD"})
			if err != nil || len(page.Items) != 1 {
				t.Fatalf("q=OLD: %+v, %v", page, err)
			}
			bad := lms.InvitationStatus("lost")
			_, err = st.FindInvitations(ctx, lms.InvitationFilter{Status: &bad})
			wantCode(t, err, lms.EBadRequest)
		})
		t.Run("other organizations see nothing", func(t *testing.T) {
			other := storetest.MustCreateOrganization(t, st, "Third")
			_, err := st.FindInvitationByID(other.Ctx, inv.ID)
			wantCode(t, err, lms.ENotFound)
			_, err = st.UpdateInvitation(other.Ctx, inv.ID, lms.InvitationUpdate{Name: ptr("X")})
			wantCode(t, err, lms.ENotFound)
			wantCode(t, st.DeleteInvitation(other.Ctx, inv.ID), lms.ENotFound)
			_, err = st.InvitationEmail(other.Ctx, inv.ID)
			wantCode(t, err, lms.ENotFound)
		})
	})
}

func TestPasscodeUniqueUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := f.st.CreateInvitation(f.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Race", Passcode: "Same-Code-9917",
					MaxRegistrations: 1, OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs})
				switch lms.ErrorCode(err) {
				case "":
					wins.Add(1)
				case lms.EConflict:
					conflicts.Add(1)
				default:
					t.Errorf("create: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("%d won and %d conflicted, want 1 and 7", wins.Load(), conflicts.Load())
		}
	})
}

func redeemAs(st *store.Store, passcode, email string) (*lms.Redemption, bool, error) {
	return st.Redeem(context.Background(), lms.NewRedemption{Passcode: passcode, Email: email, FirstName: "New",
		LastName: "Hire", Password: storetest.Password, ClientIP: "192.0.2.7", UserAgent: "test"})
}

// redemptionSummary spells out what a redemption tells its learner, less
// tokens and timestamps.
func redemptionSummary(r *lms.Redemption) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s user %s %s %s %s\n", r.ID, r.InvitationID, r.User.ID, r.User.Email, r.User.Role, r.User.OrganizationGroupID)
	for _, g := range r.UserGroups {
		fmt.Fprintf(&b, "group %s %s\n", g.ID, g.Name)
	}
	for _, e := range r.Enrollments {
		group := ""
		if e.UserGroupID != nil {
			group = *e.UserGroupID
		}
		fmt.Fprintf(&b, "enrollment %s %s %s %s %s %s %s\n", e.ID, e.OrganizationID, e.UserID, e.CourseID, e.CourseName, e.CourseCode, group)
	}
	return b.String()
}

func TestRedemption(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		st := f.st
		inv := f.invite(t, "Green-Owl-58", 3, lms.InvitationActive)

		p, err := st.PreviewRedemption(context.Background(), " green owl 58 ")
		if err != nil || p.OrganizationName != "Acme" || len(p.UserGroups) != 2 || len(p.Courses) != 3 || p.RegistrationsRemaining != 3 {
			t.Fatalf("preview = %+v, %v", p, err)
		}
		r, created, err := redeemAs(st, "GREENOWL58", "Grace@Example.com")
		if err != nil || !created {
			t.Fatalf("redeem: %v", err)
		}
		if r.User.Role != lms.RoleLearner || r.User.OrganizationGroupID != f.org.OrganizationGroupID || len(r.UserGroups) != 2 ||
			len(r.Enrollments) != 3 || r.Tokens == nil || r.Tokens.RefreshToken == "" {
			t.Fatalf("redemption = %+v", r)
		}
		if a, err := st.Authenticate(context.Background(), r.Tokens.AccessToken); err != nil || a.ID != r.User.ID {
			t.Fatalf("the redemption's token: %+v, %v", a, err)
		}
		again, created, err := redeemAs(st, inv.Passcode, "grace@example.com")
		if err != nil || created || again.ID != r.ID {
			t.Fatalf("replay: %+v created=%v %v", again, created, err)
		}
		// The first answer (one statement on PostgreSQL) tells what the
		// replay reads back from the tables, in the same order.
		if a, b := redemptionSummary(r), redemptionSummary(again); a != b {
			t.Fatalf("first answer:\n%s\nreplay reads back:\n%s", a, b)
		}
		if _, err := st.Refresh(context.Background(), r.Tokens.RefreshToken); err != nil {
			t.Fatalf("the redemption's refresh token: %v", err)
		}
		_, _, err = st.Redeem(context.Background(), lms.NewRedemption{Passcode: inv.Passcode, Email: "grace@example.com", Password: "wrong-password-1"})
		wantCode(t, err, lms.EUnauthorized)
		if got, _ := st.FindInvitationByID(f.org.Ctx, inv.ID); got.RegistrationsUsed != 1 {
			t.Fatalf("seats used = %d after a redemption and its replays, want 1", got.RegistrationsUsed)
		}

		// An existing account of the organization joins with its password and no new user.
		mgr := f.org.ManagerEmail
		r2, created, err := st.Redeem(context.Background(), lms.NewRedemption{Passcode: inv.Passcode, Email: mgr, Password: storetest.Password})
		if err != nil || !created || r2.User.ID != f.org.ManagerID || r2.User.Role != lms.RoleFullManager {
			t.Fatalf("existing account: %+v %v", r2, err)
		}
		_, _, err = st.Redeem(context.Background(), lms.NewRedemption{Passcode: inv.Passcode, Email: "weak@example.com", FirstName: "W", LastName: "P", Password: "password"})
		wantCode(t, err, lms.EInvalid)
		// Without names: refused as invalid, and counted as a wrong password
		// whether or not the address has an account (finding 3).
		_, _, err = st.Redeem(context.Background(), lms.NewRedemption{Passcode: inv.Passcode, Email: "noname@example.com", Password: storetest.Password})
		var hidden *lms.Concealed
		if !errors.As(err, &hidden) || lms.ErrorCode(hidden.Shown) != lms.EInvalid || lms.ErrorCode(err) != lms.EUnauthorized {
			t.Fatalf("a redemption without names: %v, want validation_failed shown and a wrong password counted", err)
		}

		if _, _, err := redeemAs(st, inv.Passcode, "third@example.com"); err != nil {
			t.Fatal(err)
		}
		_, _, err = redeemAs(st, inv.Passcode, "fourth@example.com")
		wantCode(t, err, lms.EInvitationFull)
		// Turned away before the hash: a full invitation costs the rest of a
		// rush no password work. An account that may be replaying its own
		// redemption still gets its password checked, and its replay.
		before := f.hasher.Stats().Derivations
		_, _, err = redeemAs(st, inv.Passcode, "fifth@example.com")
		wantCode(t, err, lms.EInvitationFull)
		if n := f.hasher.Stats().Derivations - before; n != 0 {
			t.Fatalf("a new person on a full invitation cost %d password derivations, want 0", n)
		}
		if again, created, err := redeemAs(st, inv.Passcode, "grace@example.com"); err != nil || created || again.ID != r.ID {
			t.Fatalf("replay on a full invitation: %+v created=%v %v", again, created, err)
		}

		page, err := st.FindRedemptions(f.org.Ctx, inv.ID, lms.PageRequest{})
		if err != nil || len(page.Items) != 3 || page.Items[0].Email != "grace@example.com" || len(page.Items[0].UserGroups) != 2 {
			t.Fatalf("redemptions = %+v, %v", page, err)
		}
		enrolled, err := st.FindMyEnrollments(storetest.ActAs(r.User.ID, f.org.OrganizationID, lms.RoleLearner), lms.PageRequest{})
		if err != nil || len(enrolled.Items) != 3 {
			t.Fatalf("learner's enrollments = %+v, %v", enrolled, err)
		}
	})
}

func TestInvalidPasscodesAreIndistinguishable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		st, ctx := f.st, f.org.Ctx
		draft := f.invite(t, "Draft-Wren-31", 5, lms.InvitationDraft)
		paused := f.invite(t, "Pause-Lynx-64", 5, lms.InvitationActive)
		st.UpdateInvitation(ctx, paused.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationPaused)})
		revoked := f.invite(t, "Gone-Crane-27", 5, lms.InvitationActive)
		st.UpdateInvitation(ctx, revoked.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationRevoked)})
		soon := time.Now().Add(time.Hour)
		expired, err := st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "E", Passcode: "Late-Mole-83", MaxRegistrations: 5,
			OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs, ExpiresAt: &soon, Status: lms.InvitationActive})
		if err != nil {
			t.Fatal(err)
		}
		store.AdvanceClock(st, time.Hour+time.Minute)
		var first error
		for _, pc := range []string{"Never-Seen-99", draft.Passcode, paused.Passcode, revoked.Passcode, expired.Passcode} {
			_, _, err := redeemAs(st, pc, "x@example.com")
			wantCode(t, err, lms.EPasscodeInvalid)
			_, perr := st.PreviewRedemption(context.Background(), pc)
			wantCode(t, perr, lms.EPasscodeInvalid)
			if first == nil {
				first = err
			} else if err.Error() != first.Error() {
				t.Fatalf("%s answers %v, unknown answers %v", pc, err, first)
			}
		}
	})
}

// TestSeatsUnderConcurrency: 200 distinct emails against 50 seats.
func TestSeatsUnderConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		inv := f.invite(t, "Rush-Hour-4412", 50, lms.InvitationActive)
		var ok, full atomic.Int32
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				_, _, err := redeemAs(f.st, inv.Passcode, fmt.Sprintf("person%03d@example.com", i))
				switch lms.ErrorCode(err) {
				case "":
					ok.Add(1)
				case lms.EInvitationFull:
					full.Add(1)
				default:
					t.Errorf("redeem: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 50 || full.Load() != 150 {
			t.Fatalf("%d succeeded and %d were full, want 50 and 150", ok.Load(), full.Load())
		}
		counts := countRows(t, db, inv.ID, f.org.OrganizationID)
		want := map[string]int64{"seats": 50, "learners": 50, "redemptions": 50, "memberships": 100, "enrollments": 150}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("database: %v, want %v", counts, want)
		}
	})
}

// countRows reads what the database holds for an invitation: seats used,
// learners, redemptions, memberships and enrollments made by it.
func countRows(t *testing.T, db *store.DB, invID, orgID string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	q := map[string]string{
		"seats":       "SELECT registrations_used FROM invitations WHERE id = ?",
		"learners":    "SELECT count(*) FROM users WHERE organization_id = ? AND role = 'learner'",
		"redemptions": "SELECT count(*) FROM redemptions WHERE invitation_id = ?",
		"memberships": "SELECT count(*) FROM user_group_members m JOIN users u ON u.id = m.user_id WHERE u.organization_id = ? AND u.role = 'learner'",
		"enrollments": "SELECT count(*) FROM enrollments WHERE invitation_id = ?",
	}
	for k, sql := range q {
		arg := invID
		if k == "learners" || k == "memberships" {
			arg = orgID
		}
		var n int64
		if err := db.Gorm().Raw(sql, arg).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// TestReplaysTakeOneSeat: fifty copies of one person's redemption at once
// make one redemption and take one seat, the others are replays; also when
// that seat is the invitation's last one, where a copy that finds no seat
// must still answer as a replay, not as "full".
func TestReplaysTakeOneSeat(t *testing.T) {
	t.Parallel()
	for _, seats := range []int{10, 1} {
		t.Run(fmt.Sprintf("%d seats", seats), func(t *testing.T) {
			t.Parallel()
			testReplaysTakeOneSeat(t, seats)
		})
	}
}

func testReplaysTakeOneSeat(t *testing.T, seats int) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		inv := f.invite(t, "Echo-Valley-71", seats, lms.InvitationActive)
		var created atomic.Int32
		ids := sync.Map{}
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				r, c, err := redeemAs(f.st, inv.Passcode, "same.person@example.com")
				if err != nil {
					t.Errorf("replay: %v", err)
					return
				}
				if c {
					created.Add(1)
				}
				ids.Store(r.ID, true)
			})
		}
		wg.Wait()
		n := 0
		ids.Range(func(any, any) bool { n++; return true })
		if created.Load() != 1 || n != 1 {
			t.Fatalf("%d created, %d distinct redemptions; want 1 and 1", created.Load(), n)
		}
		if c := countRows(t, db, inv.ID, f.org.OrganizationID); c["seats"] != 1 || c["learners"] != 1 || c["redemptions"] != 1 {
			t.Fatalf("database: %v", c)
		}
	})
}

func TestFailureAfterTheSeatLeavesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		inv := f.invite(t, "Fault-Line-36", 10, lms.InvitationActive)
		restore := store.FailSeats(t, db)
		if _, _, err := redeemAs(f.st, inv.Passcode, "victim@example.com"); err == nil {
			t.Fatal("the forced failure did not fail the redemption")
		}
		restore()
		c := countRows(t, db, inv.ID, f.org.OrganizationID)
		for k, n := range c {
			if n != 0 {
				t.Fatalf("%s = %d after a failed redemption: %v", k, n, c)
			}
		}
		var tokens int64
		db.Gorm().Raw("SELECT count(*) FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE u.email = 'victim@example.com'").Scan(&tokens)
		if tokens != 0 {
			t.Fatalf("%d refresh tokens left", tokens)
		}
	})
}

// TestRedemptionJudgesThePasscodeFirst: OnPasscode is told once, right
// after the passcode lookup and before any password work, whether the
// passcode is live; an error from it ends the redemption and writes nothing.
// Validation failures come before the lookup and are not judged.
func TestRedemptionJudgesThePasscodeFirst(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		inv := f.invite(t, "Judge-Early-8314", 2, lms.InvitationActive)
		type call struct {
			live        bool
			derivations uint64
		}
		var calls []call
		judge := func(refuse error) func(context.Context, bool) error {
			return func(_ context.Context, live bool) error {
				calls = append(calls, call{live, f.hasher.Stats().Derivations})
				return refuse
			}
		}
		redeem := func(passcode, email, password string, refuse error) error {
			calls = nil
			_, _, err := f.st.Redeem(context.Background(), lms.NewRedemption{Passcode: passcode, Email: email, FirstName: "N",
				LastName: "H", Password: password, OnPasscode: judge(refuse)})
			return err
		}
		before := f.hasher.Stats().Derivations
		wantCode(t, redeem("Wrong-Guess-0001", "a@example.com", storetest.Password, nil), lms.EPasscodeInvalid)
		if len(calls) != 1 || calls[0].live || calls[0].derivations != before {
			t.Fatalf("a wrong passcode was judged %+v, want once, not live, before any hash", calls)
		}
		refused := lms.Errorf(lms.ERateLimited, "refused by the test")
		if err := redeem(inv.Passcode, "b@example.com", storetest.Password, refused); err != refused {
			t.Fatalf("a refused attempt ended with %v, want the judge's error", err)
		}
		if len(calls) != 1 || !calls[0].live || f.hasher.Stats().Derivations != before {
			t.Fatalf("a live passcode was judged %+v and %d hashes made, want once, live, none", calls, f.hasher.Stats().Derivations-before)
		}
		if got, _ := f.st.FindInvitationByID(f.org.Ctx, inv.ID); got.RegistrationsUsed != 0 {
			t.Fatalf("a refused attempt took a seat")
		}
		if err := redeem(inv.Passcode, "b@example.com", storetest.Password, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.st.FindInvitationByID(f.org.Ctx, inv.ID); got.RegistrationsUsed != 1 {
			t.Fatalf("seats used = %d after the first registration, want 1", got.RegistrationsUsed)
		}
		if len(calls) != 1 || !calls[0].live || calls[0].derivations != before {
			t.Fatalf("a correct redemption was judged %+v, want once, live, before its hash", calls)
		}
		wantCode(t, redeem("", "c@example.com", storetest.Password, nil), lms.EInvalid)
		if len(calls) != 0 {
			t.Fatalf("an invalid request was judged %+v, want not at all", calls)
		}
	})
}

func TestPausingStopsRedemptionsAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		inv := f.invite(t, "Stop-Sign-5521", 1000, lms.InvitationActive)
		var paused atomic.Bool
		var afterPause atomic.Int32
		var wg sync.WaitGroup
		var i atomic.Int32
		for range 4 {
			wg.Go(func() {
				for range 15 {
					startedAfterPause := paused.Load()
					_, _, err := redeemAs(f.st, inv.Passcode, fmt.Sprintf("b%d@example.com", i.Add(1)))
					if startedAfterPause && err == nil {
						afterPause.Add(1)
					}
					if err != nil && lms.ErrorCode(err) != lms.EPasscodeInvalid {
						t.Errorf("redeem: %v", err)
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationPaused)}); err != nil {
			t.Fatal(err)
		}
		paused.Store(true)
		wg.Wait()
		if afterPause.Load() != 0 {
			t.Fatalf("%d redemptions started after the pause succeeded", afterPause.Load())
		}
		c := countRows(t, db, inv.ID, f.org.OrganizationID)
		if c["seats"] != c["redemptions"] || c["seats"] != c["learners"] {
			t.Fatalf("database disagrees with itself: %v", c)
		}
	})
}

func TestInvitationChangesAreAudited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		ctx := lms.NewContextWithRequestID(f.org.Ctx, "req-audit-1")
		inv, err := f.st.CreateInvitation(ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Audited", MaxRegistrations: 3,
			OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Message: ptr("Hi")}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationActive)}); err != nil {
			t.Fatal(err)
		}
		srv := mailtest.NewServer(t)
		startQueue(t, f.st, srv, false)
		if _, err := f.st.CreateDeliveries(ctx, inv.ID, true, nil); err != nil {
			t.Fatal(err)
		}
		// A refused change leaves no event.
		if _, err := f.st.UpdateInvitation(ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationDraft)}); err == nil {
			t.Fatal("active to draft was allowed")
		}
		if err := f.st.DeleteInvitation(ctx, inv.ID); err != nil {
			t.Fatal(err)
		}
		var events []struct {
			Action, ActorKind, RequestID string
			ActorID                      *string
		}
		err = db.Gorm().Raw("SELECT action, actor_kind, actor_id, request_id FROM audit_events WHERE target_id = ? ORDER BY id", inv.ID).Scan(&events).Error
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
			if e.ActorKind != "user" || e.ActorID == nil || *e.ActorID != f.org.ManagerID || e.RequestID != "req-audit-1" {
				t.Errorf("event %+v", e)
			}
		}
		want := "invitation.create invitation.update invitation.status.active invitation.send invitation.delete"
		if strings.Join(actions, " ") != want {
			t.Fatalf("audit trail = %v, want %s", actions, want)
		}
	})
}

// TestExpiryWithAnOffset: an expiry sent with a non-UTC offset means the same
// instant on both dialects (SQLite compares stored times as text).
func TestExpiryWithAnOffset(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		ny := time.FixedZone("UTC-5", -5*3600)
		exp := time.Now().Add(2 * time.Hour).In(ny)
		inv, err := f.st.CreateInvitation(f.org.Ctx, lms.NewInvitation{RequireEmailVerification: noVerification, Name: "Offset", Passcode: "Zone-Shift-4417",
			MaxRegistrations: 2, OrganizationGroupID: f.org.OrganizationGroupID, UserGroupIDs: f.groupIDs,
			ExpiresAt: &exp, Status: lms.InvitationActive})
		if err != nil {
			t.Fatal(err)
		}
		if inv.ExpiresAt.Location() != time.UTC || !inv.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) {
			t.Fatalf("expires_at = %v, want %v in UTC", inv.ExpiresAt, exp)
		}
		active := lms.InvitationActive
		page, err := f.st.FindInvitations(f.org.Ctx, lms.InvitationFilter{Status: &active})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("active invitations = %+v, %v", page, err)
		}
		if _, _, err := redeemAs(f.st, inv.Passcode, "tz@example.com"); err != nil {
			t.Fatalf("redeem before the expiry: %v", err)
		}
	})
}

func TestRevokedInvitationsAreNotMailed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		srv := mailtest.NewServer(t)
		srv.SetDown(true)
		startQueue(t, f.st, srv, true)
		inv := f.invite(t, "Late-Letter-3318", 5, lms.InvitationActive)
		if _, err := f.st.CreateDeliveries(f.org.Ctx, inv.ID, false, []string{"late@example.com"}); err != nil {
			t.Fatal(err)
		}
		waitDeliveries(t, f.st, f.org.Ctx, inv.ID, func(ds []*lms.Delivery) bool { return ds[0].Attempts >= 1 })
		if _, err := f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationRevoked)}); err != nil {
			t.Fatal(err)
		}
		srv.SetDown(false)
		ds := waitDeliveries(t, f.st, f.org.Ctx, inv.ID, func(ds []*lms.Delivery) bool { return ds[0].Status == lms.DeliveryFailed })
		if !strings.Contains(ds[0].LastError, "revoked") {
			t.Fatalf("last_error = %q", ds[0].LastError)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages sent for a revoked invitation", n)
		}
	})
}

func TestRevokeIsNotUndoneByAConcurrentChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationFixture(t, db)
		for i := range 20 {
			inv := f.invite(t, "", 5, lms.InvitationActive)
			if _, err := f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: ptr(lms.InvitationPaused)}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for _, st := range []lms.InvitationStatus{lms.InvitationRevoked, lms.InvitationActive} {
				wg.Go(func() { f.st.UpdateInvitation(f.org.Ctx, inv.ID, lms.InvitationUpdate{Status: &st}) })
			}
			wg.Wait()
			got, err := f.st.FindInvitationByID(f.org.Ctx, inv.ID)
			if err != nil {
				t.Fatal(err)
			}
			var claim *string
			db.Gorm().Raw("SELECT passcode_claim FROM invitations WHERE id = ?", inv.ID).Scan(&claim)
			if (got.Status == lms.InvitationRevoked) != (claim == nil) {
				t.Fatalf("round %d: status %s with passcode claim %v", i, got.Status, claim)
			}
		}
	})
}

// noVerification turns email verification off for the invitations of the
// tests about seats, statuses and expiry, whose redemptions are made active
// at once; the verification tests turn it on.
var noVerification = new(bool)
