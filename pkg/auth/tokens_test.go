package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

var (
	testSecret = []byte("test-secret-test-secret-test-secret!")
	testNow    = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	testSubj   = Subject{ID: "u_123", Kind: KindUser, OrganizationID: "org_9", Role: "admin", TokenVersion: 3}
)

// newTestIssuer returns an issuer whose clock is frozen at testNow.
func newTestIssuer(t *testing.T) *TokenIssuer {
	t.Helper()
	ti, err := NewTokenIssuer(TokenOptions{Secret: testSecret, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

// validClaims returns the claims Issue would produce for testSubj at testNow,
// for tests that forge variations of them.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  "enrollkit",
		"aud":  "enrollkit-api",
		"sub":  testSubj.ID,
		"iat":  testNow.Unix(),
		"nbf":  testNow.Unix(),
		"exp":  testNow.Add(15 * time.Minute).Unix(),
		"jti":  "0190c1c4-0000-7000-8000-000000000000",
		"knd":  testSubj.Kind,
		"org":  testSubj.OrganizationID,
		"role": testSubj.Role,
		"ver":  testSubj.TokenVersion,
	}
}

// sign signs claims the way Issue does (HS256, typ at+jwt, derived key).
func sign(t *testing.T, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueVerify(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	tok, exp, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}
	if exp != 15*time.Minute || ti.AccessTTL() != 15*time.Minute {
		t.Fatalf("expiresIn = %v, AccessTTL = %v; want 15m", exp, ti.AccessTTL())
	}
	c, err := ti.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "enrollkit" || c.Subject != "u_123" || len(c.Audience) != 1 || c.Audience[0] != "enrollkit-api" {
		t.Fatalf("registered claims = %+v", c.RegisteredClaims)
	}
	if !c.IssuedAt.Equal(testNow) || !c.NotBefore.Equal(testNow) || !c.ExpiresAt.Equal(testNow.Add(15*time.Minute)) {
		t.Fatalf("times iat=%v nbf=%v exp=%v", c.IssuedAt, c.NotBefore, c.ExpiresAt)
	}
	if c.Kind != KindUser || c.OrganizationID != "org_9" || c.Role != "admin" || c.TokenVersion != 3 {
		t.Fatalf("custom claims = %+v", c)
	}
	id, err := uuid.Parse(c.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("jti %q is not a UUIDv7 (%v)", c.ID, err)
	}

	// Wire format: typ header, single-string aud, short claim names.
	parts := strings.Split(tok, ".")
	var hdr, payload map[string]any
	decodeSegment(t, parts[0], &hdr)
	decodeSegment(t, parts[1], &payload)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "HS256" {
		t.Fatalf("header = %v", hdr)
	}
	if payload["aud"] != "enrollkit-api" {
		t.Fatalf("aud = %#v; want the single string", payload["aud"])
	}
	for _, k := range []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "knd", "org", "role", "ver"} {
		if _, ok := payload[k]; !ok {
			t.Errorf("payload lacks %q: %v", k, payload)
		}
	}

	// Each token gets its own jti.
	tok2, _, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok {
		t.Fatal("two tokens issued at the same instant are identical")
	}
}

func TestIssueClientAndOptions(t *testing.T) {
	t.Parallel()
	ti, err := NewTokenIssuer(TokenOptions{
		Secret: testSecret, Issuer: "https://lms.example", Audience: "lms", AccessTTL: 5 * time.Minute,
		Now: func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := Subject{ID: "c_1", Kind: KindClient, OrganizationID: "org_1", Role: "integration"}
	tok, exp, err := ti.Issue(s)
	if err != nil {
		t.Fatal(err)
	}
	if exp != 5*time.Minute {
		t.Fatalf("expiresIn = %v", exp)
	}
	c, err := ti.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://lms.example" || c.Audience[0] != "lms" || c.Kind != KindClient || c.TokenVersion != 0 {
		t.Fatalf("claims = %+v", c)
	}
	// A token for another audience/issuer is not accepted by the default one.
	if _, err := newTestIssuer(t).Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("default issuer accepted a token for another audience: %v", err)
	}
}

