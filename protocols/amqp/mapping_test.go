package amqp

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

var (
	goldenNow     = time.UnixMilli(1_750_000_000_000).UTC()
	goldenCreated = time.UnixMilli(1_749_999_999_000).UTC()
	goldenExpires = goldenNow.Add(30 * time.Second)
	goldenAddr    = address.Address{"orders", "eu"}
	amqpOrigin    = message.Origin{Protocol: message.ProtocolAMQP, ClientID: "c-amqp", ConnID: "k1", User: "ann"}
)

// decodeOut encodes m for an AMQP receiver and decodes the result.
func decodeOut(t *testing.T, m *message.Message, deliveryCount uint32) (*amqpmsg.Message, []byte, message.Lost) {
	t.Helper()
	var lost message.Lost
	out, err := appendMessage(nil, m, egress{DeliveryCount: deliveryCount, Now: goldenNow,
		To:   func(a address.Address) string { return renderTopic(a) },
		Lost: lossSink{&lost}})
	if err != nil {
		t.Fatal(err)
	}
	var am amqpmsg.Message
	if err := am.Unmarshal(out); err != nil {
		t.Fatalf("decode: %v\n% x", err, out)
	}
	return &am, out, lost
}

// TestMapEgressGolden: canonical messages as the MQTT 5 and STOMP
// front-ends produce them (docs/mapping.md, their ingress tables), and as
// this package does, rendered for an AMQP receiver.
func TestMapEgressGolden(t *testing.T) {
	mqtt5 := &message.Message{
		ID: "id-m", Address: address.Address{"sensors", "1", "temp"}, Body: []byte("21.5"),
		ContentType: "text/plain", CorrelationID: []byte{0xff, 0x01}, ReplyTo: "replies/1",
		Durable: true, Priority: 4, Expires: goldenExpires, CreatedAt: goldenCreated, UserID: "bob",
		Headers: message.Headers{{Key: "unit", Value: message.String("C")}, {Key: "x-priority", Value: message.String("4")}},
		Annotations: message.Annotations{
			Origin: message.Origin{Protocol: message.ProtocolMQTT, ClientID: "dev-1", ConnID: "k2", User: "bob"},
			QoS:    1, Trace: "00-aa-bb-01",
			Native: message.Headers{{Key: "mqtt.payload-format", Value: message.Int(1)}},
		},
	}
	stomp := &message.Message{
		ID: "id-s", Address: address.Address{"orders"}, Body: []byte("{}"),
		ContentType: "application/json", ContentEncoding: "identity", CorrelationID: []byte("corr-s"),
		ReplyTo: "$queue/answers", Durable: true, Priority: 8, CreatedAt: goldenCreated,
		Headers: message.Headers{{Key: "app", Value: message.String("1")}, {Key: "app", Value: message.String("2")}},
		Annotations: message.Annotations{
			Origin: message.Origin{Protocol: message.ProtocolSTOMP, ClientID: "web-1", ConnID: "k3"},
			QoS:    1, RetainedDelivery: true,
		},
	}
	typed := &message.Message{
		ID: "id-t", Address: address.Address{"t"}, Priority: 4,
		Headers: message.Headers{
			{Key: "s", Value: message.String("v")}, {Key: "i", Value: message.Int(-3)}, {Key: "f", Value: message.Float(1.5)},
			{Key: "b", Value: message.Bool(true)}, {Key: "y", Value: message.Bytes([]byte{1})},
			{Key: "ts", Value: message.Time(goldenCreated)}, {Key: "u", Value: message.UUID([16]byte{1})},
			{Key: "n", Value: message.Null()},
		},
		Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolCore},
			DeadLetter: &message.DeadLetter{Reason: "rejected", Queue: "q"}},
	}
	cases := []struct {
		name  string
		m     *message.Message
		count uint32
		want  amqpmsg.Message
		lost  message.Lost
	}{
		{"mqtt5", mqtt5, 0, amqpmsg.Message{
			Header: &amqpmsg.Header{Durable: true, TTL: encoding.Some[uint32](30000)},
			MessageAnnotations: encoding.Map{
				{Key: encoding.Symbol("x-origin-protocol"), Value: "mqtt"},
				{Key: encoding.Symbol("x-origin-client-id"), Value: "dev-1"},
				{Key: encoding.Symbol("x-origin-user"), Value: "bob"},
				{Key: encoding.Symbol("x-priority"), Value: "4"},
			},
			Properties: &amqpmsg.Properties{MessageID: "id-m", UserID: []byte("bob"), To: "/topics/sensors/1/temp",
				ReplyTo: "/topics/replies/1", CorrelationID: []byte{0xff, 0x01}, ContentType: "text/plain",
				AbsoluteExpiryTime: goldenExpires, CreationTime: goldenCreated},
			ApplicationProperties: encoding.Map{{Key: "unit", Value: "C"}, {Key: "traceparent", Value: "00-aa-bb-01"}},
			BodyKind:              amqpmsg.BodyData, Data: [][]byte{[]byte("21.5")},
		}, message.LostPayloadFormat},
		{"stomp", stomp, 2, amqpmsg.Message{
			Header: &amqpmsg.Header{Durable: true, Priority: encoding.Some[uint8](8), DeliveryCount: 2},
			MessageAnnotations: encoding.Map{
				{Key: encoding.Symbol("x-origin-protocol"), Value: "stomp"},
				{Key: encoding.Symbol("x-origin-client-id"), Value: "web-1"},
				{Key: encoding.Symbol("x-retained"), Value: true},
			},
			Properties: &amqpmsg.Properties{MessageID: "id-s", To: "/topics/orders", ReplyTo: "/queues/answers",
				CorrelationID: "corr-s", ContentType: "application/json", ContentEncoding: "identity", CreationTime: goldenCreated},
			ApplicationProperties: encoding.Map{{Key: "app", Value: "1"}},
			BodyKind:              amqpmsg.BodyData, Data: [][]byte{[]byte("{}")},
		}, message.LostHeaders},
		{"typed headers", typed, 0, amqpmsg.Message{
			MessageAnnotations: encoding.Map{
				{Key: encoding.Symbol("x-origin-protocol"), Value: "core"},
				{Key: encoding.Symbol("x-death-reason"), Value: "rejected"},
				{Key: encoding.Symbol("x-death-queue"), Value: "q"},
			},
			Properties: &amqpmsg.Properties{MessageID: "id-t", To: "/topics/t"},
			ApplicationProperties: encoding.Map{{Key: "s", Value: "v"}, {Key: "i", Value: int64(-3)}, {Key: "f", Value: 1.5},
				{Key: "b", Value: true}, {Key: "y", Value: []byte{1}}, {Key: "ts", Value: goldenCreated},
				{Key: "u", Value: encoding.UUID{1}}, {Key: "n", Value: nil}},
			BodyKind: amqpmsg.BodyData, Data: [][]byte{{}},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, lost := decodeOut(t, c.m, c.count)
			got.Bare = nil
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("got  %+v\nwant %+v", *got, c.want)
				if !reflect.DeepEqual(got.Properties, c.want.Properties) {
					t.Errorf("properties\n got %+v\nwant %+v", got.Properties, c.want.Properties)
				}
			}
			if lost != c.lost {
				t.Errorf("lost %v, want %v", lost, c.lost)
			}
		})
	}
}

