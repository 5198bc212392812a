package lms

import (
	"context"
	"time"
)

// ActorSystem is the actor of an audit event no caller made: a command run
// on the server, such as a course import.
const ActorSystem ActorKind = "system"

// AuditEvent records who changed what in an organization, and when. It is
// written in the transaction of the change, so the log holds an event
// exactly for each change that happened.
type AuditEvent struct {
	ID             string
	OrganizationID string
	// ActorID is the user or integration client that acted; "" when
	// ActorKind is ActorSystem.
	ActorID   string
	ActorKind ActorKind
	// Action names the change as object.verb, e.g. "user_group.create",
	// "user_group.members.add" or "invitation.status.revoked".
	Action     string
	TargetType string
	TargetID   string
	// RequestID is the X-Request-ID of the request that made the change,
	// "" for a command.
	RequestID string
	CreatedAt time.Time
}

// MaxAuditNameLen bounds the action and target type a list filters by;
// the longest recorded is well under it.
const MaxAuditNameLen = 64

// AuditEventFilter narrows the audit log; a nil field does not narrow it.
// Since is inclusive and Until exclusive, so consecutive windows never
// share an event.
type AuditEventFilter struct {
	PageRequest
	Action     *string
	ActorID    *string
	TargetType *string
	TargetID   *string
	Since      *time.Time
	Until      *time.Time
}

// Validate judges the filter's values, each a bad_request error as for any
// list's filter: IDs must be IDs, an action or target type a name such as
// "user_group.members.add", and Until later than Since.
func (f *AuditEventFilter) Validate() error {
	for _, id := range []struct {
		name  string
		value *string
	}{{"actor_id", f.ActorID}, {"target_id", f.TargetID}} {
		if id.value != nil && !ValidID(*id.value) {
			return Errorf(EBadRequest, "%s must be an ID", id.name)
		}
	}
	for _, name := range []struct {
		name  string
		value *string
	}{{"action", f.Action}, {"target_type", f.TargetType}} {
		if name.value != nil && !validAuditName(*name.value) {
			return Errorf(EBadRequest, "%s must be 1 to %d lowercase letters, digits, dots and underscores", name.name, MaxAuditNameLen)
		}
	}
	if f.Since != nil && f.Until != nil && !f.Until.After(*f.Since) {
		return Errorf(EBadRequest, "until must be later than since")
	}
	return nil
}

// validAuditName reports whether s is shaped like the actions and target
// types the store records.
func validAuditName(s string) bool {
	if s == "" || len(s) > MaxAuditNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// AuditService reads the audit log of the caller's organization. Only Full
// Managers reach it.
type AuditService interface {
	// Newest first unless f.Sort says otherwise. Returns bad_request.
	FindAuditEvents(ctx context.Context, f AuditEventFilter) (*Page[*AuditEvent], error)
}
