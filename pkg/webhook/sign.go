package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// secretPrefix marks a Standard Webhooks signing secret, so that one pasted
// into the wrong place is recognisable.
const secretPrefix = "whsec_"

// secretBytes is the size of a new signing key: as long as a SHA-256 digest,
// past which HMAC-SHA256 gains no strength, and inside the 24 to 64 bytes
// Standard Webhooks recommends.
const secretBytes = 32

// errMalformedSecret says nothing of the secret itself, so it may be logged.
var errMalformedSecret = errors.New("webhook: malformed signing secret")

// NewSecret returns a new signing secret: "whsec_" and the standard base64
// of 32 random bytes, the form every Standard Webhooks library reads.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Sign returns the Standard Webhooks signature of a message, "v1," and the
// base64 HMAC-SHA256 of "id.unixSeconds.body", keyed by the secret's decoded
// bytes. It fails for a secret that lacks the whsec_ prefix, is not standard
// base64 or holds no key; the error never contains the secret.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// decodeSecret returns the key inside a whsec_ secret.
func decodeSecret(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errMalformedSecret
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(key) == 0 {
		return nil, errMalformedSecret
	}
	return key, nil
}
