package message_test

// Cross-checks of the message codec against the real client library,
// github.com/Azure/go-amqp (a test-only dependency): messages we encode
// decode with its exported (*amqp.Message).UnmarshalBinary, and its
// MarshalBinary output decodes with ours to equal values.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/message"
)

// Tagged forms so that normalisation keeps AMQP types apart.
type (
	bin string
	ts  int64
	arr []any
	kv  struct{ K, V any }
)

// norm maps a value of either library's value model to a comparable form.
// go-amqp decodes a symbol held in an untyped value (and a symbol map key)
// as a Go string, so symbols compare equal to strings here; the package's
// own golden tests check that we keep them apart. Likewise go-amqp decodes
// an amqp-value null as a nil Value, indistinguishable from no body.
func norm(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case encoding.Symbol:
		return string(x)
	case amqp.Symbol:
		return string(x)
	case encoding.UUID:
		return [16]byte(x)
	case amqp.UUID:
		return [16]byte(x)
	case time.Time:
		return ts(x.UnixMilli())
	case []byte:
		return bin(x)
	case float64:
		if math.IsNaN(x) {
			return "NaN"
		}
		return x
	case float32:
		if x != x {
			return "NaN32"
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = norm(x[i])
		}
		return out
	case encoding.Map:
		out := make([]kv, len(x))
		for i, p := range x {
			out[i] = kv{norm(p.Key), norm(p.Value)}
		}
		return sortKV(out)
	case encoding.Array:
		out := make(arr, len(x.Elems))
		for i := range x.Elems {
			out[i] = norm(x.Elems[i])
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		var out []kv
		for it := rv.MapRange(); it.Next(); {
			out = append(out, kv{norm(it.Key().Interface()), norm(it.Value().Interface())})
		}
		return sortKV(out)
	case reflect.Slice:
		out := make(arr, rv.Len())
		for i := range out {
			out[i] = norm(rv.Index(i).Interface())
		}
		return out
	}
	return v
}

func sortKV(s []kv) []kv {
	if s == nil {
		s = []kv{}
	}
	sort.Slice(s, func(i, j int) bool { return fmt.Sprintf("%#v", s[i].K) < fmt.Sprintf("%#v", s[j].K) })
	return s
}

// view is a message reduced to comparable values.
type view struct {
	Header                   []any
	DA, MA, AppProps, Footer any
	Props                    map[string]any
	Data                     []any
	Sequence                 any
	Value                    any
	HasValue                 bool
}

func nilIfEmpty(v any) any {
	if s, ok := v.([]kv); ok && len(s) == 0 {
		return nil
	}
	return v
}

func viewOurs(m *message.Message) view {
	var v view
	if h := m.Header; h != nil {
		v.Header = []any{h.Durable, h.PriorityOrDefault(), h.TTL.Or(0), h.FirstAcquirer, h.DeliveryCount}
	}
	v.DA, v.MA, v.Footer = nilIfEmpty(norm(m.DeliveryAnnotations)), nilIfEmpty(norm(m.MessageAnnotations)), nilIfEmpty(norm(m.Footer))
	if m.ApplicationProperties != nil {
		v.AppProps = nilIfEmpty(norm(m.ApplicationProperties))
	}
	if p := m.Properties; p != nil {
		v.Props = map[string]any{}
		add := func(k string, x any, set bool) {
			if set {
				v.Props[k] = norm(x)
			}
		}
		add("message-id", p.MessageID, p.MessageID != nil)
		add("user-id", p.UserID, p.UserID != nil)
		add("to", p.To, p.To != "")
		add("subject", p.Subject, p.Subject != "")
		add("reply-to", p.ReplyTo, p.ReplyTo != "")
		add("correlation-id", p.CorrelationID, p.CorrelationID != nil)
		add("content-type", string(p.ContentType), p.ContentType != "")
		add("content-encoding", string(p.ContentEncoding), p.ContentEncoding != "")
		add("absolute-expiry-time", p.AbsoluteExpiryTime, !p.AbsoluteExpiryTime.IsZero())
		add("creation-time", p.CreationTime, !p.CreationTime.IsZero())
		add("group-id", p.GroupID, p.GroupID != "")
		add("group-sequence", p.GroupSequence.Value, p.GroupSequence.Set)
		add("reply-to-group-id", p.ReplyToGroupID, p.ReplyToGroupID != "")
	}
	for _, d := range m.Data {
		v.Data = append(v.Data, bin(d))
	}
	if m.Sequence != nil {
		v.Sequence = norm(m.Sequence)
	}
	if m.Value != nil {
		v.Value, v.HasValue = norm(m.Value), true
	}
	return v
}

