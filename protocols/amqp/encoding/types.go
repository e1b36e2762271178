package encoding

import (
	"bytes"
	"encoding/hex"
	"time"
)

// Symbol is an AMQP symbol (§1.6.21): a value from a constrained domain,
// encoded as ASCII.
type Symbol string

// UUID is an AMQP uuid (§1.6.18), in RFC 4122 byte order.
type UUID [16]byte

// String returns the canonical 8-4-4-4-12 hexadecimal form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Char is an AMQP char (§1.6.16): a single Unicode code point, encoded as
// UTF-32BE. It is a distinct type so that it does not collide with int32,
// the Go type of the AMQP int.
type Char rune

// Decimal32 is an AMQP decimal32 (§1.6.13), kept as its four raw bytes
// (IEEE 754-2008 decimal32, binary integer decimal encoding).
type Decimal32 [4]byte

// Decimal64 is an AMQP decimal64 (§1.6.14), kept as its eight raw bytes.
type Decimal64 [8]byte

// Decimal128 is an AMQP decimal128 (§1.6.15), kept as its sixteen raw bytes.
type Decimal128 [16]byte

// Described is a described value (§1.2, Figure 1.2): a descriptor and the
// value it annotates. Descriptors are ulong (uint64) or Symbol values (§1.5);
// other types are reserved but decoded as found.
type Described struct {
	Descriptor any
	Value      any
}

// Pair is one key-value entry of a Map.
type Pair struct {
	Key   any
	Value any
}

// Map is an AMQP map (§1.6.23). AMQP maps are ordered and their keys may be
// of any type, including types that are not comparable in Go ([]byte), so a
// Map is a slice of pairs. AppendValue encodes a nil Map as null and an empty one as an
// empty map. Lookups are linear,
// which is the right trade for the small maps AMQP carries (properties,
// annotations, filters).
type Map []Pair

// Get returns the value stored under key and whether it was found. Keys are
// compared with Equal, so Symbol("a") and "a" are different keys.
func (m Map) Get(key any) (any, bool) {
	for i := range m {
		if Equal(m[i].Key, key) {
			return m[i].Value, true
		}
	}
	return nil, false
}

// Set replaces the value stored under key, or appends a new pair. It returns
// the updated map.
func (m Map) Set(key, value any) Map {
	for i := range m {
		if Equal(m[i].Key, key) {
			m[i].Value = value
			return m
		}
	}
	return append(m, Pair{Key: key, Value: value})
}

// Type identifies an AMQP primitive type (§1.6), independent of which of
// its encodings is used on the wire. It is the element type of an Array.
type Type uint8

// The AMQP primitive types.
const (
	TypeInvalid Type = iota
	TypeNull
	TypeBoolean
	TypeUbyte
	TypeUshort
	TypeUint
	TypeUlong
	TypeByte
	TypeShort
	TypeInt
	TypeLong
	TypeFloat
	TypeDouble
	TypeDecimal32
	TypeDecimal64
	TypeDecimal128
	TypeChar
	TypeTimestamp
	TypeUUID
	TypeBinary
	TypeString
	TypeSymbol
	TypeList
	TypeMap
	TypeArray
)

var typeNames = [...]string{
	TypeInvalid: "invalid", TypeNull: "null", TypeBoolean: "boolean", TypeUbyte: "ubyte",
	TypeUshort: "ushort", TypeUint: "uint", TypeUlong: "ulong", TypeByte: "byte",
	TypeShort: "short", TypeInt: "int", TypeLong: "long", TypeFloat: "float",
	TypeDouble: "double", TypeDecimal32: "decimal32", TypeDecimal64: "decimal64",
	TypeDecimal128: "decimal128", TypeChar: "char", TypeTimestamp: "timestamp",
	TypeUUID: "uuid", TypeBinary: "binary", TypeString: "string", TypeSymbol: "symbol",
	TypeList: "list", TypeMap: "map", TypeArray: "array",
}

// String returns the AMQP name of the type ("uint", "symbol", ...).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// Array is an AMQP array (§1.6.24, §1.2.4): a sequence of values of one type
// sharing a single element constructor.
//
// Elems holds the element values in the Go types of the value model for
// Type (uint32 for TypeUint, Symbol for TypeSymbol, Array for TypeArray...).
// When Descriptor is non-nil the array is an array of described values: the
// element constructor is 0x00 Descriptor followed by the constructor for
// Type, and Elems holds the undescribed values.
type Array struct {
	Type       Type
	Descriptor any
	Elems      []any
}

// Optional holds a value that may be absent (encoded as null). It is used
// for composite fields where the Go zero value is a meaningful value, such
// as a transfer's delivery-id, without the allocation of a pointer.
type Optional[T any] struct {
	Value T
	Set   bool // false means absent: the field is encoded as null
}

// Some returns an Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Set: true} }

// Get returns the value and whether it is set.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Set }

// Or returns the value when set, and def otherwise.
func (o Optional[T]) Or(def T) T {
	if o.Set {
		return o.Value
	}
	return def
}

// Marshaler is implemented by values that encode themselves, such as the
// generated composite types. AppendValue calls their Marshal method.
type Marshaler interface {
	Marshal(dst []byte) ([]byte, error)
}

// Equal reports whether two values of the value model are equal, comparing
// maps, lists and arrays element by element (maps in order, §1.6.23),
// byte slices by content, and floating point values by their bits, so that
// a NaN equals itself. Values of different Go types are never equal.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || x != x && y != y)
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || x != x && y != y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i].Key, y[i].Key) || !Equal(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case Array:
		y, ok := b.(Array)
		if !ok || x.Type != y.Type || !Equal(x.Descriptor, y.Descriptor) || len(x.Elems) != len(y.Elems) {
			return false
		}
		for i := range x.Elems {
			if !Equal(x.Elems[i], y.Elems[i]) {
				return false
			}
		}
		return true
	case Described:
		y, ok := b.(Described)
		return ok && Equal(x.Descriptor, y.Descriptor) && Equal(x.Value, y.Value)
	case []Symbol:
		y, ok := b.([]Symbol)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case []string:
		y, ok := b.([]string)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	defer func() { _ = recover() }() // uncomparable types compare unequal
	return a == b
}
