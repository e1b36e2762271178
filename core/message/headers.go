package message

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the type of a header value. The set is what AMQP 1.0
// application-properties can carry in simple types and what MQTT user
// properties (always strings) and STOMP headers (strings) map onto.
type Kind uint8

// Header value kinds.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
	KindBytes
	KindTime
	KindUUID
)

var kindNames = [...]string{"null", "string", "int", "float", "bool", "bytes", "timestamp", "uuid"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a typed header value. The zero Value is null.
type Value struct {
	kind Kind
	s    string // KindString
	n    uint64 // KindInt (int64 bits), KindFloat (float64 bits), KindBool, KindTime (unix ms as int64)
	b    []byte // KindBytes, KindUUID (16 bytes)
}

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, s: s} }

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, n: uint64(i)} }

// Float returns a floating-point value.
func Float(f float64) Value { return Value{kind: KindFloat, n: math.Float64bits(f)} }

// Bool returns a boolean value.
func Bool(v bool) Value {
	if v {
		return Value{kind: KindBool, n: 1}
	}
	return Value{kind: KindBool}
}

// Bytes returns a binary value. The slice is kept, not copied.
func Bytes(b []byte) Value { return Value{kind: KindBytes, b: b} }

// Time returns a timestamp value with millisecond precision (AMQP 1.0
// timestamp).
func Time(t time.Time) Value { return Value{kind: KindTime, n: uint64(t.UnixMilli())} }

// UUID returns a UUID value; u must be 16 bytes.
func UUID(u [16]byte) Value { return Value{kind: KindUUID, b: u[:]} }

// Null returns the null value.
func Null() Value { return Value{} }

// Kind reports the value's type.
func (v Value) Kind() Kind { return v.kind }

// Str returns the string of a KindString value, or "".
func (v Value) Str() string { return v.s }

// IntValue returns the integer of a KindInt value, or 0.
func (v Value) IntValue() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.n)
}

// FloatValue returns the number of a KindFloat value, or 0.
func (v Value) FloatValue() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.n)
}

// BoolValue returns the boolean of a KindBool value, or false.
func (v Value) BoolValue() bool { return v.kind == KindBool && v.n == 1 }

// BytesValue returns the bytes of a KindBytes or KindUUID value, or nil.
func (v Value) BytesValue() []byte { return v.b }

// TimeValue returns the time of a KindTime value, or the zero time.
func (v Value) TimeValue() time.Time {
	if v.kind != KindTime {
		return time.Time{}
	}
	return time.UnixMilli(int64(v.n)).UTC()
}

// Text renders the value as a string for protocols whose headers are text
// (MQTT user properties, STOMP headers). Rendering is lossless for strings;
// other kinds lose their type, which callers count as a lossy conversion.
func (v Value) Text() string {
	switch v.kind {
	case KindString:
		return v.s
	case KindInt:
		return strconv.FormatInt(int64(v.n), 10)
	case KindFloat:
		return strconv.FormatFloat(math.Float64frombits(v.n), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.n == 1)
	case KindBytes:
		return string(v.b)
	case KindTime:
		return strconv.FormatInt(int64(v.n), 10)
	case KindUUID:
		b := v.b
		if len(b) != 16 {
			return fmt.Sprintf("%x", b)
		}
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	default:
		return ""
	}
}

// Equal reports whether two values have the same kind and content.
func (v Value) Equal(o Value) bool {
	return v.kind == o.kind && v.s == o.s && v.n == o.n && bytes.Equal(v.b, o.b)
}

func (v Value) size() int { return len(v.s) + len(v.b) + 8 }

func (v Value) clone() Value {
	if v.b != nil {
		v.b = append([]byte(nil), v.b...)
	}
	return v
}

// Header is one application header.
type Header struct {
	Key   string
	Value Value
}

// Headers is an ordered list of headers; a key may repeat (MQTT user
// properties allow it and keep order, MQTT-3.3.2-18).
type Headers []Header

// Get returns the first value for key.
func (h Headers) Get(key string) (Value, bool) {
	for _, x := range h {
		if x.Key == key {
			return x.Value, true
		}
	}
	return Value{}, false
}

// GetString returns the first value for key rendered as text, or "".
func (h Headers) GetString(key string) string {
	v, _ := h.Get(key)
	return v.Text()
}

// Add appends a header, keeping any earlier one with the same key.
func (h *Headers) Add(key string, v Value) { *h = append(*h, Header{Key: key, Value: v}) }

// Set replaces every header named key by one with value v, keeping the
// position of the first one, or appends it.
func (h *Headers) Set(key string, v Value) {
	out := (*h)[:0]
	done := false
	for _, x := range *h {
		if x.Key == key {
			if done {
				continue
			}
			x.Value = v
			done = true
		}
		out = append(out, x)
	}
	if !done {
		out = append(out, Header{Key: key, Value: v})
	}
	*h = out
}

// Del removes every header named key.
func (h *Headers) Del(key string) {
	out := (*h)[:0]
	for _, x := range *h {
		if x.Key != key {
			out = append(out, x)
		}
	}
	*h = out
}

// Clone returns a deep copy.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	c := make(Headers, len(h))
	for i, x := range h {
		c[i] = Header{Key: x.Key, Value: x.Value.clone()}
	}
	return c
}
