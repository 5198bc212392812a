package lms

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Messages the rules below share.
const (
	emailRule    = "must be an email address"
	roleRule     = "must be full_manager, limited_manager or learner"
	requiredRule = "is required"
	// namesRequiredRule answers a redemption without the names a new
	// account needs, whether or not the address has an account.
	namesRequiredRule = "is required, unless you sign in with the password of an existing account"
	// maxNamedBadRecipients bounds the field errors of one recipient list.
	maxNamedBadRecipients = 20
)

// Validate puts in in the form it is stored in (the email normalized, the
// names trimmed) and reports every problem with it; a password, when
// given, is judged by rule.
func (in *NewUser) Validate(rule PasswordRule) error {
	in.Email = NormalizeEmail(in.Email)
	in.FirstName, in.LastName = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	var v Validation
	v.Check(ValidEmail(in.Email), "email", emailRule)
	v.Name("first_name", in.FirstName, MaxPersonNameLen)
	v.Name("last_name", in.LastName, MaxPersonNameLen)
	v.Check(in.Role.Valid(), "role", roleRule)
	v.Check(in.OrganizationGroupID == "" || ValidID(in.OrganizationGroupID), "organization_group_id", organizationGroupIDRule)
	if in.Password != "" {
		v.Password("password", in.Password, in.Email, rule)
	}
	return v.Err()
}

// Validate trims the names upd changes and reports every problem with its
// fields but the password, which ValidatePassword judges against the
// account's address.
func (upd *UserUpdate) Validate() error {
	var v Validation
	if upd.FirstName != nil {
		*upd.FirstName = strings.TrimSpace(*upd.FirstName)
		v.Name("first_name", *upd.FirstName, MaxPersonNameLen)
	}
	if upd.LastName != nil {
		*upd.LastName = strings.TrimSpace(*upd.LastName)
		v.Name("last_name", *upd.LastName, MaxPersonNameLen)
	}
	if upd.Role != nil {
		v.Check(upd.Role.Valid(), "role", roleRule)
	}
	if upd.Status != nil {
		v.Check(*upd.Status == UserActive || *upd.Status == UserDisabled, "status", "must be active or disabled")
	}
	if upd.OrganizationGroupID != nil {
		v.Check(ValidID(*upd.OrganizationGroupID), "organization_group_id", organizationGroupIDRule)
	}
	return v.Err()
}

// ValidatePassword judges the new password upd sets, if any, for the
// account of email.
func (upd UserUpdate) ValidatePassword(email string, rule PasswordRule) error {
	if upd.Password == nil {
		return nil
	}
	var v Validation
	v.Password("password", *upd.Password, email, rule)
	return v.Err()
}

// ActiveFullManager reports whether u can manage its organization now.
func (u *User) ActiveFullManager() bool {
	return u.Role == RoleFullManager && u.Status == UserActive
}

// Apply makes the changes upd asks of u at now, but for the organization
// group, which the store resolves, and reports whether they end u's
// sessions: a new password, a new role or a disabled account does, so that
// re-enabling an account does not bring its sessions back and a session
// never outlives the role it was opened with. upd must have passed
// Validate.
func (u *User) Apply(upd UserUpdate, now time.Time) (endSessions bool) {
	endSessions = upd.Password != nil || (upd.Role != nil && *upd.Role != u.Role)
	if upd.Status != nil && *upd.Status != u.Status {
		endSessions = endSessions || *upd.Status == UserDisabled
	}
	set(&u.FirstName, upd.FirstName)
	set(&u.LastName, upd.LastName)
	set(&u.Role, upd.Role)
	set(&u.Status, upd.Status)
	u.UpdatedAt = now
	return endSessions
}

// Validate judges a new organization and its first Full Manager, whose
// names default to "Full" and "Manager" and whose email is normalized.
func (in *NewOrganization) Validate(rule PasswordRule) error {
	in.ManagerEmail = NormalizeEmail(in.ManagerEmail)
	if in.ManagerFirstName == "" {
		in.ManagerFirstName = "Full"
	}
	if in.ManagerLastName == "" {
		in.ManagerLastName = "Manager"
	}
	var v Validation
	v.Name("name", in.Name, MaxNameLen)
	v.Check(ValidEmail(in.ManagerEmail), "manager_email", emailRule)
	v.Password("manager_password", in.ManagerPassword, in.ManagerEmail, rule)
	return v.Err()
}

// ValidateOrganizationGroup trims a new organization group's name and
// judges it and the parent's ID ("" for the root).
func ValidateOrganizationGroup(name *string, parentID string) error {
	*name = strings.TrimSpace(*name)
	var v Validation
	v.Name("name", *name, MaxNameLen)
	v.Check(parentID == "" || ValidID(parentID), "parent_id", organizationGroupIDRule)
	return v.Err()
}

