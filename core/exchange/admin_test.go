package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/memory"
)

func TestPeek(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "a/#")
	for i := range 4 {
		m := msg("a/b", fmt.Sprint(i))
		if i == 2 {
			m.Priority = 9 // goes first
		}
		publish(t, x, m)
	}
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"none", 0, nil},
		{"two", 2, []string{"2", "0"}},
		{"all", 10, []string{"2", "0", "1", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := x.Peek("q", tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var bodies []string
			for _, p := range got {
				bodies = append(bodies, string(p.Msg.Body))
			}
			if !slices.Equal(bodies, tt.want) {
				t.Fatalf("Peek(%d) = %v, want %v", tt.n, bodies, tt.want)
			}
		})
	}
	// Peeking consumes nothing, and the copies are independent.
	got, _ := x.Peek("q", 1)
	got[0].Msg.Body[0] = 'X'
	if s := queueStats(t, x, "q"); s.Ready != 4 {
		t.Fatalf("Ready = %d after peeks, want 4", s.Ready)
	}
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1, AutoAck: true})
	if b := s.bodies(); len(b) != 1 || b[0] != "2" {
		t.Fatalf("first delivery %v, want [2]", b)
	}
	if _, err := x.Peek("missing", 1); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("Peek(missing) = %v, want ErrQueueNotFound", err)
	}
}

// deadLetterOne publishes body to topic and rejects it from queue, so that
// it lands in the dead-letter queue.
func deadLetterOne(t *testing.T, x *exchange.Exchange, queue, topic, body string, durable bool) {
	t.Helper()
	var s sink
	c := consume(t, x, queue, &s, exchange.ConsumerOptions{Credit: 1})
	m := msg(topic, body)
	m.Durable = durable
	publish(t, x, m)
	eventually(t, "delivery", func() bool { return len(s.deliveries()) == 1 })
	settle(t, s.last(t), exchange.Rejected)
	c.Close()
}

