package exchange_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
)

// TestAcceptBatch checks Consumer.AcceptBatch: it accepts the deliveries
// given, skips settled ones, settles another consumer's on their own, and
// grants the credit once.
func TestAcceptBatch(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	declare(t, x, "other", exchange.QueueConfig{}, "o")
	var s, so sink
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 4})
	consume(t, x, "other", &so, exchange.ConsumerOptions{Credit: 1})
	for i := range 6 {
		publish(t, x, msg("t", fmt.Sprint(i)))
	}
	publish(t, x, msg("o", "x"))
	ds := s.deliveries()
	if len(ds) != 4 {
		t.Fatalf("%d delivered, want 4", len(ds))
	}
	settle(t, ds[1], exchange.Accepted) // settled already: skipped
	batch := append(slices.Clone(ds), so.deliveries()...)
	if err := c.AcceptBatch(batch, 2); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Settle(exchange.Accepted); err != exchange.ErrSettled {
		t.Errorf("settle after AcceptBatch: %v, want ErrSettled", err)
	}
	if got := s.bodies(); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5"}) {
		t.Errorf("after the credit: %v", got)
	}
	st := queueStats(t, x, "q")
	if st.Acked != 4 || st.Unsettled != 2 || st.Ready != 0 {
		t.Errorf("q: acked %d unsettled %d ready %d, want 4 2 0", st.Acked, st.Unsettled, st.Ready)
	}
	if st := queueStats(t, x, "other"); st.Acked != 1 || st.Unsettled != 0 {
		t.Errorf("other: acked %d unsettled %d, want 1 0", st.Acked, st.Unsettled)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.AcceptBatch(s.deliveries()[4:], 5); err != nil { // closed: settles, grants nothing
		t.Fatal(err)
	}
	if st := queueStats(t, x, "q"); st.Acked != 4 || st.Ready != 2 {
		t.Errorf("after close: acked %d ready %d, want 4 2 (released by Close)", st.Acked, st.Ready)
	}
}

// BenchmarkAcceptBatch is publish → deliver → accept with the deliveries
// settled and credited once per batch, as the MQTT session writer does,
// against one Settle and AddCredit per delivery.
func BenchmarkAcceptBatch(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			x := newExchange(b, exchange.Config{})
			declare(b, x, "q", exchange.QueueConfig{}, "t")
			var held []*exchange.Delivery
			c, err := x.Consume("q", exchange.ConsumerOptions{Credit: batch, Handler: func(d *exchange.Delivery) { held = append(held, d) }})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			m := msg("t", "0123456789abcdef")
			m.ID = "fixed"
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Publish(ctx, m, exchange.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
				if len(held) == batch {
					if err := c.AcceptBatch(held, len(held)); err != nil {
						b.Fatal(err)
					}
					clear(held)
					held = held[:0]
				}
			}
		})
	}
}
