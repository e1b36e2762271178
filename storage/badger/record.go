package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Record versions. A record starts with its version byte, so a later
// format can be introduced record by record and read beside this one.
const (
	messageRecordV1 = 1
	queueRecordV1   = 1
)

// ErrCorrupt is wrapped by every error about a record that cannot be
// decoded: truncated, with a length that overruns it, an unknown field or
// kind, or bytes left over.
var ErrCorrupt = errors.New("badger: corrupt record")

// ErrVersion is wrapped by the error for a record whose version this
// build does not know (written by a newer one).
var ErrVersion = errors.New("badger: unknown record version")

// DecodeError describes a record that could not be decoded. It wraps
// ErrCorrupt or ErrVersion.
type DecodeError struct {
	Record string // "message" or "queue"
	Offset int    // byte offset in the record where decoding stopped
	Reason string
	Err    error // ErrCorrupt or ErrVersion
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: %s record at byte %d: %s", e.Err, e.Record, e.Offset, e.Reason)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Message record, version 1:
//
//	byte     version (1)
//	uvarint  field bits: which of the fields below follow, in bit order
//	...      the present fields
//
// A field whose value is the zero value is left out. Booleans are carried
// by their bit alone. Strings and byte strings are a uvarint length then
// the bytes; times are a zigzag varint of Unix seconds then a uvarint of
// nanoseconds (the location is not kept); headers are a uvarint count, then
// for each a key string, a kind byte and the value (see appendValue).
const (
	fID = 1 << iota
	fAddress
	fBody
	fContentType
	fContentEncoding
	fCorrelationID
	fReplyTo
	fSubject
	fUserID
	fGroupID
	fCreatedAt
	fHeaders
	fDurable // no payload
	fPriority
	fExpires
	fFirstAcquirer // no payload
	fOriginProtocol
	fOriginClientID
	fOriginConnID
	fOriginUser
	fRetain           // no payload
	fRetainedDelivery // no payload
	fQoS
	fTrace
	fDeadLetter
	fNative

	fAll = fNative<<1 - 1
)

// appendMessage appends the record of m to dst.
func appendMessage(dst []byte, m *message.Message) []byte {
	a := &m.Annotations
	var f uint64
	set := func(bit uint64, ok bool) {
		if ok {
			f |= bit
		}
	}
	set(fID, m.ID != "")
	set(fAddress, len(m.Address) > 0)
	set(fBody, len(m.Body) > 0)
	set(fContentType, m.ContentType != "")
	set(fContentEncoding, m.ContentEncoding != "")
	set(fCorrelationID, len(m.CorrelationID) > 0)
	set(fReplyTo, m.ReplyTo != "")
	set(fSubject, m.Subject != "")
	set(fUserID, m.UserID != "")
	set(fGroupID, m.GroupID != "")
	set(fCreatedAt, !m.CreatedAt.IsZero())
	set(fHeaders, len(m.Headers) > 0)
	set(fDurable, m.Durable)
	set(fPriority, m.Priority != 0)
	set(fExpires, !m.Expires.IsZero())
	set(fFirstAcquirer, m.FirstAcquirer)
	set(fOriginProtocol, a.Origin.Protocol != "")
	set(fOriginClientID, a.Origin.ClientID != "")
	set(fOriginConnID, a.Origin.ConnID != "")
	set(fOriginUser, a.Origin.User != "")
	set(fRetain, a.Retain)
	set(fRetainedDelivery, a.RetainedDelivery)
	set(fQoS, a.QoS != 0)
	set(fTrace, a.Trace != "")
	set(fDeadLetter, a.DeadLetter != nil)
	set(fNative, len(a.Native) > 0)

	dst = append(dst, messageRecordV1)
	dst = binary.AppendUvarint(dst, f)
	str := func(bit uint64, s string) {
		if f&bit != 0 {
			dst = appendString(dst, s)
		}
	}
	str(fID, m.ID)
	if f&fAddress != 0 {
		dst = appendSegments(dst, m.Address)
	}
	if f&fBody != 0 {
		dst = appendBytes(dst, m.Body)
	}
	str(fContentType, m.ContentType)
	str(fContentEncoding, m.ContentEncoding)
	if f&fCorrelationID != 0 {
		dst = appendBytes(dst, m.CorrelationID)
	}
	str(fReplyTo, m.ReplyTo)
	str(fSubject, m.Subject)
	str(fUserID, m.UserID)
	str(fGroupID, m.GroupID)
	if f&fCreatedAt != 0 {
		dst = appendTime(dst, m.CreatedAt)
	}
	if f&fHeaders != 0 {
		dst = appendHeaders(dst, m.Headers)
	}
	if f&fPriority != 0 {
		dst = append(dst, m.Priority)
	}
	if f&fExpires != 0 {
		dst = appendTime(dst, m.Expires)
	}
	str(fOriginProtocol, string(a.Origin.Protocol))
	str(fOriginClientID, a.Origin.ClientID)
	str(fOriginConnID, a.Origin.ConnID)
	str(fOriginUser, a.Origin.User)
	if f&fQoS != 0 {
		dst = append(dst, a.QoS)
	}
	str(fTrace, a.Trace)
	if dl := a.DeadLetter; dl != nil {
		dst = appendString(dst, dl.Reason)
		dst = appendString(dst, dl.Queue)
		dst = appendString(dst, dl.Address)
		dst = appendTime(dst, dl.Time)
		dst = binary.AppendVarint(dst, int64(dl.DeliveryCount))
		dst = appendString(dst, dl.Detail)
	}
	if f&fNative != 0 {
		dst = appendHeaders(dst, a.Native)
	}
	return dst
}

// messageSizeHint is a close upper estimate of m's record size, so that
// encoding allocates once.
func messageSizeHint(m *message.Message) int {
	n := 64 + m.Size() + 2*len(m.Address) + 12*len(m.Headers) + len(m.Annotations.Origin.ClientID) +
		len(m.Annotations.Origin.ConnID) + len(m.Annotations.Origin.User) + len(m.Annotations.Trace)
	for _, h := range m.Annotations.Native {
		n += 12 + len(h.Key) + len(h.Value.Str()) + len(h.Value.BytesValue())
	}
	if dl := m.Annotations.DeadLetter; dl != nil {
		n += 32 + len(dl.Reason) + len(dl.Queue) + len(dl.Address) + len(dl.Detail)
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendSegments writes a count, then each segment as a string. It is also
// the key form of addresses and patterns: length prefixes make it
// injective, so two different segment lists never share an encoding.
func appendSegments(dst []byte, segs []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(segs)))
	for _, s := range segs {
		dst = appendString(dst, s)
	}
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// Header value kinds on disk. They are the message.Kind values of today,
// spelled out so that a renumbering in core cannot change the format.
const (
	vNull   = 0
	vString = 1
	vInt    = 2
	vFloat  = 3
	vBool   = 4
	vBytes  = 5
	vTime   = 6
	vUUID   = 7
)

func appendHeaders(dst []byte, hs message.Headers) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(hs)))
	for _, h := range hs {
		dst = appendString(dst, h.Key)
		dst = appendValue(dst, h.Value)
	}
	return dst
}