// Validate trims the name upd changes and judges upd's fields.
func (upd *OrganizationGroupUpdate) Validate() error {
	var v Validation
	if upd.Name != nil {
		*upd.Name = strings.TrimSpace(*upd.Name)
		v.Name("name", *upd.Name, MaxNameLen)
	}
	if upd.ParentID != nil {
		v.Check(ValidID(*upd.ParentID), "parent_id", organizationGroupIDRule)
	}
	return v.Err()
}

// Apply changes g as upd says, at now. The root group has no parent and
// cannot be given one; whether the new parent exists and lies outside g's
// subtree is for the store to check against the other groups.
func (g *OrganizationGroup) Apply(upd OrganizationGroupUpdate, now time.Time) error {
	if upd.ParentID != nil {
		if g.ParentID == nil {
			return Errorf(EConflict, "the root organization group cannot be moved")
		}
		parent := *upd.ParentID
		g.ParentID = &parent
	}
	set(&g.Name, upd.Name)
	g.UpdatedAt = now
	return nil
}

// ErrNoSuchOrganizationGroup is the field error of an organization group
// ID that names no group of the caller's organization.
func ErrNoSuchOrganizationGroup(field string) error {
	return Invalid(field, "no such organization group")
}

// ErrOrganizationGroupCycle is the field error of a move of an
// organization group under itself or one of its descendants.
func ErrOrganizationGroupCycle() error {
	return Invalid("parent_id", "must be an organization group outside this one's subtree")
}

// Validate judges a new integration client.
func (in NewIntegrationClient) Validate() error {
	var v Validation
	v.Name("name", in.Name, MaxNameLen)
	v.Check(in.Role == RoleFullManager || in.Role == RoleLimitedManager, "role", "must be full_manager or limited_manager")
	return v.Err()
}

// Validate trims in's fields and judges them.
func (in *NewCourse) Validate() error {
	var v Validation
	checkCourseName(&v, &in.Name)
	checkCourseCode(&v, &in.Code)
	checkDescription(&v, &in.Description)
	return v.Err()
}

// Validate trims the fields upd changes and judges them.
func (upd *CourseUpdate) Validate() error {
	var v Validation
	if upd.Name != nil {
		checkCourseName(&v, upd.Name)
	}
	if upd.Code != nil {
		checkCourseCode(&v, upd.Code)
	}
	if upd.Description != nil {
		checkDescription(&v, upd.Description)
	}
	return v.Err()
}

// Apply changes c as upd says, at now; an empty code removes it.
func (c *Course) Apply(upd CourseUpdate, now time.Time) {
	set(&c.Name, upd.Name)
	set(&c.Code, upd.Code)
	set(&c.Description, upd.Description)
	c.UpdatedAt = now
}

// checkCourseName, checkCourseCode and checkDescription trim a field and
// record what is wrong with it.
func checkCourseName(v *Validation, name *string) {
	*name = strings.TrimSpace(*name)
	v.Name("name", *name, MaxNameLen)
}

func checkCourseCode(v *Validation, code *string) {
	*code = strings.TrimSpace(*code)
	v.Text("code", *code, MaxCourseCodeLen, false)
}

func checkDescription(v *Validation, d *string) {
	*d = strings.TrimSpace(*d)
	v.Text("description", *d, MaxDescriptionLen, true)
}

// Validate trims in's fields and judges them.
func (in *NewUserGroup) Validate() error {
	var v Validation
	checkUserGroupName(&v, &in.Name)
	v.Check(ValidID(in.OrganizationGroupID), "organization_group_id", organizationGroupIDRule)
	checkDescription(&v, &in.Description)
	return v.Err()
}

// Validate trims the fields upd changes and judges them.
func (upd *UserGroupUpdate) Validate() error {
	var v Validation
	if upd.Name != nil {
		checkUserGroupName(&v, upd.Name)
	}
	if upd.Description != nil {
		checkDescription(&v, upd.Description)
	}
	return v.Err()
}

// Apply changes g as upd says, at now.
func (g *UserGroup) Apply(upd UserGroupUpdate, now time.Time) {
	set(&g.Name, upd.Name)
	set(&g.Description, upd.Description)
	g.UpdatedAt = now
}

func checkUserGroupName(v *Validation, name *string) {
	*name = strings.TrimSpace(*name)
	v.Name("name", *name, MaxNameLen)
}

// CheckIDList judges the IDs of a request that adds courses or members to
// a user group: 1 to MaxUserGroupAddition of them, each an ID. It returns
// them lower-cased without repeats, with the request index of each, for
// field errors.
func CheckIDList(field string, ids []string) ([]string, map[string]int, error) {
	var v Validation
	if len(ids) == 0 || len(ids) > MaxUserGroupAddition {
		v.Add(field, fmt.Sprintf("must list 1 to %d IDs", MaxUserGroupAddition))
		return nil, nil, v.Err()
	}
	out := make([]string, 0, len(ids))
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		id = strings.ToLower(id)
		if !ValidID(id) {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be an ID")
			continue
		}
		if _, dup := index[id]; !dup {
			index[id] = i
			out = append(out, id)
		}
	}
	return out, index, v.Err()
}

