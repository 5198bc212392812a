package lms

import (
	"context"
)

// Role is what an actor may do inside its organization.
type Role string

// Roles, from most to least powerful.
const (
	RoleFullManager    Role = "full_manager"
	RoleLimitedManager Role = "limited_manager"
	RoleLearner        Role = "learner"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleFullManager, RoleLimitedManager, RoleLearner:
		return true
	}
	return false
}

// IsManager reports whether r may read the organization's structure.
func (r Role) IsManager() bool { return r == RoleFullManager || r == RoleLimitedManager }

// ActorKind tells a person from an integration client.
type ActorKind string

// Actor kinds.
const (
	ActorUser   ActorKind = "user"
	ActorClient ActorKind = "client"
)

// Actor is the authenticated caller of a request, as it is now in the
// database (not as the token remembered it).
type Actor struct {
	ID             string
	Kind           ActorKind
	OrganizationID string
	Role           Role
}

type actorKey struct{}

// NewContextWithActor returns a copy of ctx that carries a.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor of ctx, or nil when the caller is
// anonymous or pending (NewContextWithPendingCaller) and not yet settled.
func ActorFromContext(ctx context.Context) *Actor {
	switch v := ctx.Value(actorKey{}).(type) {
	case *Actor:
		return v
	case PendingCaller:
		a, _ := v.Settled()
		return a
	}
	return nil
}

// OrganizationIDFromContext returns the organization the caller belongs to, or
// "" for an anonymous caller. Every store query is scoped by it; a pending
// caller's is the one its token claims, which its row check confirms.
func OrganizationIDFromContext(ctx context.Context) string {
	switch v := ctx.Value(actorKey{}).(type) {
	case *Actor:
		return v.OrganizationID
	case PendingCaller:
		return v.Claimed().OrganizationID
	}
	return ""
}

type requestIDKey struct{}

// NewContextWithRequestID returns a copy of ctx carrying the request's ID,
// so that audit events and logs below the HTTP layer can name the request.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the request ID of ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// A PendingCaller is the caller of a read whose access token is verified but
// whose row (still active? same role?) has not been read yet. The store
// reads the row in the same round trip as the request's first query when
// it can; Settle reads it alone when that did not happen. Whatever reads it,
// nothing of the request may be answered until Settle has succeeded. The
// store implements it; the API judges the caller by it.
type PendingCaller interface {
	// Claimed is the caller as its token describes it. A gate may admit the
	// request on its role, to be judged again once settled.
	Claimed() *Actor
	// Settle returns the caller as its row is now, reading the row unless
	// it was read already.
	Settle(ctx context.Context) (*Actor, error)
	// Settled returns the caller once its row was read (nil if the token no
	// longer holds), and false while it is unread.
	Settled() (*Actor, bool)
}

// NewContextWithPendingCaller returns a copy of ctx whose caller is p. Until
// p is settled ctx has no actor (ActorFromContext is nil), so code that
// would branch on the caller's role cannot see one the row may no longer
// hold: it finds no caller and refuses, loudly, instead of a silent guess.
// Queries are scoped by the claimed organization (OrganizationIDFromContext),
// which the row check then confirms.
func NewContextWithPendingCaller(ctx context.Context, p PendingCaller) context.Context {
	return context.WithValue(ctx, actorKey{}, p)
}

// CallerFromContext returns the caller of ctx as its row is now: a pending
// caller is settled first (reading its row unless the request's first query
// did). Code that needs a GET's caller's role calls it rather than
// ActorFromContext.
func CallerFromContext(ctx context.Context) (*Actor, error) {
	if p := PendingCallerFromContext(ctx); p != nil {
		return p.Settle(ctx)
	}
	return ActorFromContext(ctx), nil
}

// PendingCallerFromContext returns the pending caller of ctx, or nil when
// its actor was read before the request went on.
func PendingCallerFromContext(ctx context.Context) PendingCaller {
	p, _ := ctx.Value(actorKey{}).(PendingCaller)
	return p
}
