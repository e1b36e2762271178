package integration

import (
	"fmt"
	"testing"
)

// TestQoS2ExactlyOnce resends a QoS 2 PUBLISH with DUP set before
// releasing it, as a client does after losing the PUBREC: the broker must
// deliver the message once (MQTT 5 §4.3.3, MQTT-4.3.3-10/11: the receiver
// stores the Packet Identifier until PUBREL and must not deliver a second
// copy; MQTT 3.1.1 §4.3.3 likewise).
func TestQoS2ExactlyOnce(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "eo/#", 2)

	for _, level := range []byte{4, 5} {
		t.Run(fmt.Sprintf("level %d", level), func(t *testing.T) {
			c := dialRaw(t, b.MQTTAddr)
			c.connect(t, level, clientID(fmt.Sprintf("eo%d", level)))
			props := []byte{}
			if level == 5 {
				props = []byte{0x00} // property length 0 (§3.3.2.3)
			}
			topic := fmt.Sprintf("eo/%d", level)
			const id = 0x0107
			publish := func(first byte, payload string) []byte {
				// 0x34: PUBLISH QoS 2; 0x3C: the same with DUP (§3.3.1).
				return packet(first, str(topic), []byte{id >> 8, id & 0xff}, props, []byte(payload))
			}
			expect := func(typ byte, step string) {
				t.Helper()
				p, err := c.read(opTimeout)
				if err != nil {
					t.Fatalf("%s: waiting for packet type %d: %v", step, typ, err)
				}
				if p.Type() != typ || len(p.Body) < 2 || int(p.Body[0])<<8|int(p.Body[1]) != id {
					t.Fatalf("%s: got packet type %d body %x, want type %d for id %#x", step, p.Type(), p.Body, typ, id)
				}
				if len(p.Body) > 2 && p.Body[2] >= 0x80 {
					t.Errorf("%s: packet type %d carries reason %#x, want success", step, typ, p.Body[2])
				}
			}
			mustWrite := func(b []byte) {
				t.Helper()
				if _, err := c.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			mustWrite(publish(0x34, "once"))
			expect(5, "PUBREC for the PUBLISH")
			mustWrite(publish(0x3C, "once"))
			expect(5, "PUBREC for the DUP resend (MQTT-4.3.3-10)")
			mustWrite([]byte{0x62, 0x02, id >> 8, id & 0xff}) // PUBREL (§3.6: flags 0010)
			expect(7, "PUBCOMP")
			// The identifier is free again: a new message with it is a new
			// message (MQTT-4.3.3-12 / 3.1.1 §4.3.3).
			mustWrite(publish(0x34, "twice"))
			expect(5, "PUBREC for the identifier reused after PUBCOMP")
			mustWrite([]byte{0x62, 0x02, id >> 8, id & 0xff})
			expect(7, "second PUBCOMP")

			got := sub.In.collect(t, 2, recvTimeout)
			if string(got[0].Payload) != "once" || string(got[1].Payload) != "twice" {
				t.Errorf("subscriber got %v, want once then twice", got)
			}
			sub.In.quiet(t, quietPeriod)
		})
	}
}
