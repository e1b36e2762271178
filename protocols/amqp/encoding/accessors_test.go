package encoding

import (
	"errors"
	"testing"
)

// accessors maps each type to the typed Decoder method that reads it.
var accessors = map[Type]func(d *Decoder) (any, error){
	TypeBoolean:   func(d *Decoder) (any, error) { return d.Bool() },
	TypeUbyte:     func(d *Decoder) (any, error) { return d.Ubyte() },
	TypeUshort:    func(d *Decoder) (any, error) { return d.Ushort() },
	TypeUint:      func(d *Decoder) (any, error) { return d.Uint() },
	TypeUlong:     func(d *Decoder) (any, error) { return d.Ulong() },
	TypeInt:       func(d *Decoder) (any, error) { return d.Int() },
	TypeLong:      func(d *Decoder) (any, error) { return d.Long() },
	TypeTimestamp: func(d *Decoder) (any, error) { return d.Timestamp() },
	TypeUUID:      func(d *Decoder) (any, error) { return d.UUID() },
	TypeBinary:    func(d *Decoder) (any, error) { return d.Binary() },
	TypeString:    func(d *Decoder) (any, error) { return d.String() },
	TypeSymbol:    func(d *Decoder) (any, error) { return d.Symbol() },
	TypeList:      func(d *Decoder) (any, error) { return d.List() },
	TypeMap:       func(d *Decoder) (any, error) { return d.Map() },
	TypeArray:     func(d *Decoder) (any, error) { return d.Array() },
}

// TestTypedAccessorsGolden reads every golden value with its typed accessor
// (which must agree with Value) and with every other accessor (which must
// report a type mismatch without panicking), and skips it with Skip.
func TestTypedAccessorsGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			typ := TypeOf(g.raw[0])
			for at, read := range accessors {
				d := NewDecoder(g.raw)
				v, err := read(d)
				switch {
				case at == typ:
					if err != nil || !Equal(v, g.value) || d.Len() != 0 {
						t.Fatalf("%s accessor: %#v, %v", at, v, err)
					}
				case !errors.Is(err, ErrTypeMismatch):
					t.Fatalf("%s accessor on %s: %v", at, typ, err)
				}
			}
			d := NewDecoder(g.raw)
			if err := d.Skip(); err != nil || d.Len() != 0 {
				t.Fatalf("Skip: %v, %d left", err, d.Len())
			}
		})
	}
}

func TestAliasBinary(t *testing.T) {
	in := []byte{0xa0, 0x02, 'h', 'i'}
	d := NewDecoder(in)
	d.Alias = true
	b, err := d.Binary()
	if err != nil || &b[0] != &in[2] {
		t.Fatal("Alias did not alias the input")
	}
	d = NewDecoder(in)
	b, _ = d.Binary()
	if &b[0] == &in[2] {
		t.Fatal("binary aliased without Alias")
	}
}

func TestTypeAndUUIDStrings(t *testing.T) {
	if TypeSymbol.String() != "symbol" || Type(200).String() != "invalid" {
		t.Fatal("Type.String")
	}
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	if u.String() != "12345678-9abc-def0-0102-030405060708" {
		t.Fatal(u.String())
	}
	if v, ok := Some(3).Get(); !ok || v != 3 || (Optional[int]{}).Or(4) != 4 {
		t.Fatal("Optional")
	}
}

func TestPeekAndReadDescriptor(t *testing.T) {
	d := NewDecoder([]byte{0x00, 0xa3, 0x01, 'x', 0x45})
	code, name, err := d.PeekDescriptor()
	if err != nil || code != 0 || name != "x" || d.Offset() != 0 {
		t.Fatal(code, name, err)
	}
	if _, name, err = d.ReadDescriptor(); err != nil || name != "x" || d.Offset() != 4 {
		t.Fatal(err)
	}
	if _, _, err := NewDecoder([]byte{0x00, 0x41, 0x45}).PeekDescriptor(); !errors.Is(err, ErrTypeMismatch) {
		t.Fatal(err)
	}
}

// TestArrayOfEveryType round-trips an array of each primitive type,
// exercising the element constructor choice (§1.2.4).
func TestArrayOfEveryType(t *testing.T) {
	samples := map[Type][]any{
		TypeNull:       {nil, nil},
		TypeBoolean:    {true, false},
		TypeUbyte:      {uint8(1), uint8(255)},
		TypeUshort:     {uint16(1), uint16(65535)},
		TypeUint:       {uint32(0), uint32(70000)},
		TypeUlong:      {uint64(1), uint64(1 << 60)},
		TypeByte:       {int8(-1), int8(1)},
		TypeShort:      {int16(-300), int16(1)},
		TypeInt:        {int32(-300), int32(1)},
		TypeLong:       {int64(-300), int64(1)},
		TypeFloat:      {float32(1.5), float32(-2)},
		TypeDouble:     {1.5, -2.0},
		TypeDecimal32:  {Decimal32{1}, Decimal32{2}},
		TypeDecimal64:  {Decimal64{1}},
		TypeDecimal128: {Decimal128{1}},
		TypeChar:       {Char('a'), Char('é')},
		TypeTimestamp:  {ts, ts},
		TypeUUID:       {UUID{1}, UUID{2}},
		TypeBinary:     {[]byte{1}, []byte{}},
		TypeString:     {"a", ""},
		TypeSymbol:     {Symbol("a"), Symbol(string(make([]byte, 300)))},
		TypeList:       {[]any{uint32(1)}, []any(nil)},
		TypeMap:        {Map{{Key: "k", Value: nil}}, Map{}},
		TypeArray:      {Array{Type: TypeInt, Elems: []any{int32(1)}}, Array{Type: TypeSymbol}},
	}
	for typ, elems := range samples {
		t.Run(typ.String(), func(t *testing.T) {
			a := Array{Type: typ, Elems: elems}
			raw, err := AppendValue(nil, a)
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewDecoder(raw).Value()
			if err != nil || !Equal(v, a) {
				t.Fatalf("% x: %#v, %v", raw, v, err)
			}
			// A wrongly typed element is an error, not a panic.
			bad := Array{Type: typ, Elems: append(append([]any{}, elems...), struct{}{})}
			if _, err := AppendValue(nil, bad); err == nil {
				t.Fatal("mistyped element accepted")
			}
		})
	}
}
