package auth

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token defaults and limits.
const (
	defaultIssuer    = "enrollkit"
	defaultAudience  = "enrollkit-api"
	defaultAccessTTL = 15 * time.Minute

	// minSecretLen is the HS256 key size: a shorter secret would make the
	// MAC weaker than the hash behind it (RFC 7518 §3.2).
	minSecretLen = 32
	// maxTokenLen bounds the input to Verify. Our tokens are a few hundred
	// bytes; anything much larger is garbage or an attempt to make us spend
	// time base64-decoding and JSON-parsing attacker input.
	maxTokenLen = 4096
	// clockLeeway tolerates small clock skew between replicas.
	clockLeeway = 30 * time.Second

	// accessTokenType is the JOSE "typ" header of RFC 9068 JWT access
	// tokens. Requiring it stops any other JWT signed with a related key
	// (an ID token, a link token) from being accepted as an access token.
	accessTokenType = "at+jwt"
	// accessKeyPurpose separates the access-token signing key from other
	// keys derived from the same application secret.
	accessKeyPurpose = "enrollkit access token v1"
)

// Subject kinds carried in the "knd" claim.
const (
	// KindUser marks a token issued to a person who logged in.
	KindUser = "user"
	// KindClient marks a token issued to an API client (client credentials).
	KindClient = "client"
)

// ErrInvalidToken is wrapped by every error TokenIssuer.Verify returns, so
// HTTP middleware can answer 401 with errors.Is without caring which check
// failed.
var ErrInvalidToken = errors.New("invalid token")

// TokenOptions configures a TokenIssuer. Only Secret is required.
type TokenOptions struct {
	// Secret is the application secret, at least 32 bytes. The signing key
	// is derived from it rather than used directly so the same secret can
	// safely key other things.
	Secret []byte
	// Issuer is the "iss" claim issued and required (default "enrollkit").
	Issuer string
	// Audience is the "aud" claim issued and required (default
	// "enrollkit-api").
	Audience string
	// AccessTTL is the access-token lifetime (default 15 minutes). It is
	// short because access tokens are not checked against the store on every
	// request; refresh tokens carry the long-lived session.
	AccessTTL time.Duration
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
}

// TokenIssuer issues and verifies HS256-signed JWT access tokens. It is safe
// for concurrent use.
type TokenIssuer struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
	// validator re-checks the time-bound claims of a token found in
	// verified.
	validator *jwt.Validator

	mu sync.Mutex
	// verified maps tokens whose signature and claims were checked to
	// their claims, so that a client's every request does not parse and
	// verify the same token again. When it holds maxVerified tokens it
	// becomes previous and a new map starts; a token found only in
	// previous moves back. Tokens in use stay remembered however many
	// others pass through, and at most 2 × maxVerified are held.
	verified, previous map[string]*AccessClaims
}

// maxVerified bounds each generation of the verified-token cache (a few
// MB when full).
const maxVerified = 4096

// Subject is whom an access token speaks for.
type Subject struct {
	// ID is the user or client ID, carried in "sub".
	ID string
	// Kind is KindUser or KindClient, carried in "knd".
	Kind string
	// OrganizationID scopes the token to one tenant, carried in "org".
	OrganizationID string
	// Role is the subject's role in that organization, carried in "role".
	Role string
	// TokenVersion is carried in "ver"; bumping the stored version (on
	// password change, logout-everywhere, role change) lets the API reject
	// older tokens before they expire.
	TokenVersion int
}

// AccessClaims is the payload of an access token: the registered claims plus
// the enrollkit subject fields.
type AccessClaims struct {
	jwt.RegisteredClaims
	// Kind is KindUser or KindClient.
	Kind string `json:"knd"`
	// OrganizationID is the tenant the token is scoped to.
	OrganizationID string `json:"org"`
	// Role is the subject's role within OrganizationID.
	Role string `json:"role"`
	// TokenVersion is compared with the stored version to revoke tokens.
	TokenVersion int `json:"ver"`
}

// issuedClaims is what Issue actually serializes. It differs from
// AccessClaims only in writing "aud" as a single string: jwt.ClaimStrings
// encodes one audience as a one-element array unless a package-wide variable
// is flipped, which would affect every other JWT user in the process. The
// outer Audience field shadows the embedded one for encoding/json.
type issuedClaims struct {
	AccessClaims
	Audience string `json:"aud"`
}

