package bench

import (
	"bytes"
	"errors"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{HeaderSize, 100, 4096} {
		h := Header{RunID: 0x0102030405060708, Publisher: 7, Seq: 123456, SentNS: 1_700_000_000_123_456_789}
		p := make([]byte, size)
		EncodePayload(p, h)
		got, err := DecodePayload(p)
		if err != nil || got != h {
			t.Fatalf("size %d: got %+v, %v; want %+v", size, got, err, h)
		}
		h.Seq, h.SentNS = 123457, h.SentNS+1000
		Restamp(p, h)
		if got, err := DecodePayload(p); err != nil || got != h {
			t.Fatalf("size %d restamped: got %+v, %v; want %+v", size, got, err, h)
		}
	}
}

func TestPayloadDamage(t *testing.T) {
	good := make([]byte, 100)
	EncodePayload(good, Header{RunID: 1, Seq: 2, SentNS: 3})
	flip := func(i int) []byte { p := bytes.Clone(good); p[i] ^= 0x10; return p }
	tests := []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrNotBench},
		{"other format", []byte("hello world"), ErrNotBench},
		{"magic only", good[:4], ErrShort},
		{"truncated", good[:60], ErrLength},
		{"extended", append(bytes.Clone(good), 0), ErrLength},
		{"header bit", flip(20), ErrChecksum},
		{"padding bit", flip(90), ErrChecksum},
		{"checksum bit", flip(37), ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodePayload(tc.p); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzDecodePayload feeds arbitrary bytes to the decoder: it must never
// panic, and whatever it accepts must re-encode to the same bytes.
func FuzzDecodePayload(f *testing.F) {
	for _, size := range []int{HeaderSize, 41, 100} {
		p := make([]byte, size)
		EncodePayload(p, Header{RunID: uint64(size), Publisher: 1, Seq: 9, SentNS: 42})
		f.Add(p)
	}
	f.Add([]byte("RBv1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := DecodePayload(p)
		if err != nil {
			return
		}
		again := make([]byte, len(p))
		EncodePayload(again, h)
		// The padding is fixed, so an accepted payload is exactly what
		// the encoder makes of its header.
		if !bytes.Equal(again, p) {
			t.Fatalf("accepted %x, which re-encodes to %x", p, again)
		}
	})
}
