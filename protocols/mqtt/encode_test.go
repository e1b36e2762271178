package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// encodeCases are PUBLISH packets as the session writer builds them.
func encodeCases() []struct {
	name string
	v5   bool
	pk   packets.Packet
} {
	pub := func(qos byte, topic string, payload string) packets.Packet {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: []byte(payload)}
		if qos > 0 {
			pk.PacketID = 0x1234
		}
		return pk
	}
	full := pub(1, "a/b/c", "hello")
	full.FixedHeader.Dup, full.FixedHeader.Retain = true, true
	full.Properties = packets.Properties{
		PayloadFormat: 1, PayloadFormatFlag: true,
		MessageExpiryInterval:  3600,
		ContentType:            "application/json",
		ResponseTopic:          "reply/to",
		CorrelationData:        []byte{0, 1, 2},
		SubscriptionIdentifier: []int{1, 127, 128, 16384, 268435455},
		User:                   []packets.UserProperty{{Key: "k", Val: "v"}, {Key: "k", Val: ""}, {Key: "x-priority", Val: "7"}},
	}
	alias := pub(0, "", "p")
	alias.Properties.TopicAlias, alias.Properties.TopicAliasFlag = 9, true
	aliasNew := pub(2, "t/x", "p")
	aliasNew.Properties.TopicAlias, aliasNew.Properties.TopicAliasFlag = 10, true
	big := pub(0, "big", strings.Repeat("x", 20000)) // a two-byte then three-byte remaining length
	return []struct {
		name string
		v5   bool
		pk   packets.Packet
	}{
		{"v3 qos0", false, pub(0, "b/t", "0123456789")},
		{"v3 qos1", false, pub(1, "b/t", "x")},
		{"v3 qos2 empty payload", false, pub(2, "b", "")},
		{"v3 drops properties", false, full},
		{"v5 qos0 no properties", true, pub(0, "b/t", "x")},
		{"v5 every property", true, full},
		{"v5 known alias, empty topic", true, alias},
		{"v5 new alias", true, aliasNew},
		{"v5 large payload", true, big},
		{"v3 large payload", false, big},
	}
}

// TestAppendPublish checks the writer's own PUBLISH encoding against
// mochi's: mochi's decoder reads it back to the same packet, and mochi's
// encoder produces a packet of the same size (the properties may come in
// another order).
func TestAppendPublish(t *testing.T) {
	for _, tc := range encodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			ver := byte(4)
			if tc.v5 {
				ver = 5
			}
			pk := tc.pk
			got, size, fits, dropped := appendPublish([]byte("prefix"), &pk, nil, tc.v5, 0)
			if !fits || dropped {
				t.Fatalf("fits %v dropped %v", fits, dropped)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) || len(got)-6 != size {
				t.Fatalf("size %d, appended %d", size, len(got)-6)
			}
			got = got[6:]

			want := tc.pk
			want.ProtocolVersion = ver
			want.Mods.AllowResponseInfo = true
			var wb bytes.Buffer
			if err := want.PublishEncode(&wb); err != nil {
				t.Fatal(err)
			}
			if len(got) != wb.Len() {
				t.Errorf("size %d, mochi encodes %d bytes:\n got  %x\n want %x", len(got), wb.Len(), got, wb.Bytes())
			}
			back := decodePublish(t, got, ver)
			if !tc.v5 {
				want.Properties = packets.Properties{}
			}
			if diff := comparePublish(back, want); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// TestAppendPublishTopic checks that a topic written from the address is
// its MQTT rendering.
func TestAppendPublishTopic(t *testing.T) {
	for _, topic := range []string{"a", "a/b/c", "/lead", "trail/", "a//b", "ünï/çødé"} {
		a, err := address.ParseMQTTTopic(topic)
		if err != nil {
			t.Fatal(err)
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, Payload: []byte("p")}
		b, _, _, _ := appendPublish(nil, &pk, a, true, 0)
		if back := decodePublish(t, b, 5); back.TopicName != topic {
			t.Errorf("topic %q came back as %q", topic, back.TopicName)
		}
	}
}

// TestAppendPublishMaxSize checks the client's Maximum Packet Size: user
// properties go first, then the packet (MQTT-3.1.2-25).
func TestAppendPublishMaxSize(t *testing.T) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: bytes.Repeat([]byte{'x'}, 50),
		Properties: packets.Properties{User: []packets.UserProperty{{Key: "key", Val: strings.Repeat("v", 40)}}}}
	_, full, _, _ := appendPublish(nil, &pk, nil, true, 0)
	_, bare, _, _ := appendPublish(nil, &pk, nil, true, uint32(full-1))
	for _, tc := range []struct {
		max           uint32
		fits, dropped bool
		size          int
	}{
		{0, true, false, full},
		{uint32(full), true, false, full},
		{uint32(full - 1), true, true, bare},
		{uint32(bare), true, true, bare},
		{uint32(bare - 1), false, true, 0},
	} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			b, size, fits, dropped := appendPublish(nil, &pk, nil, true, tc.max)
			if fits != tc.fits || dropped != tc.dropped || size != tc.size || len(b) != size {
				t.Errorf("max %d: fits %v dropped %v size %d len %d, want %v %v %d", tc.max, fits, dropped, size, len(b), tc.fits, tc.dropped, tc.size)
			}
			if fits && len(decodePublish(t, b, 5).Properties.User) != map[bool]int{true: 0, false: 1}[dropped] {
				t.Error("user properties not as reported")
			}
		})
	}
}

