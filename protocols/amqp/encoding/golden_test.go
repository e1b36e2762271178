package encoding

import (
	"math"
	"strings"
	"time"
)

// golden is the encoding package's golden byte table, hand-computed from
// OASIS AMQP 1.0 Part 1. Each case feeds the decode test, the encode test
// (when canonical: the encoder must produce exactly these bytes) and the
// fuzz corpus.
type golden struct {
	name      string
	raw       []byte
	value     any
	canonical bool // AppendValue(value) == raw
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func rep(b byte, n int) []byte { return []byte(strings.Repeat(string([]byte{b}), n)) }

var ts = time.UnixMilli(1311704463521).UTC() // §1.6.17: 2011-07-26T18:21:03.521Z

var goldens = []golden{
	{"null §1.6.1", []byte{0x40}, nil, true},
	{"true §1.6.2", []byte{0x41}, true, true},
	{"false §1.6.2", []byte{0x42}, false, true},
	{"boolean 0x56 true", []byte{0x56, 0x01}, true, false},
	{"boolean 0x56 false", []byte{0x56, 0x00}, false, false},
	{"ubyte §1.6.3", []byte{0x50, 0xff}, uint8(255), true},
	{"ushort §1.6.4", []byte{0x60, 0x12, 0x34}, uint16(0x1234), true},
	{"uint0 §1.6.5", []byte{0x43}, uint32(0), true},
	{"smalluint", []byte{0x52, 0xff}, uint32(255), true},
	{"uint", []byte{0x70, 0x00, 0x00, 0x01, 0x00}, uint32(256), true},
	{"uint wide small value", []byte{0x70, 0, 0, 0, 7}, uint32(7), false},
	{"ulong0 §1.6.6", []byte{0x44}, uint64(0), true},
	{"smallulong", []byte{0x53, 0x10}, uint64(16), true},
	{"ulong", []byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8}, uint64(0x0102030405060708), true},
	{"byte §1.6.7", []byte{0x51, 0x80}, int8(-128), true},
	{"short §1.6.8", []byte{0x61, 0xff, 0xfe}, int16(-2), true},
	{"smallint §1.6.9", []byte{0x54, 0xff}, int32(-1), true},
	{"int", []byte{0x71, 0xff, 0xff, 0xff, 0x7f}, int32(-129), true},
	{"smalllong §1.6.10", []byte{0x55, 0x7f}, int64(127), true},
	{"long", []byte{0x81, 0, 0, 0, 0, 0, 0, 0, 0x80}, int64(128), true},
	{"float §1.6.11", []byte{0x72, 0x3f, 0x80, 0, 0}, float32(1), true},
	{"double §1.6.12", []byte{0x82, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}, math.Pi, true},
	{"decimal32 §1.6.13", []byte{0x74, 1, 2, 3, 4}, Decimal32{1, 2, 3, 4}, true},
	{"decimal64 §1.6.14", []byte{0x84, 1, 2, 3, 4, 5, 6, 7, 8}, Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, true},
	{"decimal128 §1.6.15", cat([]byte{0x94}, rep(9, 16)), Decimal128{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, true},
	{"char §1.6.16", []byte{0x73, 0x00, 0x01, 0xf6, 0x00}, Char('😀'), true},
	{"timestamp §1.6.17", []byte{0x83, 0x00, 0x00, 0x01, 0x31, 0x67, 0xad, 0xb8, 0xa1}, ts, true},
	{"uuid §1.6.18", cat([]byte{0x98}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}), UUID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, true},
	{"vbin8 §1.6.19", []byte{0xa0, 0x03, 1, 2, 3}, []byte{1, 2, 3}, true},
	{"vbin8 empty", []byte{0xa0, 0x00}, []byte{}, true},
	{"vbin32", cat([]byte{0xb0, 0, 0, 1, 0}, rep(7, 256)), rep(7, 256), true},
	{"vbin32 short", []byte{0xb0, 0, 0, 0, 1, 0xaa}, []byte{0xaa}, false},
	// §1.2 Figure 1.1.
	{"str8-utf8 §1.6.20", cat([]byte{0xa1, 0x1e}, []byte("Hello Glorious Messaging World")), "Hello Glorious Messaging World", true},
	{"str32-utf8", cat([]byte{0xb1, 0, 0, 1, 0x2c}, rep('x', 300)), strings.Repeat("x", 300), true},
	{"sym8 §1.6.21", []byte{0xa3, 0x03, 'a', 'b', 'c'}, Symbol("abc"), true},
	{"sym32", cat([]byte{0xb3, 0, 0, 1, 0}, rep('s', 256)), Symbol(strings.Repeat("s", 256)), true},
	{"list0 §1.6.22", []byte{0x45}, []any(nil), true},
	{"list8", []byte{0xc0, 0x04, 0x02, 0x41, 0x52, 0x07}, []any{true, uint32(7)}, true},
	{"list8 empty", []byte{0xc0, 0x01, 0x00}, []any(nil), false},
	{"list32", []byte{0xd0, 0, 0, 0, 6, 0, 0, 0, 2, 0x40, 0x44}, []any{nil, uint64(0)}, false},
	{"list32 large", cat([]byte{0xd0, 0, 0, 1, 4, 0, 0, 1, 0}, rep(0x40, 256)), make([]any, 256), true},
	{"map8 §1.6.23", []byte{0xc1, 0x07, 0x02, 0xa3, 0x01, 'k', 0xa1, 0x01, 'v'}, Map{{Symbol("k"), "v"}}, true},
	{"map8 empty", []byte{0xc1, 0x01, 0x00}, Map{}, true},
	{"map32", []byte{0xd1, 0, 0, 0, 6, 0, 0, 0, 2, 0x43, 0x41}, Map{{uint32(0), true}}, false},
	{"map ordered, binary key", []byte{0xc1, 0x08, 0x04, 0xa0, 0x01, 0xff, 0x40, 0x52, 0x01, 0x42}, Map{{[]byte{0xff}, nil}, {uint32(1), false}}, true},
	{"array8 of sym8 §1.6.24", []byte{0xe0, 0x06, 0x02, 0xa3, 0x01, 'a', 0x01, 'b'}, Array{Type: TypeSymbol, Elems: []any{Symbol("a"), Symbol("b")}}, true},
	// §1.4 Figure 1.19: the authors field of the example book.
	{"array8 of str8 §1.4", cat([]byte{0xe0, 0x25, 0x02, 0xa1, 0x0e}, []byte("Rob J. Godfrey"), []byte{0x13}, []byte("Rafael H. Schloming")),
		Array{Type: TypeString, Elems: []any{"Rob J. Godfrey", "Rafael H. Schloming"}}, true},
	{"array8 of smalluint", []byte{0xe0, 0x04, 0x02, 0x52, 0x01, 0x02}, Array{Type: TypeUint, Elems: []any{uint32(1), uint32(2)}}, true},
	{"array8 of uint", []byte{0xe0, 0x06, 0x01, 0x70, 0, 0, 1, 0}, Array{Type: TypeUint, Elems: []any{uint32(256)}}, true},
	{"array8 of boolean", []byte{0xe0, 0x04, 0x02, 0x56, 0x01, 0x00}, Array{Type: TypeBoolean, Elems: []any{true, false}}, true},
	{"array8 of true", []byte{0xe0, 0x02, 0x03, 0x41}, Array{Type: TypeBoolean, Elems: []any{true, true, true}}, false},
	{"array8 empty of ulong", []byte{0xe0, 0x02, 0x00, 0x53}, Array{Type: TypeUlong}, true},
	{"array8 of long", []byte{0xe0, 0x0a, 0x01, 0x81, 0, 0, 0, 0, 0, 0, 1, 0}, Array{Type: TypeLong, Elems: []any{int64(256)}}, true},
	{"array8 of list", []byte{0xe0, 0x0b, 0x01, 0xd0, 0, 0, 0, 5, 0, 0, 0, 1, 0x40}, Array{Type: TypeList, Elems: []any{[]any{nil}}}, true},
	{"array8 of map", []byte{0xe0, 0x0c, 0x01, 0xd1, 0, 0, 0, 6, 0, 0, 0, 2, 0x43, 0x43}, Array{Type: TypeMap, Elems: []any{Map{{uint32(0), uint32(0)}}}}, true},
	{"array of array", []byte{0xe0, 0x0d, 0x01, 0xf0, 0, 0, 0, 7, 0, 0, 0, 2, 0x52, 0x01, 0x02}, Array{Type: TypeArray, Elems: []any{Array{Type: TypeUint, Elems: []any{uint32(1), uint32(2)}}}}, true},
	{"array32", []byte{0xf0, 0, 0, 0, 6, 0, 0, 0, 1, 0x50, 0x09}, Array{Type: TypeUbyte, Elems: []any{uint8(9)}}, false},
	// §1.2.4: an array of described values has one element constructor
	// 0x00 descriptor constructor; here amqp:data:binary sections.
	{"array of described", []byte{0xe0, 0x08, 0x02, 0x00, 0x53, 0x75, 0xa0, 0x01, 0xaa, 0x00},
		Array{Type: TypeBinary, Descriptor: uint64(0x75), Elems: []any{[]byte{0xaa}, []byte{}}}, true},
	{"described ulong §1.5", []byte{0x00, 0x53, 0x24, 0x45}, Described{Descriptor: uint64(0x24), Value: []any(nil)}, true},
	// §1.2 Figure 1.2: a symbolic descriptor.
	{"described symbol", cat([]byte{0x00, 0xa3, 0x03}, []byte("URL"), []byte{0xa1, 0x1e}, []byte("http://example.org/hello-world")),
		Described{Descriptor: Symbol("URL"), Value: "http://example.org/hello-world"}, true},
	{"nested described", []byte{0x00, 0x00, 0x53, 0x01, 0x53, 0x02, 0x40}, Described{Descriptor: Described{uint64(1), uint64(2)}, Value: nil}, true},
}

