package stomp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// The golden tables below are the STOMP section of docs/mapping.md in
// executable form: keep them in step.

var (
	goldenNow    = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	goldenOrigin = message.Origin{Protocol: message.ProtocolSTOMP, ClientID: "app-1", ConnID: "c-1", User: "alice"}
)

func goldenMessage(mod func(*message.Message)) *message.Message {
	m := &message.Message{
		Address:     address.Address{"a", "b"},
		Priority:    message.DefaultPriority,
		CreatedAt:   goldenNow,
		Annotations: message.Annotations{Origin: goldenOrigin},
	}
	if mod != nil {
		mod(m)
	}
	return m
}

// goldenReply is the message of a SEND whose only header is a reply-to:
// ReplyTo in canonical form, the header as written for STOMP subscribers.
func goldenReply(canonical, written string) *message.Message {
	return goldenMessage(func(m *message.Message) {
		m.ReplyTo = canonical
		m.Annotations.Native = nativeReply(written)
	})
}

func nativeReply(written string) message.Headers {
	return message.Headers{{Key: nativeReplyTo, Value: message.String(written)}}
}

func TestMapSendGolden(t *testing.T) {
	replyTo := func(v string) (string, error) {
		if rest, ok := strings.CutPrefix(v, prefixTempQueue); ok {
			return "/queue/$tmp/stomp/c-1/" + rest, nil
		}
		return v, nil
	}
	for _, tc := range []struct {
		name string
		v    frame.Version
		kv   []string
		body string
		want *message.Message
		err  string
	}{
		{name: "bare", kv: []string{"destination", "/topic/a/b"}, want: goldenMessage(nil)},
		{name: "properties",
			kv: []string{"destination", "/topic/a/b", "content-type", "application/json", "content-encoding", "gzip",
				"correlation-id", "c-42", "reply-to", "/queue/replies", "priority", "7", "persistent", "true",
				"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			body: `{"t":21}`,
			want: goldenMessage(func(m *message.Message) {
				m.Body = []byte(`{"t":21}`)
				m.ContentType, m.ContentEncoding = "application/json", "gzip"
				m.CorrelationID = []byte("c-42")
				m.ReplyTo = "$queue/replies"
				m.Annotations.Native = nativeReply("/queue/replies")
				m.Priority = 7
				m.Durable = true
				m.Annotations.QoS = 1
				m.Annotations.Trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			})},
		{name: "temp-queue reply-to is rewritten", kv: []string{"reply-to", "/temp-queue/r"},
			want: goldenReply("$queue/$tmp/stomp/c-1/r", "/queue/$tmp/stomp/c-1/r")},
		{name: "topic reply-to is canonical", kv: []string{"reply-to", "/topic/replies/c1"},
			want: goldenReply("replies/c1", "/topic/replies/c1")},
		{name: "amq/queue reply-to is a queue", kv: []string{"reply-to", "/amq/queue/rpc"},
			want: goldenReply("$queue/rpc", "/amq/queue/rpc")},
		{name: "escaped reply-to level", kv: []string{"reply-to", "/topic/rates/50%25"},
			want: goldenReply("rates/50%", "/topic/rates/50%25")},
		{name: "reply-to level holding a slash stays as written", kv: []string{"reply-to", "/topic/a%2Fb"},
			want: goldenReply("/topic/a%2Fb", "/topic/a%2Fb")},
		{name: "wildcard reply-to stays as written", kv: []string{"reply-to", "/topic/a/*"},
			want: goldenReply("a/*", "/topic/a/*")},
		{name: "foreign reply-to stays as written", kv: []string{"reply-to", "/exchange/amq.direct/x"},
			want: goldenReply("/exchange/amq.direct/x", "/exchange/amq.direct/x")},
		{name: "expires absolute", kv: []string{"expires", "1777636800500"},
			want: goldenMessage(func(m *message.Message) { m.Expires = time.UnixMilli(1777636800500).UTC() })},
		{name: "expires 0 means never", kv: []string{"expires", "0"}, want: goldenMessage(nil)},
		{name: "expiration relative", kv: []string{"expiration", "60000"},
			want: goldenMessage(func(m *message.Message) { m.Expires = goldenNow.Add(time.Minute) })},
		{name: "the earlier expiry wins", kv: []string{"expiration", "1000", "expires", "1777636860000"},
			want: goldenMessage(func(m *message.Message) { m.Expires = goldenNow.Add(time.Second) })},
		{name: "priority above 9 is 9", kv: []string{"priority", "12"},
			want: goldenMessage(func(m *message.Message) { m.Priority = 9 })},
		{name: "x-retained", kv: []string{"x-retained", "true"},
			want: goldenMessage(func(m *message.Message) { m.Annotations.Retain = true })},
		{name: "custom headers keep order and repeats; first mapped entry wins",
			kv: []string{"b", "2", "a", "1", "b", "3", "content-type", "text/plain", "content-type", "text/html", "empty", ""},
			want: goldenMessage(func(m *message.Message) {
				m.ContentType = "text/plain"
				m.Headers = message.Headers{
					{Key: "b", Value: message.String("2")}, {Key: "a", Value: message.String("1")},
					{Key: "b", Value: message.String("3")}, {Key: "empty", Value: message.String("")},
				}
			})},
		{name: "broker headers are never taken from the client",
			kv: []string{"destination", "/topic/a/b", "receipt", "1", "transaction", "t", "content-length", "0",
				"message-id", "forged", "subscription", "s", "ack", "1", "redelivered", "true", "user-id", "root",
				"x-origin-user", "root", "x-origin-protocol", "amqp", "x-origin-client-id", "evil", "x-origin-other", "z"},
			want: goldenMessage(nil)},
		{name: "1.0 trims mapped values only", v: frame.V10, kv: []string{"priority", " 5 ", "app", " padded "},
			want: goldenMessage(func(m *message.Message) {
				m.Priority = 5
				m.Headers = message.Headers{{Key: "app", Value: message.String(" padded ")}}
			})},
		{name: "bad expires", kv: []string{"expires", "tomorrow"}, err: "expires"},
		{name: "bad expiration", kv: []string{"expiration", "-5"}, err: "expiration"},
		{name: "bad priority", kv: []string{"priority", "-1"}, err: "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := frame.New(frame.SEND, tc.kv...)
			f.Body = []byte(tc.body)
			v := tc.v
			if v == frame.VersionNone {
				v = frame.V12
			}
			m, err := messageFromSend(f, sendInput{Addr: address.Address{"a", "b"}, Origin: goldenOrigin, Now: goldenNow, Version: v, ReplyTo: replyTo})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one about %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("message\n got %+v\nwant %+v", m, tc.want)
			}
		})
	}
}

