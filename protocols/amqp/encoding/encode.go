package encoding

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// AppendNull appends null (§1.6.1).
func AppendNull(dst []byte) []byte { return append(dst, CodeNull) }

// AppendBool appends a boolean as true (0x41) or false (0x42) (§1.6.2).
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, CodeTrue)
	}
	return append(dst, CodeFalse)
}

// AppendUbyte appends a ubyte (§1.6.3).
func AppendUbyte(dst []byte, v uint8) []byte { return append(dst, CodeUbyte, v) }

// AppendUshort appends a ushort (§1.6.4).
func AppendUshort(dst []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, CodeUshort), v)
}

// AppendUint appends a uint as uint0, smalluint or uint (§1.6.5).
func AppendUint(dst []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(dst, CodeUint0)
	case v < 256:
		return append(dst, CodeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(dst, CodeUint), v)
}

// AppendUlong appends a ulong as ulong0, smallulong or ulong (§1.6.6).
func AppendUlong(dst []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(dst, CodeUlong0)
	case v < 256:
		return append(dst, CodeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, CodeUlong), v)
}

// AppendByte appends a byte (§1.6.7).
func AppendByte(dst []byte, v int8) []byte { return append(dst, CodeByte, byte(v)) }

// AppendShort appends a short (§1.6.8).
func AppendShort(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, CodeShort), uint16(v))
}

// AppendInt appends an int as smallint or int (§1.6.9).
func AppendInt(dst []byte, v int32) []byte {
	if v >= -128 && v <= 127 {
		return append(dst, CodeSmallInt, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(dst, CodeInt), uint32(v))
}

// AppendLong appends a long as smalllong or long (§1.6.10).
func AppendLong(dst []byte, v int64) []byte {
	if v >= -128 && v <= 127 {
		return append(dst, CodeSmallLong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, CodeLong), uint64(v))
}

// AppendFloat appends a float (§1.6.11).
func AppendFloat(dst []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, CodeFloat), math.Float32bits(v))
}

// AppendDouble appends a double (§1.6.12).
func AppendDouble(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, CodeDouble), math.Float64bits(v))
}

// AppendDecimal32 appends a decimal32 (§1.6.13).
func AppendDecimal32(dst []byte, v Decimal32) []byte {
	return append(append(dst, CodeDecimal32), v[:]...)
}

// AppendDecimal64 appends a decimal64 (§1.6.14).
func AppendDecimal64(dst []byte, v Decimal64) []byte {
	return append(append(dst, CodeDecimal64), v[:]...)
}

// AppendDecimal128 appends a decimal128 (§1.6.15).
func AppendDecimal128(dst []byte, v Decimal128) []byte {
	return append(append(dst, CodeDecimal128), v[:]...)
}

// AppendChar appends a char as UTF-32BE (§1.6.16).
func AppendChar(dst []byte, v Char) []byte {
	return binary.BigEndian.AppendUint32(append(dst, CodeChar), uint32(v))
}

// AppendTimestamp appends a timestamp: milliseconds since the Unix epoch
// (§1.6.17). Precision below a millisecond is dropped.
func AppendTimestamp(dst []byte, v time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(dst, CodeTimestamp), uint64(v.UnixMilli()))
}

// AppendUUID appends a uuid (§1.6.18).
func AppendUUID(dst []byte, v UUID) []byte { return append(append(dst, CodeUUID), v[:]...) }

// appendVariable appends a variable-width value with the 8-bit or 32-bit
// size form (§1.2.2). Values of 2^32 octets or more cannot be encoded.
func appendVariable[S ~string | ~[]byte](dst []byte, c8, c32 byte, v S) []byte {
	if len(v) < 256 {
		dst = append(dst, c8, byte(len(v)))
	} else {
		dst = binary.BigEndian.AppendUint32(append(dst, c32), uint32(len(v)))
	}
	return append(dst, v...)
}

// AppendBinary appends a binary as vbin8 or vbin32 (§1.6.19).
func AppendBinary(dst []byte, v []byte) []byte { return appendVariable(dst, CodeVbin8, CodeVbin32, v) }

// AppendString appends a string as str8-utf8 or str32-utf8 (§1.6.20).
func AppendString(dst []byte, v string) []byte { return appendVariable(dst, CodeStr8, CodeStr32, v) }

