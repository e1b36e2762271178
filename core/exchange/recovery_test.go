package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

// TestRecovery runs traffic on one exchange, closes it, and checks what a
// second exchange recovers from the same store: a restart.
func TestRecovery(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	x1, err := exchange.New(ctx, exchange.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	declare(t, x1, "durable", exchange.QueueConfig{Durable: true, MaxLength: 50}, "orders/+", "orders/#")
	declare(t, x1, "transient", exchange.QueueConfig{}, "orders/+")
	declare(t, x1, "gone", exchange.QueueConfig{Durable: true}, "gone")
	if err := x1.Unbind("durable", address.MustParseFilter("orders/#")); err != nil {
		t.Fatal(err)
	}
	if err := x1.DeleteQueue("gone"); err != nil {
		t.Fatal(err)
	}
	commits := store.Commits()
	publish(t, x1, msg("orders/np", "not durable")) // touches no store
	if store.Commits() != commits {
		t.Fatal("a non-durable message reached the store")
	}
	for i := range 5 {
		m := msg("orders/"+fmt.Sprint(i), fmt.Sprint(i))
		m.Durable = true
		m.Priority = uint8(i % 2 * 9)
		publish(t, x1, m)
	}
	r := msg("status/a", "up")
	r.Durable, r.Annotations.Retain = true, true
	publish(t, x1, r)
	r2 := msg("status/b", "down")
	r2.Durable, r2.Annotations.Retain = true, true
	publish(t, x1, r2)
	clear := msg("status/b", "")
	clear.Annotations.Retain = true
	publish(t, x1, clear)
	nd := msg("status/c", "volatile") // retained but not durable: not kept
	nd.Annotations.Retain = true
	publish(t, x1, nd)

	// Settle some: accept "1" (priority 9 goes first), modify "3" twice.
	var s sink
	c := consume(t, x1, "durable", &s, exchange.ConsumerOptions{Credit: 1})
	settle(t, s.last(t), exchange.Accepted) // "1"
	c.AddCredit(1)
	settle(t, s.last(t), exchange.Modified) // "3"
	c.AddCredit(1)
	settle(t, s.last(t), exchange.Modified) // "3" again
	c.AddCredit(1)
	if b := string(s.last(t).Msg.Body); b != "3" {
		t.Fatalf("expected 3 again, got %q", b)
	}
	// Left unsettled on Close: released, so it stays.
	if err := x1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.Messages("durable"); got != 4 {
		t.Fatalf("store holds %d durable messages, want 4", got)
	}

	x2 := newExchange(t, exchange.Config{Store: store})
	qs := x2.Queues()
	if len(qs) != 1 || qs[0].Name != "durable" || qs[0].Config.MaxLength != 50 || len(qs[0].Bindings) != 1 ||
		qs[0].Bindings[0].MQTT() != "orders/+" {
		t.Fatalf("recovered queues %+v", qs)
	}
	var s2 sink
	consume(t, x2, "durable", &s2, exchange.ConsumerOptions{Credit: 10})
	var got []string
	for _, d := range s2.deliveries() {
		got = append(got, fmt.Sprintf("%s/%d", d.Msg.Body, d.DeliveryCount))
		if !d.Redelivered {
			t.Errorf("recovered message %q not marked redelivered", d.Msg.Body)
		}
	}
	if want := []string{"3/2", "0/0", "2/0", "4/0"}; !slices.Equal(got, want) {
		t.Fatalf("recovered messages %v, want %v (priority, then order, with counts)", got, want)
	}
	// Routing works after recovery, and new sequence numbers do not collide.
	m := msg("orders/new", "new")
	m.Durable = true
	publish(t, x2, m)
	last := s2.last(t)
	if string(last.Msg.Body) != "new" || last.Redelivered {
		t.Fatalf("post-recovery publish delivered %q (redelivered %v)", last.Msg.Body, last.Redelivered)
	}
	for _, d := range s2.deliveries()[:4] {
		if d.Seq >= last.Seq {
			t.Fatalf("sequence %d reused after recovery (new %d)", d.Seq, last.Seq)
		}
	}
	if got := retainedBodies(x2, "status/#"); !slices.Equal(got, []string{"status/a=up"}) {
		t.Fatalf("recovered retained %v", got)
	}
	for _, d := range s2.deliveries() {
		settle(t, d, exchange.Accepted)
	}
	if n := store.Messages("durable"); n != 0 {
		t.Fatalf("store still holds %d messages after all were accepted", n)
	}
}

func TestRecoveryDeadLetterAndPurgePersisted(t *testing.T) {
	store := memory.New()
	x := newExchange(t, exchange.Config{Store: store})
	declare(t, x, "q", exchange.QueueConfig{Durable: true, MaxLength: 2}, "t")
	for i := range 4 { // two dropped by drop-head, deleted from the store
		m := msg("t", fmt.Sprint(i))
		m.Durable = true
		publish(t, x, m)
	}
	if n := store.Messages("q"); n != 2 {
		t.Fatalf("store has %d after drop-head", n)
	}
	var s sink
	s.settle = &exchange.Rejected
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
	if n, d := store.Messages("q"), store.Messages("$dlq"); n != 1 || d != 1 {
		t.Fatalf("after reject: q %d, $dlq %d in the store", n, d)
	}
	c.Close()
	if n, err := x.PurgeQueue("q"); n != 1 || err != nil {
		t.Fatalf("purge %d %v", n, err)
	}
	if n := store.Messages("q"); n != 0 {
		t.Fatalf("store has %d after purge", n)
	}
}

type failingStore struct {
	exchange.Store
	err error
}

func (f failingStore) Commit(context.Context, *exchange.Batch) error { return f.err }

func TestStoreFailure(t *testing.T) {
	boom := errors.New("disk on fire")
	st := &failingStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	declare(t, x, "mem", exchange.QueueConfig{}, "t")
	st.err = boom
	m := msg("t", "x")
	m.Durable = true
	r, err := x.Publish(context.Background(), m, exchange.PublishOptions{})
	if !errors.Is(err, boom) || r.Queues != 0 {
		t.Fatalf("Publish with a failing store: %+v %v", r, err)
	}
	if queueStats(t, x, "q").Ready != 0 || queueStats(t, x, "mem").Ready != 0 {
		t.Fatal("a message whose commit failed became visible")
	}
	if err := x.DeclareQueue("d2", exchange.QueueConfig{Durable: true}); !errors.Is(err, boom) {
		t.Fatalf("DeclareQueue with a failing store: %v", err)
	}
	if _, ok := x.Queue("d2"); ok {
		t.Fatal("queue created although its definition was not stored")
	}
	// Non-durable traffic does not need the store.
	if _, err := x.Publish(context.Background(), msg("t", "y"), exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
}

type badRecovery struct{ exchange.Store }

func (badRecovery) Recover(context.Context, exchange.Recovery) error { return errors.New("corrupt") }

func TestNewFailsOnRecoverError(t *testing.T) {
	if _, err := exchange.New(context.Background(), exchange.Config{Store: badRecovery{memory.New()}}); err == nil {
		t.Fatal("New succeeded although Recover failed")
	}
	if _, err := exchange.New(context.Background(), exchange.Config{DefaultQueue: exchange.QueueConfig{Overflow: 7}}); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("New with an invalid config: %v", err)
	}
}
