package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

type refreshToken struct {
	ID        string
	FamilyID  string
	UserID    string
	TokenHash string
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

// errBadCredentials is the one answer to every failed sign-in, so that a
// caller cannot tell an unknown email from a wrong password.
func errBadCredentials() error {
	return lms.Errorf(lms.EUnauthorized, "invalid credentials")
}

// maxLoginCandidates bounds the password checks of one login when an email
// has accounts in several organizations.
const maxLoginCandidates = 5

// Login implements lms.AuthService.
func (s *Auth) Login(ctx context.Context, email, password, organizationID string) (*lms.TokenPair, error) {
	email = lms.NormalizeEmail(email)
	if !lms.ValidText(email, false) {
		return nil, lms.Errorf(lms.EBadRequest, "the email %s", lms.TextRule)
	}
	if organizationID != "" && !lms.ValidID(organizationID) {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials()
	}
	q := s.q(ctx).Where("email = ?", email)
	if organizationID != "" {
		q = q.Where("organization_id = ?", organizationID)
	}
	var candidates []user
	if err := q.Order("id").Limit(maxLoginCandidates).Find(&candidates).Error; err != nil {
		return nil, err
	}
	u, err := s.verifyAny(ctx, candidates, password)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errBadCredentials()
	}
	return s.issueTokens(ctx, s.q(ctx), u, newID())
}

// verifyAny returns the first active candidate whose password matches. With
// no candidate it still spends one hash, so that unknown emails take as long
// as wrong passwords.
func (s *Auth) verifyAny(ctx context.Context, candidates []user, password string) (*user, error) {
	if len(candidates) == 0 {
		return nil, s.hasher.VerifyDummy(ctx, password)
	}
	for i := range candidates {
		u := &candidates[i]
		if u.PasswordHash == nil {
			if err := s.hasher.VerifyDummy(ctx, password); err != nil {
				return nil, err
			}
			continue
		}
		ok, err := s.hasher.Verify(ctx, password, *u.PasswordHash)
		if err != nil {
			return nil, err
		}
		if ok && u.Status == string(lms.UserActive) {
			return u, nil
		}
	}
	return nil, nil
}

// issueTokens signs an access token for u and stores a new refresh token of
// family through tx.
func (s *Auth) issueTokens(ctx context.Context, tx *gorm.DB, u *user, family string) (*lms.TokenPair, error) {
	pair, rt, err := s.newTokens(u, family)
	if err != nil {
		return nil, err
	}
	if err := tx.WithContext(ctx).Create(rt).Error; err != nil {
		return nil, err
	}
	return pair, nil
}

// newTokens signs an access token for u and makes a refresh token of
// family, returning the row the caller must store for it.
func (s *Auth) newTokens(u *user, family string) (*lms.TokenPair, *refreshToken, error) {
	access, ttl, err := s.tokens.Issue(auth.Subject{ID: u.ID, Kind: string(lms.ActorUser),
		OrganizationID: u.OrganizationID, Role: u.Role, TokenVersion: u.TokenVersion})
	if err != nil {
		return nil, nil, err
	}
	refresh, err := auth.NewOpaqueToken()
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	rt := &refreshToken{ID: newID(), FamilyID: family, UserID: u.ID, TokenHash: auth.HashOpaqueToken(refresh),
		ExpiresAt: now.Add(s.refreshTTL), CreatedAt: now}
	return &lms.TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: refresh}, rt, nil
}