func annView(a amqp.Annotations) any { return nilIfEmpty(norm(a)) }

func viewTheirs(m *amqp.Message) view {
	var v view
	if h := m.Header; h != nil {
		v.Header = []any{h.Durable, h.Priority, uint32(h.TTL / time.Millisecond), h.FirstAcquirer, h.DeliveryCount}
	}
	v.DA, v.MA, v.Footer = annView(m.DeliveryAnnotations), annView(m.Annotations), annView(m.Footer)
	if m.ApplicationProperties != nil {
		v.AppProps = nilIfEmpty(norm(m.ApplicationProperties))
	}
	if p := m.Properties; p != nil {
		v.Props = map[string]any{}
		str := func(k string, s *string) {
			if s != nil {
				v.Props[k] = *s
			}
		}
		if p.MessageID != nil {
			v.Props["message-id"] = norm(p.MessageID)
		}
		if p.UserID != nil {
			v.Props["user-id"] = bin(p.UserID)
		}
		str("to", p.To)
		str("subject", p.Subject)
		str("reply-to", p.ReplyTo)
		if p.CorrelationID != nil {
			v.Props["correlation-id"] = norm(p.CorrelationID)
		}
		str("content-type", p.ContentType)
		str("content-encoding", p.ContentEncoding)
		if p.AbsoluteExpiryTime != nil {
			v.Props["absolute-expiry-time"] = norm(*p.AbsoluteExpiryTime)
		}
		if p.CreationTime != nil {
			v.Props["creation-time"] = norm(*p.CreationTime)
		}
		str("group-id", p.GroupID)
		if p.GroupSequence != nil {
			v.Props["group-sequence"] = *p.GroupSequence
		}
		str("reply-to-group-id", p.ReplyToGroupID)
	}
	for _, d := range m.Data {
		v.Data = append(v.Data, bin(d))
	}
	if m.Sequence != nil {
		v.Sequence = norm(m.Sequence)
	}
	if m.Value != nil {
		v.Value, v.HasValue = norm(m.Value), true
		if _, null := m.Value.(amqp.Null); null {
			v.Value, v.HasValue = nil, false
		}
	}
	return v
}

// theirValue converts a value of our model to go-amqp's.
func theirValue(v any) any {
	switch x := v.(type) {
	case encoding.Symbol:
		return amqp.Symbol(x)
	case encoding.UUID:
		return amqp.UUID(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = theirValue(x[i])
		}
		return out
	case encoding.Map:
		out := map[any]any{}
		for _, p := range x {
			out[theirValue(p.Key)] = theirValue(p.Value)
		}
		return out
	case encoding.Array:
		switch x.Type {
		case encoding.TypeSymbol:
			out := make([]amqp.Symbol, len(x.Elems))
			for i := range out {
				out[i] = amqp.Symbol(x.Elems[i].(encoding.Symbol))
			}
			return out
		case encoding.TypeString:
			out := make([]string, len(x.Elems))
			for i := range out {
				out[i] = x.Elems[i].(string)
			}
			return out
		case encoding.TypeInt:
			out := make([]int32, len(x.Elems))
			for i := range out {
				out[i] = x.Elems[i].(int32)
			}
			return out
		case encoding.TypeLong:
			out := make([]int64, len(x.Elems))
			for i := range out {
				out[i] = x.Elems[i].(int64)
			}
			return out
		}
		panic("array type not mapped")
	}
	return v
}

