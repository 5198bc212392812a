package lms

import "context"

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
// anonymous.
func ActorFromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// OrganizationIDFromContext returns the organization the caller belongs to, or
// "" for an anonymous caller. Every store query is scoped by it.
func OrganizationIDFromContext(ctx context.Context) string {
	if a := ActorFromContext(ctx); a != nil {
		return a.OrganizationID
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