// NewTokenIssuer validates o, fills defaults and derives the signing key.
func NewTokenIssuer(o TokenOptions) (*TokenIssuer, error) {
	if len(o.Secret) < minSecretLen {
		return nil, fmt.Errorf("auth: token secret must be at least %d bytes, got %d", minSecretLen, len(o.Secret))
	}
	if o.AccessTTL < 0 {
		return nil, fmt.Errorf("auth: negative access token TTL %v", o.AccessTTL)
	}
	t := &TokenIssuer{
		key:      DeriveKey(o.Secret, accessKeyPurpose),
		issuer:   o.Issuer,
		audience: o.Audience,
		ttl:      o.AccessTTL,
		now:      o.Now,
	}
	if t.issuer == "" {
		t.issuer = defaultIssuer
	}
	if t.audience == "" {
		t.audience = defaultAudience
	}
	if t.ttl == 0 {
		t.ttl = defaultAccessTTL
	}
	if t.now == nil {
		t.now = time.Now
	}
	checks := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithLeeway(clockLeeway),
		jwt.WithTimeFunc(t.now),
	}
	t.parser = jwt.NewParser(append(checks, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))...)
	t.validator = jwt.NewValidator(checks...)
	t.verified = make(map[string]*AccessClaims)
	return t, nil
}

// AccessTTL returns the lifetime of issued access tokens, for the
// "expires_in" of token responses and for cookie lifetimes.
func (t *TokenIssuer) AccessTTL() time.Duration { return t.ttl }

// Issue signs an access token for s and returns it with its lifetime. The
// token carries iss, aud, sub, iat, nbf, exp and a UUIDv7 jti (unique, and
// time-ordered for log correlation), and the JOSE header typ "at+jwt". It
// refuses a Subject that Verify would reject, so a bug upstream fails at
// issue time instead of as a mysterious 401.
func (t *TokenIssuer) Issue(s Subject) (token string, expiresIn time.Duration, err error) {
	if err := checkSubject(s.ID, s.Kind, s.OrganizationID, s.Role); err != nil {
		return "", 0, fmt.Errorf("auth: cannot issue token: %w", err)
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return "", 0, fmt.Errorf("auth: generating token id: %w", err)
	}
	now := t.now()
	claims := issuedClaims{
		AccessClaims: AccessClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    t.issuer,
				Subject:   s.ID,
				IssuedAt:  jwt.NewNumericDate(now),
				NotBefore: jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
				ID:        jti.String(),
			},
			Kind:           s.Kind,
			OrganizationID: s.OrganizationID,
			Role:           s.Role,
			TokenVersion:   s.TokenVersion,
		},
		Audience: t.audience,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = accessTokenType
	signed, err := tok.SignedString(t.key)
	if err != nil {
		return "", 0, fmt.Errorf("auth: signing token: %w", err)
	}
	return signed, t.ttl, nil
}

// Verify checks an access token's size, header, algorithm, signature, time
// claims, issuer, audience and subject fields, and returns its claims. Every
// error wraps ErrInvalidToken.
func (t *TokenIssuer) Verify(token string) (*AccessClaims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	t.mu.Lock()
	known := t.verified[token]
	if known == nil && t.previous[token] != nil {
		known = t.previous[token]
		delete(t.previous, token)
		t.rememberLocked(token, known)
	}
	t.mu.Unlock()
	if known != nil {
		// The signature was checked when the token was first seen; what
		// may have changed since is only the time (exp, nbf, iat).
		if err := t.validator.Validate(known); err != nil {
			t.mu.Lock()
			delete(t.verified, token)
			t.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		return known.clone(), nil
	}
	claims := new(AccessClaims)
	_, err := t.parser.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		// WithValidMethods already pins the algorithm; checking the method
		// here too means the HMAC key can never reach another verifier.
		if tok.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
		}
		if typ, ok := tok.Header["typ"].(string); !ok || typ != accessTokenType {
			return nil, fmt.Errorf("unexpected token type %v", tok.Header["typ"])
		}
		return t.key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkSubject(claims.Subject, claims.Kind, claims.OrganizationID, claims.Role); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	t.mu.Lock()
	t.rememberLocked(token, claims)
	t.mu.Unlock()
	return claims.clone(), nil
}

// rememberLocked adds a verified token, starting a new generation when the
// current one is full. t.mu must be held.
func (t *TokenIssuer) rememberLocked(token string, claims *AccessClaims) {
	if len(t.verified) >= maxVerified {
		t.previous, t.verified = t.verified, make(map[string]*AccessClaims, maxVerified)
	}
	t.verified[token] = claims
}

// clone returns a deep copy of c, so that no caller can change the
// remembered claims through the slice and pointers they share.
func (c *AccessClaims) clone() *AccessClaims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	for _, d := range []**jwt.NumericDate{&out.ExpiresAt, &out.NotBefore, &out.IssuedAt} {
		if *d != nil {
			v := **d
			*d = &v
		}
	}
	return &out
}

// checkSubject enforces the fields every access token must carry, so
// handlers can rely on them without re-checking.
func checkSubject(id, kind, org, role string) error {
	switch {
	case id == "":
		return errors.New("missing subject")
	case kind != KindUser && kind != KindClient:
		return fmt.Errorf("unknown subject kind %q", kind)
	case org == "":
		return errors.New("missing organization")
	case role == "":
		return errors.New("missing role")
	}
	return nil
}