func annotationsTheirs(m encoding.Map) amqp.Annotations {
	if m == nil {
		return nil
	}
	out := amqp.Annotations{}
	for _, p := range m {
		out[string(p.Key.(encoding.Symbol))] = theirValue(p.Value)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// toTheirs builds the go-amqp message equivalent to m.
func toTheirs(m *message.Message) *amqp.Message {
	t := &amqp.Message{
		DeliveryAnnotations: annotationsTheirs(m.DeliveryAnnotations),
		Annotations:         annotationsTheirs(m.MessageAnnotations),
		Footer:              annotationsTheirs(m.Footer),
		Data:                m.Data,
	}
	if h := m.Header; h != nil {
		t.Header = &amqp.MessageHeader{Durable: h.Durable, Priority: h.PriorityOrDefault(),
			TTL: time.Duration(h.TTL.Or(0)) * time.Millisecond, FirstAcquirer: h.FirstAcquirer, DeliveryCount: h.DeliveryCount}
	}
	if m.ApplicationProperties != nil {
		t.ApplicationProperties = map[string]any{}
		for _, p := range m.ApplicationProperties {
			t.ApplicationProperties[p.Key.(string)] = theirValue(p.Value)
		}
	}
	if p := m.Properties; p != nil {
		tp := &amqp.MessageProperties{MessageID: theirValue(p.MessageID), UserID: p.UserID,
			CorrelationID: theirValue(p.CorrelationID)}
		opt := func(s string) *string {
			if s == "" {
				return nil
			}
			return &s
		}
		tp.To, tp.Subject, tp.ReplyTo = opt(p.To), opt(p.Subject), opt(p.ReplyTo)
		tp.ContentType, tp.ContentEncoding = opt(string(p.ContentType)), opt(string(p.ContentEncoding))
		tp.GroupID, tp.ReplyToGroupID = opt(p.GroupID), opt(p.ReplyToGroupID)
		if !p.AbsoluteExpiryTime.IsZero() {
			tp.AbsoluteExpiryTime = ptr(p.AbsoluteExpiryTime)
		}
		if !p.CreationTime.IsZero() {
			tp.CreationTime = ptr(p.CreationTime)
		}
		if p.GroupSequence.Set {
			tp.GroupSequence = ptr(p.GroupSequence.Value)
		}
		t.Properties = tp
	}
	for _, s := range m.Sequence {
		t.Sequence = append(t.Sequence, theirValue(s).([]any))
	}
	if m.BodyKind == message.BodyValue {
		t.Value = theirValue(m.Value)
		if t.Value == nil {
			t.Value = amqp.Null{}
		}
	}
	return t
}

var (
	uuid = encoding.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	t0   = time.UnixMilli(1311704463521).UTC()
)

// interopMessages covers every section, every body kind and the value
// types both libraries share.
var interopMessages = []struct {
	name string
	msg  message.Message
}{
	{"data", message.Message{Data: [][]byte{[]byte("hello")}}},
	{"multiple data", message.Message{Data: [][]byte{[]byte("a"), make([]byte, 300), {}}}},
	{"value string", message.Message{BodyKind: message.BodyValue, Value: "v"}},
	{"value null", message.Message{BodyKind: message.BodyValue}},
	{"value list", message.Message{BodyKind: message.BodyValue, Value: []any{int64(-1), "x", []any{true}}}},
	{"value map", message.Message{BodyKind: message.BodyValue, Value: encoding.Map{{Key: "a", Value: uint64(1)}, {Key: int32(2), Value: nil}}}},
	{"sequence", message.Message{Sequence: [][]any{{uint32(1), "two"}, {float64(3)}}}},
	{"header", message.Message{Header: &message.Header{Durable: true, Priority: encoding.Some[uint8](9),
		TTL: encoding.Some[uint32](60000), FirstAcquirer: true, DeliveryCount: 3}, Data: [][]byte{{1}}}},
	{"header defaults", message.Message{Header: &message.Header{}, Data: [][]byte{{1}}}},
	{"properties all", message.Message{Properties: &message.Properties{
		MessageID: "id-1", UserID: []byte("user"), To: "/queue/a", Subject: "subj", ReplyTo: "/queue/reply",
		CorrelationID: uint64(77), ContentType: "text/plain", ContentEncoding: "gzip",
		AbsoluteExpiryTime: t0.Add(time.Hour), CreationTime: t0, GroupID: "g",
		GroupSequence: encoding.Some[uint32](5), ReplyToGroupID: "rg"}, Data: [][]byte{[]byte("x")}}},
	{"message-id uuid", message.Message{Properties: &message.Properties{MessageID: uuid, CorrelationID: []byte{1, 2}}, Data: [][]byte{{}}}},
	{"annotations", message.Message{
		DeliveryAnnotations: message.Annotations{{Key: encoding.Symbol("x-opt-d"), Value: int64(1)}},
		MessageAnnotations: message.Annotations{{Key: encoding.Symbol("x-opt-partition"), Value: "p1"},
			{Key: encoding.Symbol("x-opt-n"), Value: uint32(9)}},
		Footer: message.Annotations{{Key: encoding.Symbol("x-hmac"), Value: []byte{0xde, 0xad}}},
		Data:   [][]byte{[]byte("body")}}},
	{"application properties, every shared type", message.Message{ApplicationProperties: encoding.Map{
		{Key: "bool", Value: true}, {Key: "ubyte", Value: uint8(200)}, {Key: "ushort", Value: uint16(60000)},
		{Key: "uint", Value: uint32(1 << 20)}, {Key: "ulong", Value: uint64(1 << 40)}, {Key: "byte", Value: int8(-5)},
		{Key: "short", Value: int16(-300)}, {Key: "int", Value: int32(-70000)}, {Key: "long", Value: int64(-1 << 40)},
		{Key: "float", Value: float32(1.5)}, {Key: "double", Value: 2.25}, {Key: "timestamp", Value: t0},
		{Key: "uuid", Value: uuid}, {Key: "binary", Value: []byte{0, 1}}, {Key: "string", Value: "héllo"},
		{Key: "symbol", Value: encoding.Symbol("sym")},
		{Key: "symbols", Value: encoding.Array{Type: encoding.TypeSymbol, Elems: []any{encoding.Symbol("a"), encoding.Symbol("b")}}},
		// go-amqp truncates int arrays whose only wide values are negative
		// (see TestGoAMQPArrayEncodingQuirk), so a wide positive one is included.
		{Key: "ints", Value: encoding.Array{Type: encoding.TypeInt, Elems: []any{int32(-1000), int32(1000)}}},
		{Key: "longs", Value: encoding.Array{Type: encoding.TypeLong, Elems: []any{int64(7)}}},
		{Key: "strings", Value: encoding.Array{Type: encoding.TypeString, Elems: []any{"x"}}},
	}, BodyKind: message.BodyValue, Value: int32(1)}},
	{"everything", message.Message{
		Header:                &message.Header{Durable: true},
		DeliveryAnnotations:   message.Annotations{{Key: encoding.Symbol("d"), Value: "1"}},
		MessageAnnotations:    message.Annotations{{Key: encoding.Symbol("m"), Value: "2"}},
		Properties:            &message.Properties{MessageID: uint64(1), To: "t"},
		ApplicationProperties: encoding.Map{{Key: "k", Value: "v"}},
		Sequence:              [][]any{{"s"}},
		Footer:                message.Annotations{{Key: encoding.Symbol("f"), Value: "3"}},
	}},
}

func checkBothWays(t *testing.T, m *message.Message) {
	t.Helper()
	// Ours → go-amqp.
	raw, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var theirs amqp.Message
	if err := theirs.UnmarshalBinary(raw); err != nil {
		t.Fatalf("go-amqp cannot decode our encoding % x: %v", raw, err)
	}
	if got, want := viewTheirs(&theirs), viewOurs(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("go-amqp decoded our message differently:\ngot  %#v\nwant %#v", got, want)
	}
	// go-amqp → ours.
	src := toTheirs(m)
	raw2, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var ours message.Message
	if err := ours.Unmarshal(raw2); err != nil {
		t.Fatalf("we cannot decode go-amqp's encoding % x: %v", raw2, err)
	}
	if got, want := viewOurs(&ours), viewTheirs(src); !reflect.DeepEqual(got, want) {
		t.Fatalf("we decoded go-amqp's message differently:\ngot  %+v\nwant %+v", got, want)
	}
	// Forwarding keeps go-amqp's bare message byte for byte (§3.2).
	out, err := ours.Marshal(nil)
	if err != nil || len(ours.Bare) > 0 && !bytes.Contains(raw2, ours.Bare) || !bytes.Contains(out, ours.Bare) {
		t.Fatalf("forwarding changed go-amqp's bare message:\n% x\n% x", out, raw2)
	}
}

func TestGoAMQPInterop(t *testing.T) {
	for _, c := range interopMessages {
		t.Run(c.name, func(t *testing.T) {
			m := c.msg
			checkBothWays(t, &m)
		})
	}
}

// randMsg builds a message from fuzz input, using only the value types
// both libraries share.
type randSrc struct{ b []byte }

func (r *randSrc) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *randSrc) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = r.u8()
	}
	return binary.BigEndian.Uint64(buf[:])
}

