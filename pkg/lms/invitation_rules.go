package lms

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Messages of the invitation rules, built from the limits they state.
var (
	userGroupIDsRule     = fmt.Sprintf("must list 1 to %d user group IDs", MaxInvitationGroups)
	maxRegistrationsRule = fmt.Sprintf("must be from 1 to %d", MaxRegistrations)
	emailDomainsRule     = fmt.Sprintf("must list at most %d domains", MaxAllowedEmailDomains)
)

// organizationGroupIDRule is what an organization group ID field must be.
const organizationGroupIDRule = "must be an organization group ID"

// Validate puts in in the form it is stored in (the name trimmed, the
// allowed domains normalized, the user groups sorted without repeats, the
// expiry in UTC to the microsecond, an empty status draft) and reports
// every problem with it at now. The passcode is judged apart, by
// CheckPasscode, against the organization's name.
func (in *NewInvitation) Validate(now time.Time) error {
	if in.Status == "" {
		in.Status = InvitationDraft
	}
	var v Validation
	checkInvitationFields(&v, now, &in.Name, &in.MaxRegistrations, &in.UserGroupIDs, &in.Message, in.ExpiresAt, &in.AllowedEmailDomains)
	if in.UserGroupIDs == nil {
		v.Add("user_group_ids", userGroupIDsRule)
	}
	v.Check(ValidID(in.OrganizationGroupID), "organization_group_id", organizationGroupIDRule)
	v.Check(in.Status == InvitationDraft || in.Status == InvitationActive, "status", "must be draft or active")
	return v.Err()
}

// Validate puts the fields upd changes in the form they are stored in, as
// NewInvitation.Validate does, and reports every problem with them at now.
func (upd *InvitationUpdate) Validate(now time.Time) error {
	var v Validation
	checkInvitationFields(&v, now, upd.Name, upd.MaxRegistrations, upd.UserGroupIDs, upd.Message, upd.ExpiresAt, upd.AllowedEmailDomains)
	if upd.Status != nil {
		st := *upd.Status
		v.Check(st == InvitationDraft || st == InvitationActive || st == InvitationPaused || st == InvitationRevoked,
			"status", "must be draft, active, paused or revoked")
	}
	return v.Err()
}

// checkInvitationFields judges and normalizes what creating and changing an
// invitation share; a nil field is not judged.
func checkInvitationFields(v *Validation, now time.Time, name *string, maxReg *int, groups *[]string, message *string, expires *time.Time, domains *[]string) {
	if domains != nil {
		norm, bad := NormalizeEmailDomains(*domains)
		switch {
		case len(*domains) > MaxAllowedEmailDomains:
			v.Add("allowed_email_domains", emailDomainsRule)
		case bad >= 0:
			v.Add(fmt.Sprintf("allowed_email_domains[%d]", bad), "must be a domain name such as example.com")
		default:
			*domains = norm
		}
	}
	if name != nil {
		*name = strings.TrimSpace(*name)
		v.Name("name", *name, MaxNameLen)
	}
	if maxReg != nil {
		v.Check(*maxReg >= 1 && *maxReg <= MaxRegistrations, "max_registrations", maxRegistrationsRule)
	}
	if groups != nil {
		ok := len(*groups) >= 1 && len(*groups) <= MaxInvitationGroups
		for _, id := range *groups {
			ok = ok && ValidID(id)
		}
		v.Check(ok, "user_group_ids", userGroupIDsRule)
		slices.Sort(*groups)
		*groups = slices.Compact(*groups)
	}
	if message != nil {
		v.Text("message", *message, MaxMessageLen, true)
	}
	if expires != nil {
		// In UTC: SQLite compares times as text, so every stored time must
		// share one offset.
		*expires = expires.UTC().Truncate(time.Microsecond)
		v.Check(expires.After(now), "expires_at", "must be in the future")
	}
}

// Revokes reports whether upd revokes the invitation.
func (upd InvitationUpdate) Revokes() bool {
	return upd.Status != nil && *upd.Status == InvitationRevoked
}

// SetsPasscode reports whether upd gives the invitation a new passcode: a
// passcode sent with a revocation is ignored, since revoking frees the
// passcode.
func (upd InvitationUpdate) SetsPasscode() bool {
	return upd.Passcode != nil && !upd.Revokes()
}

