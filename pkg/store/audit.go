package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

type auditEvent struct {
	ID             string
	OrganizationID string
	ActorID        *string
	ActorKind      string
	Action         string
	TargetType     string
	TargetID       string
	RequestID      string
	CreatedAt      time.Time
}

func (e *auditEvent) domain() *lms.AuditEvent {
	actor := ""
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	return &lms.AuditEvent{ID: e.ID, OrganizationID: e.OrganizationID, ActorID: actor, ActorKind: lms.ActorKind(e.ActorKind),
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, CreatedAt: e.CreatedAt}
}

// newAuditEvent is an event of org by nobody (lms.ActorSystem), stamped
// with the request of ctx and the store's clock.
func (s *core) newAuditEvent(ctx context.Context, org, action, targetType, targetID string) *auditEvent {
	return &auditEvent{ID: newID(), OrganizationID: org, Action: action, TargetType: targetType, TargetID: targetID,
		RequestID: lms.RequestIDFromContext(ctx), CreatedAt: s.now(), ActorKind: string(lms.ActorSystem)}
}

// audit records who did what to which object, in the transaction of the
// change itself, so that an event exists exactly when the change does.
func (s *core) audit(ctx context.Context, tx *gorm.DB, action, targetType, targetID string) error {
	ev := s.newAuditEvent(ctx, lms.OrganizationIDFromContext(ctx), action, targetType, targetID)
	if a := lms.ActorFromContext(ctx); a != nil {
		ev.OrganizationID, ev.ActorID, ev.ActorKind = a.OrganizationID, &a.ID, string(a.Kind)
	}
	return tx.Create(ev).Error
}

// auditCommand is audit for a change of org that no caller made: a
// command run on the server, whose context names no organization.
func (s *core) auditCommand(ctx context.Context, tx *gorm.DB, org, action, targetType, targetID string) error {
	return tx.Create(s.newAuditEvent(ctx, org, action, targetType, targetID)).Error
}

// The two orders of the log. IDs are UUIDv7, which begin with the time
// they were made, so the ID alone orders by time, as for every list, and
// the cursor holds no timestamp.
var auditEventSorts = map[string]sortSpec[auditEvent]{
	"-created_at": {desc: true, id: func(e *auditEvent) string { return e.ID }},
	"created_at":  {id: func(e *auditEvent) string { return e.ID }},
}

// FindAuditEvents implements lms.AuditService. The organization's events,
// and those of one action, one actor or one target, each have an index
// that ends with the ID (migrations 3 and 9), so a page reads its own rows
// and no others; a target type or a time window narrows those.
func (s *Audit) FindAuditEvents(ctx context.Context, f lms.AuditEventFilter) (*lms.Page[*lms.AuditEvent], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize("-created_at", "created_at"); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	// In a fixed order, so that each combination of filters is one
	// statement text.
	for _, by := range []struct {
		column string
		value  *string
	}{{"action", f.Action}, {"actor_id", f.ActorID}, {"target_type", f.TargetType}, {"target_id", f.TargetID}} {
		if by.value != nil {
			q = q.Where(by.column+" = ?", *by.value)
		}
	}
	// In UTC: SQLite compares the stored times as text, all written in UTC.
	if f.Since != nil {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if f.Until != nil {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	return listPage(q, f.PageRequest, auditEventSorts[f.Sort], (*auditEvent).domain)
}