func (r *randSrc) str() string {
	n := int(r.u8() % 12)
	s := make([]byte, n)
	for i := range s {
		s[i] = 'a' + r.u8()%26
	}
	return string(s)
}

func (r *randSrc) value(depth int) any {
	switch r.u8() % 15 {
	case 0:
		return r.u8()%2 == 0
	case 1:
		return r.u8()
	case 2:
		return uint16(r.u64())
	case 3:
		return uint32(r.u64())
	case 4:
		return r.u64()
	case 5:
		return int8(r.u8())
	case 6:
		return int16(r.u64())
	case 7:
		return int32(r.u64())
	case 8:
		return int64(r.u64())
	case 9:
		return float64(int64(r.u64())) / 7
	case 10:
		return time.UnixMilli(int64(r.u64() % (1 << 42))).UTC()
	case 11:
		return []byte(r.str())
	case 12:
		return encoding.Symbol(r.str())
	case 13:
		if depth < 3 {
			l := make([]any, r.u8()%4)
			for i := range l {
				l[i] = r.value(depth + 1)
			}
			return l
		}
	}
	return r.str()
}

func (r *randSrc) message() message.Message {
	var m message.Message
	flags := r.u8()
	if flags&1 != 0 {
		m.Header = &message.Header{Durable: r.u8()%2 == 0, DeliveryCount: uint32(r.u8())}
		if r.u8()%2 == 0 {
			m.Header.Priority = encoding.Some(r.u8() % 10)
		}
	}
	if flags&2 != 0 {
		m.MessageAnnotations = message.Annotations{{Key: encoding.Symbol("x-" + r.str()), Value: r.value(1)}}
	}
	if flags&4 != 0 {
		m.Properties = &message.Properties{MessageID: r.str() + "id", Subject: r.str(), GroupSequence: encoding.Some(uint32(r.u64()))}
	}
	if flags&8 != 0 {
		for range r.u8() % 4 {
			m.ApplicationProperties = m.ApplicationProperties.Set("k"+r.str(), r.value(1))
		}
	}
	switch (flags >> 4) % 3 {
	case 0:
		for range 1 + r.u8()%3 {
			m.Data = append(m.Data, []byte(r.str()))
		}
	case 1:
		m.Sequence = [][]any{{r.value(1), r.value(1)}}
	case 2:
		m.BodyKind, m.Value = message.BodyValue, r.value(0)
	}
	if flags&64 != 0 {
		m.Footer = message.Annotations{{Key: encoding.Symbol("f"), Value: r.str()}}
	}
	return m
}

