package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

// heldStore is an exchange.AsyncStore whose asynchronous commits wait
// until the test answers them, in any order. Commit (declarations) goes
// straight through.
type heldStore struct {
	*memory.Store
	mu   sync.Mutex
	held []*heldCommit
}

type heldCommit struct {
	b  *exchange.Batch
	ch chan error
}

var _ exchange.AsyncStore = (*heldStore)(nil)

func (s *heldStore) CommitAsync(_ context.Context, b *exchange.Batch) <-chan error {
	c := &heldCommit{b: b, ch: make(chan error, 1)}
	s.mu.Lock()
	s.held = append(s.held, c)
	s.mu.Unlock()
	return c.ch
}

// take removes and returns the commits handed over so far.
func (s *heldStore) take() []*heldCommit {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.held
	s.held = nil
	return h
}

// answer applies c to the memory store unless err is set, then answers.
func (s *heldStore) answer(t testing.TB, c *heldCommit, err error) {
	t.Helper()
	if err == nil {
		if cerr := s.Store.Commit(context.Background(), c.b); cerr != nil {
			t.Fatalf("memory commit: %v", cerr)
		}
	}
	c.ch <- err
}

func TestPublishPendingVisibleOnlyAfterCommit(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 100})

	p := x.PublishPending(context.Background(), durableMsg("t", "a"), exchange.PublishOptions{})
	if p.Ready() {
		t.Fatal("a durable publish was ready before the store answered")
	}
	waited := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background())
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v before the store answered", err)
	case <-time.After(20 * time.Millisecond):
	}
	if got := s.bodies(); len(got) != 0 || queueStats(t, x, "q").Ready != 0 {
		t.Fatalf("visible before the commit: delivered %v", got)
	}
	cs := st.take()
	if len(cs) != 1 {
		t.Fatalf("%d commits handed to the store, want 1", len(cs))
	}
	st.answer(t, cs[0], nil)
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Confirmed means stored: the store has it when Wait returns.
	if n := st.Messages("q"); n != 1 {
		t.Fatalf("store holds %d messages after Wait, want 1", n)
	}
	if got := s.bodies(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("delivered %v, want [a]", got)
	}
}

func TestPublishPendingKeepsOrderWhenCommitsRace(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	declare(t, x, "mem", exchange.QueueConfig{}, "t") // non-durable: never waits for the store itself
	var s, sm sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1000})
	consume(t, x, "mem", &sm, exchange.ConsumerOptions{Credit: 1000})

	const n = 60
	var want []string
	ps := make([]*exchange.Pending, 0, n)
	for i := range n {
		body := strconv.Itoa(i)
		want = append(want, body)
		m := msg("t", body)
		m.Durable = i%5 != 3 // some non-durable ones in between must wait their turn too
		ps = append(ps, x.PublishPending(context.Background(), m, exchange.PublishOptions{}))
	}
	cs := st.take()
	// Answer every commit but the first, in random order, and wait for
	// their publishes from several goroutines: nothing may overtake the
	// first message.
	rand.Shuffle(len(cs)-1, func(i, j int) { cs[i+1], cs[j+1] = cs[j+1], cs[i+1] })
	for _, c := range cs[1:] {
		st.answer(t, c, nil)
	}
	var wg sync.WaitGroup
	for _, p := range ps[1:] {
		wg.Go(func() {
			if _, err := p.Wait(context.Background()); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
	wg.Wait()
	if got := s.bodies(); len(got) != 0 {
		t.Fatalf("delivered %v while the first message was still committing", got)
	}
	if got := sm.bodies(); len(got) != 0 {
		t.Fatalf("non-durable queue delivered %v while the first message was still committing", got)
	}
	st.answer(t, cs[0], nil)
	r, err := ps[0].Wait(context.Background())
	if err != nil || r.Queues != 2 {
		t.Fatalf("first Wait: %+v %v", r, err)
	}
	if got := s.bodies(); !slices.Equal(got, want) {
		t.Fatalf("durable queue delivered %v, want %v", got, want)
	}
	if got := sm.bodies(); !slices.Equal(got, want) {
		t.Fatalf("non-durable queue delivered %v, want %v", got, want)
	}
}

func TestPublishPendingFailureReleasesReservation(t *testing.T) {
	boom := errors.New("disk on fire")
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true, MaxLength: 2, Overflow: exchange.RejectPublish}, "t")
	declare(t, x, "mem", exchange.QueueConfig{}, "t")

	p1 := x.PublishPending(context.Background(), durableMsg("t", "1"), exchange.PublishOptions{})
	p2 := x.PublishPending(context.Background(), durableMsg("t", "2"), exchange.PublishOptions{})
	// Two places are reserved: the queue is full for a third.
	p3 := x.PublishPending(context.Background(), durableMsg("t", "3"), exchange.PublishOptions{})
	if !p3.Ready() {
		t.Fatal("a publish refused by a full queue was not complete at once")
	}
	if _, err := p3.Wait(context.Background()); !errors.Is(err, exchange.ErrQueueFull) {
		t.Fatalf("third publish: %v, want ErrQueueFull", err)
	}
	cs := st.take()
	st.answer(t, cs[0], boom) // p1 fails
	st.answer(t, cs[1], nil)  // p2 commits
	r, err := p1.Wait(context.Background())
	if !errors.Is(err, boom) || r.Queues != 0 {
		t.Fatalf("failed publish: %+v %v", r, err)
	}
	if _, err := p2.Wait(context.Background()); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	// Only the committed message is on q; mem also has the third, which
	// q refused (it goes to the other queues, as with RabbitMQ).
	for q, want := range map[string]int{"q": 1, "mem": 2} {
		if got := queueStats(t, x, q).Ready; got != want {
			t.Fatalf("queue %s has %d ready, want %d", q, got, want)
		}
	}
	// The failed message's place was given back: one more fits.
	p4 := x.PublishPending(context.Background(), durableMsg("t", "4"), exchange.PublishOptions{})
	for _, c := range st.take() {
		st.answer(t, c, nil)
	}
	if _, err := p4.Wait(context.Background()); err != nil {
		t.Fatalf("publish after the failure: %v", err)
	}
	if n := st.Messages("q"); n != 2 {
		t.Fatalf("store holds %d, want 2", n)
	}
}

