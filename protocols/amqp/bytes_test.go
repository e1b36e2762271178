package amqp

import (
	"bytes"
	"encoding/binary"
	"testing"

	goamqp "github.com/Azure/go-amqp"

	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// Hand-made encodings, deliberately not the most compact ones, so that a
// broker that decoded and re-encoded the bare message would change it.
func described(code byte, v []byte) []byte { return append([]byte{0x00, 0x53, code}, v...) }

func describedSym(name string, v []byte) []byte {
	return append(append([]byte{0x00, 0xa3, byte(len(name))}, name...), v...)
}

func list32(items ...[]byte) []byte {
	var body []byte
	for _, it := range items {
		body = append(body, it...)
	}
	b := []byte{0xd0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	binary.BigEndian.PutUint32(b[5:], uint32(len(items)))
	return append(b, body...)
}

func map32(items ...[]byte) []byte {
	b := list32(items...)
	b[0] = 0xd1
	return b
}

func str32(s string) []byte {
	b := []byte{0xb1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(s)))
	return append(b, s...)
}

func sym32(s string) []byte {
	b := str32(s)
	b[0] = 0xb3
	return b
}

func vbin32(s string) []byte {
	b := str32(s)
	b[0] = 0xb0
	return b
}

func int32full(v int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0x71}, uint32(v))
}

// TestBareMessageByteIdentical sends bare messages with unusual encodings
// through the broker and checks that the receiver gets them byte for byte
// (§3.2: the bare message is immutable), whatever the body form.
func TestBareMessageByteIdentical(t *testing.T) {
	props := describedSym("amqp:properties:list", list32(str32("id-1"), []byte{0x40}, str32("/queues/bytes"),
		str32("subject"), []byte{0x40}, []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 42}, sym32("text/plain")))
	app := described(0x74, map32(str32("k"), int32full(7), str32("flag"), []byte{0x56, 0x01},
		str32("list"), list32(int32full(1), int32full(2))))
	bodies := []struct {
		name string
		body []byte
	}{
		{"data vbin32", described(0x75, vbin32("hello"))},
		{"two data sections", append(described(0x75, vbin32("a")), described(0x75, []byte{0xa0, 1, 'b'})...)},
		{"amqp-value str32", described(0x77, str32("text body"))},
		{"amqp-value binary", described(0x77, vbin32("bin"))},
		{"amqp-value map", described(0x77, map32(sym32("a"), int32full(1)))},
		{"amqp-sequence", append(described(0x76, list32(int32full(1))), described(0x76, list32(str32("x")))...)},
		{"no properties", nil},
	}
	b := newBroker(t, nil)
	in := b.raw(t)
	in.open(nil)
	in.begin(0)
	in.attachSender(0, 0, "bytes-in", "/queues/bytes", false)
	out := b.raw(t)
	out.open(nil)
	out.begin(0)
	out.attachReceiver(0, 0, "bytes-out", "/queues/bytes", 100)
	for i, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			bare := append(append([]byte(nil), props...), app...)
			if tc.body == nil {
				bare = described(0x75, vbin32("only a body"))
			} else {
				bare = append(bare, tc.body...)
			}
			header := described(0x70, list32([]byte{0x41})) // durable
			ann := described(0x72, map32(sym32("x-opt-custom"), str32("v")))
			payload := append(append(append([]byte(nil), header...), ann...), bare...)
			in.transfer(0, 0, uint32(i), false, payload)
			expectAccepted(t, in, uint32(i))

			tr, got := out.delivery()
			if settled := tr.Settled.Or(false); settled {
				t.Fatal("delivered settled")
			}
			var m amqpmsg.Message
			if err := m.Unmarshal(got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(m.Bare, bare) {
				t.Fatalf("bare message changed:\n got % x\nwant % x", m.Bare, bare)
			}
			if m.Header == nil || !m.Header.Durable {
				t.Errorf("header %+v", m.Header)
			}
			if v, _ := m.MessageAnnotations.Get(symbolKey("x-opt-custom")); v != "v" {
				t.Errorf("annotation x-opt-custom = %v", v)
			}
			if v, _ := m.MessageAnnotations.Get(symbolKey("x-origin-protocol")); v != "amqp" {
				t.Errorf("annotation x-origin-protocol = %v", v)
			}
		})
	}
}

// TestGoAMQPBareMessage sends with go-amqp and compares the bare message
// the broker forwards with the one go-amqp encoded.
func TestGoAMQPBareMessage(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	id := "m-1"
	subject := "s"
	msg := &goamqp.Message{
		Properties:            &goamqp.MessageProperties{MessageID: id, Subject: &subject, CorrelationID: []byte{1, 2, 3}},
		ApplicationProperties: map[string]any{"n": int64(1)}, // one key: go-amqp encodes a Go map in random order
		Value:                 []any{"a", int32(1)},
	}
	want, err := msg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var wm amqpmsg.Message
	if err := wm.Unmarshal(want); err != nil {
		t.Fatal(err)
	}
	send(t, sender(t, s, "/queues/goamqp", nil), msg)
	out := b.raw(t)
	out.open(nil)
	out.begin(0)
	out.attachReceiver(0, 0, "r", "/queues/goamqp", 1)
	_, got := out.delivery()
	var gm amqpmsg.Message
	if err := gm.Unmarshal(got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gm.Bare, wm.Bare) {
		t.Fatalf("bare changed:\n got % x\nwant % x", gm.Bare, wm.Bare)
	}
}
