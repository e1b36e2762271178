package message

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal checks that decoding never panics, that a decoded message
// re-encodes to exactly its input when only Bare is kept and the other
// sections were canonical, and that re-encoding from the fields is stable.
func FuzzUnmarshal(f *testing.F) {
	for _, g := range messageGoldens {
		f.Add(g.raw)
	}
	for _, g := range badMessages {
		f.Add(g.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m Message
		if err := m.Unmarshal(raw); err != nil {
			return
		}
		withBare, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if m.Bare != nil && !bytes.Contains(withBare, m.Bare) {
			t.Fatal("bare message not preserved")
		}
		m.Bare = nil
		enc1, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("re-encode from fields: %v", err)
		}
		var m2 Message
		if err := m2.Unmarshal(enc1); err != nil {
			t.Fatalf("decode re-encoding % x: %v", enc1, err)
		}
		m2.Bare = nil
		enc2, err := m2.Marshal(nil)
		if err != nil || !bytes.Equal(enc1, enc2) {
			t.Fatalf("unstable:\n% x\n% x", enc1, enc2)
		}
	})
}
