package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/memory"
	"github.com/rosettamq/rosetta/storage/storetest"
)

func TestConformance(t *testing.T) {
	// Close keeps the data, so reopening is handing out the same Store.
	var mu sync.Mutex
	stores := map[*testing.T]*memory.Store{}
	storetest.Run(t, func(t *testing.T) exchange.Store {
		mu.Lock()
		defer mu.Unlock()
		s, ok := stores[t]
		if !ok {
			s = memory.New()
			stores[t] = s
		}
		return s
	})
}

func TestCommitRejectsBadBatchAtomically(t *testing.T) {
	tests := []struct {
		name string
		bad  exchange.Op
	}{
		{"unknown kind", exchange.Op{Kind: 99}},
		{"put message without message", exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: 2}},
		{"queue without name", exchange.Op{Kind: exchange.OpPutQueue}},
		{"binding without pattern", exchange.Op{Kind: exchange.OpPutBinding, Queue: "q"}},
		{"retained without address", exchange.Op{Kind: exchange.OpPutRetained, Msg: &message.Message{}}},
		{"retained delete without address", exchange.Op{Kind: exchange.OpDeleteRetained}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := memory.New()
			good := exchange.Op{Kind: exchange.OpPutQueue, Queue: "q"}
			err := s.Commit(context.Background(), &exchange.Batch{Ops: []exchange.Op{good, tc.bad}})
			if err == nil {
				t.Fatal("a malformed batch was committed")
			}
			if s.Commits() != 0 {
				t.Fatal("commit counted")
			}
			var queues int
			rec := recorder{queue: func() { queues++ }}
			if err := s.Recover(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if queues != 0 {
				t.Fatal("part of a failed batch was applied")
			}
		})
	}
}

func TestCommitHonoursContext(t *testing.T) {
	s := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{{Kind: exchange.OpPutQueue, Queue: "q"}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context: %v", err)
	}
}

func TestMessagesAreCopied(t *testing.T) {
	s := memory.New()
	m := &message.Message{Address: address.MustParseMQTT("a"), Body: []byte("x")}
	ops := []exchange.Op{{Kind: exchange.OpPutQueue, Queue: "q"}, {Kind: exchange.OpPutMessage, Queue: "q", Seq: 1, Msg: m}}
	if err := s.Commit(context.Background(), &exchange.Batch{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	var got *message.Message
	rec := recorder{message: func(m *message.Message) { got = m }}
	if err := s.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	got.Body[0] = 'y' // the recovering side changes its copy
	m.Body[0] = 'z'   // and so does the committing side
	if err := s.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != "x" {
		t.Fatalf("stored body changed to %q", got.Body)
	}
	if s.Messages("q") != 1 || s.Messages("nope") != 0 {
		t.Fatalf("Messages: %d %d", s.Messages("q"), s.Messages("nope"))
	}
}

type recorder struct {
	queue   func()
	message func(*message.Message)
}

func (r recorder) Queue(string, exchange.QueueConfig) error {
	if r.queue != nil {
		r.queue()
	}
	return nil
}
func (r recorder) Binding(string, address.Pattern) error { return nil }
func (r recorder) Message(_ string, _ uint64, m *message.Message, _ int) error {
	if r.message != nil {
		r.message(m)
	}
	return nil
}
func (r recorder) Retained(*message.Message) error { return nil }
func (r recorder) State(string, []byte) error      { return nil }
