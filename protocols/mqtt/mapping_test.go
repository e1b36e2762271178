package mqtt

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

var origin = message.Origin{Protocol: message.ProtocolMQTT, ClientID: "c1", ConnID: "m1", User: "alice"}

func TestMessageFromPublish(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName:   "a/b",
		Payload:     []byte("body"),
		Properties: packets.Properties{
			ContentType:           "text/plain",
			ResponseTopic:         "r/1",
			CorrelationData:       []byte{0, 1},
			MessageExpiryInterval: 60,
			PayloadFormat:         1, PayloadFormatFlag: true,
			User: []packets.UserProperty{{Key: "x-priority", Val: "8"}, {Key: "k", Val: "v"}, {Key: "traceparent", Val: "00-t"}, {Key: "k", Val: "w"}},
		},
	}
	m := messageFromPublish(&pk, address.MustParseMQTT("a/b"), origin, now)
	switch {
	case !m.Durable || m.Annotations.QoS != 1 || !m.Annotations.Retain:
		t.Errorf("delivery fields %+v", m)
	case m.Priority != 8:
		t.Errorf("priority %d, want 8 from x-priority", m.Priority)
	case m.Annotations.Trace != "00-t":
		t.Errorf("trace %q", m.Annotations.Trace)
	case !m.Expires.Equal(now.Add(time.Minute)):
		t.Errorf("expires %v", m.Expires)
	case m.ContentType != "text/plain" || m.ReplyTo != "r/1" || !bytes.Equal(m.CorrelationID, []byte{0, 1}):
		t.Errorf("properties %+v", m)
	case len(m.Headers) != 4 || m.Headers[3].Value.Str() != "w":
		t.Errorf("headers %+v", m.Headers)
	case m.Annotations.Origin != origin:
		t.Errorf("origin %+v", m.Annotations.Origin)
	}
	if v, ok := m.Annotations.Native.Get(nativePayloadFormat); !ok || v.IntValue() != 1 {
		t.Errorf("payload format annotation %v %v", v, ok)
	}
	out, lossy := publishFromMessage(m, 1, false, true, now.Add(1500*time.Millisecond))
	if lossy.Count() != 0 {
		t.Errorf("lossy %d for an MQTT→MQTT hop", lossy.Count())
	}
	if out.Properties.MessageExpiryInterval != 59 {
		t.Errorf("expiry %d, want 59 (60 s less 1.5 s, rounded up)", out.Properties.MessageExpiryInterval)
	}
	if !slices.Equal(out.Properties.User, pk.Properties.User) {
		t.Errorf("user properties %v", out.Properties.User)
	}
}

func TestPublishFromMessage(t *testing.T) {
	now := time.Now()
	amqp := message.Origin{Protocol: message.ProtocolAMQP, ClientID: "ctr", User: "bob"}
	for _, tc := range []struct {
		name      string
		m         message.Message
		v5        bool
		wantUser  []packets.UserProperty
		wantLossy int
	}{
		{
			name: "amqp typed headers and priority",
			m: message.Message{Priority: 9, Headers: message.Headers{{Key: "n", Value: message.Int(1)}, {Key: "s", Value: message.String("x")}},
				Annotations: message.Annotations{Origin: amqp, Trace: "00-abc"}},
			v5: true,
			wantUser: []packets.UserProperty{{Key: "n", Val: "1"}, {Key: "s", Val: "x"}, {Key: "x-priority", Val: "9"},
				{Key: "traceparent", Val: "00-abc"}, {Key: "x-origin-protocol", Val: "amqp"}, {Key: "x-origin-client-id", Val: "ctr"}, {Key: "x-origin-user", Val: "bob"}},
			wantLossy: 1,
		},
		{
			name:      "subject is lost",
			m:         message.Message{Priority: 4, Subject: "s", Annotations: message.Annotations{Origin: origin}},
			v5:        true,
			wantLossy: 1,
		},
		{
			name:      "v3 loses properties",
			m:         message.Message{Priority: 4, ContentType: "a/b", Annotations: message.Annotations{Origin: origin}},
			wantLossy: 1,
		},
		{
			name:      "invalid header text skipped",
			m:         message.Message{Priority: 4, Headers: message.Headers{{Key: "k", Value: message.String("a\x00b")}}, Annotations: message.Annotations{Origin: origin}},
			v5:        true,
			wantUser:  []packets.UserProperty{},
			wantLossy: 1,
		},
		{
			name:      "wildcard reply-to dropped",
			m:         message.Message{Priority: 4, ReplyTo: "a/#", Annotations: message.Annotations{Origin: origin}},
			v5:        true,
			wantLossy: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.Address = address.MustParseMQTT("t")
			pk, lossy := publishFromMessage(&tc.m, 0, false, tc.v5, now)
			if lossy.Count() != tc.wantLossy {
				t.Errorf("lossy %d, want %d", lossy.Count(), tc.wantLossy)
			}
			if !slices.Equal(pk.Properties.User, tc.wantUser) {
				t.Errorf("user %v, want %v", pk.Properties.User, tc.wantUser)
			}
			if !tc.v5 && (pk.Properties.ContentType != "" || pk.Properties.User != nil) {
				t.Errorf("properties for a 3.1.1 client: %+v", pk.Properties)
			}
		})
	}
}

