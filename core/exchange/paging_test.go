package exchange_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/memory"
)

func durableMsg(topic, body string) *message.Message {
	m := msg(topic, body)
	m.Durable = true
	return m
}

// pagedExchange has a durable queue "q" bound to "t" that pages after a
// few hundred bytes, over store.
func pagedExchange(t *testing.T, store exchange.Store, cfg exchange.Config) *exchange.Exchange {
	t.Helper()
	cfg.Store = store
	cfg.ResidentBytes = 300
	x := newExchange(t, cfg)
	if _, ok := x.Queue("q"); !ok {
		declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	}
	return x
}

func TestPagingDeliversEverythingInOrder(t *testing.T) {
	x := pagedExchange(t, memory.New(), exchange.Config{})
	var want []string
	for i := range 100 {
		b := fmt.Sprintf("message %03d", i)
		want = append(want, b)
		publish(t, x, durableMsg("t", b))
	}
	if p := x.Paging(); p.PagedOut < 50 {
		t.Fatalf("paged out %d of 100 messages over a 300-byte budget", p.PagedOut)
	}
	peeked, err := x.Peek("q", 100)
	if err != nil || len(peeked) != 100 || string(peeked[99].Msg.Body) != want[99] {
		t.Fatalf("Peek: %d messages, %v", len(peeked), err)
	}
	var s sink
	s.settle = &exchange.Accepted
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1000})
	eventually(t, "all delivered", func() bool { return len(s.deliveries()) == 100 })
	if got := s.bodies(); !slices.Equal(got, want) {
		t.Fatalf("bodies out of order or wrong: %q", got[:5])
	}
	if p := x.Paging(); p.PagedIn < 50 || p.LoadErrors != 0 {
		t.Fatalf("paging %+v", p)
	}
}

func TestPagingWithFilterAndDeadLetters(t *testing.T) {
	clk := newClock()
	x := pagedExchange(t, memory.New(), exchange.Config{Now: clk.Now, DeadLetterExpired: true})
	for i := range 40 {
		m := durableMsg("t", fmt.Sprintf("m%02d", i))
		m.Subject = []string{"even", "odd"}[i%2]
		if i >= 30 {
			m.Expires = clk.Now().Add(time.Second)
		}
		publish(t, x, m)
	}
	// A filtered consumer sees paged messages' properties.
	var odd sink
	odd.settle = &exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "nope"}
	consume(t, x, "q", &odd, exchange.ConsumerOptions{Credit: 5, Filter: func(m *message.Message) bool { return m.Subject == "odd" }})
	eventually(t, "odd ones", func() bool { return len(odd.deliveries()) == 5 })
	for _, b := range odd.bodies() {
		var n int
		fmt.Sscanf(b, "m%d", &n)
		if n%2 != 1 {
			t.Fatalf("filter let %q through", b)
		}
	}
	// The rejected (paged) messages reach the dead-letter queue whole.
	var dead sink
	consume(t, x, "$dlq", &dead, exchange.ConsumerOptions{Credit: 100, AutoAck: true})
	eventually(t, "dead letters", func() bool { return len(dead.deliveries()) == 5 })
	for _, d := range dead.deliveries() {
		if len(d.Msg.Body) == 0 || d.Msg.Subject != "odd" || d.Msg.Annotations.DeadLetter == nil {
			t.Fatalf("dead letter %+v", d.Msg)
		}
	}
	// Expired paged messages are dead-lettered whole by the sweeper.
	clk.Advance(2 * time.Second)
	x.Sweep()
	eventually(t, "expired dead letters", func() bool { return len(dead.deliveries()) >= 10 })
	for _, d := range dead.deliveries()[5:] {
		if d.Msg.Annotations.DeadLetter.Reason != "expired" || len(d.Msg.Body) == 0 {
			t.Fatalf("expired dead letter %+v", d.Msg)
		}
	}
}

func TestPagingOnRecovery(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	x1, err := exchange.New(ctx, exchange.Config{Store: store, ResidentBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	declare(t, x1, "q", exchange.QueueConfig{Durable: true}, "t")
	for i := range 50 {
		publish(t, x1, durableMsg("t", fmt.Sprintf("m%02d", i)))
	}
	if p := x1.Paging(); p.PagedOut != 0 {
		t.Fatalf("paged with paging off: %+v", p)
	}
	if err := x1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	x2 := pagedExchange(t, store, exchange.Config{})
	if p := x2.Paging(); p.PagedOut < 25 {
		t.Fatalf("recovery paged out %d of 50", p.PagedOut)
	}
	var s sink
	s.settle = &exchange.Accepted
	consume(t, x2, "q", &s, exchange.ConsumerOptions{Credit: 100})
	eventually(t, "all delivered", func() bool { return len(s.deliveries()) == 50 })
	for i, b := range s.bodies() {
		if b != fmt.Sprintf("m%02d", i) {
			t.Fatalf("message %d = %q", i, b)
		}
	}
}

// TestPagingLoadErrorDrops checks that a paged message the store lost is
// dropped with a count, and does not stop the queue.
func TestPagingLoadErrorDrops(t *testing.T) {
	store := memory.New()
	x := pagedExchange(t, store, exchange.Config{})
	for i := range 30 {
		publish(t, x, durableMsg("t", fmt.Sprintf("m%02d", i)))
	}
	// Take the last message out of the store behind the exchange's back.
	peek, err := x.Peek("q", 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{{Kind: exchange.OpDeleteMessage, Queue: "q", Seq: peek[29].Seq}}}); err != nil {
		t.Fatal(err)
	}
	var s sink
	s.settle = &exchange.Accepted
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 100})
	eventually(t, "29 delivered", func() bool { return len(s.deliveries()) == 29 })
	eventually(t, "load error counted", func() bool { return x.Paging().LoadErrors == 1 })
}