// CheckAllFound reports, as field errors, the IDs of a CheckIDList list
// that are not among found (they do not exist or belong to another
// organization); what names the objects ("course", "user").
func CheckAllFound(field, what string, ids []string, index map[string]int, found []string) error {
	if len(found) == len(ids) {
		return nil
	}
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[strings.ToLower(id)] = true
	}
	var v Validation
	for _, id := range ids {
		if !have[id] {
			v.Add(fmt.Sprintf("%s[%d]", field, index[id]), "no such "+what+": "+id)
		}
	}
	return v.Err()
}

// CheckSend judges the recipients of one send of an invitation's email, a
// copy to the sender when sendCopy (only a signed-in manager, byUser, can
// receive one), against quota, and returns the addresses normalized and
// without repeats. A list longer than MaxRecipients is refused first and
// alone, so that the answer to a huge list stays small; of the entries
// that are not addresses the first few are named and the rest counted.
func CheckSend(recipients []string, sendCopy, byUser bool, quota MailQuota) ([]string, error) {
	if len(recipients) > MaxRecipients {
		return nil, ErrTooManyRecipients(MaxRecipients)
	}
	var v Validation
	seen := map[string]bool{}
	var addrs []string
	bad := 0
	for i, r := range recipients {
		e := NormalizeEmail(r)
		if !ValidEmail(e) {
			if bad++; bad <= maxNamedBadRecipients {
				v.Add(fmt.Sprintf("recipients[%d]", i), emailRule)
			}
			continue
		}
		if !seen[e] {
			seen[e] = true
			addrs = append(addrs, e)
		}
	}
	if bad > maxNamedBadRecipients {
		v.Add("recipients", fmt.Sprintf("%d more addresses are not email addresses", bad-maxNamedBadRecipients))
	}
	v.Check(sendCopy || len(recipients) > 0, "recipients", "name at least one recipient or set send_copy")
	quota.check(&v, len(addrs)+btoi(sendCopy))
	v.Check(!sendCopy || byUser, "send_copy", "only a signed-in manager can receive a copy")
	return addrs, v.Err()
}

// check refuses a send of n emails that no wait would let through: more
// than the organization's hourly or daily quota.
func (q MailQuota) check(v *Validation, n int) {
	if n > q.PerHour || n > q.PerDay {
		v.Add("recipients", fmt.Sprintf("must list at most %d addresses: the organization may send %d invitation emails an hour and %d a day",
			min(q.PerHour, q.PerDay), q.PerHour, q.PerDay))
	}
}

// CheckRecipients judges the rows of a recipient file one by one, unlike
// CheckSend, which refuses a list with one bad address whole: a staff
// list of thousands is sent with its good rows, and the bad ones come back
// with their lines to be fixed. A row is rejected when its email is not an
// address, a name it gives is not a valid name, or its address is on an
// earlier row (case-insensitively, as deliveries are de-duplicated). The
// rows kept are returned normalized (the email as stored, the names
// trimmed), in the file's order. The send as a whole is refused when the
// file has more than MaxRecipientRows rows, when no row is left to queue
// (the first few rejections are named), or when the rows left are more
// than the quota could ever take.
func CheckRecipients(rows []Recipient, quota MailQuota) ([]Recipient, []RecipientRejection, error) {
	if len(rows) > MaxRecipientRows {
		return nil, nil, ErrTooManyRecipients(MaxRecipientRows)
	}
	var kept []Recipient
	var rejected []RecipientRejection
	first := map[string]int{} // address -> the line that has it
	for _, r := range rows {
		raw := r.Email
		r.Email = NormalizeEmail(r.Email)
		r.FirstName, r.LastName = strings.TrimSpace(r.FirstName), strings.TrimSpace(r.LastName)
		var v Validation
		v.Check(ValidEmail(r.Email), "email", emailRule)
		if r.FirstName != "" {
			v.Name("first_name", r.FirstName, MaxPersonNameLen)
		}
		if r.LastName != "" {
			v.Name("last_name", r.LastName, MaxPersonNameLen)
		}
		reason := fieldReasons(v.Err())
		if line, dup := first[r.Email]; reason == "" && dup {
			reason = fmt.Sprintf("the address is on line %d already", line)
		}
		if reason != "" {
			rejected = append(rejected, RecipientRejection{Line: r.Line, Email: strings.TrimSpace(raw), Reason: reason})
			continue
		}
		first[r.Email] = r.Line
		kept = append(kept, r)
	}
	var v Validation
	if len(kept) == 0 {
		if len(rejected) == 0 {
			v.Add("recipients", "the file has no rows; give one address a row, after the header")
		}
		for i, r := range rejected {
			if i == maxNamedBadRecipients {
				v.Add("recipients", fmt.Sprintf("%d more rows are rejected too", len(rejected)-i))
				break
			}
			v.Add("recipients", fmt.Sprintf("line %d: %s", r.Line, r.Reason))
		}
	}
	quota.check(&v, len(kept))
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	return kept, rejected, nil
}

