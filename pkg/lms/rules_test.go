package lms

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// errWeakPassword stands for whatever the password policy refuses.
var errWeakPassword = errors.New("must be at least 12 characters")

// passwordRule refuses "weak" and allows everything else.
func passwordRule(password, _ string) error {
	if password == "weak" {
		return errWeakPassword
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

const (
	id      = "0190a8f2-2f4b-7c3e-9d1a-5b6c7d8e9f00"
	badText = "a\u202eb" // a right-to-left override
)

// TestValidationMessages runs every rule's invalid inputs and checks each
// field and message a client is told, in order.
func TestValidationMessages(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Second)
	long := func(n int) string { return strings.Repeat("x", n) }
	name := fmt.Sprintf("must be 1 to %d characters", MaxNameLen)
	personName := fmt.Sprintf("must be 1 to %d characters", MaxPersonNameLen)
	groups := fmt.Sprintf("must list 1 to %d user group IDs", MaxInvitationGroups)
	newInvitation := func(change func(*NewInvitation)) error {
		in := NewInvitation{Name: "Q3", MaxRegistrations: 1, OrganizationGroupID: id, UserGroupIDs: []string{id}}
		change(&in)
		return in.Validate(now)
	}
	addresses := func(n int, addr string) []string { return slices.Repeat([]string{addr}, n) }
	quota := MailQuota{PerHour: 3, PerDay: 5}
	send := func(recipients []string, sendCopy, byUser bool) error {
		_, err := CheckSend(recipients, sendCopy, byUser, quota)
		return err
	}
	cases := []struct {
		name string
		err  error
		want []FieldError // field, message
	}{
		{"invitation name blank", newInvitation(func(in *NewInvitation) { in.Name = " \n " }), []FieldError{{"name", name}}},
		{"invitation name too long", newInvitation(func(in *NewInvitation) { in.Name = long(MaxNameLen + 1) }), []FieldError{{"name", name}}},
		{"invitation name control", newInvitation(func(in *NewInvitation) { in.Name = badText }), []FieldError{{"name", TextRule}}},
		{"no seats", newInvitation(func(in *NewInvitation) { in.MaxRegistrations = 0 }),
			[]FieldError{{"max_registrations", fmt.Sprintf("must be from 1 to %d", MaxRegistrations)}}},
		{"too many seats", newInvitation(func(in *NewInvitation) { in.MaxRegistrations = MaxRegistrations + 1 }),
			[]FieldError{{"max_registrations", fmt.Sprintf("must be from 1 to %d", MaxRegistrations)}}},
		{"no user groups", newInvitation(func(in *NewInvitation) { in.UserGroupIDs = []string{} }), []FieldError{{"user_group_ids", groups}}},
		{"too many user groups", newInvitation(func(in *NewInvitation) { in.UserGroupIDs = addresses(MaxInvitationGroups+1, id) }),
			[]FieldError{{"user_group_ids", groups}}},
		{"user group not an ID", newInvitation(func(in *NewInvitation) { in.UserGroupIDs = []string{"x"} }), []FieldError{{"user_group_ids", groups}}},
		{"message control", newInvitation(func(in *NewInvitation) { in.Message = "a\x00b" }), []FieldError{{"message", TextRule}}},
		{"message too long", newInvitation(func(in *NewInvitation) { in.Message = long(MaxMessageLen + 1) }),
			[]FieldError{{"message", fmt.Sprintf("must be at most %d characters", MaxMessageLen)}}},
		{"expiry past", newInvitation(func(in *NewInvitation) { in.ExpiresAt = &past }), []FieldError{{"expires_at", "must be in the future"}}},
		{"expiry now", newInvitation(func(in *NewInvitation) { in.ExpiresAt = ptr(now) }), []FieldError{{"expires_at", "must be in the future"}}},
		{"too many domains", newInvitation(func(in *NewInvitation) { in.AllowedEmailDomains = addresses(MaxAllowedEmailDomains+1, "a.com") }),
			[]FieldError{{"allowed_email_domains", fmt.Sprintf("must list at most %d domains", MaxAllowedEmailDomains)}}},
		{"bad domain", newInvitation(func(in *NewInvitation) { in.AllowedEmailDomains = []string{"a.com", "[127.0.0.1]"} }),
			[]FieldError{{"allowed_email_domains[1]", "must be a domain name such as example.com"}}},
		{"invitation organization group", newInvitation(func(in *NewInvitation) { in.OrganizationGroupID = "" }),
			[]FieldError{{"organization_group_id", "must be an organization group ID"}}},
		{"new invitation paused", newInvitation(func(in *NewInvitation) { in.Status = InvitationPaused }),
			[]FieldError{{"status", "must be draft or active"}}},
		{"invitation update status", (&InvitationUpdate{Status: ptr(InvitationFull)}).Validate(now),
			[]FieldError{{"status", "must be draft, active, paused or revoked"}}},
		{"invitation update fields", (&InvitationUpdate{Name: ptr(""), MaxRegistrations: ptr(0), UserGroupIDs: &[]string{}}).Validate(now),
			[]FieldError{{"name", name}, {"max_registrations", fmt.Sprintf("must be from 1 to %d", MaxRegistrations)}, {"user_group_ids", groups}}},
		{"passcode control", CheckPasscode("KX7P\x00M3QD"), []FieldError{{"passcode", TextRule}}},
		{"passcode short", CheckPasscode("KX7"), []FieldError{{"passcode", fmt.Sprintf(
			"must be %d to %d characters, not counting spaces and dashes, and at most %d with them", MinPasscodeLen, MaxPasscodeLen, MaxPasscodeInputLen)}}},
		{"passcode with too many dashes", CheckPasscode("KX7P" + strings.Repeat("-", MaxPasscodeInputLen) + "M3QD"), []FieldError{{"passcode", fmt.Sprintf(
			"must be %d to %d characters, not counting spaces and dashes, and at most %d with them", MinPasscodeLen, MaxPasscodeLen, MaxPasscodeInputLen)}}},
		{"preview passcode", CheckPreviewPasscode("a\nb"), []FieldError{{"passcode", TextRule}}},
		{"email domain", CheckEmailDomain("kate@example.org", []string{"example.com", "example.net"}),
			[]FieldError{{"email", "must be an address at example.com, example.net"}}},

		{"new user", (&NewUser{Email: "kate", FirstName: " ", LastName: long(MaxPersonNameLen + 1), Role: "owner",
			OrganizationGroupID: "x", Password: "weak"}).Validate(passwordRule),
			[]FieldError{{"email", "must be an email address"}, {"first_name", personName}, {"last_name", personName},
				{"role", "must be full_manager, limited_manager or learner"}, {"organization_group_id", "must be an organization group ID"},
				{"password", errWeakPassword.Error()}}},
		{"new user names control", (&NewUser{Email: "kate@example.com", FirstName: badText, LastName: badText, Role: RoleLearner}).Validate(passwordRule),
			[]FieldError{{"first_name", TextRule}, {"last_name", TextRule}}},
		{"user update", (&UserUpdate{FirstName: ptr(""), LastName: ptr(badText), Role: ptr(Role("owner")), Status: ptr(UserStatus("gone")),
			OrganizationGroupID: ptr("x")}).Validate(),
			[]FieldError{{"first_name", personName}, {"last_name", TextRule}, {"role", "must be full_manager, limited_manager or learner"},
				{"status", "must be active or disabled"}, {"organization_group_id", "must be an organization group ID"}}},
		{"user update password", UserUpdate{Password: ptr("weak")}.ValidatePassword("kate@example.com", passwordRule),
			[]FieldError{{"password", errWeakPassword.Error()}}},

		{"organization", (&NewOrganization{Name: "", ManagerEmail: "kate@", ManagerPassword: "weak"}).Validate(passwordRule),
			[]FieldError{{"name", name}, {"manager_email", "must be an email address"}, {"manager_password", errWeakPassword.Error()}}},
		{"organization group", ValidateOrganizationGroup(ptr(" "), "x"),
			[]FieldError{{"name", name}, {"parent_id", "must be an organization group ID"}}},
		{"organization group update", (&OrganizationGroupUpdate{Name: ptr(badText), ParentID: ptr("")}).Validate(),
			[]FieldError{{"name", TextRule}, {"parent_id", "must be an organization group ID"}}},
		{"no such organization group", ErrNoSuchOrganizationGroup("parent_id"), []FieldError{{"parent_id", "no such organization group"}}},
		{"organization group cycle", ErrOrganizationGroupCycle(),
			[]FieldError{{"parent_id", "must be an organization group outside this one's subtree"}}},
		{"integration client", NewIntegrationClient{Name: long(MaxNameLen + 1), Role: RoleLearner}.Validate(),
			[]FieldError{{"name", name}, {"role", "must be full_manager or limited_manager"}}},

		{"course", (&NewCourse{Name: "", Code: long(MaxCourseCodeLen + 1), Description: long(MaxDescriptionLen + 1)}).Validate(),
			[]FieldError{{"name", name}, {"code", fmt.Sprintf("must be at most %d characters", MaxCourseCodeLen)},
				{"description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLen)}}},
		{"course update", (&CourseUpdate{Name: ptr(badText), Code: ptr("A\nB"), Description: ptr("a\x00b")}).Validate(),
			[]FieldError{{"name", TextRule}, {"code", TextRule}, {"description", TextRule}}},
		{"user group", (&NewUserGroup{Name: "\t", OrganizationGroupID: "", Description: "a\x7fb"}).Validate(),
			[]FieldError{{"name", name}, {"organization_group_id", "must be an organization group ID"}, {"description", TextRule}}},
		{"user group update", (&UserGroupUpdate{Name: ptr(long(MaxNameLen + 1)), Description: ptr(long(MaxDescriptionLen + 1))}).Validate(),
			[]FieldError{{"name", name}, {"description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLen)}}},
		{"no IDs", idList("course_ids", nil), []FieldError{{"course_ids", fmt.Sprintf("must list 1 to %d IDs", MaxUserGroupAddition)}}},
		{"too many IDs", idList("user_ids", addresses(MaxUserGroupAddition+1, id)),
			[]FieldError{{"user_ids", fmt.Sprintf("must list 1 to %d IDs", MaxUserGroupAddition)}}},
		{"not an ID", idList("user_ids", []string{id, "x"}), []FieldError{{"user_ids[1]", "must be an ID"}}},
		{"not found", CheckAllFound("course_ids", "course", []string{id}, map[string]int{id: 3}, nil),
			[]FieldError{{"course_ids[3]", "no such course: " + id}}},

		{"too many recipients", send(addresses(MaxRecipients+1, "a@example.com"), false, true),
			[]FieldError{{"recipients", fmt.Sprintf("must list at most %d addresses", MaxRecipients)}}},
		{"bad recipients", send(append([]string{"a@example.com"}, addresses(maxNamedBadRecipients+2, "nobody")...), false, true),
			append(namedBad(1, maxNamedBadRecipients), FieldError{"recipients", "2 more addresses are not email addresses"})},
		{"no recipients", send(nil, false, true), []FieldError{{"recipients", "name at least one recipient or set send_copy"}}},
		{"over quota", send([]string{"a@example.com", "b@example.com", "c@example.com"}, true, true),
			[]FieldError{{"recipients", "must list at most 3 addresses: the organization may send 3 invitation emails an hour and 5 a day"}}},
		{"copy to a client", send(nil, true, false), []FieldError{{"send_copy", "only a signed-in manager can receive a copy"}}},
		{"quota lowered", ErrTooManyRecipients(7), []FieldError{{"recipients", "must list at most 7 addresses"}}},

		{"redemption empty", (&NewRedemption{Passcode: " ", Email: "kate"}).Validate(passwordRule),
			[]FieldError{{"passcode", "is required"}, {"email", "must be an email address"}, {"password", "is required"}}},
		{"redemption controls", (&NewRedemption{Passcode: "a\x00", Email: "k\u202e@example.com", Password: "weak",
			FirstName: badText, LastName: long(MaxPersonNameLen + 1)}).Validate(passwordRule),
			[]FieldError{{"passcode", TextRule}, {"email", TextRule}, {"first_name", TextRule}, {"last_name", personName}}},
		{"redemption password", (&NewRedemption{Passcode: "KX7P-M3QD", Email: "kate@example.com", Password: "weak"}).Validate(passwordRule),
			[]FieldError{{"password", errWeakPassword.Error()}}},
		{"redemption names", (&NewRedemption{}).NamesRequired(),
			[]FieldError{{"first_name", "is required, unless you sign in with the password of an existing account"},
				{"last_name", "is required, unless you sign in with the password of an existing account"}}},
		{"invalid", Invalid("x", "y"), []FieldError{{"x", "y"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *Error
			if !errors.As(c.err, &e) || e.Code != EInvalid || e.Message != "the request has invalid fields" {
				t.Fatalf("got %v, want validation_failed", c.err)
			}
			if !slices.Equal(e.Fields, c.want) {
				t.Errorf("fields\n got %q\nwant %q", e.Fields, c.want)
			}
		})
	}
}

func idList(field string, ids []string) error {
	_, _, err := CheckIDList(field, ids)
	return err
}

// namedBad is the field errors of recipients[from] to recipients[from+n-1]
// that are not addresses.
func namedBad(from, n int) []FieldError {
	out := make([]FieldError, n)
	for i := range out {
		out[i] = FieldError{fmt.Sprintf("recipients[%d]", from+i), "must be an email address"}
	}
	return out
}

// TestValidInputs: the rules accept what they should, and normalize it as
// it is stored.
func TestValidInputs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	expires := now.Add(time.Hour + time.Nanosecond)
	in := NewInvitation{Name: " Q3 ", MaxRegistrations: 1, OrganizationGroupID: id, UserGroupIDs: []string{id, id},
		ExpiresAt: &expires, AllowedEmailDomains: []string{" @Example.COM", "example.com"}}
	if err := in.Validate(now); err != nil {
		t.Fatal(err)
	}
	if in.Name != "Q3" || in.Status != InvitationDraft || len(in.UserGroupIDs) != 1 || !slices.Equal(in.AllowedEmailDomains, []string{"example.com"}) ||
		in.ExpiresAt.Location() != time.UTC || in.ExpiresAt.Nanosecond()%1000 != 0 {
		t.Errorf("normalized to %+v", in)
	}
	u := NewUser{Email: " Kate@Example.com ", FirstName: " Kate ", LastName: "Bell", Role: RoleLearner, Password: "strong"}
	if err := u.Validate(passwordRule); err != nil || u.Email != "kate@example.com" || u.FirstName != "Kate" {
		t.Errorf("%+v: %v", u, err)
	}
	addrs, err := CheckSend([]string{"A@example.com", "a@example.com", "b@example.com"}, true, true, DefaultMailQuota)
	if err != nil || !slices.Equal(addrs, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("CheckSend: %v, %v", addrs, err)
	}
	if err := CheckEmailDomain("kate@example.com", nil); err != nil {
		t.Error(err)
	}
}

// TestInvitationApply covers the PATCH semantics of an invitation: what a
// change does and which it refuses.
func TestInvitationApply(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	base := func() *Invitation {
		return &Invitation{Name: "Q3", Passcode: "KX7P-M3QD", Status: InvitationActive, MaxRegistrations: 5, RegistrationsUsed: 3, ExpiresAt: &later}
	}
	revoked := base()
	revoked.Status = InvitationRevoked
	if err := revoked.Apply(InvitationUpdate{Name: ptr("x")}, now, "Acme"); ErrorCode(err) != EConflict {
		t.Errorf("revoked: %v", err)
	}
	if err := base().Apply(InvitationUpdate{Status: ptr(InvitationDraft)}, now, "Acme"); ErrorCode(err) != EConflict {
		t.Errorf("active to draft: %v", err)
	}
	inv := base()
	err := inv.Apply(InvitationUpdate{Name: ptr("Winter rollout"), Passcode: ptr(" Winter-Rollout-7 ")}, now, "Acme")
	if ErrorCode(err) != EPasscodeWeak || inv.Passcode != "KX7P-M3QD" {
		t.Errorf("a passcode with the new name: %v, passcode %q", err, inv.Passcode)
	}
	inv = base()
	if err := inv.Apply(InvitationUpdate{Passcode: ptr("aaaa"), Status: ptr(InvitationRevoked)}, now, "Acme"); err != nil || inv.Passcode != "KX7P-M3QD" {
		t.Errorf("a passcode sent with a revocation is ignored: %v, %q", err, inv.Passcode)
	}
	inv = base()
	err = inv.Apply(InvitationUpdate{Passcode: ptr(" Blue-Heron-42 "), MaxRegistrations: ptr(2), ClearExpiry: true,
		Status: ptr(InvitationPaused), Message: ptr("hi"), AllowedEmailDomains: &[]string{"example.com"}}, now, "Acme")
	if err != nil || inv.Passcode != "Blue-Heron-42" || inv.ExpiresAt != nil || inv.Status != InvitationPaused || inv.Message != "hi" ||
		inv.MaxRegistrations != 2 || !inv.UpdatedAt.Equal(now) || inv.AllowedEmailDomains[0] != "example.com" {
		t.Errorf("%+v: %v", inv, err)
	}
	if err := inv.CheckSeats(); ErrorCode(err) != EConflict || ErrorMessage(err) != "max_registrations cannot be below the 3 registrations already used" {
		t.Errorf("CheckSeats: %v", err)
	}
}

// TestApplyUpdates: an update changes exactly the fields it names and
// stamps the time; the root organization group stays where it is.
func TestApplyUpdates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := &Course{Name: "Safety", Code: "SAF-1", Description: "old"}
	c.Apply(CourseUpdate{Code: ptr(""), Description: ptr("new")}, now)
	if *c != (Course{Name: "Safety", Description: "new", UpdatedAt: now}) {
		t.Errorf("course: %+v", c)
	}
	g := &UserGroup{Name: "Sales", Description: "d", MemberCount: 3}
	g.Apply(UserGroupUpdate{Name: ptr("Sales EU")}, now)
	if *g != (UserGroup{Name: "Sales EU", Description: "d", MemberCount: 3, UpdatedAt: now}) {
		t.Errorf("user group: %+v", g)
	}
	root := &OrganizationGroup{Name: "Acme"}
	if err := root.Apply(OrganizationGroupUpdate{Name: ptr("Acme Inc"), ParentID: ptr(id)}, now); ErrorCode(err) != EConflict ||
		root.ParentID != nil || root.Name != "Acme" {
		t.Errorf("root moved: %v, %+v", err, root)
	}
	parent := id
	og := &OrganizationGroup{Name: "Ops", ParentID: ptr("other")}
	if err := og.Apply(OrganizationGroupUpdate{ParentID: &parent}, now); err != nil || *og.ParentID != id || og.Name != "Ops" ||
		!og.UpdatedAt.Equal(now) {
		t.Errorf("moved: %v, %+v", err, og)
	}
	if parent = "changed"; *og.ParentID != id {
		t.Error("the group shares the update's parent ID")
	}
}

// TestInvitationRedeemable: a seat may be taken exactly when the status a
// client sees is active.
func TestInvitationRedeemable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	n := 0
	for _, st := range []InvitationStatus{InvitationDraft, InvitationActive, InvitationPaused, InvitationRevoked} {
		for _, used := range []int{0, 1, 2} {
			for _, exp := range []*time.Time{nil, &past, &now, &future} {
				inv := Invitation{Status: st, MaxRegistrations: 2, RegistrationsUsed: used, ExpiresAt: exp}
				if got, want := inv.Redeemable(now), inv.EffectiveStatus(now) == InvitationActive; got != want {
					t.Errorf("%+v: Redeemable %v, EffectiveStatus %s", inv, got, inv.EffectiveStatus(now))
				}
				if inv.Redeemable(now) {
					n++
				}
				if inv.Sendable(now) == (st == InvitationRevoked || (exp != nil && !exp.After(now))) {
					t.Errorf("%+v: Sendable %v", inv, inv.Sendable(now))
				}
			}
		}
	}
	if n != 4 { // active, 0 or 1 used, no expiry or a future one
		t.Errorf("%d states redeemable, want 4", n)
	}
}

// TestWeakPasscodeMessages: each reason a passcode is too easy to guess,
// as the passcode field's message and in the error's.
func TestWeakPasscodeMessages(t *testing.T) {
	t.Parallel()
	for passcode, why := range map[string]string{
		"ab-ab-ab-ab":     "it repeats the same characters",
		"zyxwvu":          "it is a sequence like 123456 or ABCDEF",
		"Password-2026":   "it contains a common word",
		"Q3-ACME-ROLLOUT": "it contains the invitation's or organization's name",
		"aabbaabb1":       "it uses fewer than 4 different characters",
	} {
		var e *Error
		if err := CheckPasscode(passcode, "Q3 rollout", "Acme"); !errors.As(err, &e) || e.Code != EPasscodeWeak ||
			e.Message != "the passcode is too easy to guess: "+why || !slices.Equal(e.Fields, []FieldError{{"passcode", why}}) {
			t.Errorf("CheckPasscode(%q) = %v, want passcode_weak: %s", passcode, err, why)
		}
	}
}

func TestCouldBePasscode(t *testing.T) {
	t.Parallel()
	for passcode, want := range map[string]bool{
		"KX7P-M3QD": true, "kx7p m3qd": true, "KX7P-": false, strings.Repeat("Z", MaxPasscodeLen): true,
		strings.Repeat("Z", MaxPasscodeLen+1): false, "KX7P" + strings.Repeat(" ", MaxPasscodeInputLen) + "M3QD": false,
	} {
		if got := CouldBePasscode(passcode); got != want {
			t.Errorf("CouldBePasscode(%q) = %v", passcode, got)
		}
	}
}

func TestMailQuotaErrOver(t *testing.T) {
	t.Parallel()
	var e *Error
	if err := (MailQuota{PerHour: 3, PerDay: 5}).ErrOver(time.Minute); !errors.As(err, &e) || e.Code != ERateLimited || e.RetryAfter != time.Minute ||
		e.Message != "the organization may send 3 invitation emails an hour and 5 a day; these would pass that" {
		t.Errorf("ErrOver: %v", err)
	}
}

// TestPageRequestMessages: a page request's problems are bad_request, the
// first named in the message.
func TestPageRequestMessages(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    PageRequest
		want []FieldError
	}{
		{PageRequest{Limit: MaxPageLimit + 1}, []FieldError{{"limit", fmt.Sprintf("must be between 1 and %d", MaxPageLimit)}}},
		{PageRequest{Limit: -1, Sort: "x"}, []FieldError{{"limit", fmt.Sprintf("must be between 1 and %d", MaxPageLimit)},
			{"sort", "must be one of the documented sort keys"}}},
	} {
		var e *Error
		if err := c.p.Normalize("created_at"); !errors.As(err, &e) || e.Code != EBadRequest ||
			e.Message != c.want[0].Field+" "+c.want[0].Message || !slices.Equal(e.Fields, c.want) {
			t.Errorf("%+v: %v", c.p, err)
		}
	}
}

// TestCheckResend: a pending redemption is sent a new link at most
// MaxVerificationResends times, one a VerificationResendInterval, and a
// refusal says when to come back.
func TestCheckResend(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	expires := now.Add(time.Hour)
	cases := []struct {
		name  string
		link  PendingLink
		retry time.Duration
		msg   string
	}{
		{"allowed", PendingLink{Resends: MaxVerificationResends - 1, SentAt: now.Add(-VerificationResendInterval), ExpiresAt: expires}, 0, ""},
		{"too soon", PendingLink{SentAt: now.Add(-10 * time.Second), ExpiresAt: expires}, VerificationResendInterval - 10*time.Second, "a moment ago"},
		{"all sent", PendingLink{Resends: MaxVerificationResends, SentAt: now.Add(-time.Hour), ExpiresAt: expires}, time.Hour, "every verification link"},
		{"all sent, expired", PendingLink{Resends: MaxVerificationResends, ExpiresAt: now.Add(-time.Minute)}, time.Second, "every verification link"},
	}
	for _, c := range cases {
		err := c.link.CheckResend(now)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != ERateLimited || e.RetryAfter != c.retry || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s: got %#v, want rate_limited after %v saying %q", c.name, err, c.retry, c.msg)
		}
	}
}
