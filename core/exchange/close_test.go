package exchange_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
)

func TestClose(t *testing.T) {
	x, err := exchange.New(context.Background(), exchange.Config{})
	if err != nil {
		t.Fatal(err)
	}
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
	publish(t, x, msg("t", "x"))
	if err := x.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(s.closed) != 1 || !errors.Is(s.closed[0], exchange.ErrClosed) {
		t.Fatalf("Closed callbacks %v", s.closed)
	}
	if err := s.last(t).Settle(exchange.Accepted); !errors.Is(err, exchange.ErrSettled) {
		t.Fatalf("Settle after Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["Publish"] = x.Publish(context.Background(), msg("t", "x"), exchange.PublishOptions{})
	checks["DeclareQueue"] = x.DeclareQueue("r", exchange.QueueConfig{})
	_, checks["Consume"] = x.Consume("q", exchange.ConsumerOptions{Handler: s.handler})
	checks["Enqueue"] = x.Enqueue(context.Background(), "q", msg("t", "x"))
	checks["Bind"] = x.Bind("q", mustFilter("a"))
	checks["DeleteQueue"] = x.DeleteQueue("q")
	for op, err := range checks {
		if !errors.Is(err, exchange.ErrClosed) {
			t.Errorf("%s after Close: %v", op, err)
		}
	}
}

func TestCloseGivesUpAtContext(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Nothing is in flight, so even a cancelled context closes cleanly.
	if err := x.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v", err)
	}
}
