package stomp

import (
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/exchange/exchangetest"
)

// pendingAcks counts the ack entries every connection of the server holds.
func (b *testBroker) pendingAcks() int {
	b.srv.mu.Lock()
	conns := make([]*conn, 0, len(b.srv.conns))
	for c := range b.srv.conns {
		conns = append(conns, c)
	}
	b.srv.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		n += len(c.acks)
		for _, s := range c.subs {
			n += len(s.unacked)
		}
		c.mu.Unlock()
	}
	return n
}

func TestAcceptFanOut(t *testing.T) {
	b := newBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}}, nil)
	c := b.dial(t)
	plain, err := c.Subscribe("/topic/fmt", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.Subscribe("/topic/fmt", stomp.AckClientIndividual, stomp.SubscribeOpt.Header("accept", "text/upper"))
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, c)
	if err := c.Send("/topic/fmt", "text/plain", []byte("hello"), stomp.SendOpt.Header("x-k", "v")); err != nil {
		t.Fatal(err)
	}
	m := recv(t, plain)
	if string(m.Body) != "hello" || m.ContentType != "text/plain" {
		t.Errorf("plain subscriber: %q %q", m.Body, m.ContentType)
	}
	u := recv(t, up)
	if string(u.Body) != "HELLO" || u.ContentType != "text/upper" || u.Header.Get("x-k") != "v" {
		t.Errorf("accept subscriber: %q %q x-k=%q", u.Body, u.ContentType, u.Header.Get("x-k"))
	}
	if u.Header.Get("content-length") != "5" {
		t.Errorf("content-length %q", u.Header.Get("content-length"))
	}
	if err := c.Ack(u); err != nil {
		t.Fatal(err)
	}
	barrier(t, c)
	if n := b.pendingAcks(); n != 0 {
		t.Errorf("%d ack entries left", n)
	}
}

func TestAcceptUnknownFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		xcfg exchange.Config
	}{
		{"unknown to the transformer", exchange.Config{Transformer: exchangetest.UpperTransformer{}}},
		{"no transformer", exchange.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrokerX(t, tc.xcfg, nil)
			r := b.raw(t)
			r.connect("accept-version:1.2", "host:/", "client-id:c1")
			r.send("SUBSCRIBE\nid:d1\ndestination:/topic/fmt\ndurable:true\naccept:application/klingon\nreceipt:r1\n\n\x00")
			f := r.expectError(msgFormat)
			if f.Value(hReceiptID) != "r1" {
				t.Errorf("receipt-id %q", f.Value(hReceiptID))
			}
			if !strings.Contains(string(f.Body), "application/klingon") {
				t.Errorf("body %q does not name the format", f.Body)
			}
			// Refused before any queue was made: no durable subscription
			// was left behind.
			for _, q := range b.x.Queues() {
				if strings.HasPrefix(q.Name, "stomp/") {
					t.Errorf("queue %s left behind", q.Name)
				}
			}
		})
	}
}

// TestAcceptTransformFailure: a failing transform dead-letters the message
// (reason transform) and a dropping one settles it; either way the
// subscriber gets nothing for it, keeps its credit (prefetch-count:1 and
// AutoCredit 1 would stall otherwise) and holds no ack entry for it.
func TestAcceptTransformFailure(t *testing.T) {
	b := newBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}}, func(c *Config) { c.AutoCredit = 1 })
	dead := exchangetest.ConsumeDeadLetters(t, b.x)
	c := b.dial(t)
	client, err := c.Subscribe("/topic/fmt", stomp.AckClientIndividual,
		stomp.SubscribeOpt.Header("prefetch-count", "1"), stomp.SubscribeOpt.Header("accept", "text/upper"))
	if err != nil {
		t.Fatal(err)
	}
	auto, err := c.Subscribe("/topic/fmt", stomp.AckAuto, stomp.SubscribeOpt.Header("accept", " text/upper "))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Subscribe("/topic/fmt", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	barrier(t, c)
	bodies := []string{"!a", "-b", "c", "!d", "-e", "f"}
	for _, body := range bodies {
		if err := c.Send("/topic/fmt", "text/plain", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"C", "F"} {
		m := recv(t, client)
		if string(m.Body) != want {
			t.Fatalf("client-individual subscriber got %q, want %q", m.Body, want)
		}
		if err := c.Ack(m); err != nil {
			t.Fatal(err)
		}
		if m := recv(t, auto); string(m.Body) != want {
			t.Fatalf("auto subscriber got %q, want %q", m.Body, want)
		}
	}
	for _, want := range bodies {
		if m := recv(t, plain); string(m.Body) != want {
			t.Fatalf("plain subscriber got %q, want %q", m.Body, want)
		}
	}
	none(t, client, 50*time.Millisecond)
	none(t, auto, 10*time.Millisecond)

	dl := dead.Wait(t, 4) // "!a" and "!d", once per transforming subscriber
	for _, m := range dl {
		d := m.Annotations.DeadLetter
		if d == nil || d.Reason != "transform" || !strings.Contains(d.Detail, "shout") || !strings.HasPrefix(string(m.Body), "!") {
			t.Errorf("dead letter %q: %+v", m.Body, d)
		}
	}
	barrier(t, c)
	if n := b.pendingAcks(); n != 0 {
		t.Errorf("%d ack entries left", n)
	}
	for _, q := range b.x.Queues() {
		if strings.HasPrefix(q.Name, "stomp/") && (q.Unsettled != 0 || q.Ready != 0) {
			t.Errorf("queue %s: %d unsettled, %d ready", q.Name, q.Unsettled, q.Ready)
		}
	}
	if got := b.x.Stats().TransformFailed; got != 4 {
		t.Errorf("TransformFailed = %d", got)
	}
}
