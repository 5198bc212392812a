// Tests and benchmarks of the reusable work area, the one addition of this
// copy of golang.org/x/crypto/argon2.

package argon2

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestMemoryReuse derives every argon2id vector twice through one Memory,
// forwards and backwards, so the work area is reused after derivations with
// more, less and the same memory and after different passwords: each key
// must still equal the published vector.
func TestMemoryReuse(t *testing.T) {
	var m Memory
	password, salt := []byte("password"), []byte("somesalt")
	var order []int
	for i, v := range testVectors {
		if v.mode == argon2id {
			order = append(order, i)
		}
	}
	for k := len(order) - 1; k >= 0; k-- {
		order = append(order, order[k])
	}
	for _, i := range order {
		v := testVectors[i]
		want, _ := hex.DecodeString(v.hash)
		// A different password in between leaves other contents behind.
		m.IDKey([]byte("something else"), salt, 1, v.memory, v.threads, 32)
		got := m.IDKey(password, salt, v.time, v.memory, v.threads, uint32(len(want)))
		if !bytes.Equal(got, want) {
			t.Errorf("vector %d: got %x, want %x", i, got, want)
		}
		if !bytes.Equal(got, IDKey(password, salt, v.time, v.memory, v.threads, uint32(len(want)))) {
			t.Errorf("vector %d: Memory.IDKey and IDKey differ", i)
		}
	}
	if m.Size() == 0 {
		t.Error("the work area was not kept")
	}
}

// The server's parameters (m=7 MiB, t=5, p=1), one derivation per core at
// a time, with a fresh work area per call and with one kept per goroutine.
func BenchmarkIDKeyServer(b *testing.B) {
	password, salt := []byte("password"), []byte("choosing random salts is hard")
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				IDKey(password, salt, 5, 7*1024, 1, 32)
			}
		})
	})
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var m Memory
			for pb.Next() {
				m.IDKey(password, salt, 5, 7*1024, 1, 32)
			}
		})
	})
}
