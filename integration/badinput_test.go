package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestBadInput writes hand-made bad packets on raw TCP connections: each
// connection must be closed (MQTT 5 §4.13, 3.1.1 §4.8), optionally after a
// DISCONNECT with the right reason code, while the broker stays up and an
// unrelated subscriber keeps receiving.
func TestBadInput(t *testing.T) {
	const maxPacket = 1024
	b := startBroker(t, brokerOpts{Config: maxPacketConfig(maxPacket)})

	witness := connectV5(t, b.MQTTAddr, nil)
	witness.subscribe(t, "witness/#", 1)
	pub := connectV5(t, b.MQTTAddr, nil)
	seq := 0
	checkWitness := func(t *testing.T) {
		t.Helper()
		seq++
		select {
		case <-witness.Done():
			t.Fatal("the witness client was disconnected")
		default:
		}
		topic := fmt.Sprintf("witness/%d", seq) // not t.Name(): case names hold + and #
		pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("alive")})
		if m := witness.In.next(t, recvTimeout); m.Topic != topic {
			t.Errorf("witness got %v, want %s", m, topic)
		}
	}

	big := bytes.Repeat([]byte{'x'}, 2*maxPacket)
	cases := []struct {
		name    string
		level   byte   // 0: send the bad bytes without a CONNECT first
		bad     []byte // written after the CONNACK
		reasons []byte // DISCONNECT reason codes allowed before the close; none for 3.1.1
		connack []byte // CONNACK refusal codes allowed before the close
	}{
		// MQTT-3.1.0-1: the first packet must be CONNECT. 'G' = 0x47 is
		// a PUBACK with reserved flags set.
		{"http request instead of CONNECT", 0, []byte("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n"), nil, nil},
		{"zero bytes instead of CONNECT", 0, []byte{0x00, 0x00, 0x00, 0x00}, nil, nil},
		// MQTT-3.1.2-1: the protocol name must be "MQTT"; the server
		// closes the connection, after a CONNACK 0x84 Unsupported
		// Protocol Version if it likes, or 0x81/0x82 (§3.2.2.2).
		{"CONNECT with protocol name MQTX", 0, packet(0x10, str("MQTX"), []byte{0x05, 0x02, 0x00, 0x3C, 0x00}, str("bad-name")), nil, []byte{0x84, 0x81, 0x82}},
		// §2.1.2: packet type 0 is Reserved (Forbidden).
		{"v5 packet type 0", 5, []byte{0x00, 0x00}, []byte{0x81, 0x82}, nil},
		// §1.5.5: a Variable Byte Integer has at most 4 bytes.
		{"v5 five-byte remaining length", 5, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{0x81}, nil},
		// §2.1.3, MQTT-2.1.3-1: SUBSCRIBE's fixed-header flags must be
		// 0010; anything else is a Malformed Packet.
		{"v5 subscribe with flags 0000", 5, packet(0x80, []byte{0x00, 0x01, 0x00}, str("a"), []byte{0x01}), []byte{0x81}, nil},
		{"v3 subscribe with flags 0000", 4, packet(0x80, []byte{0x00, 0x01}, str("a"), []byte{0x01}), nil, nil},
		// §3.2.2.3.6 / §4.13: a packet larger than the Maximum Packet
		// Size the server announced gets 0x95 Packet too large.
		{"v5 packet too large", 5, rawPublishQoS0(5, "big", big), []byte{0x95}, nil},
		{"v3 packet too large", 4, rawPublishQoS0(4, "big", big), nil, nil},
		// MQTT-3.3.2-2: no wildcards in a PUBLISH topic; §3.3.2.1 0x90
		// Topic Name invalid.
		{"v5 publish to a/+/b", 5, rawPublishQoS0(5, "a/+/b", []byte("w")), []byte{0x90}, nil},
		{"v5 publish to #", 5, rawPublishQoS0(5, "#", []byte("w")), []byte{0x90}, nil},
		{"v3 publish to a/#", 4, rawPublishQoS0(4, "a/#", []byte("w")), nil, nil},
		// MQTT-1.5.4-1: ill-formed UTF-8 is a Malformed Packet (0x81);
		// 3.1.1 MQTT-1.5.3-1: the server must close the connection.
		{"v5 topic with byte 0xff", 5, rawPublishQoS0(5, "a/\xff", []byte("u")), []byte{0x81}, nil},
		{"v5 topic with UTF-16 surrogate", 5, rawPublishQoS0(5, "a/\xed\xa0\x80", []byte("u")), []byte{0x81}, nil},
		// MQTT-1.5.4-2: U+0000 is not allowed in a UTF-8 Encoded String.
		{"v5 topic with NUL", 5, rawPublishQoS0(5, "a/\x00b", []byte("u")), []byte{0x81}, nil},
		{"v3 topic with byte 0xff", 4, rawPublishQoS0(4, "a/\xff", []byte("u")), nil, nil},
		// MQTT-3.3.1-4: a PUBLISH must not have both QoS bits set; 0x36
		// is PUBLISH with QoS 3.
		{"v5 publish QoS 3", 5, packet(0x36, str("a/b"), []byte{0x00, 0x01, 0x00}, []byte("q")), []byte{0x81}, nil},
		{"v3 publish QoS 3", 4, packet(0x36, str("a/b"), []byte{0x00, 0x01}, []byte("q")), nil, nil},
		// MQTT-3.1.0-2: a second CONNECT is a Protocol Error (0x82).
		{"v5 second CONNECT", 5, rawConnect(5, "again"), []byte{0x82}, nil},
		{"v3 second CONNECT", 4, rawConnect(4, "again"), nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.MQTTAddr)
			if tc.level != 0 {
				ca := c.connect(t, tc.level, clientID("raw"))
				if tc.level == 5 && tc.name == "v5 packet too large" {
					// MQTT 5 §3.2.2.3.6: the CONNACK announces the limit.
					v := connackProperty(t, ca.Body, 0x27)
					if v == nil {
						t.Errorf("CONNACK has no Maximum Packet Size property; want %d", maxPacket)
					} else if got := binary.BigEndian.Uint32(v); got != maxPacket {
						t.Errorf("CONNACK Maximum Packet Size %d, want %d", got, maxPacket)
					}
				}
			}
			// The server may close while the packet is still being
			// written (the oversized one); that is fine.
			_, _ = c.Write(tc.bad)
			c.expectClosedWith(t, tc.reasons, tc.connack)
			checkWitness(t)
		})
	}

	t.Run("broker healthy", func(t *testing.T) {
		if status, _, body := b.httpGet(t, "/healthz"); status != http.StatusOK {
			t.Errorf("/healthz: %d %s", status, body)
		}
		// A packet just under the limit is still accepted.
		under := connectV5(t, b.MQTTAddr, nil)
		under.publish(t, &paho.Publish{Topic: "witness/under", QoS: 1, Payload: bytes.Repeat([]byte{'y'}, maxPacket-64)})
		if m := witness.In.next(t, recvTimeout); m.Topic != "witness/under" {
			t.Errorf("witness got %v, want witness/under", m)
		}
	})
}