func decodePublish(t testing.TB, b []byte, ver byte) packets.Packet {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	first, _ := r.ReadByte()
	var pk packets.Packet
	pk.ProtocolVersion = ver
	if err := pk.FixedHeader.Decode(first); err != nil {
		t.Fatal(err)
	}
	rem, _, err := packets.DecodeLength(r)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, rem)
	if n, _ := io.ReadFull(r, body); n != rem || r.Buffered() != 0 {
		t.Fatalf("remaining length %d, body %d, left %d", rem, n, r.Buffered())
	}
	pk.FixedHeader.Remaining = rem
	if err := pk.PublishDecode(body); err != nil {
		t.Fatalf("mochi decodes %x: %v", b, err)
	}
	return pk
}

func comparePublish(got, want packets.Packet) string {
	g, w := got.Properties, want.Properties
	switch {
	case got.FixedHeader.Qos != want.FixedHeader.Qos || got.FixedHeader.Dup != want.FixedHeader.Dup || got.FixedHeader.Retain != want.FixedHeader.Retain:
		return fmt.Sprintf("fixed header %+v, want %+v", got.FixedHeader, want.FixedHeader)
	case got.TopicName != want.TopicName || got.PacketID != want.PacketID || !bytes.Equal(got.Payload, want.Payload):
		return fmt.Sprintf("topic %q id %d payload %q, want %q %d %q", got.TopicName, got.PacketID, got.Payload, want.TopicName, want.PacketID, want.Payload)
	case g.PayloadFormatFlag != w.PayloadFormatFlag || g.PayloadFormat != w.PayloadFormat || g.MessageExpiryInterval != w.MessageExpiryInterval ||
		g.ContentType != w.ContentType || g.ResponseTopic != w.ResponseTopic || !bytes.Equal(g.CorrelationData, w.CorrelationData) ||
		g.TopicAlias != w.TopicAlias || fmt.Sprint(g.SubscriptionIdentifier) != fmt.Sprint(w.SubscriptionIdentifier) ||
		fmt.Sprint(g.User) != fmt.Sprint(w.User):
		return fmt.Sprintf("properties %+v, want %+v", g, w)
	}
	return ""
}

// FuzzAppendPublish checks that whatever fillPublish makes of a message,
// mochi decodes the encoding back to it.
func FuzzAppendPublish(f *testing.F) {
	f.Add("a/b", []byte("body"), "text/plain", "re/ply", []byte("corr"), "k", "v", byte(1), uint16(7), true)
	f.Add("x", []byte{}, "", "", []byte(nil), "", "", byte(0), uint16(0), false)
	f.Fuzz(func(t *testing.T, topic string, body []byte, ct, replyTo string, corr []byte, key, val string, qos byte, id uint16, v5 bool) {
		a, err := address.ParseMQTTTopic(topic)
		if err != nil {
			return
		}
		qos %= 3
		m := &message.Message{Address: a, Body: body, ContentType: ct, ReplyTo: replyTo, CorrelationID: corr, Priority: message.DefaultPriority,
			Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolMQTT}}}
		if key != "" {
			m.Headers = message.Headers{{Key: key, Value: message.String(val)}}
		}
		var pk packets.Packet
		fillPublish(&pk, m, qos, false, v5, time.Now())
		if qos > 0 {
			pk.PacketID = id | 1
		}
		b, size, fits, _ := appendPublish(nil, &pk, a, v5, 0)
		if !fits || size != len(b) {
			t.Fatalf("fits %v size %d len %d", fits, size, len(b))
		}
		ver := byte(4)
		if v5 {
			ver = 5
		}
		want := pk
		want.TopicName = topic
		back := decodePublish(t, b, ver)
		if diff := comparePublish(back, want); diff != "" {
			t.Error(diff)
		}
	})
}

// BenchmarkAppendPublish measures encoding one delivery into the writer's
// buffer: 0 allocs/op.
func BenchmarkAppendPublish(b *testing.B) {
	a, _ := address.ParseMQTTTopic("bench/topic/x")
	for _, size := range []int{100, 1024} {
		for _, v5 := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dB/v5=%v", size, v5), func(b *testing.B) {
				m := &message.Message{Address: a, Body: bytes.Repeat([]byte{'x'}, size), Priority: message.DefaultPriority,
					Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolMQTT}}}
				var pk packets.Packet
				buf := make([]byte, 0, 64<<10)
				now := time.Now()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					pk = packets.Packet{}
					fillPublish(&pk, m, 0, false, v5, now)
					buf, _, _, _ = appendPublish(buf[:0], &pk, m.Address, v5, 0)
				}
			})
		}
	}
}