// SetsExpiry reports whether upd changes or removes the expiry.
func (upd InvitationUpdate) SetsExpiry() bool {
	return upd.ExpiresAt != nil || upd.ClearExpiry
}

// Apply makes the changes upd asks of inv at now, or says why it may not:
// a revoked invitation changes no more, the status moves only as
// CanTransition allows, and a new passcode (see SetsPasscode) must pass
// CheckPasscode against the invitation's name, as upd renames it, and
// orgName. upd must have passed Validate. Whether inv still has as many
// seats as are taken is CheckSeats's to say, once the passcode is claimed.
func (inv *Invitation) Apply(upd InvitationUpdate, now time.Time, orgName string) error {
	if inv.Status == InvitationRevoked {
		return Errorf(EConflict, "the invitation is revoked; revoked invitations cannot change")
	}
	if upd.Status != nil && !CanTransition(inv.Status, *upd.Status) {
		return Errorf(EConflict, "an invitation cannot go from %s to %s", inv.Status, *upd.Status)
	}
	set(&inv.Name, upd.Name)
	set(&inv.Message, upd.Message)
	// Redemptions pending already stay pending: their links were sent.
	set(&inv.RequireEmailVerification, upd.RequireEmailVerification)
	set(&inv.AllowedEmailDomains, upd.AllowedEmailDomains)
	set(&inv.MaxRegistrations, upd.MaxRegistrations)
	set(&inv.UserGroupIDs, upd.UserGroupIDs)
	set(&inv.Status, upd.Status)
	if upd.ExpiresAt != nil {
		inv.ExpiresAt = upd.ExpiresAt
	} else if upd.ClearExpiry {
		inv.ExpiresAt = nil
	}
	if upd.SetsPasscode() {
		p := strings.TrimSpace(*upd.Passcode)
		if err := CheckPasscode(p, inv.Name, orgName); err != nil {
			return err
		}
		inv.Passcode = p
	}
	inv.UpdatedAt = now
	return nil
}

// set assigns *v to *dst unless v is nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// CheckSeats returns a conflict when inv has fewer seats than are taken:
// MaxRegistrations may not drop below RegistrationsUsed.
func (inv *Invitation) CheckSeats() error {
	if inv.MaxRegistrations < inv.RegistrationsUsed {
		return ErrSeatsBelowUsed(inv.RegistrationsUsed)
	}
	return nil
}

// ErrSeatsBelowUsed is the conflict of a MaxRegistrations below the used
// registrations.
func ErrSeatsBelowUsed(used int) error {
	return Errorf(EConflict, "max_registrations cannot be below the %d registrations already used", used)
}

// CouldBePasscode reports whether passcode, as typed, is of a length some
// invitation's passcode has, so that one that cannot be is refused before
// it is looked up.
func CouldBePasscode(passcode string) bool {
	n := NormalizePasscode(passcode)
	return len(n) >= MinPasscodeLen && utf8.RuneCountInString(n) <= MaxPasscodeLen &&
		utf8.RuneCountInString(passcode) <= MaxPasscodeInputLen
}

// Live reports whether inv's passcode leads to it at now: the invitation
// is active and not expired, though it may be full. Unknown, draft,
// paused, revoked and expired passcodes are answered alike.
func (inv *Invitation) Live(now time.Time) bool {
	return inv.Status == InvitationActive && (inv.ExpiresAt == nil || inv.ExpiresAt.After(now))
}

// Redeemable reports whether a redemption may take a seat of inv at now:
// it is live with a seat left, which is to say its EffectiveStatus is
// active. The store's conditional seat UPDATE states the same rule in SQL,
// and a test holds the two to the same answer.
func (inv *Invitation) Redeemable(now time.Time) bool {
	return inv.Live(now) && inv.RegistrationsUsed < inv.MaxRegistrations
}

// Sendable reports whether inv's email may go out at now: not when it is
// revoked or expired, since its passcode may then serve another
// invitation.
func (inv *Invitation) Sendable(now time.Time) bool {
	st := inv.EffectiveStatus(now)
	return st != InvitationRevoked && st != InvitationExpired
}

// CheckEmailDomain returns a validation_failed error when email may not
// redeem an invitation that allows domains (see EmailDomainAllowed).
func CheckEmailDomain(email string, domains []string) error {
	if !EmailDomainAllowed(email, domains) {
		return Invalid("email", "must be an address at "+strings.Join(domains, ", "))
	}
	return nil
}
