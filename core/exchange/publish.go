package exchange

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// PublishOptions modify one Publish.
type PublishOptions struct {
	// EnsureQueue declares a named queue for the message's address (named by
	// its MQTT rendering) with Config.DefaultQueue if none exists, so that a
	// send to a queue destination waits for a consumer. When auto-creation is
	// disabled and the queue does not exist, Publish returns
	// ErrQueueNotFound. The message goes to that queue whether or not the
	// queue is bound to the address, and to every other matching queue; a
	// queue created this way is bound to the address.
	EnsureQueue bool
}

// Routed reports what Publish did.
type Routed struct {
	Queues  int // queues the message was enqueued on
	Dropped int // queues that dropped a message because of drop-head overflow
}

// Publish routes m to every queue bound to a pattern matching m.Address,
// at most once per queue even when several of its patterns match. It
// assigns m.ID when empty and stamps m.UserID from m.Annotations.Origin.User.
// When m.Durable and at least one target queue is durable, Publish returns
// only after the store has committed the message. A retained message
// (Annotations.Retain) replaces the address's last value; an empty body
// clears it (MQTT-3.3.1-10). m must not be changed after the call.
//
// When a reject-publish queue is full, the message still goes to every
// other target queue (RabbitMQ's semantics) and Publish returns the Routed
// counts with an error that wraps ErrQueueFull, so that the publisher gets
// a negative outcome. If the store commit fails, the message goes nowhere.
func (x *Exchange) Publish(ctx context.Context, m *message.Message, opts PublishOptions) (Routed, error) {
	if m == nil || len(m.Address) == 0 {
		return Routed{}, fmt.Errorf("publish: %w: message without an address", ErrInvalid)
	}
	if !x.gate.enter() {
		return Routed{}, ErrClosed
	}
	defer x.gate.leave()
	if m.ID == "" {
		m.ID = x.ids.next()
	}
	m.UserID = m.Annotations.Origin.User // never what the client claimed (DESIGN.md §2)
	x.in.counter(m.Annotations.Origin.Protocol).Add(1)

	var named *queue
	if opts.EnsureQueue {
		q, err := x.ensureQueue(m.Address)
		if err != nil {
			return Routed{}, fmt.Errorf("publish to %q: %w", m.Address, err)
		}
		named = q
	}
	if m.Annotations.Retain {
		if err := x.retain(ctx, m); err != nil {
			return Routed{}, fmt.Errorf("publish to %q: retain: %w", m.Address, err)
		}
	}

	var buf [16]*queue // most addresses reach few queues: no allocation
	x.mu.RLock()
	targets := x.routes.AppendMatch(buf[:0], m.Address)
	x.mu.RUnlock()
	if named != nil {
		targets = append(targets, named)
	}
	targets = dedupQueues(targets)
	if len(targets) == 0 {
		x.unroutable.Add(1)
		return Routed{}, nil
	}
	r, err := x.place(ctx, m, targets, nil)
	if err != nil {
		return r, fmt.Errorf("publish to %q: %w", m.Address, err)
	}
	return r, nil
}

// ensureQueue returns the queue named by a's MQTT rendering, creating it
// with Config.DefaultQueue, bound to a, when auto-creation is on.
func (x *Exchange) ensureQueue(a address.Address) (*queue, error) {
	name := a.MQTT()
	if q := x.lookup(name); q != nil {
		return q, nil
	}
	if x.cfg.DisableAutoCreate {
		return nil, fmt.Errorf("queue %q: %w", name, ErrQueueNotFound)
	}
	return x.declare(name, x.cfg.DefaultQueue, address.Exact(a))
}

