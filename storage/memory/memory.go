// Package memory is an exchange.Store that keeps the committed state in
// memory. It is for brokers that persist nothing across a restart of the
// process, and for tests: a new Exchange that recovers from the same Store
// gets back what the previous one committed, which simulates a restart.
//
// Messages are copied on Commit and on Recover, so neither side can change
// the other's copy, as with a store that serializes.
package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

var _ exchange.AsyncStore = (*Store)(nil)

// Store is an in-memory exchange.Store. The zero value is not ready; use
// New.
type Store struct {
	mu       sync.Mutex
	queues   map[string]*queueState
	order    uint64 // declaration counter: queues recover in declaration order
	retained map[string]*message.Message
	states   map[string][]byte
	commits  uint64
}

type queueState struct {
	order    uint64
	cfg      exchange.QueueConfig
	bindings []address.Pattern
	msgs     map[uint64]storedMsg
}

type storedMsg struct {
	m     *message.Message
	count int
}

// New returns an empty store.
func New() *Store {
	return &Store{
		queues:   make(map[string]*queueState),
		retained: make(map[string]*message.Message),
		states:   make(map[string][]byte),
	}
}

// errBadOp is returned for a malformed batch; nothing of it is applied.
var errBadOp = errors.New("memory: invalid operation")

// Commit applies b atomically: it checks every operation first, then
// applies them in order. Operations on messages or bindings of a queue the
// store does not hold are ignored, as are deletes of what is not there.
func (s *Store) Commit(ctx context.Context, b *exchange.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: commit: %w", err)
	}
	if b == nil {
		return nil
	}
	for i, op := range b.Ops {
		if err := check(op); err != nil {
			return fmt.Errorf("memory: commit op %d: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range b.Ops {
		s.apply(op)
	}
	s.commits++
	return nil
}

// CommitAsync is Commit (exchange.AsyncStore): the store has no disk to
// wait for, so the result is on the channel when it returns.
func (s *Store) CommitAsync(ctx context.Context, b *exchange.Batch) <-chan error {
	ch := make(chan error, 1)
	ch <- s.Commit(ctx, b)
	return ch
}

func check(op exchange.Op) error {
	switch op.Kind {
	case exchange.OpPutQueue, exchange.OpDeleteQueue:
		if op.Queue == "" {
			return fmt.Errorf("%w: kind %d without a queue", errBadOp, op.Kind)
		}
	case exchange.OpPutBinding, exchange.OpDeleteBinding:
		if op.Queue == "" || len(op.Pattern) == 0 {
			return fmt.Errorf("%w: binding without a queue or pattern", errBadOp)
		}
	case exchange.OpPutMessage:
		if op.Queue == "" || op.Msg == nil {
			return fmt.Errorf("%w: message put without a queue or message", errBadOp)
		}
	case exchange.OpDeleteMessage, exchange.OpSetCount:
		if op.Queue == "" {
			return fmt.Errorf("%w: kind %d without a queue", errBadOp, op.Kind)
		}
	case exchange.OpPutRetained:
		if op.Msg == nil || len(op.Msg.Address) == 0 {
			return fmt.Errorf("%w: retained put without a message address", errBadOp)
		}
	case exchange.OpDeleteRetained:
		if len(op.Address) == 0 {
			return fmt.Errorf("%w: retained delete without an address", errBadOp)
		}
	case exchange.OpPutState, exchange.OpDeleteState:
		if op.Key == "" {
			return fmt.Errorf("%w: state record without a key", errBadOp)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", errBadOp, op.Kind)
	}
	return nil
}

// apply applies one checked operation. Caller holds s.mu.
func (s *Store) apply(op exchange.Op) {
	q := s.queues[op.Queue]
	switch op.Kind {
	case exchange.OpPutQueue:
		if q == nil {
			s.order++
			s.queues[op.Queue] = &queueState{order: s.order, cfg: op.QueueConfig, msgs: make(map[uint64]storedMsg)}
		} else {
			q.cfg = op.QueueConfig
		}
	case exchange.OpDeleteQueue:
		delete(s.queues, op.Queue)
	case exchange.OpPutBinding:
		if q != nil && !slices.ContainsFunc(q.bindings, op.Pattern.Equal) {
			q.bindings = append(q.bindings, clonePattern(op.Pattern))
		}
	case exchange.OpDeleteBinding:
		if q != nil {
			q.bindings = slices.DeleteFunc(q.bindings, op.Pattern.Equal)
		}
	case exchange.OpPutMessage:
		if q != nil {
			q.msgs[op.Seq] = storedMsg{m: op.Msg.Clone(), count: op.DeliveryCount}
		}
	case exchange.OpDeleteMessage:
		if q != nil {
			delete(q.msgs, op.Seq)
		}
	case exchange.OpSetCount:
		if q != nil {
			if sm, ok := q.msgs[op.Seq]; ok {
				sm.count = op.DeliveryCount
				q.msgs[op.Seq] = sm
			}
		}
	case exchange.OpPutRetained:
		s.retained[key(op.Msg.Address)] = op.Msg.Clone()
	case exchange.OpDeleteRetained:
		delete(s.retained, key(op.Address))
	case exchange.OpPutState:
		s.states[op.Key] = slices.Clone(op.Value)
	case exchange.OpDeleteState:
		delete(s.states, op.Key)
	}
}

// key renders an address as a map key; NUL cannot appear in a segment, so
// it separates them unambiguously.
func key(a address.Address) string { return strings.Join(a, "\x00") }

func clonePattern(p address.Pattern) address.Pattern {
	return address.Pattern(address.Address(p).Clone())
}

// Recover replays the state into r: queues in declaration order, then
// their bindings, then each queue's messages in sequence order, then
// retained messages by address. It works on a snapshot, so r may take its
// time, and it stops at the first error r returns.
func (s *Store) Recover(ctx context.Context, r exchange.Recovery) error {
	type qsnap struct {
		name  string
		order uint64
		cfg   exchange.QueueConfig
		binds []address.Pattern
		seqs  []uint64
		msgs  []storedMsg
	}
	s.mu.Lock()
	qs := make([]qsnap, 0, len(s.queues))
	for name, q := range s.queues {
		sn := qsnap{name: name, order: q.order, cfg: q.cfg}
		for _, p := range q.bindings {
			sn.binds = append(sn.binds, clonePattern(p))
		}
		for seq := range q.msgs {
			sn.seqs = append(sn.seqs, seq)
		}
		slices.Sort(sn.seqs)
		for _, seq := range sn.seqs {
			sm := q.msgs[seq]
			sn.msgs = append(sn.msgs, storedMsg{m: sm.m.Clone(), count: sm.count})
		}
		qs = append(qs, sn)
	}
	keys := make([]string, 0, len(s.retained))
	for k := range s.retained {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ret := make([]*message.Message, len(keys))
	for i, k := range keys {
		ret[i] = s.retained[k].Clone()
	}
	skeys := slices.Sorted(maps.Keys(s.states))
	svals := make([][]byte, len(skeys))
	for i, k := range skeys {
		svals[i] = slices.Clone(s.states[k])
	}
	s.mu.Unlock()

	slices.SortFunc(qs, func(a, b qsnap) int { return cmp.Compare(a.order, b.order) })
	for _, q := range qs {
		if err := r.Queue(q.name, q.cfg); err != nil {
			return fmt.Errorf("memory: recover queue %q: %w", q.name, err)
		}
	}
	for _, q := range qs {
		for _, p := range q.binds {
			if err := r.Binding(q.name, p); err != nil {
				return fmt.Errorf("memory: recover binding %q of %q: %w", p, q.name, err)
			}
		}
	}
	for _, q := range qs {
		for i, sm := range q.msgs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("memory: recover: %w", err)
			}
			if err := r.Message(q.name, q.seqs[i], sm.m, sm.count); err != nil {
				return fmt.Errorf("memory: recover message %d of %q: %w", q.seqs[i], q.name, err)
			}
		}
	}
	for _, m := range ret {
		if err := r.Retained(m); err != nil {
			return fmt.Errorf("memory: recover retained %q: %w", m.Address, err)
		}
	}
	for i, k := range skeys {
		if err := r.State(k, svals[i]); err != nil {
			return fmt.Errorf("memory: recover state %q: %w", k, err)
		}
	}
	return nil
}

// Close does nothing: the state stays, so that a new Exchange can recover
// it from the same Store, which is how tests simulate a restart.
func (s *Store) Close() error { return nil }

// Commits returns how many batches were committed, for tests that check
// that non-durable traffic never reaches the store.
func (s *Store) Commits() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// Messages returns how many messages the store holds for queue.
func (s *Store) Messages(queue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[queue]; q != nil {
		return len(q.msgs)
	}
	return 0
}

var _ exchange.Loader = (*Store)(nil)

// Load returns a copy of one stored message, for the exchange's paging.
func (s *Store) Load(_ context.Context, queue string, seq uint64) (*message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue]
	if q == nil {
		return nil, fmt.Errorf("memory: load: queue %q: %w", queue, errNotFound)
	}
	sm, ok := q.msgs[seq]
	if !ok {
		return nil, fmt.Errorf("memory: load: queue %q seq %d: %w", queue, seq, errNotFound)
	}
	return sm.m.Clone(), nil
}

var errNotFound = errors.New("not found")