// AppendSymbol appends a symbol as sym8 or sym32 (§1.6.21).
func AppendSymbol(dst []byte, v Symbol) []byte { return appendVariable(dst, CodeSym8, CodeSym32, v) }

// AppendDescriptor appends the 0x00 described-type constructor followed by
// a numeric descriptor (§1.2, §1.5).
func AppendDescriptor(dst []byte, code uint64) []byte {
	return AppendUlong(append(dst, CodeDescribed), code)
}

// Compound is an open list or map being appended item by item: BeginList or
// BeginMap starts it and End writes its header. The header is written in
// the 8-bit form first and widened in place only when the items do not fit
// (§1.2.3), so small compounds cost no copy.
type Compound struct {
	start int  // offset of the format code in dst
	code  byte // CodeList8 or CodeMap8
}

// BeginList starts a list at the end of dst; append the items, then call
// End with their count.
func BeginList(dst []byte) ([]byte, Compound) {
	return append(dst, CodeList8, 0, 0), Compound{start: len(dst), code: CodeList8}
}

// BeginMap starts a map at the end of dst; append keys and values
// alternately, then call End with the number of items (twice the pairs).
func BeginMap(dst []byte) ([]byte, Compound) {
	return append(dst, CodeMap8, 0, 0), Compound{start: len(dst), code: CodeMap8}
}

// End writes the compound's header. A list with no items becomes list0
// (§1.6.22); a compound whose size or count exceeds 255 becomes list32 or
// map32.
func (c Compound) End(dst []byte, count int) []byte {
	items := len(dst) - c.start - 3
	if c.code == CodeList8 && count == 0 {
		dst[c.start] = CodeList0
		return dst[:c.start+1]
	}
	if items+1 <= 255 && count <= 255 {
		dst[c.start+1] = byte(items + 1)
		dst[c.start+2] = byte(count)
		return dst
	}
	// Widen: 1+4+4 header bytes instead of 1+1+1.
	dst = append(dst, 0, 0, 0, 0, 0, 0)
	copy(dst[c.start+9:], dst[c.start+3:c.start+3+items])
	dst[c.start] = c.code + 0x10 // list8→list32, map8→map32
	binary.BigEndian.PutUint32(dst[c.start+1:], uint32(items+4))
	binary.BigEndian.PutUint32(dst[c.start+5:], uint32(count))
	return dst
}

// AppendValue appends v, which must belong to the value model described in
// the package documentation, using its most compact encoding. It returns
// an error wrapping ErrUnsupportedType for other Go types.
func AppendValue(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, 0)
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > DefaultMaxDepth {
		return dst, &Error{Offset: -1, Err: ErrTooDeep}
	}
	switch v := v.(type) {
	case nil:
		return append(dst, CodeNull), nil
	case bool:
		return AppendBool(dst, v), nil
	case uint8:
		return AppendUbyte(dst, v), nil
	case uint16:
		return AppendUshort(dst, v), nil
	case uint32:
		return AppendUint(dst, v), nil
	case uint64:
		return AppendUlong(dst, v), nil
	case uint:
		return AppendUlong(dst, uint64(v)), nil
	case int8:
		return AppendByte(dst, v), nil
	case int16:
		return AppendShort(dst, v), nil
	case int32:
		return AppendInt(dst, v), nil
	case int64:
		return AppendLong(dst, v), nil
	case int:
		return AppendLong(dst, int64(v)), nil
	case float32:
		return AppendFloat(dst, v), nil
	case float64:
		return AppendDouble(dst, v), nil
	case Decimal32:
		return AppendDecimal32(dst, v), nil
	case Decimal64:
		return AppendDecimal64(dst, v), nil
	case Decimal128:
		return AppendDecimal128(dst, v), nil
	case Char:
		return AppendChar(dst, v), nil
	case time.Time:
		return AppendTimestamp(dst, v), nil
	case UUID:
		return AppendUUID(dst, v), nil
	case []byte:
		return AppendBinary(dst, v), nil
	case string:
		return AppendString(dst, v), nil
	case Symbol:
		return AppendSymbol(dst, v), nil
	case []any:
		var c Compound
		var err error
		dst, c = BeginList(dst)
		for _, e := range v {
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return c.End(dst, len(v)), nil
	case Map:
		if v == nil {
			return append(dst, CodeNull), nil
		}
		return appendMap(dst, v, depth)
	case Array:
		return appendArray(dst, v, depth)
	case *Array:
		if v == nil {
			return append(dst, CodeNull), nil
		}
		return appendArray(dst, *v, depth)
	case Described:
		return appendDescribed(dst, v, depth)
	case *Described:
		if v == nil {
			return append(dst, CodeNull), nil
		}
		return appendDescribed(dst, *v, depth)
	case []Symbol:
		return AppendSymbolArray(dst, v), nil
	case []string:
		return appendStringArray(dst, v), nil
	case Marshaler:
		return v.Marshal(dst)
	}
	return dst, &Error{Offset: -1, Err: ErrUnsupportedType, Detail: fmt.Sprintf("%T", v)}
}

