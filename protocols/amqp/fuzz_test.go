package amqp

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// frameGen turns fuzz bytes into a sequence of frames that are mostly
// well-formed, so that the fuzzer explores the connection, session and
// link state machines rather than the frame decoder (fuzzed on its own in
// package frames).
type frameGen struct {
	data []byte
	out  []byte
}

func (g *frameGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *frameGen) frame(ch uint16, p frames.Performative, payload []byte) {
	b, err := frames.AppendFrame(g.out, ch, p, payload)
	if err == nil {
		g.out = b
	}
}

var fuzzAddrs = []string{"", "/queues/f", "/topics/f/#", "/topics/f/a", "f", "/exchanges/amq.topic/f.*", "/queues/$tmp/amqp/x/1", "/bad", "/topics/+/#"}

func (g *frameGen) generate() []byte {
	msg, _ := (&amqpmsg.Message{Data: [][]byte{[]byte("m")}}).Marshal(nil)
	for len(g.data) > 0 {
		op := g.byte() % 13
		ch := uint16(g.byte() % 3)
		h := frames.Handle(g.byte() % 4)
		switch op {
		case 0:
			g.frame(ch, &frames.Begin{IncomingWindow: uint32(g.byte() % 8), OutgoingWindow: 10}, nil)
		case 1, 2:
			a := fuzzAddrs[int(g.byte())%len(fuzzAddrs)]
			at := &frames.Attach{Name: string('a' + rune(g.byte()%4)), Handle: h, Role: frames.Role(op == 1),
				Source: &frames.Source{Address: a, Dynamic: g.byte()%5 == 0, Durable: frames.TerminusDurability(g.byte() % 3)},
				Target: &frames.Target{Address: a}, SndSettleMode: encoding.Some(frames.SenderSettleMode(g.byte() % 3)),
				RcvSettleMode: frames.ReceiverSettleMode(g.byte() % 2)}
			if g.byte()%4 == 0 {
				at.Source.Filter = encoding.Map{{Key: selectorFilterName, Value: encoding.Described{Descriptor: selectorFilterName, Value: "a = 1 OR b"}}}
			}
			g.frame(ch, at, nil)
		case 3:
			f := &frames.Flow{IncomingWindow: uint32(g.byte()), OutgoingWindow: 10, NextOutgoingID: frames.TransferNumber(g.byte())}
			if g.byte()%2 == 0 {
				f.Handle = encoding.Some(h)
				f.LinkCredit = encoding.Some(uint32(g.byte() % 8))
				f.DeliveryCount = encoding.Some(frames.SequenceNo(g.byte() % 4))
				f.Drain = g.byte()%3 == 0
				f.Echo = g.byte()%3 == 0
			}
			g.frame(ch, f, nil)
		case 4:
			t := &frames.Transfer{Handle: h, More: g.byte()%4 == 0, Aborted: g.byte()%8 == 0}
			if g.byte()%4 != 0 {
				t.DeliveryID = encoding.Some(frames.DeliveryNumber(g.byte()))
				t.Settled = encoding.Some(g.byte()%2 == 0)
			}
			payload := msg
			if g.byte()%4 == 0 {
				n := int(g.byte() % 16)
				payload = g.data[:min(len(g.data), n)]
			}
			g.frame(ch, t, payload)
		case 5:
			var st frames.DeliveryState
			switch g.byte() % 5 {
			case 0:
				st = &frames.Accepted{}
			case 1:
				st = &frames.Released{}
			case 2:
				st = &frames.Rejected{}
			case 3:
				st = &frames.Modified{DeliveryFailed: encoding.Some(true)}
			}
			first := frames.DeliveryNumber(g.byte())
			g.frame(ch, &frames.Disposition{Role: frames.Role(g.byte()%2 == 0), First: first,
				Last: encoding.Some(first + frames.DeliveryNumber(g.byte()%4)), Settled: g.byte()%2 == 0, State: st}, nil)
		case 6:
			g.frame(ch, &frames.Detach{Handle: h, Closed: g.byte()%2 == 0}, nil)
		case 7:
			g.frame(ch, &frames.End{}, nil)
		case 8:
			g.out = frames.AppendEmptyFrame(g.out)
		case 9:
			n := int(g.byte() % 16)
			g.out = append(g.out, g.data[:min(n, len(g.data))]...)
		case 10:
			g.frame(0, &frames.Close{}, nil)
		case 11:
			g.frame(0, &frames.Open{ContainerID: "again"}, nil)
		case 12:
			g.frame(ch, &frames.Transfer{Handle: h}, g.data[:min(len(g.data), 40)])
		}
	}
	return g.out
}