// FuzzGoAMQPInterop generates messages from fuzz input and checks them in
// both directions against go-amqp.
func FuzzGoAMQPInterop(f *testing.F) {
	for i := range 16 {
		f.Add([]byte{byte(i * 17), 0x55, byte(i), 3, 9, 200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	}
	f.Fuzz(func(t *testing.T, seed []byte) {
		m := (&randSrc{b: seed}).message()
		checkBothWays(t, &m)
	})
}

// TestGoAMQPArrayEncodingQuirk records a go-amqp v1.7.0 encoder defect
// found by this cross-check: it chooses the smallint element constructor
// (0x54) for an int array when no element exceeds 127, ignoring values below
// -128, so []int32{1, -1000} is encoded with -1000 truncated to 0x18. Per §1.6.9 a
// smallint is one octet, so the array decodes as [1, 24]; we decode by the
// specification and do not try to guess.
func TestGoAMQPArrayEncodingQuirk(t *testing.T) {
	raw, err := (&amqp.Message{Value: []int32{1, -1000}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m message.Message
	if err := m.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	a := m.Value.(encoding.Array)
	if a.Elems[1] == int32(-1000) {
		t.Log("go-amqp now encodes wide int arrays correctly; the quirk note can go")
	} else if a.Elems[1] != int32(24) {
		t.Fatalf("unexpected decode %v of % x", a.Elems, raw)
	}
}
