package message

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
)

func TestUnmarshalGolden(t *testing.T) {
	for _, g := range messageGoldens {
		t.Run(g.name, func(t *testing.T) {
			var m Message
			if err := m.Unmarshal(g.raw); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Bare, g.bare) {
				t.Fatalf("bare:\ngot  % x\nwant % x", m.Bare, g.bare)
			}
			m.Bare = nil
			if !reflect.DeepEqual(m, g.msg) {
				t.Fatalf("got  %#v\nwant %#v", m, g.msg)
			}
		})
	}
}

func TestMarshalGolden(t *testing.T) {
	for _, g := range messageGoldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := g.msg.Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			if g.canonical && !bytes.Equal(got, g.raw) {
				t.Fatalf("got  % x\nwant % x", got, g.raw)
			}
			var m Message
			if err := m.Unmarshal(got); err != nil {
				t.Fatal(err)
			}
			m.Bare = nil
			if !reflect.DeepEqual(m, g.msg) {
				t.Fatalf("round trip: %#v", m)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for _, c := range badMessages {
		t.Run(c.name, func(t *testing.T) {
			var m Message
			if err := m.Unmarshal(c.raw); !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}

// TestForwardBareIdentical checks §3.2: an intermediary that decodes a
// message, changes its annotations and re-encodes it leaves the bare
// message byte-identical, even when the sender used non-compact encodings.
func TestForwardBareIdentical(t *testing.T) {
	bare := b(
		// properties with a wide uint group-sequence and explicit trailing nulls
		0x00, 0x53, 0x73, 0xd0, 0, 0, 0, 0x17, 0, 0, 0, 0x0d,
		0xa1, 0x01, "i", 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
		0x70, 0, 0, 0, 1, 0x40,
		0x00, 0x53, 0x75, 0xb0, 0, 0, 0, 2, "hi") // data as vbin32
	in := b(secHeader, bare, secFooter)
	var m Message
	if err := m.UnmarshalBinary(in); err != nil {
		t.Fatal(err)
	}
	if m.Properties.GroupSequence != encoding.Some[uint32](1) || string(m.Data[0]) != "hi" {
		t.Fatalf("fields not decoded: %#v", m.Properties)
	}
	m.Header.DeliveryCount++
	m.MessageAnnotations = Annotations{{Key: encoding.Symbol("x-opt-hop"), Value: "rosetta"}}
	out, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, bare) {
		t.Fatalf("bare message changed:\n% x", out)
	}
	// Clearing Bare re-encodes compactly from the fields.
	m.Bare = nil
	out2, _ := m.Marshal(nil)
	if bytes.Contains(out2, bare) || len(out2) >= len(out) {
		t.Fatal("expected a compact re-encoding")
	}
}
