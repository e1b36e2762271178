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
//
// Publish is PublishPending followed by Wait.
func (x *Exchange) Publish(ctx context.Context, m *message.Message, opts PublishOptions) (Routed, error) {
	var p Pending
	x.begin(ctx, m, opts, &p)
	return p.Wait(ctx)
}

// PublishPending is Publish without the wait for the store: it routes m,
// reserves its place and sequence number on every target queue and hands
// the durable copies to the store, all before it returns, and leaves the
// rest to the returned Pending's Wait: once the store has committed, the
// message becomes visible on its queues; if the commit fails, the places
// are given back and the message goes nowhere. A publish that needs no
// commit (a non-durable message, or no durable target) is complete when
// PublishPending returns.
//
// Messages published by one goroutine keep their order on every queue
// they share, however their commits complete: a queue makes its messages
// visible in the order their places were reserved, holding a message back
// while an earlier one is still committing. A caller may therefore keep
// several publishes in flight and wait for them later, in order, from
// another goroutine (a connection's confirmer). Every Pending must be
// waited for: until then it holds back the later messages of its queues,
// and Close waits for it. Errors known at once (ErrInvalid,
// ErrQueueNotFound, ErrQueueFull, ErrClosed) are reported by Wait too.
func (x *Exchange) PublishPending(ctx context.Context, m *message.Message, opts PublishOptions) *Pending {
	p := &Pending{}
	x.begin(ctx, m, opts, p)
	return p
}

