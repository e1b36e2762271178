package encoding

import (
	"bytes"
	"runtime"
	"testing"
)

// FuzzDecode checks that decoding never panics, never allocates out of
// proportion to its input, and that decode→encode→decode is stable: the
// first re-encoding decodes to an equal value and re-encodes to the same
// bytes.
func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.raw)
	}
	for _, g := range badGoldens {
		f.Add(g.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := NewDecoder(raw)
		v, err := d.Value()
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64*len(raw)+64<<10) {
			t.Fatalf("decoding %d bytes allocated %d", len(raw), grew)
		}
		if err != nil {
			return
		}
		enc1, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, err := NewDecoder(enc1).Value()
		if err != nil {
			t.Fatalf("decode re-encoding % x: %v", enc1, err)
		}
		if !Equal(v, v2) {
			t.Fatalf("round trip changed value:\n%#v\n%#v", v, v2)
		}
		enc2, err := AppendValue(nil, v2)
		if err != nil || !bytes.Equal(enc1, enc2) {
			t.Fatalf("unstable encoding:\n% x\n% x", enc1, enc2)
		}
	})
}
