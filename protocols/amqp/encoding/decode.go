package encoding

import (
	"encoding/binary"
	"math"
	"time"
)

// DefaultMaxDepth is the nesting limit used when Decoder.MaxDepth is zero.
// Each list, map, array and described value counts as one level.
const DefaultMaxDepth = 64

// A Decoder decodes AMQP values from a byte slice. The zero value decodes an
// empty input; Reset points it at new input. A Decoder never reads outside
// its input and never allocates before checking that the input holds what a
// size or count field announces. Decoded strings and (unless Alias is set)
// binaries are copies, so decoded values stay valid after the input is
// reused. After an error the decoder's position is unspecified: Reset it.
type Decoder struct {
	buf   []byte // input, truncated to the end of the innermost compound being read
	off   int    // read position in buf
	depth int

	// MaxDepth limits nesting; 0 means DefaultMaxDepth.
	MaxDepth int
	// Alias makes decoded binary values sub-slices of the input instead of
	// copies. Only set it when the input outlives every decoded value and is
	// never modified.
	Alias bool
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder {
	return &Decoder{buf: b}
}

// Reset makes d read b from the start, keeping MaxDepth and Alias.
func (d *Decoder) Reset(b []byte) {
	d.buf, d.off, d.depth = b, 0, 0
}

// Offset returns the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Len returns the number of bytes left to read (within the innermost
// compound value being decoded, if any).
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Rest returns the unread input (within the innermost compound value).
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

func (d *Decoder) err(sentinel error, code byte, detail string) error {
	return &Error{Offset: d.off, Code: code, Err: sentinel, Detail: detail}
}

func (d *Decoder) truncated(code byte) error { return d.err(ErrTruncated, code, "") }

func (d *Decoder) mismatch(code byte, want string) error {
	return &Error{Offset: d.off - 1, Code: code, Err: ErrTypeMismatch,
		Detail: "want " + want + ", got " + codeName(code)}
}

func codeName(code byte) string {
	if code == CodeDescribed {
		return "described value"
	}
	t := codeType[code]
	if t == TypeInvalid {
		return "invalid code 0x" + string("0123456789abcdef"[code>>4]) + string("0123456789abcdef"[code&15])
	}
	return t.String()
}

func (d *Decoder) maxDepth() int {
	if d.MaxDepth > 0 {
		return d.MaxDepth
	}
	return DefaultMaxDepth
}

func (d *Decoder) enter() error {
	if d.depth >= d.maxDepth() {
		return d.err(ErrTooDeep, 0, "")
	}
	d.depth++
	return nil
}

// readCode consumes one format code byte.
func (d *Decoder) readCode() (byte, error) {
	if d.off >= len(d.buf) {
		return 0, d.truncated(0)
	}
	c := d.buf[d.off]
	d.off++
	return c, nil
}

// PeekCode returns the next format code without consuming it.
func (d *Decoder) PeekCode() (byte, error) {
	if d.off >= len(d.buf) {
		return 0, d.truncated(0)
	}
	return d.buf[d.off], nil
}

// TryNull consumes a null (0x40) if it is next and reports whether it did.
func (d *Decoder) TryNull() bool {
	if d.off < len(d.buf) && d.buf[d.off] == CodeNull {
		d.off++
		return true
	}
	return false
}

// take consumes n bytes of data for a value with format code code.
func (d *Decoder) take(n int, code byte) ([]byte, error) {
	if n < 0 || n > len(d.buf)-d.off {
		return nil, d.truncated(code)
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b, nil
}

// size reads the size prefix of a variable, compound or array encoding of
// width 1 or 4 (§1.2.2–1.2.4) and checks it against the remaining input.
func (d *Decoder) size(code byte) (int, error) {
	var n uint64
	if code&0x10 == 0 { // subcategories 0xA, 0xC, 0xE: one octet
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		n = uint64(b[0])
	} else {
		b, err := d.take(4, code)
		if err != nil {
			return 0, err
		}
		n = uint64(binary.BigEndian.Uint32(b))
	}
	if n > uint64(len(d.buf)-d.off) {
		return 0, d.err(ErrTruncated, code, "size exceeds input")
	}
	return int(n), nil
}

// count reads the count of a compound or array encoding.
func (d *Decoder) count(code byte) (int, error) {
	if code&0x10 == 0 {
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		return int(b[0]), nil
	}
	b, err := d.take(4, code)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

func (d *Decoder) bytesCopy(b []byte) []byte {
	if d.Alias {
		return b
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// Value decodes the next value into the Go value model (see the package
// documentation).
func (d *Decoder) Value() (any, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	if code == CodeDescribed {
		return d.described()
	}
	return d.body(code)
}

// described decodes the rest of a described value after its 0x00 code.
func (d *Decoder) described() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	desc, err := d.Value()
	if err != nil {
		return nil, err
	}
	v, err := d.Value()
	if err != nil {
		return nil, err
	}
	d.depth--
	return Described{Descriptor: desc, Value: v}, nil
}

// body decodes the data following the primitive format code code.
func (d *Decoder) body(code byte) (any, error) {
	switch code {
	case CodeNull:
		return nil, nil
	case CodeTrue:
		return true, nil
	case CodeFalse:
		return false, nil
	case CodeBoolean:
		return d.boolBody(code)
	case CodeUbyte:
		b, err := d.take(1, code)
		if err != nil {
			return nil, err
		}
		return b[0], nil
	case CodeByte:
		b, err := d.take(1, code)
		if err != nil {
			return nil, err
		}
		return int8(b[0]), nil
	case CodeUshort:
		b, err := d.take(2, code)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint16(b), nil
	case CodeShort:
		b, err := d.take(2, code)
		if err != nil {
			return nil, err
		}
		return int16(binary.BigEndian.Uint16(b)), nil
	case CodeUint, CodeSmallUint, CodeUint0:
		return d.uintBody(code)
	case CodeUlong, CodeSmallUlong, CodeUlong0:
		return d.ulongBody(code)
	case CodeInt, CodeSmallInt:
		return d.intBody(code)
	case CodeLong, CodeSmallLong:
		return d.longBody(code)
	case CodeFloat:
		b, err := d.take(4, code)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
	case CodeDouble:
		b, err := d.take(8, code)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case CodeDecimal32:
		b, err := d.take(4, code)
		if err != nil {
			return nil, err
		}
		return Decimal32(b), nil
	case CodeDecimal64:
		b, err := d.take(8, code)
		if err != nil {
			return nil, err
		}
		return Decimal64(b), nil
	case CodeDecimal128:
		b, err := d.take(16, code)
		if err != nil {
			return nil, err
		}
		return Decimal128(b), nil
	case CodeChar:
		b, err := d.take(4, code)
		if err != nil {
			return nil, err
		}
		return Char(binary.BigEndian.Uint32(b)), nil
	case CodeTimestamp:
		return d.timestampBody(code)
	case CodeUUID:
		b, err := d.take(16, code)
		if err != nil {
			return nil, err
		}
		return UUID(b), nil
	case CodeVbin8, CodeVbin32:
		b, err := d.variable(code)
		if err != nil {
			return nil, err
		}
		return d.bytesCopy(b), nil
	case CodeStr8, CodeStr32:
		b, err := d.variable(code)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case CodeSym8, CodeSym32:
		b, err := d.variable(code)
		if err != nil {
			return nil, err
		}
		return Symbol(b), nil
	case CodeList0, CodeList8, CodeList32:
		return d.listBody(code)
	case CodeMap8, CodeMap32:
		return d.mapBody(code)
	case CodeArray8, CodeArray32:
		return d.arrayBody(code)
	}
	return nil, &Error{Offset: d.off - 1, Code: code, Err: ErrInvalidCode, Detail: codeName(code)}
}

func (d *Decoder) boolBody(code byte) (bool, error) {
	switch code {
	case CodeTrue:
		return true, nil
	case CodeFalse:
		return false, nil
	}
	b, err := d.take(1, code)
	if err != nil {
		return false, err
	}
	switch b[0] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, d.err(ErrInvalidValue, code, "boolean octet must be 0x00 or 0x01")
}

func (d *Decoder) uintBody(code byte) (uint32, error) {
	switch code {
	case CodeUint0:
		return 0, nil
	case CodeSmallUint:
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		return uint32(b[0]), nil
	}
	b, err := d.take(4, code)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func (d *Decoder) ulongBody(code byte) (uint64, error) {
	switch code {
	case CodeUlong0:
		return 0, nil
	case CodeSmallUlong:
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		return uint64(b[0]), nil
	}
	b, err := d.take(8, code)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

func (d *Decoder) intBody(code byte) (int32, error) {
	if code == CodeSmallInt {
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		return int32(int8(b[0])), nil
	}
	b, err := d.take(4, code)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

func (d *Decoder) longBody(code byte) (int64, error) {
	if code == CodeSmallLong {
		b, err := d.take(1, code)
		if err != nil {
			return 0, err
		}
		return int64(int8(b[0])), nil
	}
	b, err := d.take(8, code)
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func (d *Decoder) timestampBody(code byte) (time.Time, error) {
	b, err := d.take(8, code)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC(), nil
}

// variable reads the size-prefixed data of a binary, string or symbol.
func (d *Decoder) variable(code byte) ([]byte, error) {
	n, err := d.size(code)
	if err != nil {
		return nil, err
	}
	return d.take(n, code)
}

// compound reads the size and count of a list or map (§1.2.3), checks them
// and bounds the decoder to the compound's end. The caller must call
// d.leave(end, outer) after reading the items.
func (d *Decoder) compound(code byte) (count, end, outer int, err error) {
	size, err := d.size(code)
	if err != nil {
		return 0, 0, 0, err
	}
	end = d.off + size
	count, err = d.count(code)
	if err != nil {
		return 0, 0, 0, err
	}
	if d.off > end {
		return 0, 0, 0, d.err(ErrInvalidSize, code, "size smaller than count field")
	}
	// Every item has at least a one-octet constructor.
	if count > end-d.off {
		return 0, 0, 0, d.err(ErrInvalidSize, code, "count exceeds size")
	}
	if err := d.enter(); err != nil {
		return 0, 0, 0, err
	}
	outer = len(d.buf)
	d.buf = d.buf[:end]
	return count, end, outer, nil
}

// leave checks that a compound or array was consumed exactly and restores
// the outer bound.
func (d *Decoder) leave(end, outer int, code byte) error {
	if d.off != end {
		return d.err(ErrInvalidSize, code, "size does not match contents")
	}
	d.buf = d.buf[:outer]
	d.depth--
	return nil
}

func (d *Decoder) listBody(code byte) ([]any, error) {
	if code == CodeList0 {
		return nil, nil
	}
	count, end, outer, err := d.compound(code)
	if err != nil {
		return nil, err
	}
	var l []any
	if count > 0 {
		l = make([]any, count)
	}
	for i := range l {
		if l[i], err = d.Value(); err != nil {
			return nil, err
		}
	}
	return l, d.leave(end, outer, code)
}

func (d *Decoder) mapBody(code byte) (Map, error) {
	count, end, outer, err := d.compound(code)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, d.err(ErrInvalidValue, code, "map with odd number of items")
	}
	m := make(Map, count/2)
	for i := range m {
		if m[i].Key, err = d.Value(); err != nil {
			return nil, err
		}
		if m[i].Value, err = d.Value(); err != nil {
			return nil, err
		}
	}
	return m, d.leave(end, outer, code)
}

// elementConstructor reads an array's element constructor (§1.2.4): a
// primitive format code, or 0x00, a descriptor value and a format code.
func (d *Decoder) elementConstructor() (code byte, desc any, err error) {
	code, err = d.readCode()
	if err != nil {
		return 0, nil, err
	}
	if code != CodeDescribed {
		return code, nil, nil
	}
	if err := d.enter(); err != nil {
		return 0, nil, err
	}
	if desc, err = d.Value(); err != nil {
		return 0, nil, err
	}
	d.depth--
	if code, err = d.readCode(); err != nil {
		return 0, nil, err
	}
	if code == CodeDescribed {
		return 0, nil, d.err(ErrInvalidCode, code, "nested described element constructor")
	}
	return code, desc, nil
}

// arrayHeader reads an array's size, count and element constructor and
// bounds the decoder to the array's end.
func (d *Decoder) arrayHeader(code byte) (count int, elem byte, desc any, end, outer int, err error) {
	size, err := d.size(code)
	if err != nil {
		return
	}
	end = d.off + size
	if count, err = d.count(code); err != nil {
		return
	}
	if d.off > end {
		err = d.err(ErrInvalidSize, code, "size smaller than count field")
		return
	}
	if err = d.enter(); err != nil {
		return
	}
	outer = len(d.buf)
	d.buf = d.buf[:end]
	if elem, desc, err = d.elementConstructor(); err != nil {
		return
	}
	if codeType[elem] == TypeInvalid {
		err = &Error{Offset: d.off - 1, Code: elem, Err: ErrInvalidCode, Detail: "array element constructor"}
		return
	}
	// Bound the count by the bytes present before allocating: each element
	// takes at least its fixed width, or one size octet.
	w := fixedWidth(elem)
	switch {
	case w < 0:
		w = 1
	case w == 0:
		// Zero-width elements (null, true, uint0...) take no space, so
		// nothing bounds their count; accept what fits an array8 (§1.6.24).
		if count > 255 {
			err = d.err(ErrInvalidSize, code, "more than 255 zero-width array elements")
		}
		return
	}
	if uint64(count)*uint64(w) > uint64(end-d.off) {
		err = d.err(ErrInvalidSize, code, "array count exceeds size")
	}
	return
}

func (d *Decoder) arrayBody(code byte) (Array, error) {
	count, elem, desc, end, outer, err := d.arrayHeader(code)
	if err != nil {
		return Array{}, err
	}
	a := Array{Type: codeType[elem], Descriptor: desc}
	if count > 0 {
		a.Elems = make([]any, count)
	}
	for i := range a.Elems {
		if a.Elems[i], err = d.body(elem); err != nil {
			return Array{}, err
		}
	}
	return a, d.leave(end, outer, code)
}

// Skip consumes the next value without decoding or allocating. Compound
// values are skipped by their size without checking their contents.
func (d *Decoder) Skip() error {
	code, err := d.readCode()
	if err != nil {
		return err
	}
	if code == CodeDescribed {
		if err := d.enter(); err != nil {
			return err
		}
		if err := d.Skip(); err != nil {
			return err
		}
		if err := d.Skip(); err != nil {
			return err
		}
		d.depth--
		return nil
	}
	return d.skipBody(code)
}

func (d *Decoder) skipBody(code byte) error {
	if codeType[code] == TypeInvalid {
		return &Error{Offset: d.off - 1, Code: code, Err: ErrInvalidCode, Detail: codeName(code)}
	}
	if w := fixedWidth(code); w >= 0 {
		_, err := d.take(w, code)
		return err
	}
	n, err := d.size(code)
	if err != nil {
		return err
	}
	_, err = d.take(n, code)
	return err
}

// RawValue consumes the next value and returns its complete encoding
// (constructor included) as a sub-slice of the input.
func (d *Decoder) RawValue() ([]byte, error) {
	start := d.off
	if err := d.Skip(); err != nil {
		return nil, err
	}
	return d.buf[start:d.off:d.off], nil
}

// Typed accessors. Each reads one value that must be of the named AMQP type,
// accepting any of that type's encodings; null is a type mismatch (check
// TryNull first for optional values).

// Bool decodes a boolean (§1.6.2).
func (d *Decoder) Bool() (bool, error) {
	code, err := d.readCode()
	if err != nil {
		return false, err
	}
	if code != CodeTrue && code != CodeFalse && code != CodeBoolean {
		return false, d.mismatch(code, "boolean")
	}
	return d.boolBody(code)
}

// Ubyte decodes a ubyte (§1.6.3).
func (d *Decoder) Ubyte() (uint8, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if code != CodeUbyte {
		return 0, d.mismatch(code, "ubyte")
	}
	b, err := d.take(1, code)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// Ushort decodes a ushort (§1.6.4).
func (d *Decoder) Ushort() (uint16, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if code != CodeUshort {
		return 0, d.mismatch(code, "ushort")
	}
	b, err := d.take(2, code)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b), nil
}

// Uint decodes a uint in any of its encodings (§1.6.5).
func (d *Decoder) Uint() (uint32, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if codeType[code] != TypeUint {
		return 0, d.mismatch(code, "uint")
	}
	return d.uintBody(code)
}

// Ulong decodes a ulong in any of its encodings (§1.6.6).
func (d *Decoder) Ulong() (uint64, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if codeType[code] != TypeUlong {
		return 0, d.mismatch(code, "ulong")
	}
	return d.ulongBody(code)
}

// Int decodes an int in any of its encodings (§1.6.9).
func (d *Decoder) Int() (int32, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if codeType[code] != TypeInt {
		return 0, d.mismatch(code, "int")
	}
	return d.intBody(code)
}

// Long decodes a long in any of its encodings (§1.6.10).
func (d *Decoder) Long() (int64, error) {
	code, err := d.readCode()
	if err != nil {
		return 0, err
	}
	if codeType[code] != TypeLong {
		return 0, d.mismatch(code, "long")
	}
	return d.longBody(code)
}

// Timestamp decodes a timestamp (§1.6.17) as a UTC time.Time.
func (d *Decoder) Timestamp() (time.Time, error) {
	code, err := d.readCode()
	if err != nil {
		return time.Time{}, err
	}
	if code != CodeTimestamp {
		return time.Time{}, d.mismatch(code, "timestamp")
	}
	return d.timestampBody(code)
}

// UUID decodes a uuid (§1.6.18).
func (d *Decoder) UUID() (UUID, error) {
	code, err := d.readCode()
	if err != nil {
		return UUID{}, err
	}
	if code != CodeUUID {
		return UUID{}, d.mismatch(code, "uuid")
	}
	b, err := d.take(16, code)
	if err != nil {
		return UUID{}, err
	}
	return UUID(b), nil
}

// Binary decodes a binary (§1.6.19). The result is a copy unless d.Alias is
// set; an empty binary decodes as a non-nil empty slice.
func (d *Decoder) Binary() ([]byte, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	if code != CodeVbin8 && code != CodeVbin32 {
		return nil, d.mismatch(code, "binary")
	}
	b, err := d.variable(code)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return []byte{}, nil
	}
	return d.bytesCopy(b), nil
}

// String decodes a string (§1.6.20).
func (d *Decoder) String() (string, error) {
	code, err := d.readCode()
	if err != nil {
		return "", err
	}
	if code != CodeStr8 && code != CodeStr32 {
		return "", d.mismatch(code, "string")
	}
	b, err := d.variable(code)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Symbol decodes a symbol (§1.6.21).
func (d *Decoder) Symbol() (Symbol, error) {
	code, err := d.readCode()
	if err != nil {
		return "", err
	}
	if code != CodeSym8 && code != CodeSym32 {
		return "", d.mismatch(code, "symbol")
	}
	b, err := d.variable(code)
	if err != nil {
		return "", err
	}
	return Symbol(b), nil
}

// Symbols decodes a field of symbols declared multiple="true" (§1.4): null,
// a single symbol, or an array of symbols. Null and an empty array both
// decode as nil, since §1.4 makes them semantically identical.
func (d *Decoder) Symbols() ([]Symbol, error) { return DecodeSymbols[Symbol](d) }

// DecodeSymbols is Decoder.Symbols for any symbol-based type, such as a
// restricted type of symbol with named choices.
func DecodeSymbols[S ~string](d *Decoder) ([]S, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	switch code {
	case CodeNull:
		return nil, nil
	case CodeSym8, CodeSym32:
		b, err := d.variable(code)
		if err != nil {
			return nil, err
		}
		return []S{S(b)}, nil
	case CodeArray8, CodeArray32:
	default:
		return nil, d.mismatch(code, "symbol or array of symbol")
	}
	count, elem, desc, end, outer, err := d.arrayHeader(code)
	if err != nil {
		return nil, err
	}
	if desc != nil || (elem != CodeSym8 && elem != CodeSym32) {
		return nil, d.mismatch(elem, "array of symbol")
	}
	var s []S
	if count > 0 {
		s = make([]S, count)
	}
	for i := range s {
		b, err := d.variable(elem)
		if err != nil {
			return nil, err
		}
		s[i] = S(b)
	}
	return s, d.leave(end, outer, code)
}

// List decodes a list (§1.6.22). list0 decodes as a nil slice.
func (d *Decoder) List() ([]any, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	if codeType[code] != TypeList {
		return nil, d.mismatch(code, "list")
	}
	return d.listBody(code)
}

// Map decodes a map (§1.6.23). An empty map decodes as a non-nil empty Map.
func (d *Decoder) Map() (Map, error) {
	code, err := d.readCode()
	if err != nil {
		return nil, err
	}
	if code != CodeMap8 && code != CodeMap32 {
		return nil, d.mismatch(code, "map")
	}
	return d.mapBody(code)
}

// Array decodes an array (§1.6.24).
func (d *Decoder) Array() (Array, error) {
	code, err := d.readCode()
	if err != nil {
		return Array{}, err
	}
	if code != CodeArray8 && code != CodeArray32 {
		return Array{}, d.mismatch(code, "array")
	}
	return d.arrayBody(code)
}

// PeekDescriptor returns the descriptor of the described value that comes
// next, without consuming anything: a numeric descriptor in code, or a
// symbolic one in name (§1.5). It fails with ErrTypeMismatch if the next
// value is not described by a ulong or symbol.
func (d *Decoder) PeekDescriptor() (code uint64, name Symbol, err error) {
	start := d.off
	defer func() { d.off = start }()
	return d.descriptor()
}

// ReadDescriptor consumes the 0x00 constructor and the descriptor of a
// described value, which must be a ulong or a symbol (§1.5), leaving the
// described value itself to be read.
func (d *Decoder) ReadDescriptor() (code uint64, name Symbol, err error) { return d.descriptor() }

// descriptor consumes 0x00 and a ulong or symbol descriptor.
func (d *Decoder) descriptor() (uint64, Symbol, error) {
	c, err := d.readCode()
	if err != nil {
		return 0, "", err
	}
	if c != CodeDescribed {
		return 0, "", d.mismatch(c, "described type")
	}
	c, err = d.readCode()
	if err != nil {
		return 0, "", err
	}
	switch codeType[c] {
	case TypeUlong:
		v, err := d.ulongBody(c)
		return v, "", err
	case TypeSymbol:
		b, err := d.variable(c)
		return 0, Symbol(b), err
	}
	return 0, "", d.mismatch(c, "ulong or symbol descriptor")
}

// ListHeader describes a list being read item by item; see
// ReadDescribedList and EndList.
type ListHeader struct {
	Count int // number of items in the list
	code  byte
	end   int
	outer int
}

// ReadDescribedList reads the descriptor and list header of a composite
// value (§1.4). The descriptor must be the numeric code or the symbolic
// name given. The caller reads up to h.Count items and then calls EndList.
func (d *Decoder) ReadDescribedList(code uint64, name Symbol) (ListHeader, error) {
	start := d.off
	c, n, err := d.descriptor()
	if err != nil {
		return ListHeader{}, err
	}
	if (n == "" && c != code) || (n != "" && n != name) {
		d.off = start
		return ListHeader{}, &Error{Offset: start, Err: ErrTypeMismatch, Detail: "unexpected descriptor, want " + string(name)}
	}
	return d.ReadListHeader()
}

// ReadListHeader reads the header of a list (list0, list8 or list32) and
// bounds the decoder to it until EndList.
func (d *Decoder) ReadListHeader() (ListHeader, error) {
	lc, err := d.readCode()
	if err != nil {
		return ListHeader{}, err
	}
	switch lc {
	case CodeList0:
		if err := d.enter(); err != nil {
			return ListHeader{}, err
		}
		return ListHeader{code: lc, end: d.off, outer: len(d.buf)}, nil
	case CodeList8, CodeList32:
	default:
		return ListHeader{}, d.mismatch(lc, "list")
	}
	count, end, outer, err := d.compound(lc)
	if err != nil {
		return ListHeader{}, err
	}
	return ListHeader{Count: count, code: lc, end: end, outer: outer}, nil
}

// EndList finishes a list started with ReadDescribedList or ReadListHeader:
// it skips the items after the first read (items a newer peer may add to a
// composite are ignored), checks that the list's size was exact and
// restores the outer bound.
func (d *Decoder) EndList(h ListHeader, read int) error {
	for i := read; i < h.Count; i++ {
		if err := d.Skip(); err != nil {
			return err
		}
	}
	return d.leave(h.end, h.outer, h.code)
}
