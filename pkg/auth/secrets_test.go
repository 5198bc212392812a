package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestNewOpaqueToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewOpaqueToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 {
			t.Fatalf("token %q has length %d; want 43", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q does not decode to 32 bytes (%d, %v)", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashOpaqueToken(t *testing.T) {
	t.Parallel()
	// FIPS 180-2 test vector.
	if got, want := HashOpaqueToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("HashOpaqueToken(abc) = %s; want %s", got, want)
	}
	if HashOpaqueToken("a") == HashOpaqueToken("b") {
		t.Fatal("different tokens hash equal")
	}
}

func TestKeyedHash(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	got := KeyedHash([]byte("Jefe"), "what do ya want for nothing?")
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("KeyedHash = %s; want %s", got, want)
	}
	if KeyedHash([]byte("k1"), "123456") == KeyedHash([]byte("k2"), "123456") {
		t.Fatal("different keys give the same hash")
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	a := DeriveKey(secret, "purpose a")
	b := DeriveKey(secret, "purpose b")
	if len(a) != 32 {
		t.Fatalf("derived key is %d bytes; want 32", len(a))
	}
	if bytes.Equal(a, b) || bytes.Equal(a, secret) {
		t.Fatal("derived keys are not separated by purpose")
	}
	if !bytes.Equal(a, DeriveKey(secret, "purpose a")) {
		t.Fatal("DeriveKey is not deterministic")
	}
	if hex.EncodeToString(a) != KeyedHash(secret, "purpose a") {
		t.Fatal("DeriveKey and KeyedHash disagree on HMAC-SHA256")
	}
}