// TestMapReplyTo is the egress half of docs/mapping.md "Reply-to": what a
// STOMP subscriber reads in reply-to for each canonical ReplyTo.
func TestMapReplyTo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		native string // the STOMP sender's header, "" for other origins
		want   string
	}{
		{"MQTT topic", "devices/42/replies", "", "/topic/devices/42/replies"},
		{"MQTT topic with a percent", "rates/50%", "", "/topic/rates/50%25"},
		{"MQTT topic with a leading empty level", "/lead", "", "/topic//lead"},
		{"MQTT $queue", "$queue/rpc", "", "/queue/rpc"},
		{"MQTT $QUEUE", "$QUEUE/rpc", "", "/queue/rpc"},
		{"STOMP temporary queue from another protocol", "$queue/$tmp/stomp/c-1/r", "", "/queue/$tmp/stomp/c-1/r"},
		{"not canonical: as written", "a/#", "", "a/#"},
		{"STOMP sender: as written", "$queue/rpc", "/amq/queue/rpc", "/amq/queue/rpc"},
		{"STOMP sender, foreign form", "/exchange/x", "/exchange/x", "/exchange/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &message.Message{ReplyTo: tc.in}
			if tc.native != "" {
				m.Annotations.Native = nativeReply(tc.native)
			}
			if got := stompReplyTo(m); got != tc.want {
				t.Errorf("stompReplyTo(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMapMessageGolden(t *testing.T) {
	full := goldenMessage(func(m *message.Message) {
		m.ID = "m-1"
		m.Body = []byte("hi")
		m.ContentType = "text/plain"
		m.CorrelationID = []byte("c:1")
		m.ReplyTo = "$queue/r"
		m.Expires = time.UnixMilli(1777636800500)
		m.Priority = 9
		m.Durable = true
		m.Annotations.Trace = "00-1-2-01"
		m.Headers = message.Headers{
			{Key: "b", Value: message.String("2")}, {Key: "n", Value: message.Int(-3)},
			{Key: "b", Value: message.String("x\ny")},
			{Key: "destination", Value: message.String("/topic/forged")}, // another protocol's header named like ours
			{Key: "content-length", Value: message.String("999")},
		}
	})
	for _, tc := range []struct {
		name string
		m    *message.Message
		md   messageMeta
		v    frame.Version
		want string
	}{
		{"minimal 1.2 auto", goldenMessage(func(m *message.Message) {
			m.ID = "m-0"
			m.Annotations.Origin = message.Origin{}
		}), messageMeta{Dest: "/topic/a/b", Sub: "0", HasSub: true}, frame.V12,
			"MESSAGE\ndestination:/topic/a/b\nmessage-id:m-0\nsubscription:0\ncontent-length:0\n\n\x00"},
		{"full 1.2 client mode", full, messageMeta{Dest: "/topic/a/b", Sub: "s:1", HasSub: true, Ack: "7", Redelivered: true}, frame.V12,
			"MESSAGE\ndestination:/topic/a/b\nmessage-id:m-1\nsubscription:s\\c1\nack:7\nredelivered:true\n" +
				"content-type:text/plain\ncorrelation-id:c\\c1\nreply-to:/queue/r\nexpires:1777636800500\npriority:9\n" +
				"persistent:true\nx-origin-protocol:stomp\nx-origin-client-id:app-1\nx-origin-user:alice\n" +
				"traceparent:00-1-2-01\nb:2\nn:-3\nb:x\\ny\ncontent-length:2\n\nhi\x00"},
		{"1.0 without subscription id", goldenMessage(func(m *message.Message) {
			m.ID = "m-2"
			m.Annotations.Origin = message.Origin{Protocol: message.ProtocolMQTT}
			m.Headers = message.Headers{{Key: "k", Value: message.String("a\nb:c")}}
		}), messageMeta{Dest: "/queue/q"}, frame.V10,
			"MESSAGE\ndestination:/queue/q\nmessage-id:m-2\nx-origin-protocol:mqtt\nk:a b:c\ncontent-length:0\n\n\x00"},
		{"retained copy", goldenMessage(func(m *message.Message) {
			m.ID = "m-3"
			m.Annotations = message.Annotations{RetainedDelivery: true}
		}), messageMeta{Dest: "/topic/a/b", Sub: "0", HasSub: true}, frame.V12,
			"MESSAGE\ndestination:/topic/a/b\nmessage-id:m-3\nsubscription:0\nx-retained:true\ncontent-length:0\n\n\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendMessage(nil, tc.m, tc.md, tc.v))
			if got != tc.want {
				t.Fatalf("MESSAGE\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestMapRoundTrip checks that a STOMP → STOMP hop keeps what the sender
// wrote: application headers in order with repeats, and the mapped ones.
func TestMapRoundTrip(t *testing.T) {
	kv := []string{"content-type", "application/xml", "correlation-id", "x", "reply-to", "/amq/queue/back",
		"priority", "2", "persistent", "true", "traceparent", "00-a-b-01",
		"z", "1", "a", "2", "z", "3", "colon:key", "new\nline\\slash"}
	f := frame.New(frame.SEND, append([]string{"destination", "/topic/a/b"}, kv...)...)
	f.Body = []byte("<x/>")
	m, err := messageFromSend(f, sendInput{Addr: address.Address{"a", "b"}, Origin: goldenOrigin, Now: goldenNow, Version: frame.V12})
	if err != nil {
		t.Fatal(err)
	}
	m.ID = "id"
	raw := appendMessage(nil, m, messageMeta{Dest: "/topic/a/b", Sub: "0", HasSub: true}, frame.V12)
	p := frame.NewParser(frame.Limits{})
	p.SetVersion(frame.V12)
	var got *frame.Frame
	if err := p.Feed(raw, func(f *frame.Frame) error { got = f.Clone(); return nil }); err != nil || got == nil {
		t.Fatalf("re-parse: %v", err)
	}
	var app []string
	for _, h := range got.Headers {
		switch {
		case h.Key == hDestination || h.Key == hMessageID || h.Key == hSubscription || h.Key == hContentLength ||
			strings.HasPrefix(h.Key, originPrefix):
		default:
			app = append(app, h.Key, h.Value)
		}
	}
	if !reflect.DeepEqual(app, kv) || string(got.Body) != "<x/>" {
		t.Fatalf("round trip\n got %q\nwant %q", app, kv)
	}
}

func TestDestinations(t *testing.T) {
	for _, tc := range []struct {
		in       string
		kind     destKind
		addr     address.Address // parseAddress of the rest, nil if an error
		pattern  address.Pattern // parsePattern of the rest, nil if an error
		rendered string          // renderAddress(addr)
	}{
		{"/topic/a/b", destTopic, address.Address{"a", "b"}, address.Pattern{"a", "b"}, "a/b"},
		{"/topic/a/*/c", destTopic, address.Address{"a", "*", "c"}, address.Pattern{"a", "+", "c"}, "a/*/c"},
		{"/topic/a/+/#", destTopic, nil, address.Pattern{"a", "+", "#"}, ""},
		{"/topic/a%2Fb/50%25/x%zz", destTopic, address.Address{"a/b", "50%", "x%zz"}, address.Pattern{"a/b", "50%", "x%zz"}, "a%2Fb/50%25/x%25zz"},
		{"/topic/spBv1.0/g/NBIRTH/n", destTopic, address.Address{"spBv1.0", "g", "NBIRTH", "n"}, address.Pattern{"spBv1.0", "g", "NBIRTH", "n"}, "spBv1.0/g/NBIRTH/n"},
		{"/topic/a//b", destTopic, address.Address{"a", "", "b"}, address.Pattern{"a", "", "b"}, "a//b"},
		{"/topic/a/%23", destTopic, nil, nil, ""},
		{"/queue/orders", destQueue, address.Address{"orders"}, address.Pattern{"orders"}, "orders"},
		{"/amq/queue/orders", destQueue, address.Address{"orders"}, address.Pattern{"orders"}, "orders"},
		{"/temp-queue/r", destTemp, address.Address{"r"}, address.Pattern{"r"}, "r"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseDestination(tc.in)
			if err != nil || d.kind != tc.kind {
				t.Fatalf("parseDestination: %v %v", d, err)
			}
			a, err := parseAddress(d.rest)
			if tc.addr == nil {
				if err == nil {
					t.Fatalf("address %q accepted", a)
				}
			} else {
				if err != nil || !a.Equal(tc.addr) {
					t.Fatalf("address %q %v", a, err)
				}
				if r := renderAddress(a); r != tc.rendered {
					t.Fatalf("rendered %q", r)
				}
				if back, err := parseAddress(renderAddress(a)); err != nil || !back.Equal(a) {
					t.Fatalf("render does not parse back: %q %v", back, err)
				}
			}
			p, err := parsePattern(d.rest)
			if tc.pattern == nil {
				if err == nil {
					t.Fatalf("pattern %q accepted", p)
				}
			} else if err != nil || !p.Equal(tc.pattern) {
				t.Fatalf("pattern %q %v", p, err)
			}
		})
	}
	for _, bad := range []string{"/exchange/x", "queue/x", "/topic/", "/queue/", "", "/temp-queue/"} {
		if _, err := parseDestination(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStompLoss(t *testing.T) {
	tests := []struct {
		name string
		m    message.Message
		want message.Lost
	}{
		{"nothing to lose", message.Message{ContentType: "text/plain", CorrelationID: []byte("abc"),
			Headers: message.Headers{{Key: "k", Value: message.String("v")}}}, 0},
		{"subject and group", message.Message{Subject: "s", GroupID: "g"}, message.LostSubject | message.LostGroupID},
		{"binary correlation", message.Message{CorrelationID: []byte{0xff, 0x00}}, message.LostCorrelationID},
		{"typed header", message.Message{Headers: message.Headers{{Key: "n", Value: message.Int(7)}, {Key: "b", Value: message.Bool(true)}}},
			message.LostHeaderType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stompLoss(&tc.m); got != tc.want {
				t.Errorf("stompLoss = %b, want %b", got, tc.want)
			}
		})
	}
}
