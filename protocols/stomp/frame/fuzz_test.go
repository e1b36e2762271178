package frame

import (
	"errors"
	"testing"
)

// FuzzParser checks split invariance (one Feed, two Feeds cut anywhere, and
// byte-at-a-time for short inputs give the same frames and the same error)
// and round-trip (each frame re-encodes with its version and re-parses to
// itself). Seeds: every golden case.
func FuzzParser(f *testing.F) {
	for _, g := range goldens {
		f.Add([]byte(g.raw), uint16(3), uint8(g.v), g.lim != Limits{})
	}
	f.Fuzz(func(t *testing.T, raw []byte, cut uint16, v uint8, tight bool) {
		ver := Version(v % 4)
		lim := Limits{}
		if tight {
			lim = small
		}
		whole, errW := parseAll(lim, ver, raw)
		split, errS := parseAll(lim, ver, raw, int(cut))
		if !sameFrames(whole, split) {
			t.Fatalf("split at %d changed the frames:\n%s\n%s", cut, dump(whole), dump(split))
		}
		if !sameErr(errW, errS) {
			t.Fatalf("split at %d changed the error: %v vs %v", cut, errW, errS)
		}
		if len(raw) <= 256 {
			cuts := make([]int, len(raw))
			for i := range cuts {
				cuts[i] = i
			}
			bytewise, errB := parseAll(lim, ver, raw, cuts...)
			if !sameFrames(whole, bytewise) || !sameErr(errW, errB) {
				t.Fatalf("byte at a time differs: %s %v", dump(bytewise), errB)
			}
		}
		// Round trip, with generous limits: escaping may lengthen a line.
		for _, fr := range whole {
			enc := AppendFrame(nil, fr, ver)
			again, err := parseAll(Limits{MaxFrameSize: 8 << 20, MaxBodySize: 4 << 20, MaxHeaderLine: 1 << 20, MaxHeaders: 1 << 16}, ver, enc)
			if err != nil || len(again) != 1 || !sameFrame(again[0], fr) {
				t.Fatalf("round trip of %s (%q): %v %s", fr, enc, err, dump(again))
			}
		}
	})
}

// sameErr compares errors by the sentinel they wrap and their text.
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	for _, s := range []error{ErrFrameTooLarge, ErrBodyTooLarge, ErrHeaderLineTooLong, ErrTooManyHeaders,
		ErrMalformedHeader, ErrBadEscape, ErrBadContentLength, ErrMissingNUL} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return a.Error() == b.Error()
}
