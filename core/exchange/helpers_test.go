package exchange_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a fake Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newExchange returns an exchange closed (and checked for a clean close)
// when the test ends.
func newExchange(t testing.TB, cfg exchange.Config) *exchange.Exchange {
	t.Helper()
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = time.Hour // tests sweep by hand
	}
	x, err := exchange.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := x.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

func msg(topic, body string) *message.Message {
	return &message.Message{Address: address.MustParseMQTT(topic), Body: []byte(body)}
}

func publish(t testing.TB, x *exchange.Exchange, m *message.Message) exchange.Routed {
	t.Helper()
	r, err := x.Publish(context.Background(), m, exchange.PublishOptions{})
	if err != nil {
		t.Fatalf("Publish %q: %v", m.Address, err)
	}
	return r
}

func declare(t testing.TB, x *exchange.Exchange, name string, cfg exchange.QueueConfig, filters ...string) {
	t.Helper()
	if err := x.DeclareQueue(name, cfg); err != nil {
		t.Fatalf("DeclareQueue %q: %v", name, err)
	}
	for _, f := range filters {
		if err := x.Bind(name, address.MustParseFilter(f)); err != nil {
			t.Fatalf("Bind %q %q: %v", name, f, err)
		}
	}
}

// sink records what a consumer is handed. With settle set, it settles each
// delivery at once with that outcome.
type sink struct {
	mu     sync.Mutex
	got    []*exchange.Delivery
	settle *exchange.Outcome
	closed []error
}

func (s *sink) handler(d *exchange.Delivery) {
	s.mu.Lock()
	s.got = append(s.got, d)
	s.mu.Unlock()
	if s.settle != nil {
		if err := d.Settle(*s.settle); err != nil {
			panic(err)
		}
	}
}

func (s *sink) onClosed(err error) {
	s.mu.Lock()
	s.closed = append(s.closed, err)
	s.mu.Unlock()
}

func (s *sink) deliveries() []*exchange.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*exchange.Delivery(nil), s.got...)
}

func (s *sink) bodies() []string {
	var out []string
	for _, d := range s.deliveries() {
		out = append(out, string(d.Msg.Body))
	}
	return out
}

func (s *sink) last(t testing.TB) *exchange.Delivery {
	t.Helper()
	ds := s.deliveries()
	if len(ds) == 0 {
		t.Fatal("no delivery")
	}
	return ds[len(ds)-1]
}

func consume(t testing.TB, x *exchange.Exchange, queue string, s *sink, opts exchange.ConsumerOptions) *exchange.Consumer {
	t.Helper()
	opts.Handler = s.handler
	opts.Closed = s.onClosed
	c, err := x.Consume(queue, opts)
	if err != nil {
		t.Fatalf("Consume %q: %v", queue, err)
	}
	return c
}

func settle(t testing.TB, d *exchange.Delivery, o exchange.Outcome) {
	t.Helper()
	if err := d.Settle(o); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

func queueStats(t testing.TB, x *exchange.Exchange, name string) exchange.QueueStats {
	t.Helper()
	s, ok := x.Queue(name)
	if !ok {
		t.Fatalf("queue %q not found", name)
	}
	return s
}

// eventually waits for cond, for what a background goroutine does.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustFilter(f string) address.Pattern { return address.MustParseFilter(f) }