// Refresh implements lms.AuthService. The spend is one conditional update,
// so two concurrent uses of one token cannot both succeed: the loser is
// treated as reuse and the family is revoked.
func (s *Auth) Refresh(ctx context.Context, token string) (*lms.TokenPair, error) {
	if token == "" || len(token) > 256 {
		return nil, errBadCredentials()
	}
	hash := auth.HashOpaqueToken(token)
	var pair *lms.TokenPair
	reused := ""
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.now()
		res := tx.Model(&refreshToken{}).
			Where("token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", hash, now).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		var rt refreshToken
		if err := tx.Where("token_hash = ?", hash).Take(&rt).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return errBadCredentials()
		} else if err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			if rt.UsedAt != nil && rt.RevokedAt == nil {
				reused = rt.FamilyID
			}
			return errBadCredentials()
		}
		var u user
		if err := tx.Where("id = ?", rt.UserID).Take(&u).Error; err != nil {
			return translate(err, "user")
		}
		if u.Status != string(lms.UserActive) {
			return errBadCredentials()
		}
		var err error
		pair, err = s.issueTokens(ctx, tx, &u, rt.FamilyID)
		return err
	})
	if reused != "" {
		// A spent token came back: someone holds a copy. End the whole
		// family, in its own transaction since the one above rolled back.
		if rerr := revokeFamily(s.q(ctx), reused, s.now()); rerr != nil {
			return nil, rerr
		}
	}
	if err != nil {
		return nil, err
	}
	return pair, nil
}

func revokeFamily(tx *gorm.DB, family string, now time.Time) error {
	return tx.Model(&refreshToken{}).Where("family_id = ? AND revoked_at IS NULL", family).
		Update("revoked_at", now).Error
}

func revokeUserRefreshTokens(tx *gorm.DB, userID string, now time.Time) error {
	return tx.Model(&refreshToken{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error
}

// Logout implements lms.AuthService.
func (s *Auth) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > 256 {
		return nil
	}
	var rt refreshToken
	err := s.q(ctx).Where("token_hash = ?", auth.HashOpaqueToken(token)).Take(&rt).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	// The access tokens of the session end too: they carry the token
	// version, which a sign-out bumps (every session's access tokens end
	// with it; the other sessions' refresh tokens get new ones).
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := revokeFamily(tx, rt.FamilyID, s.now()); err != nil {
			return err
		}
		return tx.Model(&user{}).Where("id = ?", rt.UserID).Update("token_version", gorm.Expr("token_version + 1")).Error
	})
}

// ClientCredentials implements lms.AuthService.
func (s *Auth) ClientCredentials(ctx context.Context, clientID, secret string) (*lms.TokenPair, error) {
	if !lms.ValidID(clientID) || secret == "" || len(secret) > 256 {
		return nil, errBadCredentials()
	}
	var c integrationClient
	err := s.q(ctx).Where("id = ?", clientID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errBadCredentials()
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(c.SecretHash), []byte(auth.HashOpaqueToken(secret))) != 1 {
		return nil, errBadCredentials()
	}
	access, ttl, err := s.tokens.Issue(auth.Subject{ID: c.ID, Kind: string(lms.ActorClient),
		OrganizationID: c.OrganizationID, Role: c.Role})
	if err != nil {
		return nil, err
	}
	return &lms.TokenPair{AccessToken: access, ExpiresIn: ttl}, nil
}

// actorRow is what Authenticate re-reads of a user on every request.
type actorRow struct {
	ID, OrganizationID, Role, Status string
	TokenVersion                     int
}

func (*actorRow) columns() string { return "id, organization_id, role, status, token_version" }

func (a *actorRow) fields(dst []any) []any {
	return append(dst[:0], &a.ID, &a.OrganizationID, &a.Role, &a.Status, &a.TokenVersion)
}

// clientRow is what Authenticate re-reads of an integration client.
type clientRow struct{ ID, OrganizationID, Role string }

func (*clientRow) columns() string { return "id, organization_id, role" }

func (c *clientRow) fields(dst []any) []any {
	return append(dst[:0], &c.ID, &c.OrganizationID, &c.Role)
}

// Authenticate implements lms.AuthService. It reads the actor's current row
// on every request: one primary-key lookup buys immediate effect for
// disabling a user, changing a role or deleting a client.
func (s *Auth) Authenticate(ctx context.Context, token string) (*lms.Actor, error) {
	claims, err := s.verify(token)
	if err != nil {
		return nil, err
	}
	return s.actorOf(ctx, claims)
}