// TestMapIngressGolden: AMQP messages mapped to canonical ones, the fields
// the MQTT and STOMP front-ends render.
func TestMapIngressGolden(t *testing.T) {
	uuid := encoding.UUID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	full := amqpmsg.Message{
		Header:              &amqpmsg.Header{Durable: true, Priority: encoding.Some[uint8](6), TTL: encoding.Some[uint32](10000), FirstAcquirer: true, DeliveryCount: 3},
		DeliveryAnnotations: encoding.Map{{Key: encoding.Symbol("x-hop"), Value: "a"}},
		MessageAnnotations: encoding.Map{{Key: encoding.Symbol("x-opt-jms-type"), Value: "car"},
			{Key: encoding.Symbol("x-origin-user"), Value: "forged"}, {Key: encoding.Symbol("x-retain"), Value: true},
			{Key: encoding.Symbol("spec-reserved"), Value: "dropped"}},
		Properties: &amqpmsg.Properties{MessageID: uuid, UserID: []byte("ann"), To: "/topics/orders/eu", Subject: "subj",
			ReplyTo: "/queues/r", CorrelationID: uint64(99), ContentType: "application/json", ContentEncoding: "gzip",
			AbsoluteExpiryTime: goldenNow.Add(5 * time.Second), CreationTime: goldenCreated, GroupID: "g", GroupSequence: encoding.Some[uint32](4),
			ReplyToGroupID: "rg"},
		ApplicationProperties: encoding.Map{{Key: "s", Value: "v"}, {Key: "sym", Value: encoding.Symbol("y")},
			{Key: "i8", Value: int8(-1)}, {Key: "u32", Value: uint32(7)}, {Key: "big", Value: uint64(1 << 63)},
			{Key: "d", Value: 2.5}, {Key: "t", Value: goldenCreated}, {Key: "traceparent", Value: "00-tt-01"},
			{Key: "list", Value: []any{int32(1)}}},
		Data:   [][]byte{[]byte("payload")},
		Footer: encoding.Map{{Key: encoding.Symbol("x-sig"), Value: "s"}},
	}
	raw, err := full.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var am amqpmsg.Message
	if err := am.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var lost message.Lost
	m, err := messageFromAMQP(&am, ingress{Addr: goldenAddr, Origin: amqpOrigin, Now: goldenNow,
		Lost: lossSink{&lost}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("body", string(m.Body), "payload")
	check("durable", m.Durable, true)
	check("priority", m.Priority, uint8(6))
	check("expires", m.Expires, goldenNow.Add(5*time.Second)) // earlier of ttl and absolute-expiry-time
	check("first-acquirer", m.FirstAcquirer, true)
	check("qos", m.Annotations.QoS, uint8(1))
	check("subject", m.Subject, "subj")
	check("reply-to", m.ReplyTo, "$queue/r") // canonical (ADR 0002)
	check("correlation-id", string(m.CorrelationID), "99")
	check("content-type", m.ContentType, "application/json")
	check("content-encoding", m.ContentEncoding, "gzip")
	check("created", m.CreatedAt, goldenCreated)
	check("group-id", m.GroupID, "g")
	check("retain", m.Annotations.Retain, true)
	check("trace", m.Annotations.Trace, "00-tt-01")
	wantHeaders := message.Headers{
		{Key: "s", Value: message.String("v")}, {Key: "sym", Value: message.String("y")},
		{Key: "i8", Value: message.Int(-1)}, {Key: "u32", Value: message.Int(7)},
		{Key: "d", Value: message.Float(2.5)}, {Key: "t", Value: message.Time(goldenCreated)},
		{Key: "traceparent", Value: message.String("00-tt-01")},
		{Key: "x-opt-jms-type", Value: message.String("car")},
	}
	check("headers", m.Headers, wantHeaders)
	nat := m.Annotations.Native
	check("native message-id", nat.GetString(nativeMessageID), "deadbeef-0102-0304-0506-0708090a0b0c")
	check("native message-id type", nat.GetString(nativeMsgIDType), "uuid")
	check("native correlation type", nat.GetString(nativeCorrIDType), "ulong")
	check("native group-sequence", nat.GetString(nativeGroupSeq), "4")
	check("native reply-to-group-id", nat.GetString(nativeReplyGroup), "rg")
	check("native app-props", nat.GetString(nativeAppProps), "7")
	check("lost", lost, message.LostAppProperties|message.LostMessageAnnotations|
		message.LostDeliveryAnnotations|message.LostFooter)

	// Back out to AMQP: the bare message as sent, our header and
	// annotations.
	m.Annotations.Origin = amqpOrigin
	out, _, _ := decodeOut(t, m, 0)
	if !bytes.Equal(out.Bare, am.Bare) {
		t.Fatalf("bare message changed")
	}
	// first-acquirer is the broker's own (egress.FirstDelivery, false in
	// decodeOut), never the publisher's.
	check("out header", out.Header, &amqpmsg.Header{Durable: true, Priority: encoding.Some[uint8](6),
		TTL: encoding.Some[uint32](5000)})
	check("out annotations", out.MessageAnnotations, encoding.Map{
		{Key: encoding.Symbol("x-origin-protocol"), Value: "amqp"},
		{Key: encoding.Symbol("x-origin-client-id"), Value: "c-amqp"},
		{Key: encoding.Symbol("x-origin-user"), Value: "ann"},
		{Key: encoding.Symbol("x-opt-jms-type"), Value: "car"},
	})

	// Transformed (the bare message dropped): rebuilt from the fields,
	// with the id types restored.
	m.Annotations.Native.Del(nativeBareHead)
	m.Body = []byte("changed")
	out, _, _ = decodeOut(t, m, 0)
	check("rebuilt message-id", out.Properties.MessageID, uuid)
	check("rebuilt correlation-id", out.Properties.CorrelationID, uint64(99))
	check("rebuilt group-sequence", out.Properties.GroupSequence, encoding.Some[uint32](4))
	check("rebuilt reply-to-group-id", out.Properties.ReplyToGroupID, "rg")
	check("rebuilt body", out.Data, [][]byte{[]byte("changed")})
	check("rebuilt app properties", len(out.ApplicationProperties), 7)
}

// TestMapBodyForms: each body form survives AMQP → canonical → AMQP, and
// other protocols see the content of a string or binary amqp-value.
func TestMapBodyForms(t *testing.T) {
	cases := []struct {
		name     string
		in       amqpmsg.Message
		body     string
		form     string
		rebuilt  amqpmsg.BodyKind
		rebuiltV any
	}{
		{"data", amqpmsg.Message{Data: [][]byte{[]byte("d")}}, "d", "", amqpmsg.BodyData, nil},
		{"value string", amqpmsg.Message{Value: "hello"}, "hello", bodyValueString, amqpmsg.BodyValue, "hello"},
		{"value binary", amqpmsg.Message{Value: []byte{0, 1}}, "\x00\x01", bodyValueBinary, amqpmsg.BodyValue, []byte{0, 1}},
		{"value int", amqpmsg.Message{Value: int32(7)}, "\x00Sw\x54\x07", bodyValue, amqpmsg.BodyValue, int32(7)},
		{"sequence", amqpmsg.Message{Sequence: [][]any{{"a"}}}, "\x00Sv\xc0\x04\x01\xa1\x01a", bodySequence, amqpmsg.BodySequence, nil},
		{"two data", amqpmsg.Message{Data: [][]byte{{1}, {2}}}, "\x00Su\xa0\x01\x01\x00Su\xa0\x01\x02", bodyDataSections, amqpmsg.BodyData, nil},
		{"none", amqpmsg.Message{Properties: &amqpmsg.Properties{Subject: "s"}}, "", bodyNone, amqpmsg.BodyNone, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := c.in.Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			var am amqpmsg.Message
			if err := am.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			m, err := messageFromAMQP(&am, ingress{Addr: goldenAddr, Origin: amqpOrigin, Now: goldenNow})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Body) != c.body || m.Annotations.Native.GetString(nativeBody) != c.form {
				t.Fatalf("body %q form %q", m.Body, m.Annotations.Native.GetString(nativeBody))
			}
			out, _, _ := decodeOut(t, m, 0)
			if !bytes.Equal(out.Bare, am.Bare) {
				t.Fatalf("bare changed:\n got % x\nwant % x", out.Bare, am.Bare)
			}
			m.Annotations.Native.Del(nativeBareHead)
			m.Annotations.Native.Del(nativeBodyHeader)
			out, _, _ = decodeOut(t, m, 0)
			if out.BodyKind != c.rebuilt || c.rebuiltV != nil && !reflect.DeepEqual(out.Value, c.rebuiltV) {
				t.Fatalf("rebuilt body %v %#v", out.BodyKind, out.Value)
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	targets := []struct {
		in   string
		caps []encoding.Symbol
		want target
		err  bool
	}{
		{"/queues/orders", nil, target{kind: nodeQueue, addr: address.Address{"orders"}, ensure: true}, false},
		{"/queues/a/b", nil, target{kind: nodeQueue, addr: address.Address{"a", "b"}, ensure: true}, false},
		{"orders", nil, target{kind: nodeQueue, addr: address.Address{"orders"}, ensure: true}, false},
		{"a/b", []encoding.Symbol{"topic"}, target{kind: nodeTopic, addr: address.Address{"a", "b"}}, false},
		{"/topics/a%2Fb/c%25", nil, target{kind: nodeTopic, addr: address.Address{"a/b", "c%"}}, false},
		{"/topics/a/%2A", nil, target{kind: nodeTopic, addr: address.Address{"a", "*"}}, false},
		{"/exchanges/amq.topic/a.b", nil, target{kind: nodeTopic, addr: address.Address{"a", "b"}}, false},
		{"/exchanges/amq.topic", nil, target{kind: nodeTopic, subjectKey: true}, false},
		{"/queues/$tmp/amqp/c/1", nil, target{kind: nodeQueue, addr: address.Address{"$tmp", "amqp", "c", "1"}, temp: true}, false},
		{"/topics/a/+", nil, target{}, true},
		{"/topics/a/*", nil, target{}, true},
		{"/queues/a%2Fb", nil, target{}, true},
		{"/queues/", nil, target{}, true},
		{"/other/x", nil, target{}, true},
		{"/exchanges/amq.topic/a.#", nil, target{}, true},
	}
	for _, c := range targets {
		got, err := parseTarget(c.in, c.caps)
		if (err != nil) != c.err || !c.err && !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	sources := []struct {
		in   string
		caps []encoding.Symbol
		want source
		err  bool
	}{
		{"/queues/orders", nil, source{kind: nodeQueue, addr: address.Address{"orders"}, queue: "orders"}, false},
		{"/topics/a/+/#", nil, source{kind: nodeTopic, pattern: address.Pattern{"a", "+", "#"}}, false},
		{"/topics/a/*", nil, source{kind: nodeTopic, pattern: address.Pattern{"a", "+"}}, false},
		{"/topics/a/%2A", nil, source{kind: nodeTopic, pattern: address.Pattern{"a", "*"}}, false},
		{"/exchanges/amq.topic/a.*.#", nil, source{kind: nodeTopic, pattern: address.Pattern{"a", "+", "#"}}, false},
		{"a/#", []encoding.Symbol{"topic"}, source{kind: nodeTopic, pattern: address.Pattern{"a", "#"}}, false},
		{"/topics/a/#/b", nil, source{}, true},
		{"/topics/a/%2B", nil, source{}, true},
		{"", nil, source{}, true},
	}
	for _, c := range sources {
		got, err := parseSource(c.in, c.caps)
		if (err != nil) != c.err || !c.err && !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseSource(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, a := range []address.Address{{"a", "b"}, {"a/b", "%", "*", ""}} {
		s := renderTopic(a)
		back, err := parseTarget(s, nil)
		if err != nil || !back.addr.Equal(a) {
			t.Errorf("renderTopic(%q) = %q parses to %q, %v", a, s, back.addr, err)
		}
	}
	// Reply-to: AMQP forms read into the canonical one and rendered back
	// (ADR 0002).
	for in, want := range map[string]string{
		"/queues/rpc": "$queue/rpc", "rpc": "$queue/rpc", "/topics/replies/c1": "replies/c1",
		"/exchanges/amq.topic/a.b": "a/b", "/queues/$tmp/amqp/k/1": "$queue/$tmp/amqp/k/1",
		"/topics/a%2Fb": "/topics/a%2Fb", "/exchange/x": "/exchange/x", "/exchanges/amq.topic": "/exchanges/amq.topic",
	} {
		if got := readReplyTo(in); got != want {
			t.Errorf("readReplyTo(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"$queue/rpc": "/queues/rpc", "replies/c1": "/topics/replies/c1", "$queue/$tmp/stomp/s/r": "/queues/$tmp/stomp/s/r",
		"a%b/c": "/topics/a%25b/c", "a/+": "a/+",
	} {
		if got := renderReplyTo(in); got != want {
			t.Errorf("renderReplyTo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMapBodyTypeLost: an amqp-value string body that a transform made
// invalid UTF-8 goes out as an amqp-value binary, and the body type is
// counted lost.
func TestMapBodyTypeLost(t *testing.T) {
	m := &message.Message{
		ID: "id-b", Address: goldenAddr, Body: []byte{0xff, 0xfe},
		Annotations: message.Annotations{Origin: amqpOrigin,
			Native: message.Headers{{Key: nativeBody, Value: message.String(bodyValueString)}}},
	}
	got, _, lost := decodeOut(t, m, 0)
	if got.BodyKind != amqpmsg.BodyValue || !bytes.Equal(got.Value.([]byte), m.Body) {
		t.Errorf("body %v %#v", got.BodyKind, got.Value)
	}
	if lost != message.LostBodyType {
		t.Errorf("lost %v, want body-type", lost)
	}
}
