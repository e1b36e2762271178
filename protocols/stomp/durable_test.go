package stomp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// gateStore is an exchange.Store whose commits of messages wait until the
// test opens the gate.
type gateStore struct {
	gate chan struct{}
	mu   sync.Mutex
	msgs int // messages committed
}

func (s *gateStore) Commit(ctx context.Context, b *exchange.Batch) error {
	for _, op := range b.Ops {
		if op.Kind == exchange.OpPutMessage {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return ctx.Err()
			}
			s.mu.Lock()
			s.msgs++
			s.mu.Unlock()
		}
	}
	return nil
}

func (s *gateStore) Recover(context.Context, exchange.Recovery) error { return nil }
func (s *gateStore) Close() error                                     { return nil }

func (s *gateStore) committed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs
}

// TestReceiptAfterStore checks that the RECEIPT of a persistent SEND to a
// durable queue comes only once the store has the message.
func TestReceiptAfterStore(t *testing.T) {
	st := &gateStore{gate: make(chan struct{})}
	x, err := exchange.New(context.Background(), exchange.Config{Store: st, DefaultQueue: exchange.QueueConfig{Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBroker(t, func(c *Config) { c.Exchange = x })
	t.Cleanup(func() { _ = x.Close(context.Background()) })
	r := b.raw(t)
	r.connect("accept-version:1.2")
	r.send("SEND\ndestination:/queue/ledger\npersistent:true\nreceipt:stored\n\nentry\x00")
	if f, err := r.next(300 * time.Millisecond); err == nil {
		t.Fatalf("got %s before the store committed", f)
	}
	close(st.gate)
	f := r.read()
	if f.Command != frame.RECEIPT || f.Value(hReceiptID) != "stored" {
		t.Fatalf("got %s", f)
	}
	if st.committed() != 1 {
		t.Fatalf("%d messages committed at RECEIPT time", st.committed())
	}
	// A non-persistent SEND is not stored at all.
	r.send("SEND\ndestination:/queue/ledger\nreceipt:mem\n\nvolatile\x00")
	if f := r.read(); f.Value(hReceiptID) != "mem" || st.committed() != 1 {
		t.Fatalf("got %s, %d committed", f, st.committed())
	}
}