// actorOf reads the row of a verified token's subject and judges the token
// by it.
func (s *Auth) actorOf(ctx context.Context, claims *auth.AccessClaims) (*lms.Actor, error) {
	switch lms.ActorKind(claims.Kind) {
	case lms.ActorUser:
		return s.userActor(ctx, claims)
	case lms.ActorClient:
		c, err := byID[clientRow](ctx, s.core, "integration_clients", claims.Subject)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, errRevoked()
		} else if err != nil {
			return nil, err
		}
		if c.OrganizationID != claims.OrganizationID {
			return nil, errRevoked()
		}
		return &lms.Actor{ID: c.ID, Kind: lms.ActorClient, OrganizationID: c.OrganizationID, Role: lms.Role(c.Role)}, nil
	}
	return nil, errRevoked()
}

// AuthenticateLater implements lms.AuthService. A person's row is read in
// the same round trip as the first query made with the returned context
// (see pendingUser); an integration client's is read at once.
func (s *Auth) AuthenticateLater(ctx context.Context, token string) (context.Context, error) {
	claims, err := s.verify(token)
	if err != nil {
		return nil, err
	}
	if lms.ActorKind(claims.Kind) != lms.ActorUser {
		a, err := s.actorOf(ctx, claims)
		if err != nil {
			return nil, err
		}
		return lms.NewContextWithActor(ctx, a), nil
	}
	lookup, err := byIDStatement[actorRow](s.core, "users")
	if err != nil {
		return nil, err
	}
	claimed := &lms.Actor{ID: claims.Subject, Kind: lms.ActorUser, OrganizationID: claims.OrganizationID, Role: lms.Role(claims.Role)}
	p := &pendingCaller{claimed: claimed, read: func(ctx context.Context) (*lms.Actor, error) {
		// The lookup alone: settling must not wait for itself.
		return s.userActor(context.WithValue(ctx, pendingUserKey{}, (*pendingUser)(nil)), claims)
	}}
	ctx = lms.NewContextWithPendingCaller(ctx, p)
	return context.WithValue(ctx, pendingUserKey{}, &pendingUser{p: p, claims: claims, lookup: lookup}), nil
}

// pendingCaller is the lms.PendingCaller of a person's GET: its row is read
// once, by the request's first query (queryAfterUser, which resolves it) or
// alone (Settle), whichever comes first.
type pendingCaller struct {
	claimed *lms.Actor
	read    func(context.Context) (*lms.Actor, error)

	mu      sync.Mutex
	settled bool
	actor   *lms.Actor
	err     error
}

func (p *pendingCaller) Claimed() *lms.Actor { return p.claimed }

func (p *pendingCaller) Settle(ctx context.Context) (*lms.Actor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.actor, p.err = p.read(ctx)
		p.settled = true
	}
	return p.actor, p.err
}

func (p *pendingCaller) Settled() (*lms.Actor, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actor, p.settled
}

// resolve records the caller's row as the request's first query read it:
// the actor, or why the token no longer holds. The first outcome stands.
func (p *pendingCaller) resolve(a *lms.Actor, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.actor, p.err, p.settled = a, err, true
	}
}

// pendingUser is what the store needs to read a pending person's row
// together with another statement.
type pendingUser struct {
	p      *pendingCaller
	claims *auth.AccessClaims
	lookup builtStatement
}

type pendingUserKey struct{}

// pendingUserOf returns the person of ctx whose row is still to be read,
// or nil.
func pendingUserOf(ctx context.Context) *pendingUser {
	u, _ := ctx.Value(pendingUserKey{}).(*pendingUser)
	if u == nil {
		return nil
	}
	if _, settled := u.p.Settled(); settled {
		return nil
	}
	return u
}

// queryAfterUser sends the pending person's row lookup and the statement
// text in one round trip (a pgx batch), settles the person from the first
// result and, only if the token still holds, calls each for every row of
// the second.
func (u *pendingUser) queryAfterUser(ctx context.Context, conn *pgx.Conn, text string, args []any, each func(scan func(...any) error) error) error {
	b := &pgx.Batch{}
	b.Queue(u.lookup.text, u.lookup.args([]any{u.claims.Subject})...)
	b.Queue(text, args...)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return err
	}
	var row *actorRow
	err = eachRow(rows, func(scan func(...any) error) error {
		row = new(actorRow)
		return scan(row.fields(nil)...)
	})
	rows.Close()
	if err != nil {
		return err
	}
	if row == nil {
		err = gorm.ErrRecordNotFound
	}
	a, err := judgeUser(row, err, u.claims)
	u.p.resolve(a, err)
	if err != nil {
		return err
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	defer rows.Close()
	return eachRow(rows, each)
}