func TestPublishPendingWaitCancelled(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	p1 := x.PublishPending(context.Background(), durableMsg("t", "1"), exchange.PublishOptions{})
	p2 := x.PublishPending(context.Background(), durableMsg("t", "2"), exchange.PublishOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p1.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
	cs := st.take()
	st.answer(t, cs[0], nil) // too late: p1 gave up
	st.answer(t, cs[1], nil)
	if _, err := p2.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := queueStats(t, x, "q").Ready; got != 1 {
		t.Fatalf("%d ready, want 1: the abandoned publish must not become visible", got)
	}
}

func TestPublishPendingNonDurableCompletesAtOnce(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	p := x.PublishPending(context.Background(), msg("t", "a"), exchange.PublishOptions{})
	if !p.Ready() {
		t.Fatal("a non-durable publish was not complete at once")
	}
	if r, err := p.Wait(context.Background()); err != nil || r.Queues != 1 {
		t.Fatalf("Wait: %+v %v", r, err)
	}
	if len(st.take()) != 0 {
		t.Fatal("a non-durable message was handed to the store")
	}
	// Errors known at once come back the same way.
	bad := x.PublishPending(context.Background(), nil, exchange.PublishOptions{})
	if _, err := bad.Wait(context.Background()); !errors.Is(err, exchange.ErrInvalid) {
		t.Fatalf("nil message: %v", err)
	}
}

func TestPublishPendingDeletedQueue(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t")
	p := x.PublishPending(context.Background(), durableMsg("t", "a"), exchange.PublishOptions{})
	if err := x.DeleteQueue("q"); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.take() {
		st.answer(t, c, nil)
	}
	if r, err := p.Wait(context.Background()); err != nil || r.Queues != 0 {
		t.Fatalf("Wait: %+v %v", r, err)
	}
	eventually(t, "the orphan deleted from the store", func() bool { return st.Messages("q") == 0 })
}

// TestPublishPendingConcurrentPipelines runs publishers that each keep a
// window of publishes in flight, while a goroutine answers the store's
// commits in shuffled groups, and checks that every consumer sees each
// publisher's messages in order.
func TestPublishPendingConcurrentPipelines(t *testing.T) {
	st := &heldStore{Store: memory.New()}
	x := newExchange(t, exchange.Config{Store: st})
	declare(t, x, "q", exchange.QueueConfig{Durable: true}, "t/#")
	declare(t, x, "mem", exchange.QueueConfig{}, "t/#")
	var s, sm sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1 << 20, AutoAck: true})
	consume(t, x, "mem", &sm, exchange.ConsumerOptions{Credit: 1 << 20, AutoAck: true})

	stop := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for {
			cs := st.take()
			rand.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			for _, c := range cs {
				st.answer(t, c, nil)
			}
			select {
			case <-stop:
				if len(cs) == 0 {
					return
				}
			default:
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	const pubs, each, window = 4, 300, 32
	var wg sync.WaitGroup
	for w := range pubs {
		wg.Go(func() {
			inflight := make(chan *exchange.Pending, window)
			done := make(chan struct{})
			go func() { // the publisher's confirmer: waits in order
				defer close(done)
				for p := range inflight {
					if _, err := p.Wait(context.Background()); err != nil {
						t.Errorf("Wait: %v", err)
					}
				}
			}()
			for i := range each {
				m := msg(fmt.Sprintf("t/%d", w), fmt.Sprintf("%d/%d", w, i))
				m.Durable = i%7 != 0
				inflight <- x.PublishPending(context.Background(), m, exchange.PublishOptions{})
			}
			close(inflight)
			<-done
		})
	}
	wg.Wait()
	close(stop)
	<-answered
	for name, sk := range map[string]*sink{"q": &s, "mem": &sm} {
		eventually(t, name+" drained", func() bool { return len(sk.deliveries()) >= pubs*each })
		if n := len(sk.deliveries()); n != pubs*each {
			t.Fatalf("queue %s delivered %d, want %d", name, n, pubs*each)
		}
		next := make([]int, pubs)
		for _, b := range sk.bodies() {
			var w, i int
			if _, err := fmt.Sscanf(b, "%d/%d", &w, &i); err != nil {
				t.Fatal(err)
			}
			if i != next[w] {
				t.Fatalf("queue %s: publisher %d message %d arrived, want %d", name, w, i, next[w])
			}
			next[w]++
		}
	}
}

// slowStore answers asynchronous commits in groups, each after a fixed
// delay that stands for an fsync, as badger's committer does.
type slowStore struct {
	*memory.Store
	delay  time.Duration
	mu     sync.Mutex
	queue  []chan error
	groups int // guarded by mu
	wake   chan struct{}
	quit   chan struct{}
	done   chan struct{}
}

func newSlowStore(delay time.Duration) *slowStore {
	s := &slowStore{Store: memory.New(), delay: delay, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *slowStore) CommitAsync(ctx context.Context, b *exchange.Batch) <-chan error {
	ch := make(chan error, 1)
	if err := s.Store.Commit(ctx, b); err != nil {
		ch <- err
		return ch
	}
	s.mu.Lock()
	s.queue = append(s.queue, ch)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return ch
}

func (s *slowStore) Commit(ctx context.Context, b *exchange.Batch) error {
	return <-s.CommitAsync(ctx, b)
}

func (s *slowStore) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
		case <-s.quit:
			return
		}
		s.mu.Lock()
		g := s.queue
		s.queue = nil
		s.groups++
		s.mu.Unlock()
		time.Sleep(s.delay)
		for _, ch := range g {
			ch <- nil
		}
	}
}

