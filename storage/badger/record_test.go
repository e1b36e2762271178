package badger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/storetest"
)

// recordCases cover every field of message.Message and every header kind,
// alone and together, plus the edge values of each.
func recordCases() []struct {
	name string
	m    *message.Message
} {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 890_123_456, time.UTC)
	with := func(f func(m *message.Message)) *message.Message {
		m := &message.Message{Address: address.Address{"a"}}
		f(m)
		return m
	}
	hdr := func(vs ...message.Value) *message.Message {
		return with(func(m *message.Message) {
			for _, v := range vs {
				m.Headers.Add("k", v)
			}
		})
	}
	return []struct {
		name string
		m    *message.Message
	}{
		{"empty", &message.Message{}},
		{"address only", with(func(*message.Message) {})},
		{"address with empty and odd segments", with(func(m *message.Message) { m.Address = address.Address{"", "a/b", "+", "é", ""} })},
		{"id", with(func(m *message.Message) { m.ID = "01J" })},
		{"body", with(func(m *message.Message) { m.Body = []byte{0, 1, 0xff} })},
		{"large body", with(func(m *message.Message) { m.Body = bytes.Repeat([]byte("x"), 70_000) })},
		{"content type and encoding", with(func(m *message.Message) { m.ContentType, m.ContentEncoding = "text/plain", "gzip" })},
		{"correlation id", with(func(m *message.Message) { m.CorrelationID = []byte{0, 9} })},
		{"properties", with(func(m *message.Message) {
			m.ReplyTo, m.Subject, m.UserID, m.GroupID = "/queue/r", "s", "u", "g"
		})},
		{"created at", with(func(m *message.Message) { m.CreatedAt = t0 })},
		{"created at before 1970", with(func(m *message.Message) { m.CreatedAt = time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC) })},
		{"created at in a zone", with(func(m *message.Message) { m.CreatedAt = t0.In(time.FixedZone("x", 3600)) })},
		{"durable", with(func(m *message.Message) { m.Durable = true })},
		{"priority", with(func(m *message.Message) { m.Priority = 9 })},
		{"priority out of range", with(func(m *message.Message) { m.Priority = 255 })},
		{"expires", with(func(m *message.Message) { m.Expires = t0.Add(time.Hour) })},
		{"first acquirer", with(func(m *message.Message) { m.FirstAcquirer = true })},
		{"origin", with(func(m *message.Message) {
			m.Annotations.Origin = message.Origin{Protocol: message.ProtocolMQTT, ClientID: "c", ConnID: "k", User: "u"}
		})},
		{"retain", with(func(m *message.Message) { m.Annotations.Retain = true })},
		{"retained delivery", with(func(m *message.Message) { m.Annotations.RetainedDelivery = true })},
		{"qos", with(func(m *message.Message) { m.Annotations.QoS = 2 })},
		{"trace", with(func(m *message.Message) { m.Annotations.Trace = "00-abc-def-01" })},
		{"dead letter", with(func(m *message.Message) {
			m.Annotations.DeadLetter = &message.DeadLetter{Reason: "expired", Queue: "q", Address: "a/b", Time: t0, DeliveryCount: 3, Detail: "d"}
		})},
		{"empty dead letter", with(func(m *message.Message) { m.Annotations.DeadLetter = &message.DeadLetter{} })},
		{"dead letter negative count", with(func(m *message.Message) { m.Annotations.DeadLetter = &message.DeadLetter{DeliveryCount: -1} })},
		{"native headers", with(func(m *message.Message) {
			m.Annotations.Native.Add("mqtt.payload-format", message.Int(1))
			m.Annotations.Native.Add("amqp.body", message.String("data"))
		})},
		{"header null", hdr(message.Null())},
		{"header string", hdr(message.String(""), message.String("v"))},
		{"header int", hdr(message.Int(0), message.Int(-1), message.Int(math.MaxInt64), message.Int(math.MinInt64))},
		{"header float", hdr(message.Float(0), message.Float(-2.5), message.Float(math.Inf(1)), message.Float(math.NaN()),
			message.Float(math.Float64frombits(0x7ff0000000000001)))},
		{"header bool", hdr(message.Bool(false), message.Bool(true))},
		{"header bytes", hdr(message.Bytes(nil), message.Bytes([]byte{0, 1}))},
		{"header time", hdr(message.Time(t0), message.Time(time.UnixMilli(-1)), message.Time(time.UnixMilli(math.MinInt64)))},
		{"header uuid", hdr(message.UUID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}))},
		{"repeated keys keep order", with(func(m *message.Message) {
			m.Headers.Add("a", message.String("1"))
			m.Headers.Add("b", message.String("2"))
			m.Headers.Add("a", message.String("3"))
		})},
		{"every field", fullMessage()},
	}
}