// begin is the synchronous part of a publish, into p.
func (x *Exchange) begin(ctx context.Context, m *message.Message, opts PublishOptions, p *Pending) {
	if m == nil || len(m.Address) == 0 {
		p.fail(fmt.Errorf("publish: %w: message without an address", ErrInvalid))
		return
	}
	if !x.gate.enter() {
		p.fail(ErrClosed)
		return
	}
	p.x, p.gated = x, true
	if m.ID == "" {
		m.ID = x.ids.next()
	}
	m.UserID = m.Annotations.Origin.User // never what the client claimed (DESIGN.md §2)
	x.in.counter(m.Annotations.Origin.Protocol).Add(1)

	var named *queue
	if opts.EnsureQueue {
		q, err := x.ensureQueue(m.Address)
		if err != nil {
			p.done(Routed{}, fmt.Errorf("publish to %q: %w", m.Address, err))
			return
		}
		named = q
	}
	if m.Annotations.Retain {
		if err := x.retain(ctx, m); err != nil {
			p.done(Routed{}, fmt.Errorf("publish to %q: retain: %w", m.Address, err))
			return
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
		p.done(Routed{}, nil)
		return
	}
	p.addr = m.Address
	x.start(ctx, m, targets, nil, p)
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

// place enqueues m on targets, committing its durable copies together
// with pre, and waits: start and Wait.
func (x *Exchange) place(ctx context.Context, m *message.Message, targets []*queue, pre []Op) (Routed, error) {
	var p Pending
	p.x = x
	x.start(ctx, m, targets, pre, &p)
	return p.Wait(ctx)
}

// slot is a message reserved on a queue while its store commit runs.
type slot struct {
	q *queue
	e *entry
}

// holdState is where an entry stands in its queue's inflight list.
type holdState uint8

const (
	holdNone    holdState = iota // not in an inflight list
	holdWaiting                  // its publish is committing
	holdReady                    // committed (or nothing to commit): visible once the entries before it are settled
	holdFailed                   // its commit failed: removed when it reaches the front
)

// Pending is a publish begun by PublishPending whose store commit may
// still be running. Its methods are for one goroutine at a time; it may be
// handed to another goroutine (through a channel) between calls.
type Pending struct {
	x     *Exchange
	addr  address.Address // for errors; nil for internal places
	gated bool            // holds x.gate until complete
	pl    placement
	slots []slot       // reserved entries waiting in inflight lists
	wait  <-chan error // the store's answer; nil when nothing was handed to it
	fin   bool         // complete: r and err are final
	r     Routed
	err   error
}

// Ready reports whether Wait would return without blocking. When the store
// has answered, it completes the publish (the message becomes visible)
// before returning true.
func (p *Pending) Ready() bool {
	if p.fin {
		return true
	}
	select {
	case err := <-p.wait:
		p.complete(err)
		return true
	default:
		return false
	}
}

// Wait waits for the store's commit and completes the publish: the
// message is made visible on its queues and dispatched, or, if the commit
// failed, its reserved places are given back. It returns what Publish
// returns. Calling it again returns the same result.
//
// If ctx is done first, the publish fails with ctx's error as if the
// commit had failed; the store may still write the message, which then
// comes back after a restart (at least once, as with an unconfirmed
// publish).
func (p *Pending) Wait(ctx context.Context) (Routed, error) {
	if !p.fin {
		select {
		case err := <-p.wait:
			p.complete(err)
		case <-ctx.Done():
			p.complete(fmt.Errorf("the batch may still be written: %w", ctx.Err()))
		}
	}
	return p.r, p.err
}

// fail completes p before anything was reserved.
func (p *Pending) fail(err error) {
	p.fin, p.err = true, err
}

// done completes p with r and err, leaving the gate.
func (p *Pending) done(r Routed, err error) {
	p.fin, p.r, p.err = true, r, err
	if p.gated {
		p.gated = false
		p.x.gate.leave()
	}
}

// start places m on targets. When nothing needs the store and no earlier
// publish is in flight on a queue, the queue takes the message in one
// critical section, so sequence numbers follow the order in which
// messages become visible. Otherwise the message is reserved: it gets its
// sequence number and a place in the queue's inflight list (refused where
// a reject-publish queue is full), and its durable copies are handed to
// the store in one batch together with pre. complete then makes it
// visible, or gives the places back if the commit failed. start completes
// p itself when it hands nothing to the store.
func (x *Exchange) start(ctx context.Context, m *message.Message, targets []*queue, pre []Op, p *Pending) {
	p.pl = placement{x: x, m: m, size: int64(m.Size()), prio: min(m.Priority, message.MaxPriority)}
	pl := &p.pl
	if !m.Expires.IsZero() {
		pl.exp = m.Expires.UnixNano()
	}
	needCommit := len(pre) > 0
	if m.Durable && x.store != nil {
		for _, q := range targets {
			needCommit = needCommit || q.cfg.Durable
		}
	}
	ops := pre
	for _, q := range targets {
		q.mu.Lock()
		e := pl.reserve(q)
		if e == nil {
			q.mu.Unlock()
			continue
		}
		if !needCommit && len(q.inflight) == 0 {
			pl.insert(q, e)
			q.mu.Unlock()
			pl.finish(q)
			continue
		}
		// A message that needs no commit still waits behind earlier ones
		// in flight; one that does waits for its own commit on every queue,
		// so that nothing of it is visible if the commit fails.
		e.hold = holdReady
		if needCommit {
			e.hold = holdWaiting
			e.persisted = m.Durable && q.cfg.Durable && x.store != nil
		}
		q.inflight = append(q.inflight, e)
		q.pending++
		q.pendBytes += pl.size
		q.mu.Unlock()
		if e.persisted {
			ops = append(ops, Op{Kind: OpPutMessage, Queue: q.name, Seq: e.seq, Msg: m})
		}
		p.slots = append(p.slots, slot{q, e})
	}
	if needCommit && len(ops) > 0 {
		p.wait = x.commitAsync(ctx, &Batch{Ops: ops})
		return
	}
	p.complete(nil)
}

// commitAsync hands b to the store and returns the channel its result
// arrives on: the store's own when it is an AsyncStore, else one filled by
// a synchronous Commit.
func (x *Exchange) commitAsync(ctx context.Context, b *Batch) <-chan error {
	if as, ok := x.store.(AsyncStore); ok {
		return as.CommitAsync(ctx, b)
	}
	ch := make(chan error, 1)
	ch <- x.store.Commit(ctx, b)
	return ch
}

// complete finishes a publish whose commit returned err (nil when there
// was none): each reserved entry is marked committed or failed and every
// queue releases what became visible.
func (p *Pending) complete(err error) {
	pl := &p.pl
	h := holdReady
	if err != nil {
		h = holdFailed
		pl.fullErr = nil
	}
	for _, s := range p.slots {
		q, e := s.q, s.e
		q.mu.Lock()
		e.hold = h
		if err == nil && !q.deleted {
			pl.r.Queues++
			q.enqueued.Add(1)
		}
		pl.release(q)
		q.mu.Unlock()
		pl.finish(q)
	}
	clear(p.slots)
	p.slots = nil
	pl.cleanup(context.Background())
	if err != nil {
		err = fmt.Errorf("store: %w", err)
		if p.addr != nil {
			err = fmt.Errorf("publish to %q: %w", p.addr, err)
		}
		p.done(Routed{}, err)
		return
	}
	err = pl.fullErr
	if err != nil && p.addr != nil {
		err = fmt.Errorf("publish to %q: %w", p.addr, err)
	}
	p.done(pl.r, err)
}

// release takes the settled entries off the front of q's inflight list:
// committed ones become visible, in seq order, failed ones go; a commit
// still running at the front holds back everything after it. Drop-head
// limits are applied once. Caller holds q.mu.
func (pl *placement) release(q *queue) {
	n, added := 0, false
	for _, e := range q.inflight {
		if e.hold == holdWaiting {
			break
		}
		n++
		q.pending--
		q.pendBytes -= e.size
		failed := e.hold == holdFailed
		e.hold = holdNone
		switch {
		case failed:
		case q.deleted:
			// Deleted while we committed: take back what we put.
			if e.persisted {
				pl.ops = append(pl.ops, Op{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq})
			}
		default:
			q.addReady(e, false)
			q.pageOut(e)
			added = true
		}
	}
	if n == 0 {
		return
	}
	k := copy(q.inflight, q.inflight[n:])
	clear(q.inflight[k:])
	q.inflight = q.inflight[:k]
	if added && q.cfg.Overflow == DropHead {
		q.dropHead(&pl.dropped)
	}
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
