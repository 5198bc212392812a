package client_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/client"
	"github.com/enrollkit/enrollkit/pkg/lms"
	"github.com/enrollkit/enrollkit/pkg/mail/mailtest"
	"github.com/enrollkit/enrollkit/pkg/store"
	"github.com/enrollkit/enrollkit/pkg/store/storetest"
)

// TestManagerToLearner walks the README's flow through the SDK against a
// real server on each database: a Full Manager builds a user group with a
// course and an invitation, an employee redeems its passcode and verifies
// the address from the email, the learner sees the enrollment and the
// manager sees the seat taken.
func TestManagerToLearner(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := storetest.NewStore(t, db)
		mailbox := mailtest.NewServer(t)
		storetest.StartQueue(t, st, mailbox, true)
		base := serve(t, st)
		ctx := t.Context()
		org := storetest.MustCreateOrganization(t, st, "Walkthrough")

		anonymous, err := client.NewClientWithResponses(base)
		if err != nil {
			t.Fatal(err)
		}

		// Sign in as the Full Manager.
		orgID := uuid.MustParse(org.OrganizationID)
		login, err := anonymous.LoginWithResponse(ctx, client.LoginRequest{Email: org.ManagerEmail,
			Password: storetest.Password, OrganizationID: &orgID})
		wantStatus(t, "login", login, err, 200)
		if login.JSON200.AccessToken == "" || login.JSON200.TokenType != "Bearer" {
			t.Fatalf("login answered %s", login.Body)
		}
		manager, err := client.NewClientWithResponses(base, client.WithBearerToken(login.JSON200.AccessToken))
		if err != nil {
			t.Fatal(err)
		}

		// Who am I: a person, the organization's Full Manager.
		me, err := manager.GetMeWithResponse(ctx)
		wantStatus(t, "getMe", me, err, 200)
		who, err := me.JSON200.ValueByDiscriminator()
		if err != nil {
			t.Fatal(err)
		}
		person, ok := who.(client.MeUser)
		if !ok {
			t.Fatalf("getMe answered a %T, want a MeUser: %s", who, me.Body)
		}
		if person.Kind != client.MeUserKindUser || person.Role != client.RoleFullManager ||
			person.Email != org.ManagerEmail || person.ID.String() != org.ManagerID || person.OrganizationID != orgID {
			t.Fatalf("getMe answered %s", me.Body)
		}
		root := person.OrganizationGroupID
		if root.String() != org.OrganizationGroupID {
			t.Fatalf("the manager's organization group is %s, want the root %s", root, org.OrganizationGroupID)
		}

		// A user group in the manager's organization group.
		created, err := manager.CreateUserGroupWithResponse(ctx, nil, client.CreateUserGroupRequest{
			Name: "New warehouse staff", OrganizationGroupID: root})
		wantStatus(t, "createUserGroup", created, err, 201)
		group := created.JSON201
		if group.Name != "New warehouse staff" || group.OrganizationGroupID != root || group.OrganizationID != orgID || group.CourseCount != 0 {
			t.Fatalf("createUserGroup answered %s", created.Body)
		}

		// Two courses in the catalog.
		courses := map[string]client.Course{}
		for _, c := range []struct{ name, code string }{{"Forklift Safety", "WH-101"}, {"First Aid Basics", "HS-200"}} {
			res, err := manager.CreateCourseWithResponse(ctx, nil, client.CreateCourseRequest{Name: c.name, Code: &c.code})
			wantStatus(t, "createCourse", res, err, 201)
			if res.JSON201.Name != c.name || res.JSON201.Code == nil || *res.JSON201.Code != c.code {
				t.Fatalf("createCourse %s answered %s", c.name, res.Body)
			}
			courses[c.code] = *res.JSON201
		}
		forklift := courses["WH-101"]

		// Search the catalog by name; the one match is the course to add.
		q := "forklift"
		found, err := manager.ListCoursesWithResponse(ctx, &client.ListCoursesParams{Q: &q})
		wantStatus(t, "listCourses", found, err, 200)
		if len(found.JSON200.Data) != 1 || found.JSON200.Data[0].ID != forklift.ID || found.JSON200.NextCursor != nil {
			t.Fatalf("listCourses q=%s answered %s", q, found.Body)
		}
		added, err := manager.AddUserGroupCoursesWithResponse(ctx, group.ID, nil,
			client.AddUserGroupCoursesRequest{CourseIDs: []uuid.UUID{found.JSON200.Data[0].ID}})
		wantStatus(t, "addUserGroupCourses", added, err, 200)
		if added.JSON200.Added != 1 || added.JSON200.Enrolled != 0 {
			t.Fatalf("addUserGroupCourses answered %s", added.Body)
		}

		// An active invitation for the group; addresses are verified, as
		// by default. The key makes the create safe to retry.
		message := "Welcome to the team!\nPlease register before Monday."
		invitationKey := uuid.NewString()
		active := client.CreateInvitationRequestStatusActive
		inv, err := manager.CreateInvitationWithResponse(ctx, &client.CreateInvitationParams{IdempotencyKey: &invitationKey},
			client.CreateInvitationRequest{Name: "Warehouse onboarding",
				MaxRegistrations: 25, OrganizationGroupID: root, UserGroupIDs: []uuid.UUID{group.ID},
				Message: &message, Status: &active})
		wantStatus(t, "createInvitation", inv, err, 201)
		invitation := inv.JSON201
		if invitation.Status != client.InvitationStatusActive || invitation.Passcode == "" || !invitation.RequireEmailVerification ||
			invitation.RegistrationsUsed != 0 || invitation.RegistrationsRemaining != 25 || invitation.Message != message ||
			len(invitation.UserGroupIDs) != 1 || invitation.UserGroupIDs[0] != group.ID {
			t.Fatalf("createInvitation answered %s", inv.Body)
		}
		if link, err := url.Parse(invitation.EnrollURL); err != nil || link.Query().Get("passcode") != invitation.Passcode {
			t.Fatalf("enroll_url %q does not carry the passcode %q", invitation.EnrollURL, invitation.Passcode)
		}

		// The email: its preview, and a copy to the manager to forward.
		preview0, err := manager.GetInvitationEmailWithResponse(ctx, invitation.ID)
		wantStatus(t, "getInvitationEmail", preview0, err, 200)
		if !strings.Contains(preview0.JSON200.Text, invitation.Passcode) || preview0.JSON200.Subject == "" {
			t.Fatalf("getInvitationEmail answered %s", preview0.Body)
		}
		sendCopy := true
		queued, err := manager.CreateDeliveriesWithResponse(ctx, invitation.ID, nil, client.CreateDeliveriesRequest{SendCopy: &sendCopy})
		wantStatus(t, "createDeliveries", queued, err, 202)
		if len(queued.JSON202.Data) != 1 || queued.JSON202.Data[0].Recipient != org.ManagerEmail {
			t.Fatalf("createDeliveries answered %s", queued.Body)
		}

		// The employee: where the passcode leads.
		preview, err := anonymous.PreviewRedemptionWithResponse(ctx, client.PasscodeRequest{Passcode: invitation.Passcode})
		wantStatus(t, "previewRedemption", preview, err, 200)
		p := preview.JSON200
		if p.OrganizationName != "Walkthrough" || p.InvitationName != "Warehouse onboarding" || p.RegistrationsRemaining != 25 ||
			len(p.UserGroups) != 1 || p.UserGroups[0].ID != group.ID || len(p.Courses) != 1 || p.Courses[0].ID != forklift.ID {
			t.Fatalf("previewRedemption answered %s", preview.Body)
		}
		wrong, err := anonymous.PreviewRedemptionWithResponse(ctx, client.PasscodeRequest{Passcode: "Not-The-Passcode-1"})
		wantStatus(t, "previewRedemption of a wrong passcode", wrong, err, 404)
		if wrong.ApplicationProblemJSON404 == nil || wrong.ApplicationProblemJSON404.Code != lms.EPasscodeInvalid {
			t.Fatalf("a wrong passcode answered %s", wrong.Body)
		}

		// Redeem it as a new employee: the seat is held, pending until the
		// address is verified, and nobody is signed in yet.
		const email, password = "grace@walkthrough.example", "Learner-passphrase-1"
		first, last := "Grace", "Hopper"
		redeemed, err := anonymous.RedeemPasscodeWithResponse(ctx, client.RedeemRequest{Passcode: invitation.Passcode,
			Email: email, FirstName: &first, LastName: &last, Password: password})
		wantStatus(t, "redeemPasscode", redeemed, err, 201)
		pending := redeemed.JSON201
		if pending.Status != client.RedemptionStatusPendingVerification || pending.Email != email || pending.InvitationID != invitation.ID ||
			pending.Tokens != nil || pending.User != nil || pending.VerificationExpiresAt == nil {
			t.Fatalf("redeemPasscode answered %s", redeemed.Body)
		}

		// The emailed link's token, posted with the password, makes the
		// account, enrolled and signed in.
		verified, err := anonymous.VerifyRedemptionWithResponse(ctx, client.VerifyRequest{
			Token: verificationToken(t, mailbox, email), Password: password})
		wantStatus(t, "verifyRedemption", verified, err, 200)
		account := verified.JSON200
		if account.Status != client.RedemptionStatusActive || account.ID != pending.ID || account.Tokens == nil ||
			account.User == nil || account.User.Email != email || account.User.Role != client.RoleLearner ||
			len(account.Enrollments) != 1 || account.Enrollments[0].CourseID != forklift.ID {
			t.Fatalf("verifyRedemption answered %s", verified.Body)
		}

		// The learner signs in with the password and lists their
		// enrollments: the group's course, through the group.
		learnerLogin, err := anonymous.LoginWithResponse(ctx, client.LoginRequest{Email: email, Password: password})
		wantStatus(t, "the learner's login", learnerLogin, err, 200)
		learner := client.BearerToken(learnerLogin.JSON200.AccessToken)
		mine, err := anonymous.ListMyEnrollmentsWithResponse(ctx, nil, learner)
		wantStatus(t, "listMyEnrollments", mine, err, 200)
		if len(mine.JSON200.Data) != 1 {
			t.Fatalf("listMyEnrollments answered %s", mine.Body)
		}
		if e := mine.JSON200.Data[0]; e.CourseID != forklift.ID || e.CourseName != "Forklift Safety" || e.CourseCode == nil ||
			*e.CourseCode != "WH-101" || e.UserID != account.User.ID || e.UserGroupID == nil || *e.UserGroupID != group.ID {
			t.Fatalf("listMyEnrollments answered %s", mine.Body)
		}
		// A learner is no manager.
		denied, err := anonymous.ListInvitationsWithResponse(ctx, nil, learner)
		wantStatus(t, "listInvitations as a learner", denied, err, 403)
		if denied.ApplicationProblemJSON403 == nil || denied.ApplicationProblemJSON403.Status != 403 {
			t.Fatalf("listInvitations as a learner answered %s", denied.Body)
		}

		// Back to the manager: one seat used, and who took it.
		seats, err := manager.GetInvitationWithResponse(ctx, invitation.ID)
		wantStatus(t, "getInvitation", seats, err, 200)
		if seats.JSON200.RegistrationsUsed != 1 || seats.JSON200.RegistrationsRemaining != 24 {
			t.Fatalf("getInvitation after one redemption answered %s", seats.Body)
		}
		taken, err := manager.ListRedemptionsWithResponse(ctx, invitation.ID, nil)
		wantStatus(t, "listRedemptions", taken, err, 200)
		if len(taken.JSON200.Data) != 1 {
			t.Fatalf("listRedemptions answered %s", taken.Body)
		}
		if r := taken.JSON200.Data[0]; r.Email != email || r.FirstName != first || r.LastName != last || r.UserID != account.User.ID ||
			len(r.UserGroups) != 1 || r.UserGroups[0].ID != group.ID {
			t.Fatalf("listRedemptions answered %s", taken.Body)
		}
		// The same as CSV, for a spreadsheet.
		asCSV := func(_ context.Context, r *http.Request) error { r.Header.Set("Accept", "text/csv"); return nil }
		sheet, err := manager.ListRedemptionsWithResponse(ctx, invitation.ID, nil, asCSV)
		if err != nil || sheet.StatusCode() != 200 || !strings.HasPrefix(string(sheet.Body), `"first_name","last_name","email","redeemed_at","user_groups"`) ||
			!strings.Contains(string(sheet.Body), email) {
			t.Fatalf("listRedemptions as CSV: %v %s", err, sheet.Body)
		}
	})
}