// fullMessage sets every field and every header kind at once.
func fullMessage() *message.Message {
	m := &message.Message{
		ID: "01J-full", Address: address.Address{"devices", "a/b", "", "$x"}, Body: []byte{0, 1, 2, 0xff},
		ContentType: "application/json", ContentEncoding: "gzip", CorrelationID: []byte{9, 8},
		ReplyTo: "/queue/replies", Subject: "subject", UserID: "alice", GroupID: "g1",
		CreatedAt: time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		Durable:   true, Priority: 7, Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), FirstAcquirer: true,
	}
	m.Headers.Add("s", message.String("v"))
	m.Headers.Add("i", message.Int(-42))
	m.Headers.Add("f", message.Float(2.5))
	m.Headers.Add("b", message.Bool(true))
	m.Headers.Add("raw", message.Bytes([]byte{1, 2}))
	m.Headers.Add("t", message.Time(time.UnixMilli(1_700_000_000_123)))
	m.Headers.Add("u", message.UUID([16]byte{15: 1}))
	m.Headers.Add("n", message.Null())
	m.Annotations = message.Annotations{
		Origin: message.Origin{Protocol: message.ProtocolAMQP, ClientID: "c", ConnID: "k", User: "alice"},
		Retain: true, RetainedDelivery: true, QoS: 1, Trace: "00-abc-def-01",
		DeadLetter: &message.DeadLetter{Reason: "rejected", Queue: "q", Address: "devices/x", DeliveryCount: 2,
			Detail: "bad", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	m.Annotations.Native.Add("amqp.section", message.String("value"))
	return m
}

func TestMessageRecordRoundTrip(t *testing.T) {
	for _, tc := range recordCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := appendMessage(nil, tc.m)
			got, err := decodeMessage(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d := storetest.Diff(tc.m, got); d != "" {
				t.Fatalf("round trip: %s", d)
			}
			if again := appendMessage(nil, got); !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
			}
			// The decoded message shares nothing with the record.
			for i := range b {
				b[i] = 0xee
			}
			if d := storetest.Diff(tc.m, got); d != "" {
				t.Fatalf("decoded message aliases the record: %s", d)
			}
			if hint := messageSizeHint(tc.m); hint < len(b) {
				t.Errorf("size hint %d below the record's %d bytes", hint, len(b))
			}
		})
	}
}

// TestMessageRecordGolden pins version 1 of the format: a change that
// alters these bytes needs a new record version.
func TestMessageRecordGolden(t *testing.T) {
	m := &message.Message{
		ID: "i", Address: address.Address{"a", "b"}, Body: []byte("hi"), Durable: true, Priority: 4,
		CreatedAt: time.Unix(1, 2),
	}
	m.Headers.Add("k", message.Int(-1))
	m.Headers.Add("f", message.Bool(true))
	const want = "01" + // version
		"8778" + // field bits: ID, Address, Body, CreatedAt, Headers, Durable, Priority
		"0169" + // ID "i"
		"0201610162" + // Address ["a" "b"]
		"026869" + // Body "hi"
		"0202" + // CreatedAt: 1 s (zigzag), 2 ns
		"02" + "016b0201" + "01660401" + // Headers: k=int(-1), f=bool(true)
		"04" // Priority; Durable is its bit alone
	got := hex.EncodeToString(appendMessage(nil, m))
	if got != want {
		t.Fatalf("record\n got %s\nwant %s", got, want)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	valid := appendMessage(nil, fullMessage())
	tests := []struct {
		name    string
		raw     []byte
		version bool // ErrVersion rather than ErrCorrupt
	}{
		{"empty", nil, false},
		{"unknown version", []byte{2, 0}, true},
		{"version zero", []byte{0, 0}, true},
		{"no field bits", []byte{1}, false},
		{"unknown field bit", []byte{1, 0x80, 0x80, 0x80, 0x40}, false},
		{"truncated string", []byte{1, 1, 5, 'a'}, false},
		{"length overflows", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
		{"varint too long", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
		{"segment count overruns", []byte{1, fAddress, 100, 0}, false},
		{"header count overruns", []byte{1, 0x80, 0x10, 3, 0, 0}, false},
		{"unknown header kind", []byte{1, 0x80, 0x10, 1, 0, 9}, false},
		{"bad bool", []byte{1, 0x80, 0x10, 1, 0, vBool, 2}, false},
		{"short float", []byte{1, 0x80, 0x10, 1, 0, vFloat, 1, 2}, false},
		{"short uuid", []byte{1, 0x80, 0x10, 1, 0, vUUID, 1}, false},
		{"nanoseconds out of range", []byte{1, 0x80, 0x08, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, false},
		{"seconds out of range", append([]byte{1, 0x80, 0x08}, append(bytesOfVarint(math.MaxInt64), 0)...), false},
		{"trailing bytes", append(append([]byte(nil), valid...), 0), false},
		{"truncated full message", valid[:len(valid)-1], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeMessage(tc.raw)
			if err == nil {
				t.Fatalf("decoded %+v", m)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			want := ErrCorrupt
			if tc.version {
				want = ErrVersion
			}
			if !errors.Is(err, want) {
				t.Fatalf("error %v does not wrap %v", err, want)
			}
		})
	}
	// Every truncation of a valid record fails cleanly.
	for n := range valid {
		if _, err := decodeMessage(valid[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
}

func bytesOfVarint(v int64) []byte {
	var b [10]byte
	return b[:binary.PutVarint(b[:], v)]
}

func TestQueueRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   uint64
		cfg  exchange.QueueConfig
	}{
		{"zero", 1, exchange.QueueConfig{}},
		{"every field", math.MaxUint64, fullQueueConfig()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendQueue(nil, tc.id, tc.cfg)
			id, cfg, err := decodeQueue(b)
			if err != nil || id != tc.id || cfg != tc.cfg {
				t.Fatalf("decoded %d %+v %v", id, cfg, err)
			}
			for n := range b {
				if _, _, err := decodeQueue(b[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d: %v", n, err)
				}
			}
			if _, _, err := decodeQueue(append(b, 0)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
	if _, _, err := decodeQueue([]byte{9}); !errors.Is(err, ErrVersion) {
		t.Fatalf("unknown version: %v", err)
	}
}

func fullQueueConfig() exchange.QueueConfig {
	return exchange.QueueConfig{
		Durable: true, AutoDelete: true, Owner: "mqtt/c1", MaxLength: -1, MaxBytes: math.MaxInt64,
		Overflow: exchange.RejectPublish, TTL: 90 * time.Second, MaxDeliveries: -1, DeadLetter: "dead",
	}
}
