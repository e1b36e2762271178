package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// heldStore is an exchange.AsyncStore that keeps every asynchronous
// commit until the test answers it. Commit (declarations, acks) succeeds
// at once; nothing is kept.
type heldStore struct {
	mu   sync.Mutex
	held []chan error
}

func (s *heldStore) Commit(context.Context, *exchange.Batch) error    { return nil }
func (s *heldStore) Recover(context.Context, exchange.Recovery) error { return nil }
func (s *heldStore) Close() error                                     { return nil }
func (s *heldStore) CommitAsync(context.Context, *exchange.Batch) <-chan error {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.held = append(s.held, ch)
	s.mu.Unlock()
	return ch
}

func (s *heldStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// answer answers the i-th commit handed over.
func (s *heldStore) answer(i int, err error) {
	s.mu.Lock()
	ch := s.held[i]
	s.mu.Unlock()
	ch <- err
}

func durablePayload(t testing.TB, body string) []byte {
	t.Helper()
	m := amqpmsg.Message{Header: &amqpmsg.Header{Durable: true}, Data: [][]byte{[]byte(body)}}
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pipelineBroker has a held store and durable queues by default.
func pipelineBroker(t *testing.T, mod func(*Config)) (*testBroker, *heldStore) {
	st := &heldStore{}
	b := newBrokerX(t, exchange.Config{Store: st, DefaultQueue: exchange.QueueConfig{Durable: true}}, mod)
	t.Cleanup(func() { // Shutdown waits for the publishes in flight
		for i := range st.count() {
			select {
			case st.held[i] <- nil:
			default:
			}
		}
	})
	return b, st
}

// readDispositions reads frames until n deliveries have an outcome and
// returns their states by delivery-id, and the number of disposition
// frames they came in.
func readDispositions(r *rawConn, n int) (map[uint32]frames.DeliveryState, int) {
	r.t.Helper()
	got := map[uint32]frames.DeliveryState{}
	frameCount := 0
	for len(got) < n {
		_, p, _ := r.next()
		d, ok := p.(*frames.Disposition)
		if !ok {
			continue
		}
		frameCount++
		if d.Role != frames.RoleReceiver || !d.Settled {
			r.t.Fatalf("disposition %+v", d)
		}
		for id := uint32(d.First); ; id++ {
			got[id] = d.State
			if id == uint32(d.Last.Or(d.First)) {
				break
			}
		}
	}
	return got, frameCount
}

// TestPipelinedDurablePublishes sends unsettled durable transfers without
// waiting: the broker hands them all to the store before the first commit
// ends, sends no disposition before its commit, accepts the stored ones
// (whatever order the commits finish in) and rejects the one whose commit
// failed; the queue has the stored ones in order.
func TestPipelinedDurablePublishes(t *testing.T) {
	b, st := pipelineBroker(t, nil)
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "p", "/queues/pq", false)
	const n = 10
	for i := range n {
		r.transfer(0, 0, uint32(i), false, durablePayload(t, fmt.Sprint(i)))
	}
	// All in flight at once: the reader did not wait for the first commit.
	eventually(t, "10 commits handed to the store", func() bool { return st.count() == n })
	if _, p, _, err := r.tryNext(100 * time.Millisecond); err == nil {
		t.Fatalf("got %s before any commit ended", perfName(p))
	}
	for i := n - 1; i >= 0; i-- {
		var err error
		if i == 3 {
			err = errors.New("disk on fire")
		}
		st.answer(i, err)
	}
	got, frameCount := readDispositions(r, n)
	for i := range uint32(n) {
		switch st := got[i].(type) {
		case *frames.Accepted:
			if i == 3 {
				t.Fatal("delivery 3 accepted although its commit failed")
			}
		case *frames.Rejected:
			if i != 3 || st.Error == nil || st.Error.Condition != frames.AMQPErrorInternalError {
				t.Fatalf("delivery %d rejected with %+v", i, st.Error)
			}
		default:
			t.Fatalf("delivery %d: state %T", i, got[i])
		}
	}
	if frameCount > 4 {
		t.Errorf("%d disposition frames for %d deliveries answered together: want ranges", frameCount, n)
	}
	if qs, _ := b.x.Queue("pq"); qs.Ready != n-1 {
		t.Fatalf("queue has %d ready, want %d", qs.Ready, n-1)
	}
	r.attachReceiver(0, 1, "c", "/queues/pq", 100)
	var bodies []string
	for range n - 1 {
		_, payload := r.delivery()
		var m amqpmsg.Message
		if err := m.Unmarshal(payload); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(m.Data[0]))
	}
	if want := "[0 1 2 4 5 6 7 8 9]"; fmt.Sprint(bodies) != want {
		t.Fatalf("delivered %v, want %s", bodies, want)
	}
}