func (s *slowStore) Close() error {
	close(s.quit)
	<-s.done
	return nil
}

// BenchmarkPublishDurable publishes durable messages from one goroutine
// to a store that takes 100µs per group commit: one at a time (Publish)
// and with a window of publishes in flight (PublishPending).
func BenchmarkPublishDurable(b *testing.B) {
	for _, window := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			st := newSlowStore(100 * time.Microsecond)
			defer st.Close()
			x := newExchange(b, exchange.Config{Store: st})
			declare(b, x, "q", exchange.QueueConfig{Durable: true, MaxLength: -1, MaxBytes: -1}, "t")
			var s sink
			consume(b, x, "q", &s, exchange.ConsumerOptions{Credit: 1 << 20, AutoAck: true})
			body := make([]byte, 100)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			ring := make([]*exchange.Pending, 0, window)
			for b.Loop() {
				m := msg("t", "")
				m.Body, m.Durable = body, true
				if window == 1 {
					if _, err := x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if len(ring) == window {
					if _, err := ring[0].Wait(context.Background()); err != nil {
						b.Fatal(err)
					}
					ring = append(ring[:0], ring[1:]...)
				}
				ring = append(ring, x.PublishPending(context.Background(), m, exchange.PublishOptions{}))
			}
			for _, p := range ring {
				if _, err := p.Wait(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
			st.mu.Lock()
			b.ReportMetric(float64(b.N)/float64(max(st.groups, 1)), "msgs/commit")
			st.mu.Unlock()
		})
	}
}
