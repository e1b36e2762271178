package mqtt

import (
	"bytes"
	"testing"
	"time"
)

// TestPublishDirect checks the QoS 0/1 PUBLISH handling that replaces
// mochi's (gateway.publishDirect), on the wire: the PUBACK bytes, an
// inbound topic alias set up and then used alone, a refusal, an invalid
// topic dropped, and a QoS 1 publish while a QoS 2 one is in flight (left
// to mochi).
func TestPublishDirect(t *testing.T) {
	b := startBroker(t)
	sub := connectV5(t, b.addr, nil)
	sub.subscribe(t, "pd/#", 1)
	c := dialRaw(t, b.addr)
	c.connectWith(t, 5, clientID("pd"), true, []byte{0x03, 0x22, 0x00, 0x08}) // Topic Alias Maximum 8 (ours)
	// props is an MQTT 5 property block.
	props := func(p ...byte) []byte { return append([]byte{byte(len(p))}, p...) }
	id := func(n uint16) []byte { return []byte{byte(n >> 8), byte(n)} }
	send := func(p []byte) {
		t.Helper()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want []byte) {
		t.Helper()
		p := c.read(t)
		if got := append([]byte{p.first, byte(len(p.body))}, p.body...); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want %x", got, want)
		}
	}
	delivered := func(topic, payload string) {
		t.Helper()
		if m := sub.In.next(t, recvTimeout); m.Topic != topic || string(m.Payload) != payload {
			t.Fatalf("delivered %v, want %s %q", m, topic, payload)
		}
	}

	// QoS 1 with a new alias: PUBACK is the bare identifier.
	send(rawPacket(0x32, rawStr("pd/a"), id(1), props(0x23, 0x00, 0x03), []byte("one")))
	expect([]byte{0x40, 0x02, 0x00, 0x01})
	delivered("pd/a", "one")
	// The alias alone, at QoS 0 and 1.
	send(rawPacket(0x30, rawStr(""), props(0x23, 0x00, 0x03), []byte("two")))
	delivered("pd/a", "two")
	send(rawPacket(0x32, rawStr(""), id(2), props(0x23, 0x00, 0x03), []byte("three")))
	expect([]byte{0x40, 0x02, 0x00, 0x02})
	delivered("pd/a", "three")
	// Refused by the ACL: 0x87 with a reason string.
	send(rawPacket(0x32, rawStr("denied/x"), id(3), props(), []byte("no")))
	if p := c.read(t); p.first != 0x40 || len(p.body) < 3 || p.body[1] != 3 || p.body[2] != 0x87 {
		t.Fatalf("want PUBACK 0x87 for id 3, got %#x %x", p.first, p.body)
	}
	// A shared-subscription name is no topic: dropped, as mochi does.
	send(rawPacket(0x30, rawStr("$share/g/pd/x"), props(), []byte("dropped")))
	// QoS 2 in flight (PUBREC not answered by PUBREL yet), then QoS 1.
	send(rawPacket(0x34, rawStr("pd/q2"), id(4), props(), []byte("four")))
	expect([]byte{0x50, 0x02, 0x00, 0x04})
	delivered("pd/q2", "four")
	send(rawPacket(0x32, rawStr("pd/b"), id(5), props(), []byte("five")))
	expect([]byte{0x40, 0x02, 0x00, 0x05})
	delivered("pd/b", "five")
	send(rawPacket(0x62, id(4))) // PUBREL
	expect([]byte{0x70, 0x02, 0x00, 0x04})
	send(rawPacket(0x32, rawStr("pd/c"), id(6), props(), []byte("six")))
	expect([]byte{0x40, 0x02, 0x00, 0x06})
	delivered("pd/c", "six")
	sub.In.quiet(t, 100*time.Millisecond)
}
