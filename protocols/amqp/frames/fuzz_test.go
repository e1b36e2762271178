package frames

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// splitReader returns its input in two reads, split at cut.
type splitReader struct {
	data []byte
	cut  int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if s.cut > 0 && s.cut < n {
		n = s.cut
	}
	n = copy(p, s.data[:n])
	s.data = s.data[n:]
	s.cut -= n
	return n, nil
}

// FuzzReader checks that reading is the same however the input is split,
// never panics, and that every frame read re-encodes to a frame that reads
// back to itself.
func FuzzReader(f *testing.F) {
	for _, g := range frameGoldens {
		f.Add(g.raw, uint16(3))
	}
	for _, g := range badFrames {
		f.Add(g.raw, uint16(5))
	}
	var all []byte
	for _, g := range frameGoldens {
		all = append(all, g.raw...)
	}
	f.Add(all, uint16(100))
	f.Fuzz(func(t *testing.T, raw []byte, cut uint16) {
		whole, errW := readAll(bytes.NewReader(raw), 4096)
		split, errS := readAll(&splitReader{data: raw, cut: int(cut)}, 4096)
		if (errW == nil) != (errS == nil) || errW != nil && errW.Error() != errS.Error() {
			t.Fatalf("errors differ: %v / %v", errW, errS)
		}
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("frames differ when split at %d", cut)
		}
		for _, p := range whole {
			var enc []byte
			var err error
			switch body := p.body.(type) {
			case nil:
				enc = AppendEmptyFrame(nil)
			case SASLBody:
				enc, err = AppendSASLFrame(nil, body)
			case Performative:
				enc, err = AppendFrame(nil, p.channel, body, p.payload)
			}
			if err != nil {
				t.Fatalf("re-encode %#v: %v", p.body, err)
			}
			again, err := readAll(bytes.NewReader(enc), 1<<20)
			if err != nil || len(again) != 1 {
				t.Fatalf("re-read % x: %v", enc, err)
			}
			enc2, _ := encodeParsed(again[0])
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable:\n% x\n% x", enc, enc2)
			}
		}
	})
}

func encodeParsed(p parsed) ([]byte, error) {
	switch body := p.body.(type) {
	case SASLBody:
		return AppendSASLFrame(nil, body)
	case Performative:
		return AppendFrame(nil, p.channel, body, p.payload)
	}
	return AppendEmptyFrame(nil), nil
}