// serve runs the API over st on a loopback port for the test and returns
// its base URL, ending in /api/v1 as the document's server says.
func serve(t *testing.T, st *store.Store) string {
	t.Helper()
	srv, err := api.New(api.Options{
		Services: storetest.Services(st),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL + "/api/v1"
}

// response is what every generated WithResponse answer has.
type response interface {
	StatusCode() int
	GetBody() []byte
}

// wantStatus stops the test unless the call came back with status.
func wantStatus(t *testing.T, call string, res response, err error, status int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	if res.StatusCode() != status {
		t.Fatalf("%s: status %d, want %d: %s", call, res.StatusCode(), status, res.GetBody())
	}
}

var verifyLink = regexp.MustCompile(`https?://\S+/enroll/verify\?\S+`)

// verificationToken waits for the verification email to addr and returns
// the token of its link.
func verificationToken(t *testing.T, box *mailtest.Server, addr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		seen := len(box.Messages())
		if msgs := box.To(addr); len(msgs) > 0 {
			text, _, err := msgs[0].Parts()
			if err != nil {
				t.Fatal(err)
			}
			link, err := url.Parse(verifyLink.FindString(text))
			if err != nil || link.Query().Get("token") == "" {
				t.Fatalf("no verification link in the email to %s:\n%s", addr, text)
			}
			return link.Query().Get("token")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification email to %s within 15 s", addr)
		}
		box.WaitFor(seen+1, time.Until(deadline))
	}
}
