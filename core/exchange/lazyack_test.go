package exchange_test

import (
	"context"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

// slowAsync is a store whose asynchronous deletes answer only when told
// to, so a test can see who waits for them.
type slowAsync struct {
	*memory.Store
	release chan struct{}
}

func (s slowAsync) CommitAsync(ctx context.Context, b *exchange.Batch) <-chan error {
	ch := make(chan error, 1)
	if len(b.Ops) == 0 || b.Ops[0].Kind != exchange.OpDeleteMessage {
		ch <- s.Store.Commit(ctx, b) // publishes go through at once
		return ch
	}
	go func() {
		<-s.release
		ch <- s.Store.Commit(ctx, b)
	}()
	return ch
}

// TestLazyAccept: a Lazy acceptance of a persisted message returns
// before its store delete lands, and the delete lands later; a plain one
// waits for it.
func TestLazyAccept(t *testing.T) {
	mem := memory.New()
	st := slowAsync{Store: mem, release: make(chan struct{})}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	m := msg("t", "a")
	m.Durable = true
	publish(t, x, m)
	m2 := msg("t", "b")
	m2.Durable = true
	publish(t, x, m2)
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 2})
	eventually(t, "two deliveries", func() bool { return len(s.deliveries()) == 2 })
	ds := s.deliveries()
	if err := ds[0].Settle(exchange.Outcome{Kind: exchange.OutcomeAccepted, Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if n := mem.Messages("q"); n != 2 {
		t.Fatalf("store holds %d messages right after a lazy accept, want 2 (the delete is in flight)", n)
	}
	close(st.release)
	eventually(t, "the lazy delete", func() bool { return mem.Messages("q") == 1 })
	settle(t, ds[1], exchange.Accepted)
	if n := mem.Messages("q"); n != 0 {
		t.Fatalf("store holds %d messages after a plain accept returned", n)
	}
}
