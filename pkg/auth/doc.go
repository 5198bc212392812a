// Package auth holds enrollkit's credential primitives: argon2id password
// hashing with a bounded worker pool, the password policy applied at sign-up
// and password change, HS256 JWT access tokens, and opaque random secrets
// (refresh tokens, client secrets) that are stored only as hashes.
//
// It depends only on the standard library, golang.org/x/crypto/argon2,
// github.com/golang-jwt/jwt/v5 and github.com/google/uuid, so it knows nothing
// about HTTP or storage; callers decide where hashes and tokens live.
package auth