// dedupQueues removes repeated queues: a queue bound with several matching
// patterns gets the message once.
func dedupQueues(qs []*queue) []*queue {
	if len(qs) < 2 {
		return qs
	}
	if len(qs) <= 16 {
		out := qs[:1]
		for _, q := range qs[1:] {
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
		return out
	}
	slices.SortFunc(qs, func(a, b *queue) int { return cmp.Compare(a.id, b.id) })
	return slices.Compact(qs)
}

// Enqueue puts m on one queue directly, bypassing routing (retained
// messages for a new subscription, moves out of a dead-letter queue). It
// assigns m.ID when empty; m must not be changed after the call.
func (x *Exchange) Enqueue(ctx context.Context, queue string, m *message.Message) error {
	if m == nil || len(m.Address) == 0 {
		return fmt.Errorf("enqueue to %q: %w: message without an address", queue, ErrInvalid)
	}
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	q := x.lookup(queue)
	if q == nil {
		return fmt.Errorf("enqueue to %q: %w", queue, ErrQueueNotFound)
	}
	if m.ID == "" {
		m.ID = x.ids.next()
	}
	if _, err := x.placeOne(ctx, m, q, nil); err != nil {
		return fmt.Errorf("enqueue to %q: %w", queue, err)
	}
	return nil
}

// placeOne is place for a single queue, without allocating a slice.
func (x *Exchange) placeOne(ctx context.Context, m *message.Message, q *queue, pre []Op) (Routed, error) {
	qs := [1]*queue{q}
	return x.place(ctx, m, qs[:], pre)
}

// unreserve gives back the places reserved for a message whose commit
// failed.
func (x *Exchange) unreserve(slots []slot, size int64) {
	for _, s := range slots {
		s.q.mu.Lock()
		s.q.pending--
		s.q.pendBytes -= size
		s.q.mu.Unlock()
	}
}

// slot is a message reserved on a queue while its store commit runs.
type slot struct {
	q *queue
	e *entry
}

// place enqueues m on targets. When nothing needs the store, each queue
// takes the message in one critical section, so sequence numbers follow
// the order in which messages become visible. Otherwise it goes in three
// steps: reserve a place on each queue (refusing where a reject-publish
// queue is full), commit the durable copies in one batch together with pre,
// then make them visible; nothing becomes visible if the commit fails.
// Either way, drop-head limits are applied and the queues dispatched.
func (x *Exchange) place(ctx context.Context, m *message.Message, targets []*queue, pre []Op) (Routed, error) {
	p := placement{x: x, m: m, size: int64(m.Size()), prio: min(m.Priority, message.MaxPriority)}
	if !m.Expires.IsZero() {
		p.exp = m.Expires.UnixNano()
	}
	needCommit := len(pre) > 0
	if m.Durable && x.store != nil {
		for _, q := range targets {
			needCommit = needCommit || q.cfg.Durable
		}
	}
	if !needCommit {
		for _, q := range targets {
			q.mu.Lock()
			if e := p.reserve(q); e != nil {
				p.insert(q, e)
			}
			q.mu.Unlock()
			p.finish(q)
		}
		p.cleanup(ctx)
		return p.r, p.fullErr
	}

	var buf [16]slot // most messages go to few queues: no allocation
	slots := buf[:0]
	ops := pre
	for _, q := range targets {
		q.mu.Lock()
		e := p.reserve(q)
		if e != nil {
			q.pending++
			q.pendBytes += p.size
		}
		q.mu.Unlock()
		if e == nil {
			continue
		}
		if m.Durable && q.cfg.Durable && x.store != nil {
			e.persisted = true
			ops = append(ops, Op{Kind: OpPutMessage, Queue: q.name, Seq: e.seq, Msg: m})
		}
		slots = append(slots, slot{q, e})
	}
	if len(ops) > 0 && x.store != nil {
		if err := x.store.Commit(ctx, &Batch{Ops: ops}); err != nil {
			x.unreserve(slots, p.size)
			return Routed{}, fmt.Errorf("store: %w", err)
		}
	}
	for _, s := range slots {
		q, e := s.q, s.e
		q.mu.Lock()
		q.pending--
		q.pendBytes -= p.size
		if q.deleted {
			// Deleted while we committed: take back what we put.
			q.mu.Unlock()
			if e.persisted {
				p.ops = append(p.ops, Op{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq})
			}
			continue
		}
		p.insert(q, e)
		q.mu.Unlock()
		p.finish(q)
	}
	p.cleanup(ctx)
	return p.r, p.fullErr
}

// placement is the state of one place call.
type placement struct {
	x       *Exchange
	m       *message.Message
	size    int64
	prio    uint8
	exp     int64 // the message's own expiry, UnixNano; 0 never
	now     int64 // UnixNano, read once and only when a TTL needs it
	r       Routed
	fullErr error
	dropped chain // dropped by the last insert, counted by finish
	ops     []Op  // store deletes for messages dropped after the commit
}

// reserve makes the entry for q, or returns nil when q is deleted or
// refuses the message. The sequence is taken under q.mu so that messages on
// one queue are numbered in the order they arrive. Caller holds q.mu.
func (p *placement) reserve(q *queue) *entry {
	if q.deleted {
		return nil
	}
	if q.refuses(p.size) {
		p.fullErr = errors.Join(p.fullErr, fmt.Errorf("queue %q: %w", q.name, ErrQueueFull))
		return nil
	}
	exp := p.exp
	if q.ttl > 0 {
		if p.now == 0 {
			p.now = p.x.now().UnixNano()
		}
		if t := p.now + int64(q.ttl); exp == 0 || t < exp {
			exp = t
		}
	}
	return &entry{msg: p.m, seq: p.x.seq.Add(1), size: p.size, expires: exp, prio: p.prio}
}

// insert makes e visible on q and applies drop-head. Caller holds q.mu.
func (p *placement) insert(q *queue, e *entry) {
	q.addReady(e, false)
	q.pageOut(e)
	if q.cfg.Overflow == DropHead {
		q.dropHead(&p.dropped)
	}
	p.r.Queues++
	q.enqueued.Add(1)
}

// finish counts what the last insert dropped and dispatches q. Called
// without q.mu.
func (p *placement) finish(q *queue) {
	if n := p.dropped.n; n > 0 {
		p.r.Dropped++
		q.dropped.Add(uint64(n))
		p.x.drop(dropOverflow, n)
		p.ops = q.deleteOps(p.ops, p.dropped)
		p.dropped = chain{}
	}
	q.dispatch()
}

// cleanup deletes from the store what was dropped or orphaned.
func (p *placement) cleanup(ctx context.Context) {
	if len(p.ops) == 0 {
		return
	}
	if err := p.x.commit(ctx, &Batch{Ops: p.ops}); err != nil {
		// The messages are gone from memory; the store keeps them until a
		// restart brings them back, which is at-least-once, not a loss.
		p.x.log.Error("store commit failed", "op", "drop", "ops", len(p.ops), "err", err)
	}
}
