package encoding

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDecodeGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			d := NewDecoder(g.raw)
			v, err := d.Value()
			if err != nil {
				t.Fatalf("decode % x: %v", g.raw, err)
			}
			if d.Len() != 0 {
				t.Fatalf("%d bytes left", d.Len())
			}
			if !Equal(v, g.value) {
				t.Fatalf("got %#v, want %#v", v, g.value)
			}
			// Skip and RawValue agree with Value on where the value ends.
			d.Reset(g.raw)
			raw, err := d.RawValue()
			if err != nil || !bytes.Equal(raw, g.raw) {
				t.Fatalf("RawValue = % x, %v", raw, err)
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			b, err := AppendValue([]byte{0xEE}, g.value)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0xEE {
				t.Fatal("prefix overwritten")
			}
			b = b[1:]
			if g.canonical && !bytes.Equal(b, g.raw) {
				t.Fatalf("got  % x\nwant % x", b, g.raw)
			}
			// Non-canonical inputs must still re-encode to the same value.
			v, err := NewDecoder(b).Value()
			if err != nil || !Equal(v, g.value) {
				t.Fatalf("re-decode: %#v, %v", v, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range badGoldens {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewDecoder(c.raw).Value()
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 {
				t.Fatalf("not a positioned *Error: %#v", err)
			}
		})
	}
}

func TestDecodeNoOverAllocation(t *testing.T) {
	// A count far beyond the input must fail before allocating for it.
	in := []byte{0xf0, 0, 0, 0, 5, 0x0f, 0xff, 0xff, 0xff, 0x40}
	allocs := testing.AllocsPerRun(100, func() {
		d := NewDecoder(in)
		_, _ = d.Value()
	})
	if allocs > 3 {
		t.Fatalf("%v allocs for a rejected array", allocs)
	}
}

func TestMaxDepth(t *testing.T) {
	// Nested list8s each holding the next, built from the inside out.
	inner := []byte{0x45}
	for range 100 {
		inner = append([]byte{0xc0, byte(len(inner) + 1), 0x01}, inner...)
		if len(inner) > 250 {
			break
		}
	}
	d := NewDecoder(inner)
	d.MaxDepth = 10
	if _, err := d.Value(); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("got %v, want ErrTooDeep", err)
	}
	// Described chains nest too.
	chain := append(bytes.Repeat([]byte{0x00}, 200), 0x40, 0x40)
	if _, err := NewDecoder(chain).Value(); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("described chain: got %v", err)
	}
}

func TestTypedAccessors(t *testing.T) {
	d := NewDecoder([]byte{0x43, 0x52, 0x05, 0x70, 0, 0, 1, 0, 0xa1, 0x01, 'x'})
	for _, want := range []uint32{0, 5, 256} {
		if v, err := d.Uint(); err != nil || v != want {
			t.Fatalf("Uint = %v, %v; want %v", v, err, want)
		}
	}
	_, err := d.Uint()
	var e *Error
	if !errors.Is(err, ErrTypeMismatch) || !errors.As(err, &e) || e.Offset != 8 || e.Code != CodeStr8 {
		t.Fatalf("Uint on a string: %#v", err)
	}
}

func TestSymbols(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
		want []Symbol
	}{
		{"null", []byte{0x40}, nil},
		{"single", []byte{0xa3, 0x01, 'a'}, []Symbol{"a"}},
		{"array", []byte{0xe0, 0x06, 0x02, 0xa3, 0x01, 'a', 0x01, 'b'}, []Symbol{"a", "b"}},
		{"empty array", []byte{0xe0, 0x02, 0x00, 0xa3}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewDecoder(c.raw).Symbols()
			if err != nil || !Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	if _, err := NewDecoder([]byte{0xe0, 0x03, 0x01, 0x52, 0x01}).Symbols(); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("array of uint: %v", err)
	}
}

func TestCompoundWidening(t *testing.T) {
	for _, n := range []int{0, 1, 84, 85, 254, 255, 256, 1000} {
		l := make([]any, n)
		for i := range l {
			l[i] = "ab" // 4 bytes each
		}
		b, err := AppendValue(nil, l)
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewDecoder(b).Value()
		if err != nil || len(v.([]any)) != n {
			t.Fatalf("n=%d: %v", n, err)
		}
		wantCode := CodeList8
		switch {
		case n == 0:
			wantCode = CodeList0
		case 4*n+1 > 255:
			wantCode = CodeList32
		}
		if b[0] != wantCode {
			t.Fatalf("n=%d: code %#x, want %#x", n, b[0], wantCode)
		}
	}
	big := Array{Type: TypeString, Elems: []any{strings.Repeat("a", 300)}}
	b, err := AppendValue(nil, big)
	if err != nil || b[0] != CodeArray32 || b[9] != CodeStr32 {
		t.Fatalf("% x %v", b[:10], err)
	}
}

func TestAppendValueErrors(t *testing.T) {
	for _, v := range []any{struct{}{}, []int{1}, Array{Type: TypeUint, Elems: []any{"x"}}, Map{{Key: make(chan int)}}} {
		if _, err := AppendValue(nil, v); err == nil {
			t.Errorf("%T: no error", v)
		}
	}
}

func TestMapGetSet(t *testing.T) {
	var m Map
	m = m.Set(Symbol("a"), 1)
	m = m.Set([]byte{1}, 2)
	m = m.Set(Symbol("a"), 3)
	if v, ok := m.Get(Symbol("a")); !ok || v != 3 || len(m) != 2 {
		t.Fatalf("%v", m)
	}
	if _, ok := m.Get("a"); ok {
		t.Fatal("string key matched symbol key")
	}
	if v, ok := m.Get([]byte{1}); !ok || v != 2 {
		t.Fatal("binary key")
	}
}