// verify checks an access token's signature, lifetime and subject.
func (s *Auth) verify(token string) (*auth.AccessClaims, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil || !lms.ValidID(claims.Subject) {
		return nil, lms.Errorf(lms.EUnauthorized, "the access token is invalid or expired")
	}
	return claims, nil
}

// userActor reads a person's row and judges the token by it.
func (s *Auth) userActor(ctx context.Context, claims *auth.AccessClaims) (*lms.Actor, error) {
	u, err := byID[actorRow](ctx, s.core, "users", claims.Subject)
	return judgeUser(u, err, claims)
}

// judgeUser returns the actor a person's row u makes of a token's claims,
// or why the token no longer holds: the person is gone, disabled, moved or
// signed out everywhere. The role is the row's: a changed role takes
// effect at once.
func judgeUser(u *actorRow, err error, claims *auth.AccessClaims) (*lms.Actor, error) {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errRevoked()
	} else if err != nil {
		return nil, err
	}
	if u.OrganizationID != claims.OrganizationID || u.Status != string(lms.UserActive) || u.TokenVersion != claims.TokenVersion {
		return nil, errRevoked()
	}
	return &lms.Actor{ID: u.ID, Kind: lms.ActorUser, OrganizationID: u.OrganizationID, Role: lms.Role(u.Role)}, nil
}

func errRevoked() error {
	return lms.Errorf(lms.EUnauthorized, "the access token is no longer valid")
}

// Me implements lms.AuthService.
func (s *Auth) Me(ctx context.Context) (*lms.User, error) {
	a := lms.ActorFromContext(ctx)
	if a == nil || a.Kind != lms.ActorUser {
		return nil, lms.Errorf(lms.ENotFound, "integration clients have no user profile")
	}
	return s.organizations.FindUserByID(ctx, a.ID)
}

// FindIntegrationClients implements lms.IntegrationClientService.
func (s *Auth) FindIntegrationClients(ctx context.Context, p lms.PageRequest) (*lms.Page[*lms.IntegrationClient], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.Normalize("created_at", "-created_at"); err != nil {
		return nil, err
	}
	spec := sortSpec[integrationClient]{desc: p.Sort == "-created_at", id: func(c *integrationClient) string { return c.ID }}
	return listPage(s.q(ctx).Where("organization_id = ?", org), p, spec, (*integrationClient).domain)
}

// CreateIntegrationClient implements lms.IntegrationClientService.
func (s *Auth) CreateIntegrationClient(ctx context.Context, in lms.NewIntegrationClient) (*lms.IntegrationClientSecret, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	secret, err := auth.NewOpaqueToken()
	if err != nil {
		return nil, err
	}
	c := integrationClient{ID: newID(), OrganizationID: org, Name: in.Name, Role: string(in.Role),
		SecretHash: auth.HashOpaqueToken(secret), CreatedAt: s.now()}
	if a := lms.ActorFromContext(ctx); a != nil && a.Kind == lms.ActorUser {
		c.CreatedBy = &a.ID
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "integration_client.create", "integration_client", c.ID)
	})
	if err != nil {
		return nil, translate(err, "integration client")
	}
	return &lms.IntegrationClientSecret{Client: c.domain(), Secret: secret}, nil
}

// DeleteIntegrationClient implements lms.IntegrationClientService.
func (s *Auth) DeleteIntegrationClient(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	if !lms.ValidID(id) {
		return lms.Errorf(lms.ENotFound, "integration client not found")
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("organization_id = ? AND id = ?", org, id).Delete(&integrationClient{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return lms.Errorf(lms.ENotFound, "integration client not found")
		}
		return s.audit(ctx, tx, "integration_client.delete", "integration_client", id)
	})
}
