package exchange_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
)

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		outcome exchange.Outcome
		// What the same consumer sees next, given one more credit: the body
		// ("" none), its DeliveryCount and Redelivered.
		next      string
		nextCount int
		ready     int // left on the queue afterwards (other consumers none)
		dlq       int
		acked     uint64
	}{
		{"accepted removes", exchange.Accepted, "1", 0, 0, 0, 1},
		{"released requeues in place, count unchanged", exchange.Released, "0", 0, 1, 0, 0},
		{"modified requeues with count+1", exchange.Modified, "0", 1, 1, 0, 0},
		{"modified undeliverable-here skips this consumer", exchange.Outcome{Kind: exchange.OutcomeModified, UndeliverableHere: true}, "1", 0, 1, 0, 0},
		{"rejected dead-letters", exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "bad json"}, "1", 0, 0, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, exchange.Config{})
			declare(t, x, "q", exchange.QueueConfig{}, "t")
			var s sink
			c := consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
			publish(t, x, msg("t", "0"))
			publish(t, x, msg("t", "1"))
			first := s.last(t)
			settle(t, first, tc.outcome)
			if err := first.Settle(exchange.Accepted); !errors.Is(err, exchange.ErrSettled) {
				t.Fatalf("second Settle: %v", err)
			}
			c.AddCredit(1)
			if len(s.deliveries()) != 2 {
				t.Fatalf("%d deliveries", len(s.deliveries()))
			}
			next := s.last(t)
			if string(next.Msg.Body) != tc.next || next.DeliveryCount != tc.nextCount {
				t.Fatalf("next delivery %q count %d, want %q count %d", next.Msg.Body, next.DeliveryCount, tc.next, tc.nextCount)
			}
			if next.Redelivered != (tc.next == "0") {
				t.Fatalf("Redelivered %v", next.Redelivered)
			}
			if tc.next == "0" && next.Seq != first.Seq {
				t.Fatalf("seq changed on redelivery: %d then %d", first.Seq, next.Seq)
			}
			if next == first {
				t.Fatal("a redelivery reused the settled Delivery")
			}
			settle(t, next, exchange.Accepted)
			q := queueStats(t, x, "q")
			if q.Ready != tc.ready || q.Acked != tc.acked+1 || q.DeadLetter != uint64(tc.dlq) {
				t.Fatalf("queue after: %+v", q)
			}
			if d, ok := x.Queue(exchange.DefaultDeadLetter); ok != (tc.dlq > 0) || ok && d.Ready != tc.dlq {
				t.Fatalf("dead-letter queue: %+v %v", d, ok)
			}
		})
	}
}

func TestUndeliverableHereGoesToAnotherConsumer(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var a, b sink
	a.settle = &exchange.Outcome{Kind: exchange.OutcomeModified, UndeliverableHere: true}
	consume(t, x, "q", &a, exchange.ConsumerOptions{Credit: 10})
	publish(t, x, msg("t", "x"))
	if len(a.deliveries()) != 1 {
		t.Fatalf("a got %d", len(a.deliveries()))
	}
	consume(t, x, "q", &b, exchange.ConsumerOptions{Credit: 10})
	if len(a.deliveries()) != 1 || len(b.deliveries()) != 1 || b.last(t).DeliveryCount != 1 {
		t.Fatalf("a %d, b %d", len(a.deliveries()), len(b.deliveries()))
	}
}

func TestMaxDeliveriesDeadLetters(t *testing.T) {
	clk := newClock()
	x := newExchange(t, exchange.Config{Now: clk.Now})
	declare(t, x, "q", exchange.QueueConfig{MaxDeliveries: 3, DeadLetter: "dead"}, "orders/+")
	var s sink
	s.settle = &exchange.Modified
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 100})
	m := msg("orders/7", "x")
	publish(t, x, m)
	if n := len(s.deliveries()); n != 3 {
		t.Fatalf("delivered %d times, want MaxDeliveries=3", n)
	}
	for i, d := range s.deliveries() {
		if d.DeliveryCount != i {
			t.Fatalf("attempt %d has count %d", i, d.DeliveryCount)
		}
	}
	var dead sink
	consume(t, x, "dead", &dead, exchange.ConsumerOptions{Credit: 1})
	d := dead.last(t)
	dl := d.Msg.Annotations.DeadLetter
	if dl == nil || dl.Reason != "delivery-limit" || dl.Queue != "q" || dl.Address != "orders/7" ||
		!dl.Time.Equal(clk.Now()) || dl.DeliveryCount != 3 {
		t.Fatalf("dead letter annotation %+v", dl)
	}
	if d.Msg == m || m.Annotations.DeadLetter != nil || string(d.Msg.Body) != "x" || d.Msg.ID != m.ID {
		t.Fatal("the dead letter must be an annotated clone")
	}
	if s := x.Stats(); s.DeadLetter != 1 {
		t.Fatalf("Stats.DeadLetter %d", s.DeadLetter)
	}
	if q := queueStats(t, x, "dead"); !q.Config.Durable {
		t.Fatal("dead-letter queue should be created durable")
	}
}