func TestRemainingSeconds(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		left time.Duration
		want uint32
	}{
		{-time.Second, 1}, {0, 1}, {time.Millisecond, 1}, {time.Second, 1},
		{time.Second + time.Nanosecond, 2}, {3600 * time.Second, 3600}, {1 << 62, 1<<32 - 1},
	} {
		if got := remainingSeconds(now.Add(tc.left), now); got != tc.want {
			t.Errorf("left %v: %d, want %d", tc.left, got, tc.want)
		}
	}
}

// FuzzMappingRoundTrip checks that a PUBLISH with any valid MQTT 5
// properties survives packet → canonical message → packet unchanged
// (DESIGN.md §2: an MQTT→MQTT hop is lossless), and that nothing panics on
// any input.
func FuzzMappingRoundTrip(f *testing.F) {
	f.Add("a/b", []byte("payload"), "text/plain", "reply/to", []byte{1, 2}, uint32(60), byte(1), true, "k\x01v\x02x-priority\x017\x02k\x01w", byte(1), true)
	f.Add("$SYS/x", []byte{}, "", "", []byte(nil), uint32(0), byte(0), false, "", byte(0), false)
	f.Add("a//b", []byte{0xff}, "ç", "r/+", []byte{0}, uint32(1<<31), byte(7), true, "traceparent\x0100-x\x02\x01", byte(2), true)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, ct, rt string, corr []byte, expiry uint32, pf byte, pfFlag bool, user string, qos byte, retain bool) {
		qos %= 3
		var ups []packets.UserProperty
		if user != "" {
			for _, kv := range strings.Split(user, "\x02") {
				k, v, _ := strings.Cut(kv, "\x01")
				ups = append(ups, packets.UserProperty{Key: k, Val: v})
			}
		}
		in := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
			TopicName:   topic, Payload: payload,
			Properties: packets.Properties{ContentType: ct, ResponseTopic: rt, CorrelationData: corr,
				MessageExpiryInterval: expiry, PayloadFormat: pf, PayloadFormatFlag: pfFlag, User: ups},
		}
		a, _, err := publishTarget(topic)
		if err != nil {
			return
		}
		now := time.Unix(1_700_000_000, 0)
		m := messageFromPublish(&in, a, origin, now)
		out, lossy := publishFromMessage(m, qos, retain, true, now)

		// What MQTT itself allows on the wire: the properties a real client
		// could have sent.
		valid := validStringOrEmpty(ct) && validStringOrEmpty(rt) && !strings.ContainsAny(rt, "+#") &&
			len(corr) <= maxString && (!pfFlag || pf <= 1) && address.Address(a).MQTTSafe()
		for _, u := range ups {
			valid = valid && validString(u.Key) && validStringOrEmpty(u.Val)
		}
		if !valid {
			return
		}
		if lossy.Count() != 0 {
			t.Errorf("lossy %d for a valid MQTT 5 publish", lossy.Count())
		}
		if out.TopicName != topic && !hasPrefixFold(topic, queuePrefix) {
			t.Errorf("topic %q → %q", topic, out.TopicName)
		}
		if !bytes.Equal(out.Payload, payload) || out.FixedHeader.Qos != qos || out.FixedHeader.Retain != retain {
			t.Errorf("payload/qos/retain changed")
		}
		p := out.Properties
		if p.ContentType != ct || p.ResponseTopic != rt || !bytes.Equal(p.CorrelationData, corr) {
			t.Errorf("properties %+v", p)
		}
		if p.PayloadFormatFlag != pfFlag || p.PayloadFormat != map[bool]byte{true: pf, false: 0}[pfFlag] {
			t.Errorf("payload format %v/%d, want %v/%d", p.PayloadFormatFlag, p.PayloadFormat, pfFlag, pf)
		}
		if p.MessageExpiryInterval != expiry {
			t.Errorf("expiry %d, want %d", p.MessageExpiryInterval, expiry)
		}
		if len(ups) == 0 && len(p.User) == 0 {
			return
		}
		if !slices.Equal(p.User, ups) {
			t.Errorf("user properties\n got %q\nwant %q", p.User, ups)
		}
	})
}