// appendValue writes a kind byte, then: nothing for null; a string; a
// zigzag varint for int; 8 bytes little-endian IEEE 754 bits for float
// (NaN payloads survive); one byte 0 or 1 for bool; a byte string for
// bytes; a zigzag varint of Unix milliseconds for a timestamp; 16 bytes for
// a UUID.
func appendValue(dst []byte, v message.Value) []byte {
	switch v.Kind() {
	case message.KindString:
		return appendString(append(dst, vString), v.Str())
	case message.KindInt:
		return binary.AppendVarint(append(dst, vInt), v.IntValue())
	case message.KindFloat:
		return binary.LittleEndian.AppendUint64(append(dst, vFloat), math.Float64bits(v.FloatValue()))
	case message.KindBool:
		b := byte(0)
		if v.BoolValue() {
			b = 1
		}
		return append(dst, vBool, b)
	case message.KindBytes:
		return appendBytes(append(dst, vBytes), v.BytesValue())
	case message.KindTime:
		return binary.AppendVarint(append(dst, vTime), v.TimeValue().UnixMilli())
	case message.KindUUID:
		var u [16]byte
		copy(u[:], v.BytesValue())
		return append(append(dst, vUUID), u[:]...)
	default:
		return append(dst, vNull)
	}
}

// reader decodes a record. The first error sticks: later reads return
// zero values, so decoders check r.err once at the end of a step. Every
// length and count is checked against what remains before anything is
// allocated, so a record never makes the decoder allocate more than a
// small multiple of its own size.
type reader struct {
	b      []byte
	off    int
	record string
	err    error
}