func TestMoveDeadLetters(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	x := newExchange(t, exchange.Config{Store: store})
	declare(t, x, "orders", exchange.QueueConfig{Durable: true}, "orders/+")
	deadLetterOne(t, x, "orders", "orders/1", "one", true)
	deadLetterOne(t, x, "orders", "orders/2", "two", true)
	// One without an annotation, published into the DLQ directly.
	if err := x.Enqueue(ctx, exchange.DefaultDeadLetter, msg("x/y", "plain")); err != nil {
		t.Fatal(err)
	}
	if got := store.Messages(exchange.DefaultDeadLetter); got != 2 {
		t.Fatalf("store DLQ holds %d, want 2", got)
	}
	peek, err := x.Peek(exchange.DefaultDeadLetter, 10)
	if err != nil || len(peek) != 3 || peek[0].Msg.Annotations.DeadLetter == nil ||
		peek[0].Msg.Annotations.DeadLetter.Address != "orders/1" {
		t.Fatalf("Peek DLQ = %+v, %v", peek, err)
	}

	res, err := x.MoveDeadLetters(ctx, exchange.DefaultDeadLetter, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res != (exchange.MoveResult{Moved: 1}) {
		t.Fatalf("move 1 = %+v", res)
	}
	res, err = x.MoveDeadLetters(ctx, exchange.DefaultDeadLetter, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res != (exchange.MoveResult{Moved: 1, Skipped: 1}) {
		t.Fatalf("move all = %+v", res)
	}
	if s := queueStats(t, x, exchange.DefaultDeadLetter); s.Ready != 1 {
		t.Fatalf("DLQ ready = %d, want 1 (the plain one)", s.Ready)
	}
	if got := store.Messages(exchange.DefaultDeadLetter); got != 0 {
		t.Fatalf("store DLQ holds %d, want 0", got)
	}
	if got := store.Messages("orders"); got != 2 {
		t.Fatalf("store orders holds %d, want 2", got)
	}
	back, _ := x.Peek("orders", 10)
	if len(back) != 2 || string(back[0].Msg.Body) != "one" || back[0].Msg.Annotations.DeadLetter != nil ||
		back[0].Msg.Address.MQTT() != "orders/1" {
		t.Fatalf("orders after move = %+v", back)
	}

	// A restart finds each message in exactly one place.
	if err := x.Close(ctx); err != nil {
		t.Fatal(err)
	}
	x2 := newExchange(t, exchange.Config{Store: store})
	if s := queueStats(t, x2, "orders"); s.Ready != 2 {
		t.Fatalf("orders after restart: %d ready, want 2", s.Ready)
	}
	if s, ok := x2.Queue(exchange.DefaultDeadLetter); ok && s.Ready != 0 {
		t.Fatalf("DLQ after restart: %d ready, want 0", s.Ready)
	}
}

func TestMoveDeadLettersUnroutable(t *testing.T) {
	ctx := context.Background()
	x := newExchange(t, exchange.Config{})
	declare(t, x, "tmp", exchange.QueueConfig{}, "tmp/#")
	deadLetterOne(t, x, "tmp", "tmp/a", "lost?", false)
	if err := x.DeleteQueue("tmp"); err != nil {
		t.Fatal(err)
	}
	res, err := x.MoveDeadLetters(ctx, exchange.DefaultDeadLetter, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res != (exchange.MoveResult{Unroutable: 1}) {
		t.Fatalf("result %+v, want one unroutable", res)
	}
	if s := queueStats(t, x, exchange.DefaultDeadLetter); s.Ready != 1 {
		t.Fatalf("DLQ ready = %d, want the message kept", s.Ready)
	}
	// A consumer of the DLQ still gets it.
	var s sink
	consume(t, x, exchange.DefaultDeadLetter, &s, exchange.ConsumerOptions{Credit: 1, AutoAck: true})
	eventually(t, "delivery", func() bool { return len(s.deliveries()) == 1 })
	if _, err := x.MoveDeadLetters(ctx, "missing", 0); !errors.Is(err, exchange.ErrQueueNotFound) {
		t.Fatalf("missing queue: %v", err)
	}
}

func TestMoveDeadLettersRefused(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	x := newExchange(t, exchange.Config{Store: store})
	declare(t, x, "q", exchange.QueueConfig{Durable: true, MaxLength: 1, Overflow: exchange.RejectPublish}, "q/#")
	deadLetterOne(t, x, "q", "q/a", "first", true)
	m := msg("q/b", "fills the queue")
	m.Durable = true
	publish(t, x, m)
	res, err := x.MoveDeadLetters(ctx, exchange.DefaultDeadLetter, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res != (exchange.MoveResult{Unroutable: 1}) {
		t.Fatalf("result %+v, want one refused", res)
	}
	if got := store.Messages(exchange.DefaultDeadLetter); got != 1 {
		t.Fatalf("store DLQ holds %d, want 1: the refused message is kept", got)
	}
}

func TestDeleteRetained(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	x := newExchange(t, exchange.Config{Store: store})
	r := msg("status/a", "up")
	r.Durable, r.Annotations.Retain = true, true
	publish(t, x, r)
	a := address.MustParseMQTT("status/a")
	ok, err := x.DeleteRetained(ctx, a)
	if err != nil || !ok {
		t.Fatalf("DeleteRetained = %v, %v", ok, err)
	}
	if got := x.Retained(address.MustParseFilter("#")); len(got) != 0 {
		t.Fatalf("retained after delete: %d", len(got))
	}
	if ok, err := x.DeleteRetained(ctx, a); ok || err != nil {
		t.Fatalf("second DeleteRetained = %v, %v", ok, err)
	}
	if err := x.Close(ctx); err != nil {
		t.Fatal(err)
	}
	x2 := newExchange(t, exchange.Config{Store: store})
	if got := x2.Retained(address.MustParseFilter("#")); len(got) != 0 {
		t.Fatalf("retained after restart: %d", len(got))
	}
}

func TestConsumers(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "b", exchange.QueueConfig{})
	declare(t, x, "a", exchange.QueueConfig{})
	var s sink
	consume(t, x, "b", &s, exchange.ConsumerOptions{Protocol: message.ProtocolSTOMP, ConnID: "s1", Credit: 5})
	c := consume(t, x, "a", &s, exchange.ConsumerOptions{Protocol: message.ProtocolMQTT, ConnID: "m1", ClientID: "dev"})
	got := x.Consumers()
	if len(got) != 2 || got[0].Queue != "a" || got[0].ConnID != "m1" || got[0].ClientID != "dev" ||
		got[1].Queue != "b" || got[1].Credit != 5 || got[1].Protocol != message.ProtocolSTOMP {
		t.Fatalf("Consumers = %+v", got)
	}
	c.Close()
	if got := x.Consumers(); len(got) != 1 {
		t.Fatalf("after Close: %+v", got)
	}
}