// TestPipelineWindow: with MaxPublishesInFlight 2 the connection stops
// reading once the window is full, and goes on once commits end.
func TestPipelineWindow(t *testing.T) {
	b, st := pipelineBroker(t, func(c *Config) { c.MaxPublishesInFlight = 2 })
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "p", "/queues/pw", false)
	const n = 8
	for i := range n {
		r.transfer(0, 0, uint32(i), false, durablePayload(t, fmt.Sprint(i)))
	}
	// One being waited for, two queued, one the reader holds: no more.
	eventually(t, "the window to fill", func() bool { return st.count() >= 3 })
	time.Sleep(100 * time.Millisecond)
	if c := st.count(); c > 4 {
		t.Fatalf("%d publishes in flight with a window of 2", c)
	}
	for i := 0; i < n; i++ {
		eventually(t, "the next commit", func() bool { return st.count() > i })
		st.answer(i, nil)
	}
	got, _ := readDispositions(r, n)
	for i := range uint32(n) {
		if _, ok := got[i].(*frames.Accepted); !ok {
			t.Fatalf("delivery %d: %T", i, got[i])
		}
	}
}

// TestDetachAfterDispositions: the peer's detach is answered only after
// the dispositions of the transfers before it.
func TestDetachAfterDispositions(t *testing.T) {
	b, st := pipelineBroker(t, nil)
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "p", "/queues/pd", false)
	for i := range 3 {
		r.transfer(0, 0, uint32(i), false, durablePayload(t, fmt.Sprint(i)))
	}
	r.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
	eventually(t, "3 commits", func() bool { return st.count() == 3 })
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		st.answer(i, nil)
	}
	seen := 0
	for {
		_, p, _ := r.next()
		switch v := p.(type) {
		case *frames.Disposition:
			seen += int(uint32(v.Last.Or(v.First)) - uint32(v.First) + 1)
		case *frames.Detach:
			if seen != 3 {
				t.Fatalf("detach answered after %d of 3 dispositions", seen)
			}
			return
		}
	}
}

// TestPipelinePreSettled: pre-settled durable transfers are pipelined too
// and get no disposition; the queue has them in order.
func TestPipelinePreSettled(t *testing.T) {
	b, st := pipelineBroker(t, nil)
	r := b.raw(t)
	r.open(nil)
	r.begin(0)
	r.attachSender(0, 0, "p", "/queues/ps", true)
	for i := range 5 {
		r.transfer(0, 0, uint32(i), true, durablePayload(t, fmt.Sprint(i)))
	}
	eventually(t, "5 commits", func() bool { return st.count() == 5 })
	for i := 4; i >= 0; i-- {
		st.answer(i, nil)
	}
	eventually(t, "5 ready", func() bool { qs, _ := b.x.Queue("ps"); return qs.Ready == 5 })
	if _, p, _, err := r.tryNext(100 * time.Millisecond); err == nil {
		if _, ok := p.(*frames.Disposition); ok {
			t.Fatal("disposition for a pre-settled transfer")
		}
	}
}