// AppendMap appends a map (§1.6.23) as map8 or map32; a nil m is an
// empty map (AppendValue and AppendMapOrNull encode a nil Map as null).
func AppendMap(dst []byte, m Map) ([]byte, error) { return appendMap(dst, m, 0) }

func appendMap(dst []byte, m Map, depth int) ([]byte, error) {
	var c Compound
	var err error
	dst, c = BeginMap(dst)
	for _, p := range m {
		if dst, err = appendValue(dst, p.Key, depth+1); err != nil {
			return dst, err
		}
		if dst, err = appendValue(dst, p.Value, depth+1); err != nil {
			return dst, err
		}
	}
	return c.End(dst, 2*len(m)), nil
}

// AppendMapOrNull appends m, or null when m is nil.
func AppendMapOrNull(dst []byte, m Map) ([]byte, error) {
	if m == nil {
		return append(dst, CodeNull), nil
	}
	return appendMap(dst, m, 0)
}

func appendDescribed(dst []byte, v Described, depth int) ([]byte, error) {
	dst = append(dst, CodeDescribed)
	dst, err := appendValue(dst, v.Descriptor, depth+1)
	if err != nil {
		return dst, err
	}
	return appendValue(dst, v.Value, depth+1)
}

// AppendSymbolArray appends symbols as an array of sym8 or sym32 (§1.6.24),
// the representation of a multiple="true" symbol field (§1.4). A nil slice
// is encoded as null.
func AppendSymbolArray[S ~string](dst []byte, v []S) []byte {
	if v == nil {
		return append(dst, CodeNull)
	}
	elem, w := CodeSym8, 1
	for _, s := range v {
		if len(s) > 255 {
			elem, w = CodeSym32, 4
			break
		}
	}
	start, dst := beginArray(dst, elem)
	for _, s := range v {
		dst = appendLen(dst, w, len(s))
		dst = append(dst, s...)
	}
	return endArray(dst, start, len(v))
}

func appendStringArray(dst []byte, v []string) []byte {
	elem, w := CodeStr8, 1
	for _, s := range v {
		if len(s) > 255 {
			elem, w = CodeStr32, 4
			break
		}
	}
	start, dst := beginArray(dst, elem)
	for _, s := range v {
		dst = appendLen(dst, w, len(s))
		dst = append(dst, s...)
	}
	return endArray(dst, start, len(v))
}

