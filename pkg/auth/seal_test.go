package auth

import (
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := DeriveKey([]byte("a secret of at least thirty-two bytes!!"), "seal test")
	sealed, err := Seal(key, "KX7P-M3QD")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Seal(key, "KX7P-M3QD")
	if sealed == again {
		t.Fatal("sealing twice gave the same value: the nonce is not random")
	}
	got, err := Open(key, sealed)
	if err != nil || got != "KX7P-M3QD" {
		t.Fatalf("open = %q, %v", got, err)
	}
	other := DeriveKey([]byte("a secret of at least thirty-two bytes!!"), "other purpose")
	if _, err := Open(other, sealed); !errors.Is(err, ErrUnseal) {
		t.Fatalf("open with another key: %v", err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	if _, err := Open(key, string(tampered)); err == nil {
		t.Fatal("a tampered value opened")
	}
	if _, err := Open(key, "x"); !errors.Is(err, ErrUnseal) {
		t.Fatalf("open garbage: %v", err)
	}
}