func TestIssueRejectsIncompleteSubject(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	for name, s := range map[string]Subject{
		"no id":    {Kind: KindUser, OrganizationID: "o", Role: "r"},
		"no kind":  {ID: "u", OrganizationID: "o", Role: "r"},
		"bad kind": {ID: "u", Kind: "robot", OrganizationID: "o", Role: "r"},
		"no org":   {ID: "u", Kind: KindUser, Role: "r"},
		"no role":  {ID: "u", Kind: KindUser, OrganizationID: "o"},
	} {
		if _, _, err := ti.Issue(s); err == nil {
			t.Errorf("%s: Issue succeeded", name)
		}
	}
}

func TestNewTokenIssuerOptions(t *testing.T) {
	t.Parallel()
	if _, err := NewTokenIssuer(TokenOptions{Secret: testSecret[:31]}); err == nil {
		t.Fatal("accepted a 31-byte secret")
	}
	if _, err := NewTokenIssuer(TokenOptions{Secret: testSecret, AccessTTL: -time.Minute}); err == nil {
		t.Fatal("accepted a negative TTL")
	}
	ti, err := NewTokenIssuer(TokenOptions{Secret: testSecret[:32]})
	if err != nil {
		t.Fatal(err)
	}
	if ti.issuer != "enrollkit" || ti.audience != "enrollkit-api" || ti.ttl != 15*time.Minute || ti.now == nil {
		t.Fatalf("defaults not applied: %+v", ti)
	}
	// The signing key is derived, not the raw secret.
	if !bytes.Equal(ti.key, DeriveKey(testSecret[:32], "enrollkit access token v1")) {
		t.Fatal("signing key is not HMAC-SHA256(secret, purpose)")
	}
	// With the real clock a fresh token verifies.
	tok, _, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ti.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	// Expired 20 s ago (within the 30 s leeway) and issued 20 s in the
	// future (clock skew): both accepted.
	c := validClaims()
	c["exp"] = testNow.Add(-20 * time.Second).Unix()
	c["iat"] = testNow.Add(-16 * time.Minute).Unix()
	c["nbf"] = testNow.Add(-16 * time.Minute).Unix()
	if _, err := ti.Verify(sign(t, ti.key, c)); err != nil {
		t.Fatalf("token expired within leeway rejected: %v", err)
	}
	c = validClaims()
	c["iat"] = testNow.Add(20 * time.Second).Unix()
	c["nbf"] = testNow.Add(20 * time.Second).Unix()
	if _, err := ti.Verify(sign(t, ti.key, c)); err != nil {
		t.Fatalf("token from a slightly fast clock rejected: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	good, _, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}

	with := func(k string, v any) string {
		c := validClaims()
		c[k] = v
		return sign(t, ti.key, c)
	}
	without := func(k string) string {
		c := validClaims()
		delete(c, k)
		return sign(t, ti.key, c)
	}
	withHeader := func(method jwt.SigningMethod, key any, hdr map[string]any) string {
		tok := jwt.NewWithClaims(method, validClaims())
		tok.Header["typ"] = "at+jwt"
		for k, v := range hdr {
			if v == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = v
			}
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	opaque, err := NewOpaqueToken()
	if err != nil {
		t.Fatal(err)
	}

	// Tampered payload: same signature, role changed to "owner".
	parts := strings.Split(good, ".")
	var payload map[string]any
	decodeSegment(t, parts[1], &payload)
	payload["role"] = "owner"
	tampered := parts[0] + "." + encodeSegment(t, payload) + "." + parts[2]

	// Oversized: otherwise valid and correctly signed.
	big := with("role", strings.Repeat("r", 4096))

	cases := map[string]string{
		"alg none":           withHeader(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
		"RS256":              withHeader(jwt.SigningMethodRS256, rsaKey, nil),
		"HS512":              withHeader(jwt.SigningMethodHS512, ti.key, nil),
		"HS384":              withHeader(jwt.SigningMethodHS384, ti.key, nil),
		"wrong key":          sign(t, DeriveKey(testSecret, "another purpose"), validClaims()),
		"raw secret as key":  sign(t, testSecret, validClaims()),
		"expired":            with("exp", testNow.Add(-31*time.Second).Unix()),
		"nbf in future":      with("nbf", testNow.Add(time.Minute).Unix()),
		"iat in future":      with("iat", testNow.Add(time.Minute).Unix()),
		"missing exp":        without("exp"),
		"missing sub":        without("sub"),
		"empty sub":          with("sub", ""),
		"missing aud":        without("aud"),
		"wrong aud":          with("aud", "other-api"),
		"wrong aud in array": with("aud", []string{"other-api", "admin-api"}),
		"missing iss":        without("iss"),
		"wrong iss":          with("iss", "evil"),
		"missing knd":        without("knd"),
		"unknown knd":        with("knd", "robot"),
		"missing org":        without("org"),
		"missing role":       without("role"),
		"ver not a number":   with("ver", "3"),
		"tampered payload":   tampered,
		"typ JWT":            withHeader(jwt.SigningMethodHS256, ti.key, map[string]any{"typ": "JWT"}),
		"typ missing":        withHeader(jwt.SigningMethodHS256, ti.key, map[string]any{"typ": nil}),
		"typ not a string":   withHeader(jwt.SigningMethodHS256, ti.key, map[string]any{"typ": 1}),
		"opaque token":       opaque,
		"oversized":          big,
		"empty":              "",
		"garbage":            "not.a.jwt",
		"truncated":          good[:len(good)-5],
		"no signature":       parts[0] + "." + parts[1] + ".",
	}
	if len(big) <= 4096 {
		t.Fatalf("oversized token is only %d bytes", len(big))
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := ti.Verify(tok)
			if c != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, %v; want nil, ErrInvalidToken", c, err)
			}
		})
	}

	// Control: the forging helpers produce acceptable tokens when unmodified.
	for _, tok := range []string{good, sign(t, ti.key, validClaims()), with("aud", []string{"enrollkit-api"})} {
		if _, err := ti.Verify(tok); err != nil {
			t.Fatalf("control token rejected: %v", err)
		}
	}
}

// TestVerifyReportsCause checks that the underlying jwt error stays
// reachable through errors.Is, for logging.
func TestVerifyReportsCause(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	c := validClaims()
	c["exp"] = testNow.Add(-time.Hour).Unix()
	_, err := ti.Verify(sign(t, ti.key, c))
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("err = %v; want both ErrInvalidToken and jwt.ErrTokenExpired", err)
	}
}

