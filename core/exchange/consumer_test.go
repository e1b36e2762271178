package exchange_test

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func TestCompetingConsumersRoundRobin(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var a, b, c sink
	consume(t, x, "q", &a, exchange.ConsumerOptions{Credit: 100})
	consume(t, x, "q", &b, exchange.ConsumerOptions{Credit: 100})
	consume(t, x, "q", &c, exchange.ConsumerOptions{Credit: 2}) // runs out
	for i := range 12 {
		publish(t, x, msg("t", fmt.Sprint(i)))
	}
	if got := c.bodies(); !slices.Equal(got, []string{"2", "5"}) {
		t.Fatalf("third consumer got %v", got)
	}
	if got := a.bodies(); !slices.Equal(got, []string{"0", "3", "6", "8", "10"}) {
		t.Fatalf("first consumer got %v", got)
	}
	if got := b.bodies(); !slices.Equal(got, []string{"1", "4", "7", "9", "11"}) {
		t.Fatalf("second consumer got %v", got)
	}
}

func TestCreditBoundsDeliveries(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 3})
	for i := range 10 {
		publish(t, x, msg("t", fmt.Sprint(i)))
	}
	steps := []struct {
		name      string
		do        func()
		delivered int
		credit    int
	}{
		{"initial credit", func() {}, 3, 0},
		{"AddCredit", func() { c.AddCredit(2) }, 5, 0},
		{"AddCredit ignores non-positive", func() { c.AddCredit(0); c.AddCredit(-4) }, 5, 0},
		{"SetCredit", func() { c.SetCredit(1) }, 6, 0},
		{"SetCredit negative is zero", func() { c.SetCredit(-1) }, 6, 0},
		{"Drain hands over and returns the rest", func() {
			c.SetCredit(0)
			c.AddCredit(10) // hands over the 4 left at once
			if left := c.Drain(); left != 6 {
				t.Fatalf("Drain left %d, want 6", left)
			}
		}, 10, 0},
	}
	for _, st := range steps {
		st.do()
		if n := len(s.deliveries()); n != st.delivered {
			t.Fatalf("%s: %d delivered, want %d", st.name, n, st.delivered)
		}
		if cr := c.Credit(); cr != st.credit {
			t.Fatalf("%s: credit %d, want %d", st.name, cr, st.credit)
		}
	}
	if got := s.bodies(); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}) {
		t.Fatalf("out of order: %v", got)
	}
	if c.Unsettled() != 10 {
		t.Fatalf("Unsettled %d", c.Unsettled())
	}
	c.AddCredit(1)
	publish(t, x, msg("t", "late"))
	if got := s.last(t); string(got.Msg.Body) != "late" || c.Credit() != 0 {
		t.Fatal("credit after a drain did not work")
	}
}

func TestDrainWithNothingReady(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	var s sink
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 5})
	if left := c.Drain(); left != 5 || c.Credit() != 0 {
		t.Fatalf("Drain %d, credit %d", left, c.Credit())
	}
	// Drain from inside the Handler: it cannot wait for itself.
	var left atomic.Int64
	var c2 *exchange.Consumer
	c2, err := x.Consume("r", exchange.ConsumerOptions{Handler: func(d *exchange.Delivery) {
		left.Store(int64(d.Consumer().Drain()))
	}})
	if err != nil {
		t.Fatal(err)
	}
	c2.AddCredit(3)
	publish(t, x, msg("r", "x"))
	if left.Load() != 2 || c2.Credit() != 0 {
		t.Fatalf("Drain in handler left %d, credit %d", left.Load(), c2.Credit())
	}
}

func TestFilter(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	red := func(m *message.Message) bool { return m.Headers.GetString("color") == "red" }
	var reds sink
	consume(t, x, "q", &reds, exchange.ConsumerOptions{Credit: 10, Filter: red})
	for i, color := range []string{"red", "blue", "red", "green"} {
		m := msg("t", fmt.Sprint(i))
		m.Headers.Add("color", message.String(color))
		publish(t, x, m)
	}
	if got := reds.bodies(); !slices.Equal(got, []string{"0", "2"}) {
		t.Fatalf("filtered consumer got %v", got)
	}
	if q := queueStats(t, x, "q"); q.Ready != 2 {
		t.Fatalf("refused messages should stay: ready %d", q.Ready)
	}
	var rest sink
	consume(t, x, "q", &rest, exchange.ConsumerOptions{Credit: 10})
	if got := rest.bodies(); !slices.Equal(got, []string{"1", "3"}) {
		t.Fatalf("unfiltered consumer got %v", got)
	}
}

