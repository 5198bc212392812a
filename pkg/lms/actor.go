package lms

import (
	"context"
	"sync"
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

// PendingActor is the caller of a read whose access token is verified but
// whose row (still active? same role?) has not been read yet. The store
// reads the row in the same round trip as the request's first query when
// it can; Settle reads it alone when that did not happen. Whatever reads
// it, nothing of the request may be answered until Settle has succeeded.
type PendingActor struct {
	// Claimed is the actor as the token describes it. A gate may admit the
	// request on its role, to be judged again once settled.
	Claimed *Actor

	read    func(context.Context) (*Actor, error)
	mu      sync.Mutex
	settled bool
	actor   *Actor
	err     error
}

// NewPendingActor returns the pending caller claimed, whose row read reads.
func NewPendingActor(claimed *Actor, read func(context.Context) (*Actor, error)) *PendingActor {
	return &PendingActor{Claimed: claimed, read: read}
}

// Settle returns the caller as its row is now, reading the row unless
// Resolve already recorded it.
func (p *PendingActor) Settle(ctx context.Context) (*Actor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.actor, p.err = p.read(ctx)
		p.settled = true
	}
	return p.actor, p.err
}

// Settled reports whether the caller's row has been read.
func (p *PendingActor) Settled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.settled
}

// Resolve records the caller's row as read by other means: the actor, or
// why the token no longer holds. The first outcome recorded stands.
func (p *PendingActor) Resolve(a *Actor, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.actor, p.err, p.settled = a, err, true
	}
}

type pendingKey struct{}

// NewContextWithPendingActor returns a copy of ctx pending p's row check.
// Its actor is p.Claimed without a role: queries are scoped by the
// claimed organization, which the row check then confirms, but code that
// branches on the role finds none rather than one the row may no longer
// hold.
func NewContextWithPendingActor(ctx context.Context, p *PendingActor) context.Context {
	a := *p.Claimed
	a.Role = ""
	return context.WithValue(NewContextWithActor(ctx, &a), pendingKey{}, p)
}

// PendingActorFromContext returns the pending caller of ctx, or nil when
// its actor was read before the request went on.
func PendingActorFromContext(ctx context.Context) *PendingActor {
	p, _ := ctx.Value(pendingKey{}).(*PendingActor)
	return p
}
