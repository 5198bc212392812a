package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// opaqueTokenBytes gives opaque tokens 256 bits of entropy, beyond any
// guessing or birthday attack.
const opaqueTokenBytes = 32

// NewOpaqueToken returns a fresh random secret (refresh token, client
// secret): 32 bytes from crypto/rand, base64url without padding so it is safe
// in URLs, headers and form fields unescaped.
func NewOpaqueToken() (string, error) {
	b := make([]byte, opaqueTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashOpaqueToken returns hex(SHA-256(token)), the form in which opaque
// tokens are stored. A plain unsalted hash is enough here because the token
// has 256 bits of entropy, and being deterministic it lets the store find a
// row by the hash of the presented token; a database leak then yields no
// usable tokens.
func HashOpaqueToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// KeyedHash returns hex(HMAC-SHA256(key, value)). Use it to store values
// with little entropy, such as short passcodes: a plain hash of those could
// be brute-forced from a database dump, but without the key it cannot, while
// the result stays deterministic for lookup.
func KeyedHash(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// DeriveKey returns HMAC-SHA256(secret, purpose), a 32-byte key dedicated to
// purpose. Deriving one key per use from a single application secret keeps a
// token signed for one purpose from verifying under another.
func DeriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