func TestExclusive(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var a, b sink
	c := consume(t, x, "q", &a, exchange.ConsumerOptions{Exclusive: true})
	if _, err := x.Consume("q", exchange.ConsumerOptions{Handler: b.handler}); !errors.Is(err, exchange.ErrExclusive) {
		t.Fatalf("second consumer on an exclusive queue: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d := consume(t, x, "q", &b, exchange.ConsumerOptions{})
	if _, err := x.Consume("q", exchange.ConsumerOptions{Handler: a.handler, Exclusive: true}); !errors.Is(err, exchange.ErrExclusive) {
		t.Fatalf("exclusive consumer on a queue in use: %v", err)
	}
	d.Close()
}

func TestAutoAck(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 5, AutoAck: true})
	for range 3 {
		publish(t, x, msg("t", "x"))
	}
	q := queueStats(t, x, "q")
	if len(s.deliveries()) != 3 || c.Unsettled() != 0 || q.Ready != 0 || q.Unsettled != 0 || q.Acked != 3 || q.Bytes != 0 {
		t.Fatalf("after auto-ack: %d delivered, %+v", len(s.deliveries()), q)
	}
	for _, o := range []exchange.Outcome{exchange.Accepted, exchange.Rejected, exchange.Released} {
		if err := s.last(t).Settle(o); err != nil {
			t.Fatalf("Settle on an auto-ack delivery: %v", err)
		}
	}
	if c.Credit() != 2 {
		t.Fatalf("credit %d", c.Credit())
	}
}

func TestConsumerCloseReleases(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var a, b sink
	c := consume(t, x, "q", &a, exchange.ConsumerOptions{Credit: 2})
	for i := range 3 {
		publish(t, x, msg("t", fmt.Sprint(i)))
	}
	held := a.deliveries()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if len(a.closed) != 0 {
		t.Fatal("Closed callback called on the owner's own Close")
	}
	for _, d := range held {
		if err := d.Settle(exchange.Accepted); !errors.Is(err, exchange.ErrSettled) {
			t.Fatalf("settling a released delivery: %v", err)
		}
	}
	consume(t, x, "q", &b, exchange.ConsumerOptions{Credit: 10})
	got := b.deliveries()
	if bs := b.bodies(); !slices.Equal(bs, []string{"0", "1", "2"}) {
		t.Fatalf("after close, next consumer got %v (released ones go back first)", bs)
	}
	for i, d := range got {
		redelivery := i < len(held)
		if d.DeliveryCount != 0 || d.Redelivered != redelivery || redelivery && d.Seq != held[i].Seq {
			t.Fatalf("delivery %d: seq %d count %d redelivered %v", i, d.Seq, d.DeliveryCount, d.Redelivered)
		}
	}
	c.AddCredit(5) // a closed consumer ignores credit
	if c.Credit() != 0 {
		t.Fatal("closed consumer took credit")
	}
}

func TestAutoDeleteQueue(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{AutoDelete: true}, "t")
	var a, b sink
	c1 := consume(t, x, "q", &a, exchange.ConsumerOptions{})
	c2 := consume(t, x, "q", &b, exchange.ConsumerOptions{})
	c1.Close()
	if _, ok := x.Queue("q"); !ok {
		t.Fatal("deleted with a consumer left")
	}
	c2.Close()
	if _, ok := x.Queue("q"); ok {
		t.Fatal("auto-delete queue survived its last consumer")
	}
}

func TestHandlerOneAtATimeInOrder(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var inside atomic.Int32
	var bad atomic.Bool
	var seqs []uint64
	c, err := x.Consume("q", exchange.ConsumerOptions{Credit: 1 << 20, Handler: func(d *exchange.Delivery) {
		if inside.Add(1) != 1 {
			bad.Store(true)
		}
		seqs = append(seqs, d.Seq) // safe only if calls never overlap
		if err := d.Settle(exchange.Accepted); err != nil {
			bad.Store(true)
		}
		inside.Add(-1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 500 {
				publish(t, x, msg("t", "x"))
			}
		}()
	}
	for range 4 {
		<-done
	}
	eventually(t, "all delivered", func() bool { q, _ := x.Queue("q"); return q.Acked == 2000 })
	c.Close()
	if bad.Load() {
		t.Fatal("Handler calls overlapped or a settle failed")
	}
	if !slices.IsSorted(seqs) || len(seqs) != 2000 {
		t.Fatalf("%d deliveries, in order: %v", len(seqs), slices.IsSorted(seqs))
	}
}

func TestConsumeErrors(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	if _, err := x.Consume("q", exchange.ConsumerOptions{}); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("Consume without a handler: %v", err)
	}
	if _, err := x.Consume("", exchange.ConsumerOptions{Handler: func(*exchange.Delivery) {}}); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("Consume without a queue: %v", err)
	}
	var zero exchange.Delivery
	if err := zero.Settle(exchange.Accepted); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("Settle on a zero Delivery: %v", err)
	}
}

// TestDispatchHandOff fills a queue beyond what one caller delivers for
// others, then attaches a consumer: the rest is delivered by a goroutine of
// the exchange, in order and one call at a time.
func TestDispatchHandOff(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	const n = 2000
	for i := range n {
		publish(t, x, msg("t", fmt.Sprint(i)))
	}
	var inside atomic.Int32
	var bad atomic.Bool
	var got []string
	var count atomic.Int64
	c, err := x.Consume("q", exchange.ConsumerOptions{Credit: n, AutoAck: true, Handler: func(d *exchange.Delivery) {
		if inside.Add(1) != 1 {
			bad.Store(true)
		}
		got = append(got, string(d.Msg.Body))
		inside.Add(-1)
		count.Add(1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "all delivered", func() bool { return count.Load() == n })
	c.Close()
	if bad.Load() {
		t.Fatal("Handler calls overlapped")
	}
	for i, b := range got {
		if b != fmt.Sprint(i) {
			t.Fatalf("delivery %d is %q", i, b)
		}
	}
}