// FuzzConnection feeds frame sequences to a connection after a valid open:
// it must not panic, must answer within the limits, and must end (no
// goroutine left behind) when the peer goes away.
func FuzzConnection(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 4, 1, 0, 1, 1, 0, 0, 0, 3, 0, 0, 5, 2, 1, 0, 3, 0, 4})
	f.Add([]byte{0, 1, 0, 2, 1, 2, 2, 3, 1, 0, 1, 0, 0, 3, 1, 1, 1, 5, 4, 4, 1, 1, 0, 1, 5, 5, 1, 1, 0, 0, 0, 0, 6, 1, 1, 1, 7, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 1, 9, 2, 0, 0, 3, 0, 0, 1, 1, 5, 3, 1, 0, 4, 0, 0, 0, 1, 1, 3, 1, 9, 0, 0, 3})
	f.Add([]byte{9, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	x, err := exchange.New(context.Background(), exchange.Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer x.Close(context.Background())
	srv, err := New(Config{Exchange: x, Auth: allowAll{}, MaxSessions: 3, MaxLinks: 4, SessionWindow: 6,
		LinkCredit: 3, IdleTimeout: 2 * time.Second, WriteTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	open, _ := frames.AppendFrame(frames.HeaderAMQP.Append(nil), 0, &frames.Open{ContainerID: "fuzz"}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		g := frameGen{data: data}
		input := append(append([]byte(nil), open...), g.generate()...)
		client, server := net.Pipe()
		c := srv.newConn(newTCPTransport(server))
		done := make(chan struct{})
		go func() {
			c.serve()
			close(done)
		}()
		drained := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, client)
			close(drained)
		}()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(input)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection did not end after the peer went away")
		}
		<-drained
		if n := srv.Stats().Connections; n != 0 {
			t.Fatalf("%d connections left", n)
		}
		for _, q := range x.Queues() {
			if q.Consumers != 0 || q.Unsettled != 0 {
				t.Fatalf("queue %q keeps %d consumers, %d unsettled after the connection ended", q.Name, q.Consumers, q.Unsettled)
			}
		}
	})
}

// FuzzSelector parses arbitrary selectors: no panic; a selector that
// parses prints as one that parses to the same text; evaluation never
// panics.
func FuzzSelector(f *testing.F) {
	for _, s := range selectorSeeds {
		f.Add(s)
	}
	msgs := []*message.Message{
		{},
		{Headers: message.Headers{{Key: "a", Value: message.Int(1)}, {Key: "b", Value: message.Bool(true)},
			{Key: "s", Value: message.String("x%y")}, {Key: "f", Value: message.Float(2.5)}}, Priority: 4, Durable: true},
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelector(s)
		if err != nil {
			return
		}
		text := sel.String()
		again, err := parseSelector(text)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, text, err)
		}
		if again.String() != text {
			t.Fatalf("%q: %q then %q", s, text, again.String())
		}
		for _, m := range msgs {
			if sel.Match(m) != again.Match(m) {
				t.Fatalf("%q and %q disagree", s, text)
			}
		}
	})
}

var selectorSeeds = []string{
	"color = 'blue' AND weight > 2500",
	"NOT (a BETWEEN 1 AND 2) OR b",
	"s LIKE 'x\\%%' ESCAPE '\\'",
	"s NOT IN ('a', 'b''c')",
	"f * 2 + -a / 3 >= 4.5e0",
	"JMSPriority > 3 AND JMSDeliveryMode = 'PERSISTENT'",
	"a IS NOT NULL AND z IS NULL",
	"0x1F = 31 AND 010 = 8 AND 1.5F < 2D",
	"amqp.correlation_id = 'c' OR TRUE",
}

// FuzzMappingRoundTrip decodes arbitrary AMQP messages: one that decodes
// maps to a canonical message that encodes back with the same bare
// message, byte for byte.
func FuzzMappingRoundTrip(f *testing.F) {
	for _, m := range []amqpmsg.Message{
		{Data: [][]byte{[]byte("x")}},
		{Properties: &amqpmsg.Properties{MessageID: uint64(1), CorrelationID: encoding.UUID{1}}, Value: "text"},
		{ApplicationProperties: encoding.Map{{Key: "k", Value: int32(1)}}, Sequence: [][]any{{int8(1)}}},
		{Header: &amqpmsg.Header{Durable: true, Priority: encoding.Some[uint8](9)}, Value: []byte{1}},
		{MessageAnnotations: encoding.Map{{Key: encoding.Symbol("x-a"), Value: "b"}}, Data: [][]byte{{1}, {2}}},
	} {
		b, err := m.Marshal(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.Clone(raw)
		var am amqpmsg.Message
		if err := am.Unmarshal(raw); err != nil {
			return
		}
		m, err := messageFromAMQP(&am, ingress{Addr: address.Address{"f"},
			Origin: message.Origin{Protocol: message.ProtocolAMQP}, Now: time.Unix(1e9, 0)})
		if err != nil {
			return
		}
		out, err := appendMessage(nil, m, egress{Now: time.Unix(1e9, 0)})
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back amqpmsg.Message
		if err := back.Unmarshal(out); err != nil {
			t.Fatalf("re-decode: %v\n% x", err, out)
		}
		if !bytes.Equal(back.Bare, am.Bare) {
			t.Fatalf("bare changed:\n got % x\nwant % x", back.Bare, am.Bare)
		}
		// Built from the canonical fields (as for a transformed message),
		// the result decodes too.
		m.Annotations.Native.Del(nativeBareHead)
		out, err = appendMessage(out[:0], m, egress{Now: time.Unix(1e9, 0)})
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		if err := back.Unmarshal(out); err != nil {
			t.Fatalf("built message does not decode: %v\n% x", err, out)
		}
	})
}