// fieldReasons says what a validation_failed error finds wrong, field by
// field, in one line ("" for nil).
func fieldReasons(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	reasons := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		reasons[i] = f.Field + " " + f.Message
	}
	return strings.Join(reasons, "; ")
}

// ErrOver is the rate_limited error of a send that would pass q now but
// fits once wait has passed.
func (q MailQuota) ErrOver(wait time.Duration) error {
	return &Error{Code: ERateLimited, RetryAfter: wait, Message: fmt.Sprintf(
		"the organization may send %d invitation emails an hour and %d a day; these would pass that", q.PerHour, q.PerDay)}
}

// ErrTooManyRecipients is the field error of a send to more than limit
// addresses.
func ErrTooManyRecipients(limit int) error {
	return Invalid("recipients", fmt.Sprintf("must list at most %d addresses", limit))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Validate puts in in the form a redemption uses (the email normalized,
// the names trimmed) and judges every field before any lookup, the
// password by rule, the policy of new accounts: an answer that came before
// the lookup for some addresses and after it for others would tell them
// apart. The names may be missing (an account signs in with its password);
// NamesRequired answers when they were needed.
func (in *NewRedemption) Validate(rule PasswordRule) error {
	in.Email = NormalizeEmail(in.Email)
	in.FirstName, in.LastName = strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	var v Validation
	v.Check(strings.TrimSpace(in.Passcode) != "", "passcode", requiredRule)
	v.Check(ValidText(in.Passcode, false), "passcode", TextRule)
	if ValidText(in.Email, false) {
		v.Check(ValidEmail(in.Email), "email", emailRule)
	} else {
		v.Add("email", TextRule)
	}
	if in.Password == "" {
		v.Add("password", requiredRule)
	} else if v.Err() == nil {
		v.Password("password", in.Password, in.Email, rule)
	}
	if in.FirstName != "" {
		v.Name("first_name", in.FirstName, MaxPersonNameLen)
	}
	if in.LastName != "" {
		v.Name("last_name", in.LastName, MaxPersonNameLen)
	}
	return v.Err()
}

// Named reports whether in carries the names a new account needs.
func (in *NewRedemption) Named() bool { return in.FirstName != "" && in.LastName != "" }

// NamesRequired is the answer to a redemption without the names a new
// account needs, given whether or not the address has an account.
func (in *NewRedemption) NamesRequired() error {
	var v Validation
	v.Check(in.FirstName != "", "first_name", namesRequiredRule)
	v.Check(in.LastName != "", "last_name", namesRequiredRule)
	return v.Err()
}

// CheckPreviewPasscode returns a validation_failed error for a passcode no
// person could have typed, before it is looked up.
func CheckPreviewPasscode(passcode string) error {
	if !ValidText(passcode, false) {
		return Invalid("passcode", TextRule)
	}
	return nil
}

// MaxVerificationResends bounds the links one pending redemption is sent
// after the first; its seat returns at the first link's expiry whatever
// happens.
const MaxVerificationResends = 5

// VerificationResendInterval is how soon a pending redemption may be
// replaced, and a new link sent to the same address: a passcode is not a
// licence to flood someone's mailbox.
const VerificationResendInterval = time.Minute

// PendingLink is what the resend rule reads of a pending redemption: how
// many links it was sent after the first, when the last went out and when
// the first expires.
type PendingLink struct {
	Resends   int
	SentAt    time.Time
	ExpiresAt time.Time
}

// CheckResend says why the pending redemption may not be sent a new link at
// now: at most MaxVerificationResends of them, one a
// VerificationResendInterval.
func (p PendingLink) CheckResend(now time.Time) error {
	if p.Resends >= MaxVerificationResends {
		return &Error{Code: ERateLimited, RetryAfter: max(p.ExpiresAt.Sub(now), time.Second),
			Message: "every verification link this address may be sent was sent; open the last one, or redeem again once it has expired"}
	}
	if wait := p.SentAt.Add(VerificationResendInterval).Sub(now); wait > 0 {
		return &Error{Code: ERateLimited, RetryAfter: wait,
			Message: "a verification link was sent to this address a moment ago; check the inbox or try again later"}
	}
	return nil
}