func TestRejectDeadLetterAnnotations(t *testing.T) {
	clk := newClock()
	x := newExchange(t, exchange.Config{Now: clk.Now})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	s.settle = &exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "schema"}
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
	publish(t, x, msg("t", "x"))
	var dead sink
	consume(t, x, "$dlq", &dead, exchange.ConsumerOptions{Credit: 1})
	dl := dead.last(t).Msg.Annotations.DeadLetter
	if dl == nil || dl.Reason != "rejected" || dl.Detail != "schema" || dl.Queue != "q" || dl.DeliveryCount != 0 {
		t.Fatalf("annotation %+v", dl)
	}
}

func TestDeadLetterDropped(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		cfg   exchange.QueueConfig
	}{
		{"dead-letter disabled", "q", exchange.QueueConfig{DeadLetter: "-"}},
		{"dead-letter queue is itself", "$dlq", exchange.QueueConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, exchange.Config{})
			declare(t, x, tc.queue, tc.cfg, "t")
			var s sink
			s.settle = &exchange.Rejected
			consume(t, x, tc.queue, &s, exchange.ConsumerOptions{Credit: 10})
			publish(t, x, msg("t", "x"))
			if n := len(s.deliveries()); n != 1 {
				t.Fatalf("delivered %d times", n)
			}
			q := queueStats(t, x, tc.queue)
			if q.Ready != 0 || q.Dropped != 1 || x.Stats().Dropped["dead-letter-dropped"] != 1 {
				t.Fatalf("%+v %v", q, x.Stats().Dropped)
			}
			if len(x.Queues()) != 1 {
				t.Fatal("a dead-letter queue was created")
			}
		})
	}
}

func TestDeadLetterQueueFull(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "dead", exchange.QueueConfig{MaxLength: 1, Overflow: exchange.RejectPublish})
	declare(t, x, "q", exchange.QueueConfig{DeadLetter: "dead"}, "t")
	var s sink
	s.settle = &exchange.Rejected
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 10})
	publish(t, x, msg("t", "1"))
	publish(t, x, msg("t", "2"))
	if d, q := queueStats(t, x, "dead"), queueStats(t, x, "q"); d.Ready != 1 || q.DeadLetter != 1 || q.Dropped != 1 {
		t.Fatalf("dead %+v, q %+v", d, q)
	}
}

