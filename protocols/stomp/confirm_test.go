package stomp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// heldStore is an exchange.AsyncStore that keeps every asynchronous
// commit until the test answers it. Commit succeeds at once.
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

func (s *heldStore) answer(i int, err error) {
	s.mu.Lock()
	ch := s.held[i]
	s.mu.Unlock()
	ch <- err
}

func heldBroker(t *testing.T) (*testBroker, *heldStore) {
	st := &heldStore{}
	b := newBrokerX(t, exchange.Config{Store: st, DefaultQueue: exchange.QueueConfig{Durable: true}}, nil)
	t.Cleanup(func() { // Shutdown waits for the SENDs in flight
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, ch := range st.held {
			select {
			case ch <- nil:
			default:
			}
		}
	})
	return b, st
}

func persistentSend(dest, receipt, body string) string {
	return "SEND\ndestination:" + dest + "\npersistent:true\nreceipt:" + receipt + "\n\n" + body + "\x00"
}

// TestPipelinedReceipts: SENDs with receipts sent without waiting are all
// handed to the store before the first commit ends; no RECEIPT comes
// before its commit; RECEIPTs come in frame order whatever order the
// commits end in, and a SUBSCRIBE after them takes effect after them (its
// deliveries may come before its own RECEIPT, as always) and sees the
// messages in order.
func TestPipelinedReceipts(t *testing.T) {
	b, st := heldBroker(t)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	const n = 5
	for i := range n {
		r.send(persistentSend("/queue/pl", fmt.Sprint("r", i), fmt.Sprint(i)))
	}
	r.send("SUBSCRIBE\ndestination:/queue/pl\nid:s\nreceipt:sub\n\n\x00")
	eventually(t, "5 commits handed to the store", func() bool { return st.count() == n })
	if f, err := r.next(100 * time.Millisecond); err == nil {
		t.Fatalf("got %s before any commit ended", f)
	}
	for i := n - 1; i >= 0; i-- {
		st.answer(i, nil)
	}
	var receipts, bodies []string
	for len(receipts) < n+1 || len(bodies) < n {
		f := r.read()
		switch f.Command {
		case frame.RECEIPT:
			receipts = append(receipts, f.Value(hReceiptID))
		case frame.MESSAGE:
			if len(receipts) < n {
				t.Fatalf("MESSAGE before the SENDs' RECEIPTs (receipts %v)", receipts)
			}
			bodies = append(bodies, string(f.Body))
		default:
			t.Fatalf("got %s", f)
		}
	}
	if got := fmt.Sprint(receipts[:n]); got != "[r0 r1 r2 r3 r4]" || receipts[n] != "sub" {
		t.Fatalf("receipts %s", got)
	}
	if got := fmt.Sprint(bodies); got != "[0 1 2 3 4]" {
		t.Fatalf("messages %s", got)
	}
}

// TestPipelinedSendFailure: a SEND whose commit fails once in flight gets
// an ERROR, with its receipt-id, after the RECEIPTs of the SENDs before it;
// the connection ends.
func TestPipelinedSendFailure(t *testing.T) {
	b, st := heldBroker(t)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	for i := range 3 {
		r.send(persistentSend("/queue/pf", fmt.Sprint("r", i), fmt.Sprint(i)))
	}
	eventually(t, "3 commits", func() bool { return st.count() == 3 })
	st.answer(1, errors.New("disk on fire"))
	st.answer(0, nil)
	st.answer(2, nil)
	if f := r.read(); f.Command != frame.RECEIPT || f.Value(hReceiptID) != "r0" {
		t.Fatalf("got %s, want RECEIPT r0", f)
	}
	f := r.read()
	if f.Command != frame.ERROR || f.Value(hReceiptID) != "r1" {
		t.Fatalf("got %s, want ERROR for r1", f)
	}
	r.expectClosed()
	// Message 2's commit was answered; its completion may still be on its
	// way when the connection has closed.
	eventually(t, "the 2 stored messages ready", func() bool { qs, _ := b.x.Queue("pf"); return qs.Ready == 2 })
	if qs, _ := b.x.Queue("pf"); qs.Ready != 2 {
		t.Fatalf("%d ready, want the 2 stored messages", qs.Ready)
	}
}

// TestCommitWaitsForDurableSends: the RECEIPT of a COMMIT comes once its
// persistent SENDs are stored.
func TestCommitWaitsForDurableSends(t *testing.T) {
	b, st := heldBroker(t)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	r.send("BEGIN\ntransaction:t\n\n\x00")
	for i := range 3 {
		r.send("SEND\ndestination:/queue/pt\ntransaction:t\npersistent:true\n\n" + fmt.Sprint(i) + "\x00")
	}
	r.send("COMMIT\ntransaction:t\nreceipt:c\n\n\x00")
	eventually(t, "3 commits handed over together", func() bool { return st.count() == 3 })
	if f, err := r.next(100 * time.Millisecond); err == nil {
		t.Fatalf("got %s before the commits ended", f)
	}
	for i := range 3 {
		st.answer(i, nil)
	}
	if f := r.read(); f.Command != frame.RECEIPT || f.Value(hReceiptID) != "c" {
		t.Fatalf("got %s, want RECEIPT c", f)
	}
	if qs, _ := b.x.Queue("pt"); qs.Ready != 3 {
		t.Fatalf("%d ready after COMMIT, want 3", qs.Ready)
	}
}
