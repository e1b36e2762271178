package badger

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rosettamq/rosetta/storage/storetest"
)

// FuzzDecodeMessage: decoding never panics, fails only with a
// *DecodeError, and what decodes re-encodes to a record that decodes to
// the same message and encodes to the same bytes again.
func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range recordCases() {
		b := appendMessage(nil, tc.m)
		if len(b) > 1<<10 {
			continue // large seeds slow the mutator down and add no coverage
		}
		f.Add(b)
		if len(b) > 3 {
			f.Add(b[:len(b)/2])
			f.Add(append(b[:len(b)-1:len(b)-1], 0xff))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeMessage(raw)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || m != nil {
				t.Fatalf("error %v (message %v) is not a *DecodeError alone", err, m)
			}
			return
		}
		b := appendMessage(nil, m)
		m2, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%x", err, b)
		}
		if d := storetest.Diff(m, m2); d != "" {
			t.Fatalf("decode, encode, decode changed the message: %s", d)
		}
		if b2 := appendMessage(nil, m2); !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable:\n%x\n%x", b, b2)
		}
	})
}

// FuzzDecodeQueue: the same for queue records.
func FuzzDecodeQueue(f *testing.F) {
	f.Add(appendQueue(nil, 7, fullQueueConfig()))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, cfg, err := decodeQueue(raw)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		b := appendQueue(nil, id, cfg)
		id2, cfg2, err := decodeQueue(b)
		if err != nil || id2 != id || cfg2 != cfg {
			t.Fatalf("round trip: %d %+v %v, want %d %+v", id2, cfg2, err, id, cfg)
		}
	})
}
