// Package encoding implements the AMQP 1.0 type system (OASIS AMQP 1.0,
// Part 1 "Types", §1.2–§1.6): every primitive type with every encoding,
// described types, lists, maps and arrays.
//
// The package is a codec only and imports nothing but the standard library.
//
// # Value model
//
// Decoding into an interface value (Decoder.Value) produces these Go types;
// AppendValue accepts the same types (plus a few conveniences noted below):
//
//	null        nil
//	boolean     bool
//	ubyte       uint8           byte       int8
//	ushort      uint16          short      int16
//	uint        uint32          int        int32
//	ulong       uint64          long       int64   (AppendValue also takes int and uint)
//	float       float32         double     float64
//	decimal32   Decimal32       decimal64  Decimal64   decimal128 Decimal128 (raw bytes)
//	char        Char            timestamp  time.Time (UTC, millisecond precision)
//	uuid        UUID            binary     []byte
//	string      string          symbol     Symbol
//	list        []any           map        Map (ordered; keys of any type)
//	array       Array           described  Described
//
// AppendValue also encodes []Symbol and []string as arrays, and any value
// that implements Marshaler (the generated composite types do).
//
// # Decoding
//
// A Decoder reads from a byte slice. It is bounded: a size or count field is
// checked against the bytes that remain before anything is allocated, so the
// memory a decode uses is proportional to its input, and nesting is limited
// to MaxDepth. Errors are *Error values carrying the offset of the fault and
// a sentinel (ErrTruncated, ErrInvalidCode, ...) for errors.Is.
//
// # Encoding
//
// The Append functions append one encoded value to a slice and return the
// extended slice, in the style of strconv.AppendInt. They always choose the
// most compact encoding: uint0/smalluint, ulong0/smallulong, smallint,
// smalllong, true/false, list0, and the 8-bit size forms of binary, string,
// symbol, list, map and array whenever the value fits.
package encoding
