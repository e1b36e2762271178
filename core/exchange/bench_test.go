package exchange_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// BenchmarkPublishRouting publishes to one queue among 100k bindings
// (10k subscription queues with 10 patterns each over devices/<id>/<metric>).
// The target queue has an auto-ack consumer, so each op is route + enqueue +
// hand-over. The message is reused with its ID set, so the figure is the
// exchange's own cost.
func BenchmarkPublishRouting(b *testing.B) {
	x := newExchange(b, exchange.Config{})
	metrics := []string{"temp", "humidity", "pressure", "battery", "status"}
	for q := range 10_000 {
		name := fmt.Sprintf("sub-%d", q)
		if err := x.DeclareQueue(name, exchange.QueueConfig{}); err != nil {
			b.Fatal(err)
		}
		for i := range 10 {
			var f string
			switch i % 3 {
			case 0:
				f = fmt.Sprintf("devices/%d/%s", q*10+i, metrics[i%len(metrics)])
			case 1:
				f = fmt.Sprintf("devices/%d/+", q*10+i)
			default:
				f = fmt.Sprintf("devices/%d/#", q*10+i)
			}
			if err := x.Bind(name, address.MustParseFilter(f)); err != nil {
				b.Fatal(err)
			}
		}
	}
	c, err := x.Consume("sub-42", exchange.ConsumerOptions{Credit: 1 << 30, AutoAck: true, Handler: func(*exchange.Delivery) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := msg("devices/421/x", "payload") // matches "devices/421/+" only
	m.ID = "fixed"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, err := x.Publish(ctx, m, exchange.PublishOptions{}); err != nil || r.Queues != 1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkRoundTrip is publish → deliver → accept with one consumer,
// which grants credit back as a front-end does.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name    string
		autoAck bool
		newMsg  bool // a fresh message per op, with an ID to assign
	}{
		{"AutoAck", true, false},
		{"Settle", false, false},
		{"Settle/NewMessage", false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x := newExchange(b, exchange.Config{})
			declare(b, x, "q", exchange.QueueConfig{}, "t")
			var c *exchange.Consumer
			handler := func(d *exchange.Delivery) {
				if !tc.autoAck {
					if err := d.Settle(exchange.Accepted); err != nil {
						panic(err)
					}
				}
				d.Consumer().AddCredit(1)
			}
			c, err := x.Consume("q", exchange.ConsumerOptions{Credit: 1, AutoAck: tc.autoAck, Handler: handler})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			m := msg("t", "0123456789abcdef")
			m.ID = "fixed"
			ctx := context.Background()
			b.SetBytes(int64(len(m.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if tc.newMsg {
					m = &message.Message{Address: m.Address, Body: m.Body}
				}
				if _, err := x.Publish(ctx, m, exchange.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			if s := queueStats(b, x, "q"); s.Ready != 0 {
				b.Fatalf("%d left", s.Ready)
			}
		})
	}
}

// BenchmarkFanOut publishes to 10 queues, each with an auto-ack consumer.
func BenchmarkFanOut(b *testing.B) {
	x := newExchange(b, exchange.Config{})
	for i := range 10 {
		name := fmt.Sprintf("q%d", i)
		declare(b, x, name, exchange.QueueConfig{}, "sensors/+/temp")
		c, err := x.Consume(name, exchange.ConsumerOptions{Credit: 1 << 30, AutoAck: true, Handler: func(*exchange.Delivery) {}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
	}
	m := msg("sensors/1/temp", "21.5")
	m.ID = "fixed"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, err := x.Publish(ctx, m, exchange.PublishOptions{}); err != nil || r.Queues != 10 {
			b.Fatal(r, err)
		}
	}
}