// TestMapReplyTo is the MQTT half of docs/mapping.md "Reply-to": the
// Response Topic is the canonical reply-to as it stands, in both
// directions, so an MQTT 5 responder publishes to it unchanged and reaches
// a STOMP requester's queue or topic.
func TestMapReplyTo(t *testing.T) {
	stomp := message.Origin{Protocol: message.ProtocolSTOMP, ClientID: "s1"}
	for _, tc := range []struct {
		name    string
		replyTo string // canonical, as another front-end stores it
		want    string // Response Topic
		lossy   int
	}{
		{"topic", "replies/c1", "replies/c1", 0},
		{"queue", "$queue/rpc", "$queue/rpc", 0},
		{"STOMP temporary queue", "$queue/$tmp/stomp/ab-1-cd/r", "$queue/$tmp/stomp/ab-1-cd/r", 0},
		{"a STOMP sender's foreign destination, as written", "/exchange/amq.direct/x", "/exchange/amq.direct/x", 0},
		{"not a topic name", "a/+", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &message.Message{Address: address.MustParseMQTT("t"), Priority: 4, ReplyTo: tc.replyTo,
				Annotations: message.Annotations{Origin: stomp,
					Native: message.Headers{{Key: "stomp.reply-to", Value: message.String("/queue/ignored")}}}}
			pk, lossy := publishFromMessage(m, 1, false, true, time.Now())
			if pk.Properties.ResponseTopic != tc.want || lossy.Count() != tc.lossy {
				t.Fatalf("Response Topic %q lossy %d, want %q lossy %d", pk.Properties.ResponseTopic, lossy.Count(), tc.want, tc.lossy)
			}
			if tc.lossy != 0 {
				return
			}
			// Ingress keeps it as written: the Response Topic an MQTT
			// requester sets is already canonical.
			in := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t",
				Properties: packets.Properties{ResponseTopic: tc.want}}
			if got := messageFromPublish(&in, address.MustParseMQTT("t"), origin, time.Now()).ReplyTo; got != tc.replyTo {
				t.Fatalf("ingress ReplyTo %q, want %q", got, tc.replyTo)
			}
			// And a responder's publish to it lands where the requester
			// listens.
			a, ensure, err := publishTarget(tc.want)
			want, queue, perr := address.ParseReplyTo(tc.replyTo)
			if err != nil || perr != nil || !a.Equal(want) || ensure != (queue && !address.IsTemp(want)) {
				t.Fatalf("publishTarget(%q) = %q, %v, %v; want %q", tc.want, a, ensure, err, want)
			}
		})
	}
}