func appendLen(dst []byte, w, n int) []byte {
	if w == 1 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// beginArray appends an array8 header with room for size and count and the
// element constructor code.
func beginArray(dst []byte, elem byte) (int, []byte) {
	return len(dst), append(dst, CodeArray8, 0, 0, elem)
}

// endArray fills in the header written by beginArray (or any array8 header
// at start whose constructor may be longer), widening to array32 when the
// size or count does not fit in an octet (§1.2.4).
func endArray(dst []byte, start, count int) []byte {
	body := len(dst) - start - 3 // constructor and elements
	if body+1 <= 255 && count <= 255 {
		dst[start+1] = byte(body + 1)
		dst[start+2] = byte(count)
		return dst
	}
	dst = append(dst, 0, 0, 0, 0, 0, 0)
	copy(dst[start+9:], dst[start+3:start+3+body])
	dst[start] = CodeArray32
	binary.BigEndian.PutUint32(dst[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(dst[start+5:], uint32(count))
	return dst
}

// AppendArray appends an array (§1.6.24). The element constructor is the
// most compact encoding of a.Type that holds every element (smalluint only
// if all elements fit an octet, sym8 only if all symbols are short, ...).
// Each element must have the Go type of a.Type.
func AppendArray(dst []byte, a Array) ([]byte, error) { return appendArray(dst, a, 0) }

func appendArray(dst []byte, a Array, depth int) ([]byte, error) {
	if depth > DefaultMaxDepth {
		return dst, &Error{Offset: -1, Err: ErrTooDeep}
	}
	elem, err := elementCode(a)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, CodeArray8, 0, 0)
	if a.Descriptor != nil {
		dst = append(dst, CodeDescribed)
		if dst, err = appendValue(dst, a.Descriptor, depth+1); err != nil {
			return dst, err
		}
	}
	dst = append(dst, elem)
	for _, e := range a.Elems {
		if dst, err = appendElement(dst, elem, e, depth+1); err != nil {
			return dst, err
		}
	}
	return endArray(dst, start, len(a.Elems)), nil
}

func typeErr(t Type, v any) error {
	return &Error{Offset: -1, Err: ErrTypeMismatch, Detail: fmt.Sprintf("array of %s holds %T", t, v)}
}

// elementCode chooses the element constructor for an array.
func elementCode(a Array) (byte, error) {
	switch a.Type {
	case TypeNull:
		return CodeNull, nil
	case TypeBoolean:
		return CodeBoolean, nil
	case TypeUbyte:
		return CodeUbyte, nil
	case TypeUshort:
		return CodeUshort, nil
	case TypeByte:
		return CodeByte, nil
	case TypeShort:
		return CodeShort, nil
	case TypeFloat:
		return CodeFloat, nil
	case TypeDouble:
		return CodeDouble, nil
	case TypeDecimal32:
		return CodeDecimal32, nil
	case TypeDecimal64:
		return CodeDecimal64, nil
	case TypeDecimal128:
		return CodeDecimal128, nil
	case TypeChar:
		return CodeChar, nil
	case TypeTimestamp:
		return CodeTimestamp, nil
	case TypeUUID:
		return CodeUUID, nil
	case TypeMap:
		return CodeMap32, nil
	case TypeArray:
		return CodeArray32, nil
	case TypeList:
		return CodeList32, nil
	case TypeUint:
		small := true
		for _, e := range a.Elems {
			v, ok := e.(uint32)
			if !ok {
				return 0, typeErr(a.Type, e)
			}
			small = small && v < 256
		}
		if small {
			return CodeSmallUint, nil
		}
		return CodeUint, nil
	case TypeUlong:
		small := true
		for _, e := range a.Elems {
			v, ok := e.(uint64)
			if !ok {
				return 0, typeErr(a.Type, e)
			}
			small = small && v < 256
		}
		if small {
			return CodeSmallUlong, nil
		}
		return CodeUlong, nil
	case TypeInt:
		small := true
		for _, e := range a.Elems {
			v, ok := e.(int32)
			if !ok {
				return 0, typeErr(a.Type, e)
			}
			small = small && v >= -128 && v <= 127
		}
		if small {
			return CodeSmallInt, nil
		}
		return CodeInt, nil
	case TypeLong:
		small := true
		for _, e := range a.Elems {
			v, ok := e.(int64)
			if !ok {
				return 0, typeErr(a.Type, e)
			}
			small = small && v >= -128 && v <= 127
		}
		if small {
			return CodeSmallLong, nil
		}
		return CodeLong, nil
	case TypeBinary, TypeString, TypeSymbol:
		long := false
		for _, e := range a.Elems {
			var n int
			switch v := e.(type) {
			case []byte:
				n = len(v)
			case string:
				n = len(v)
			case Symbol:
				n = len(v)
			}
			long = long || n > 255
		}
		c8 := CodeVbin8
		switch a.Type {
		case TypeString:
			c8 = CodeStr8
		case TypeSymbol:
			c8 = CodeSym8
		}
		if long {
			return c8 + 0x10, nil
		}
		return c8, nil
	}
	return 0, &Error{Offset: -1, Err: ErrInvalidValue, Detail: "array element type " + a.Type.String()}
}

// appendElement appends one array element without its constructor.
func appendElement(dst []byte, elem byte, e any, depth int) ([]byte, error) {
	switch elem {
	case CodeNull:
		if e != nil {
			return dst, typeErr(TypeNull, e)
		}
		return dst, nil
	case CodeBoolean:
		v, ok := e.(bool)
		if !ok {
			return dst, typeErr(TypeBoolean, e)
		}
		if v {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case CodeSmallUint:
		return append(dst, byte(e.(uint32))), nil
	case CodeSmallUlong:
		return append(dst, byte(e.(uint64))), nil
	case CodeSmallInt:
		return append(dst, byte(e.(int32))), nil
	case CodeSmallLong:
		return append(dst, byte(e.(int64))), nil
	case CodeVbin8, CodeVbin32, CodeStr8, CodeStr32, CodeSym8, CodeSym32:
		var b []byte
		var s string
		switch v := e.(type) {
		case []byte:
			if elem&0x0f != 0 {
				return dst, typeErr(codeType[elem], e)
			}
			b = v
		case string:
			if elem&0x0f != 1 {
				return dst, typeErr(codeType[elem], e)
			}
			s = v
		case Symbol:
			if elem&0x0f != 3 {
				return dst, typeErr(codeType[elem], e)
			}
			s = string(v)
		default:
			return dst, typeErr(codeType[elem], e)
		}
		w := 1
		if elem&0x10 != 0 {
			w = 4
		}
		dst = appendLen(dst, w, len(b)+len(s))
		dst = append(dst, b...)
		return append(dst, s...), nil
	case CodeList32:
		l, ok := e.([]any)
		if !ok {
			return dst, typeErr(TypeList, e)
		}
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
		var err error
		for _, x := range l {
			if dst, err = appendValue(dst, x, depth+1); err != nil {
				return dst, err
			}
		}
		binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
		binary.BigEndian.PutUint32(dst[start+4:], uint32(len(l)))
		return dst, nil
	case CodeMap32:
		m, ok := e.(Map)
		if !ok {
			return dst, typeErr(TypeMap, e)
		}
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
		var err error
		for _, p := range m {
			if dst, err = appendValue(dst, p.Key, depth+1); err != nil {
				return dst, err
			}
			if dst, err = appendValue(dst, p.Value, depth+1); err != nil {
				return dst, err
			}
		}
		binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
		binary.BigEndian.PutUint32(dst[start+4:], uint32(2*len(m)))
		return dst, nil
	case CodeArray32:
		a, ok := e.(Array)
		if !ok {
			return dst, typeErr(TypeArray, e)
		}
		// Encode as a full array, then drop its format code: array elements
		// carry no constructor. Force the 32-bit form to match elem.
		start := len(dst)
		var err error
		if dst, err = appendArray(dst, a, depth+1); err != nil {
			return dst, err
		}
		if dst[start] == CodeArray8 {
			size, count := int(dst[start+1]), int(dst[start+2])
			body := dst[start+3:]
			dst = append(dst, 0, 0, 0, 0, 0, 0)
			copy(dst[start+8:], body)
			binary.BigEndian.PutUint32(dst[start:], uint32(size+3))
			binary.BigEndian.PutUint32(dst[start+4:], uint32(count))
			return dst[:start+8+len(body)], nil
		}
		return append(dst[:start], dst[start+1:]...), nil
	}
	// Fixed-width elements: encode with a constructor, then drop it.
	start := len(dst)
	switch v := e.(type) {
	case uint32:
		if elem == CodeUint {
			return binary.BigEndian.AppendUint32(dst, v), nil
		}
	case uint64:
		if elem == CodeUlong {
			return binary.BigEndian.AppendUint64(dst, v), nil
		}
	case int32:
		if elem == CodeInt {
			return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
		}
	case int64:
		if elem == CodeLong {
			return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
		}
	case uint8, uint16, int8, int16, float32, float64, Decimal32, Decimal64, Decimal128, Char, time.Time, UUID:
		dst, _ = appendValue(dst, v, depth)
		if dst[start] == elem {
			return append(dst[:start], dst[start+1:]...), nil
		}
		dst = dst[:start]
	}
	return dst, typeErr(codeType[elem], e)
}
