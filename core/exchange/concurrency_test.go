package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

// TestConcurrentPublishersAndConsumers checks, under -race, that with
// concurrent publishers, competing consumers settling from their own
// goroutines with every outcome that requeues, and a consumer that leaves
// with deliveries unsettled, every message is accepted exactly once.
func TestConcurrentPublishersAndConsumers(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			store := memory.New()
			x := newExchange(t, exchange.Config{Store: store})
			declare(t, x, "work", exchange.QueueConfig{Durable: true, MaxDeliveries: -1}, "jobs/#")
			const publishers, each, credit = 4, 1500, 32
			total := publishers * each

			var mu sync.Mutex
			accepted := map[string]int{}
			var nAccepted atomic.Int64
			done := make(chan struct{})
			var workers sync.WaitGroup

			startConsumer := func(seed uint64) {
				ch := make(chan *exchange.Delivery, credit) // never fills: credit bounds it
				c, err := x.Consume("work", exchange.ConsumerOptions{Credit: credit, Handler: func(d *exchange.Delivery) {
					ch <- d
				}})
				if err != nil {
					t.Error(err)
					return
				}
				workers.Add(1)
				go func() {
					defer workers.Done()
					r := rand.New(rand.NewPCG(seed, 1))
					for {
						select {
						case <-done:
							return
						case d := <-ch:
							o := exchange.Accepted
							switch n := r.IntN(10); {
							case n == 0:
								o = exchange.Released
							case n == 1:
								o = exchange.Modified
							}
							err := d.Settle(o)
							if err != nil {
								t.Errorf("Settle: %v", err)
								return
							}
							if o.Kind == exchange.OutcomeAccepted {
								mu.Lock()
								accepted[d.Msg.ID]++
								mu.Unlock()
								nAccepted.Add(1)
							}
							c.AddCredit(1)
						}
					}
				}()
			}
			for i := range 3 {
				startConsumer(uint64(i))
			}
			// A consumer that takes messages and leaves without settling.
			var quitter atomic.Pointer[exchange.Consumer]
			var taken atomic.Int64
			q, err := x.Consume("work", exchange.ConsumerOptions{Credit: 50, Handler: func(d *exchange.Delivery) {
				if taken.Add(1) == 50 {
					go quitter.Load().Close()
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			quitter.Store(q)

			var pubs sync.WaitGroup
			for p := range publishers {
				pubs.Add(1)
				go func() {
					defer pubs.Done()
					for i := range each {
						m := msg(fmt.Sprintf("jobs/%d", i%7), "x")
						m.ID = fmt.Sprintf("%d-%d", p, i)
						m.Durable = durable
						if _, err := x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			pubs.Wait()
			eventually(t, "every message accepted", func() bool { return nAccepted.Load() >= int64(total) })
			close(done)
			workers.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(accepted) != total {
				t.Fatalf("%d distinct messages accepted, want %d", len(accepted), total)
			}
			for id, n := range accepted {
				if n != 1 {
					t.Fatalf("message %s accepted %d times", id, n)
				}
			}
			s := queueStats(t, x, "work")
			if s.Ready != 0 || s.Unsettled != 0 || s.Acked != uint64(total) || s.Bytes != 0 {
				t.Fatalf("queue after: %+v", s)
			}
			if n := store.Messages("work"); n != 0 {
				t.Fatalf("store keeps %d messages", n)
			}
		})
	}
}

// TestConcurrentAdmin races declarations, bindings, deletions, publishes
// and consumers: nothing may panic, deadlock or trip the race detector.
func TestConcurrentAdmin(t *testing.T) {
	x := newExchange(t, exchange.Config{Store: memory.New()})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				name := fmt.Sprintf("q%d", i%5)
				switch (g + i) % 5 {
				case 0:
					_ = x.DeclareQueue(name, exchange.QueueConfig{Durable: i%2 == 0})
					_ = x.Bind(name, mustFilter("a/+"))
				case 1:
					m := msg("a/b", "x")
					m.Durable = true
					if _, err := x.Publish(context.Background(), m, exchange.PublishOptions{EnsureQueue: i%3 == 0}); err != nil {
						t.Error(err)
					}
				case 2:
					if err := x.DeleteQueue(name); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) {
						t.Error(err)
					}
				case 3:
					c, err := x.Consume(name, exchange.ConsumerOptions{Credit: 5, Handler: func(d *exchange.Delivery) {
						_ = d.Settle(exchange.Accepted)
					}})
					if err == nil {
						c.Close()
					}
				case 4:
					x.Queues()
					x.Stats()
					x.Sweep()
				}
			}
		}()
	}
	wg.Wait()
}