// badGolden are inputs that must fail with the given sentinel.
var badGoldens = []struct {
	name string
	raw  []byte
	err  error
}{
	{"empty", nil, ErrTruncated},
	{"reserved code", []byte{0x4f}, ErrInvalidCode},
	{"undefined code", []byte{0x57}, ErrInvalidCode},
	{"truncated uint", []byte{0x70, 0, 0}, ErrTruncated},
	{"bad boolean octet", []byte{0x56, 0x02}, ErrInvalidValue},
	{"vbin8 size beyond input", []byte{0xa0, 0x05, 1}, ErrTruncated},
	{"vbin32 huge size", []byte{0xb0, 0xff, 0xff, 0xff, 0xff}, ErrTruncated},
	{"list32 huge count", []byte{0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff}, ErrInvalidSize},
	{"list32 huge size", []byte{0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, ErrTruncated},
	{"list8 count over size", []byte{0xc0, 0x02, 0x05, 0x40}, ErrInvalidSize},
	{"list8 size over contents", []byte{0xc0, 0x03, 0x01, 0x40, 0x40}, ErrInvalidSize},
	{"list8 item past size", []byte{0xc0, 0x02, 0x01, 0x52, 0x01}, ErrTruncated},
	{"map odd count", []byte{0xc1, 0x02, 0x01, 0x40}, ErrInvalidValue},
	{"array32 huge count", []byte{0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x70}, ErrInvalidSize},
	{"array32 zero-width huge count", []byte{0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40}, ErrInvalidSize},
	{"array bad element code", []byte{0xe0, 0x02, 0x00, 0x4f}, ErrInvalidCode},
	{"array nested described constructor", []byte{0xe0, 0x05, 0x00, 0x00, 0x40, 0x00, 0x40}, ErrInvalidCode},
	{"described truncated", []byte{0x00, 0x53}, ErrTruncated},
}