func TestPriorities(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	c := consume(t, x, "q", &s, exchange.ConsumerOptions{})
	prios := []uint8{4, 9, 0, 9, 4, 200, 1} // 200 counts as 9
	for i, p := range prios {
		m := msg("t", fmt.Sprintf("%d:%d", i, p))
		m.Priority = p
		publish(t, x, m)
	}
	c.AddCredit(len(prios))
	want := []string{"1:9", "3:9", "5:200", "0:4", "4:4", "6:1", "2:0"}
	if got := s.bodies(); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// A released high-priority message still goes before lower ones.
	settle(t, s.deliveries()[0], exchange.Released)
	publish(t, x, msg("t", "low"))
	c.AddCredit(1)
	if got := s.last(t); string(got.Msg.Body) != "1:9" {
		t.Fatalf("after release got %q", got.Msg.Body)
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		name       string
		queue      exchange.QueueConfig
		expires    time.Duration // message Expires from now; 0 none
		deadLetter bool
		sweep      bool // expire by sweep rather than at dispatch
	}{
		{"message expiry at dispatch", exchange.QueueConfig{}, time.Second, false, false},
		{"queue TTL at dispatch", exchange.QueueConfig{TTL: time.Second}, 0, false, false},
		{"earlier of the two wins", exchange.QueueConfig{TTL: time.Hour}, time.Second, false, false},
		{"message expiry by sweep", exchange.QueueConfig{}, time.Second, false, true},
		{"queue TTL by sweep, dead-lettered", exchange.QueueConfig{TTL: time.Second}, 0, true, true},
		{"dead-lettered at dispatch", exchange.QueueConfig{}, time.Second, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			x := newExchange(t, exchange.Config{Now: clk.Now, DeadLetterExpired: tc.deadLetter})
			declare(t, x, "q", tc.queue, "t")
			m := msg("t", "old")
			if tc.expires > 0 {
				m.Expires = clk.Now().Add(tc.expires)
			}
			publish(t, x, m)
			publish(t, x, msg("t", "keeper")) // no expiry of its own
			first := tc.expires               // the earlier expiry comes first
			if first == 0 || tc.queue.TTL > 0 && tc.queue.TTL < first {
				first = tc.queue.TTL
			}
			clk.Advance(first / 2)
			if n := x.Sweep(); n != 0 {
				t.Fatalf("swept %d before expiry", n)
			}
			clk.Advance(time.Second)
			if tc.sweep {
				if n := x.Sweep(); n != 1+boolInt(tc.queue.TTL == time.Second) {
					t.Fatalf("swept %d", n)
				}
			}
			var s sink
			consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 10})
			got := s.bodies()
			wantKeeper := tc.queue.TTL != time.Second // the queue TTL expires both
			if wantKeeper && !slices.Equal(got, []string{"keeper"}) || !wantKeeper && len(got) != 0 {
				t.Fatalf("delivered %v", got)
			}
			q := queueStats(t, x, "q")
			st := x.Stats()
			expired := uint64(1 + boolInt(!wantKeeper))
			if q.Expired != expired || st.Expired != expired {
				t.Fatalf("expired: queue %d, exchange %d, want %d", q.Expired, st.Expired, expired)
			}
			dlq, hasDLQ := x.Queue("$dlq")
			if tc.deadLetter {
				if !hasDLQ || dlq.Ready != int(expired) || q.DeadLetter != expired {
					t.Fatalf("dead-letter queue %+v", dlq)
				}
				var ds sink
				consume(t, x, "$dlq", &ds, exchange.ConsumerOptions{Credit: 1})
				if dl := ds.last(t).Msg.Annotations.DeadLetter; dl == nil || dl.Reason != "expired" {
					t.Fatalf("annotation %+v", dl)
				}
			} else if hasDLQ || q.Dropped != expired || st.Dropped["expired"] != expired {
				t.Fatalf("dropped %d %v, dlq %v", q.Dropped, st.Dropped, hasDLQ)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDropHead(t *testing.T) {
	tests := []struct {
		name        string
		cfg         exchange.QueueConfig
		wantReady   []string
		wantDropped int
	}{
		{"by count", exchange.QueueConfig{MaxLength: 3}, []string{"2", "3", "4"}, 2},
		{"by bytes", exchange.QueueConfig{MaxBytes: 2 * sizeWithID("0")}, []string{"3", "4"}, 3},
		{"unlimited", exchange.QueueConfig{MaxLength: -1, MaxBytes: -1}, []string{"0", "1", "2", "3", "4"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, exchange.Config{})
			declare(t, x, "q", tc.cfg, "t")
			dropped := 0
			for i := range 5 {
				m := msg("t", fmt.Sprint(i))
				m.ID = "id" + fmt.Sprint(i)
				dropped += publish(t, x, m).Dropped
			}
			if dropped != tc.wantDropped || x.Stats().Dropped["overflow"] != uint64(tc.wantDropped) ||
				queueStats(t, x, "q").Dropped != uint64(tc.wantDropped) {
				t.Fatalf("dropped %d, stats %v", dropped, x.Stats().Dropped)
			}
			var s sink
			consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 10})
			if got := s.bodies(); !slices.Equal(got, tc.wantReady) {
				t.Fatalf("left %v, want %v", got, tc.wantReady)
			}
		})
	}
}

func sizeWithID(body string) int64 {
	m := msg("t", body)
	m.ID = "id" + body
	return int64(m.Size())
}

func TestDropHeadLowestPriorityFirst(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "q", exchange.QueueConfig{MaxLength: 2}, "t")
	for _, p := range []uint8{9, 1, 5} {
		m := msg("t", fmt.Sprint(p))
		m.Priority = p
		publish(t, x, m)
	}
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 10})
	if got := s.bodies(); !slices.Equal(got, []string{"9", "5"}) {
		t.Fatalf("kept %v", got)
	}
}

func TestRejectPublish(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	declare(t, x, "small", exchange.QueueConfig{MaxLength: 2, Overflow: exchange.RejectPublish}, "t")
	declare(t, x, "big", exchange.QueueConfig{}, "t")
	for i := range 2 {
		if r := publish(t, x, msg("t", fmt.Sprint(i))); r.Queues != 2 {
			t.Fatalf("routed %+v", r)
		}
	}
	r, err := x.Publish(t.Context(), msg("t", "2"), exchange.PublishOptions{})
	if !errors.Is(err, exchange.ErrQueueFull) {
		t.Fatalf("Publish to a full reject-publish queue: %v", err)
	}
	// RabbitMQ's semantics: the other queues still get it; the publisher
	// gets a negative outcome.
	if r.Queues != 1 || queueStats(t, x, "big").Ready != 3 || queueStats(t, x, "small").Ready != 2 {
		t.Fatalf("routed %+v", r)
	}
	// Unsettled messages do not count towards the limit.
	var s sink
	consume(t, x, "small", &s, exchange.ConsumerOptions{Credit: 1})
	if _, err := x.Publish(t.Context(), msg("t", "3"), exchange.PublishOptions{}); err != nil {
		t.Fatalf("after one was handed out: %v", err)
	}
}