// TestVerifyExpiresWithClock issues a token and moves the clock past its
// expiry plus leeway.
func TestVerifyExpiresWithClock(t *testing.T) {
	t.Parallel()
	now := testNow
	ti, err := NewTokenIssuer(TokenOptions{Secret: testSecret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}
	now = testNow.Add(15*time.Minute + 29*time.Second)
	if _, err := ti.Verify(tok); err != nil {
		t.Fatalf("rejected within leeway: %v", err)
	}
	now = testNow.Add(15*time.Minute + 31*time.Second)
	if _, err := ti.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestVerifiedTokensAreRemembered: a token is parsed and its signature
// checked once; later checks of the same token only re-judge the clock, so
// it still expires on time. Callers get copies, and the memory is bounded.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	t.Parallel()
	now := testNow
	ti, err := NewTokenIssuer(TokenOptions{Secret: testSecret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := ti.Issue(testSubj)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ti.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if ti.verified[tok] == nil {
		t.Fatal("a verified token was not remembered")
	}
	first.Role = "full_manager-tampered"
	first.Audience[0] = "someone-else"
	first.ExpiresAt.Time = first.ExpiresAt.Add(24 * time.Hour)
	again, err := ti.Verify(tok)
	if err != nil || again.Role != testSubj.Role || again.Subject != testSubj.ID || again.Audience[0] != "enrollkit-api" {
		t.Fatalf("remembered claims = %+v, %v", again, err)
	}
	// A different string (one more character) is not the remembered token.
	if _, err := ti.Verify(tok + "A"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a tampered token verified: %v", err)
	}
	now = testNow.Add(time.Hour)
	if _, err := ti.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a remembered token outlived its expiry: %v", err)
	}
	if ti.verified[tok] != nil {
		t.Fatal("an expired token stayed remembered")
	}
	// A token in use stays remembered while many others pass through, and
	// no more than two generations are held.
	now = testNow
	if _, err := ti.Verify(tok); err != nil {
		t.Fatal(err)
	}
	for i := range 3*maxVerified + 10 {
		s := testSubj
		s.ID = fmt.Sprintf("01a21467-52fd-7a1a-a01b-%012d", i)
		tk, _, err := ti.Issue(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ti.Verify(tk); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			if _, err := ti.Verify(tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ti.verified[tok] == nil && ti.previous[tok] == nil {
		t.Fatal("a token in use was forgotten")
	}
	if n := len(ti.verified) + len(ti.previous); n > 2*maxVerified {
		t.Fatalf("%d tokens remembered, more than %d", n, 2*maxVerified)
	}
}