func (r *reader) fail(reason string, args ...any) {
	if r.err == nil {
		r.err = &DecodeError{Record: r.record, Offset: r.off, Reason: fmt.Sprintf(reason, args...), Err: ErrCorrupt}
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// int reads a varint that must fit an int.
func (r *reader) int() int {
	v := r.varint()
	if int64(int(v)) != v {
		r.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

// count reads a uvarint count of items that take at least minSize bytes
// each, and checks that the rest of the record can hold them.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(r.left()/minSize) {
		r.fail("count %d overruns the record", n)
		return 0
	}
	return int(n)
}

// raw returns the next n bytes without copying; n comes from a uvarint.
func (r *reader) raw() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.fail("length %d overruns the record", n)
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if r.left() < n {
		r.fail("truncated")
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) string() string { return string(r.raw()) }

func (r *reader) bytes() []byte {
	b := r.raw()
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *reader) segments() []string {
	n := r.count(1)
	if r.err != nil || n == 0 {
		return nil
	}
	segs := make([]string, n)
	for i := range segs {
		segs[i] = r.string()
	}
	return segs
}

// maxUnixSeconds keeps time.Unix from overflowing its internal seconds
// (counted from year 1), so that a decoded time encodes to what was read.
const maxUnixSeconds = math.MaxInt64 - 62135596800

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 || sec > maxUnixSeconds {
		r.fail("time out of range")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *reader) headers() message.Headers {
	n := r.count(2) // a key length and a kind byte at least
	if r.err != nil || n == 0 {
		return nil
	}
	hs := make(message.Headers, 0, n)
	for range n {
		key := r.string()
		v := r.value()
		if r.err != nil {
			return nil
		}
		hs = append(hs, message.Header{Key: key, Value: v})
	}
	return hs
}

func (r *reader) value() message.Value {
	switch k := r.byte(); k {
	case vNull:
		return message.Null()
	case vString:
		return message.String(r.string())
	case vInt:
		return message.Int(r.varint())
	case vFloat:
		b := r.fixed(8)
		if b == nil {
			return message.Value{}
		}
		return message.Float(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case vBool:
		switch r.byte() {
		case 0:
			return message.Bool(false)
		case 1:
			return message.Bool(true)
		default:
			r.fail("bad bool")
		}
	case vBytes:
		return message.Bytes(r.bytes())
	case vTime:
		return message.Time(time.UnixMilli(r.varint()))
	case vUUID:
		b := r.fixed(16)
		if b == nil {
			return message.Value{}
		}
		return message.UUID([16]byte(b))
	default:
		r.fail("unknown header kind %d", k)
	}
	return message.Value{}
}

// version reads the version byte and checks it against want.
func (r *reader) version(want byte) bool {
	v := r.byte()
	if r.err != nil {
		return false
	}
	if v != want {
		r.err = &DecodeError{Record: r.record, Offset: 0, Reason: fmt.Sprintf("version %d", v), Err: ErrVersion}
		return false
	}
	return true
}

func (r *reader) end() {
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes left over", r.left())
	}
}

// decodeMessage decodes a message record. The message shares nothing with
// b. It never panics: a malformed record gives a *DecodeError.
func decodeMessage(b []byte) (*message.Message, error) {
	r := &reader{b: b, record: "message"}
	if !r.version(messageRecordV1) {
		return nil, r.err
	}
	f := r.uvarint()
	if r.err == nil && f&^fAll != 0 {
		r.fail("unknown field bits %#x", f&^fAll)
	}
	if r.err != nil {
		return nil, r.err
	}
	m := &message.Message{}
	a := &m.Annotations
	str := func(bit uint64, s *string) {
		if f&bit != 0 {
			*s = r.string()
		}
	}
	str(fID, &m.ID)
	if f&fAddress != 0 {
		m.Address = address.Address(r.segments())
	}
	if f&fBody != 0 {
		m.Body = r.bytes()
	}
	str(fContentType, &m.ContentType)
	str(fContentEncoding, &m.ContentEncoding)
	if f&fCorrelationID != 0 {
		m.CorrelationID = r.bytes()
	}
	str(fReplyTo, &m.ReplyTo)
	str(fSubject, &m.Subject)
	str(fUserID, &m.UserID)
	str(fGroupID, &m.GroupID)
	if f&fCreatedAt != 0 {
		m.CreatedAt = r.time()
	}
	if f&fHeaders != 0 {
		m.Headers = r.headers()
	}
	m.Durable = f&fDurable != 0
	if f&fPriority != 0 {
		m.Priority = r.byte()
	}
	if f&fExpires != 0 {
		m.Expires = r.time()
	}
	m.FirstAcquirer = f&fFirstAcquirer != 0
	var proto string
	str(fOriginProtocol, &proto)
	a.Origin.Protocol = message.Protocol(proto)
	str(fOriginClientID, &a.Origin.ClientID)
	str(fOriginConnID, &a.Origin.ConnID)
	str(fOriginUser, &a.Origin.User)
	a.Retain = f&fRetain != 0
	a.RetainedDelivery = f&fRetainedDelivery != 0
	if f&fQoS != 0 {
		a.QoS = r.byte()
	}
	str(fTrace, &a.Trace)
	if f&fDeadLetter != 0 {
		dl := &message.DeadLetter{}
		dl.Reason = r.string()
		dl.Queue = r.string()
		dl.Address = r.string()
		dl.Time = r.time()
		dl.DeliveryCount = r.int()
		dl.Detail = r.string()
		a.DeadLetter = dl
	}
	if f&fNative != 0 {
		a.Native = r.headers()
	}
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// Queue record, version 1: version byte, uvarint queue id, a flags byte
// (bit 0 Durable, bit 1 AutoDelete), Owner, zigzag MaxLength, zigzag
// MaxBytes, Overflow byte, zigzag TTL in nanoseconds, zigzag
// MaxDeliveries, DeadLetter. Every field is always present: queue records
// are few and small.
const (
	qDurable = 1 << iota
	qAutoDelete
)

func appendQueue(dst []byte, id uint64, c exchange.QueueConfig) []byte {
	var flags byte
	if c.Durable {
		flags |= qDurable
	}
	if c.AutoDelete {
		flags |= qAutoDelete
	}
	dst = append(dst, queueRecordV1)
	dst = binary.AppendUvarint(dst, id)
	dst = append(dst, flags)
	dst = appendString(dst, c.Owner)
	dst = binary.AppendVarint(dst, int64(c.MaxLength))
	dst = binary.AppendVarint(dst, c.MaxBytes)
	dst = append(dst, byte(c.Overflow))
	dst = binary.AppendVarint(dst, int64(c.TTL))
	dst = binary.AppendVarint(dst, int64(c.MaxDeliveries))
	return appendString(dst, c.DeadLetter)
}

func decodeQueue(b []byte) (id uint64, c exchange.QueueConfig, err error) {
	r := &reader{b: b, record: "queue"}
	if !r.version(queueRecordV1) {
		return 0, c, r.err
	}
	id = r.uvarint()
	flags := r.byte()
	if r.err == nil && flags&^(qDurable|qAutoDelete) != 0 {
		r.fail("unknown queue flags %#x", flags)
	}
	c.Durable = flags&qDurable != 0
	c.AutoDelete = flags&qAutoDelete != 0
	c.Owner = r.string()
	c.MaxLength = r.int()
	c.MaxBytes = r.varint()
	c.Overflow = exchange.Overflow(r.byte())
	c.TTL = time.Duration(r.varint())
	c.MaxDeliveries = r.int()
	c.DeadLetter = r.string()
	r.end()
	if r.err != nil {
		return 0, exchange.QueueConfig{}, r.err
	}
	return id, c, nil
}
