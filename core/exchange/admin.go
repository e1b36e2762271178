package exchange

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// This file holds the operations of the admin API: looking into queues
// without consuming, moving dead letters back, deleting retained values,
// listing consumers.

// Peeked is a copy of a ready message, as Peek returns it.
type Peeked struct {
	Seq           uint64 // the message's sequence in its queue
	DeliveryCount int    // failed attempts so far
	Redelivered   bool   // handed out before
	Msg           *message.Message
}

// Peek returns copies of up to n ready messages of a queue in the order a
// consumer would get them (highest priority first, then oldest first),
// without consuming them. Unsettled messages are not included. n <= 0
// returns none.
func (x *Exchange) Peek(queue string, n int) ([]Peeked, error) {
	if !x.gate.enter() {
		return nil, ErrClosed
	}
	defer x.gate.leave()
	q := x.lookup(queue)
	if q == nil {
		return nil, fmt.Errorf("peek %q: %w", queue, ErrQueueNotFound)
	}
	if n <= 0 {
		return nil, nil
	}
	var out []Peeked
	q.mu.Lock()
	var err error
	q.walkReady(func(e *entry) bool {
		var m *message.Message
		if m, err = q.message(e); err != nil {
			return false
		}
		out = append(out, Peeked{Seq: e.seq, DeliveryCount: e.count, Redelivered: e.handedOut, Msg: m})
		return len(out) < n
	})
	q.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("peek %q: %w", queue, err)
	}
	// Messages are immutable once published: clone outside the lock.
	for i := range out {
		out[i].Msg = out[i].Msg.Clone()
	}
	return out, nil
}

// walkReady calls f on the ready entries in delivery order until f
// returns false. Caller holds q.mu; f must not change the lanes.
func (q *queue) walkReady(f func(*entry) bool) {
	for mask := q.nonEmpty; mask != 0; {
		p := bits.Len16(mask) - 1
		mask &^= 1 << p
		for e := q.lanes[p].head; e != nil; e = e.next {
			if !f(e) {
				return
			}
		}
	}
}

// MoveResult reports what MoveDeadLetters did.
type MoveResult struct {
	Moved int // republished to their original address and removed
	// Unroutable messages stayed in the dead-letter queue because no
	// queue is bound to their original address now, or every queue it
	// reaches refused them.
	Unroutable int
	// Skipped messages stayed because they carry no dead-letter
	// annotation with a valid original address.
	Skipped int
}

// MoveDeadLetters moves up to n ready messages (n <= 0 means all) out of a
// dead-letter queue back to their original address (the Address of their
// DeadLetter annotation): each is routed as a new publish, with the
// dead-letter annotation and the retain flag cleared, to every queue bound
// to that address now. For a persisted message the removal from the
// dead-letter queue and the durable copies are committed in one batch, so a
// crash leaves it in exactly one place. A message that no queue takes stays
// where it was. Messages are moved in delivery order.
func (x *Exchange) MoveDeadLetters(ctx context.Context, queue string, n int) (MoveResult, error) {
	var res MoveResult
	if !x.gate.enter() {
		return res, ErrClosed
	}
	defer x.gate.leave()
	q := x.lookup(queue)
	if q == nil {
		return res, fmt.Errorf("move dead letters from %q: %w", queue, ErrQueueNotFound)
	}
	// Take the candidates off the ready lanes, so that no consumer gets
	// them while they move; whatever does not move goes back.
	type cand struct {
		e    *entry
		m    *message.Message // e's message, read back when paged out
		addr address.Address
	}
	var cands []cand
	q.mu.Lock()
	q.walkReady(func(e *entry) bool {
		if n > 0 && len(cands) >= n {
			return false
		}
		m, err := q.message(e)
		if err != nil {
			x.log.Error("paged dead letter unreadable; skipped", "queue", q.name, "seq", e.seq, "err", err)
			res.Skipped++
			return true
		}
		dl := m.Annotations.DeadLetter
		if dl == nil {
			res.Skipped++
			return true
		}
		a, err := address.ParseMQTTTopic(dl.Address)
		if err != nil {
			res.Skipped++
			return true
		}
		cands = append(cands, cand{e, m, a})
		return true
	})
	for _, c := range cands {
		q.removeReady(c.e)
		q.bytes -= c.e.size
	}
	q.mu.Unlock()

	var errs []error
	var back []*entry // to put back on the dead-letter queue
	for i, c := range cands {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			for _, c := range cands[i:] {
				back = append(back, c.e)
			}
			break
		}
		moved, restore, err := x.moveOne(ctx, q, c.e, c.m, c.addr)
		switch {
		case moved:
			res.Moved++
		case err == nil:
			res.Unroutable++
		}
		if err != nil {
			errs = append(errs, err)
		}
		if restore {
			back = append(back, c.e)
		}
	}
	if len(back) > 0 {
		q.mu.Lock()
		if !q.deleted {
			for _, e := range back {
				q.addReady(e, true)
			}
		}
		q.mu.Unlock()
		q.dispatch()
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("move dead letters from %q: %w", queue, err)
	}
	return res, nil
}

// moveOne republishes the dead letter e, already taken off from's lanes,
// to a. restore says e must go back on from.
func (x *Exchange) moveOne(ctx context.Context, from *queue, e *entry, orig *message.Message, a address.Address) (moved, restore bool, err error) {
	var buf [16]*queue
	x.mu.RLock()
	targets := dedupQueues(x.routes.AppendMatch(buf[:0], a))
	x.mu.RUnlock()
	// Never back into the dead-letter queue it is leaving.
	targets = slices.DeleteFunc(targets, func(t *queue) bool { return t == from })
	if len(targets) == 0 {
		return false, true, nil
	}
	m := orig.Clone()
	m.Address = a
	m.Annotations.DeadLetter = nil
	m.Annotations.Retain = false
	m.Annotations.RetainedDelivery = false
	var pre []Op
	if e.persisted {
		pre = []Op{{Kind: OpDeleteMessage, Queue: from.name, Seq: e.seq}}
	}
	r, err := x.place(ctx, m, targets, pre)
	if r.Queues > 0 {
		from.acked.Add(1)
		return true, false, nil // a reject-publish queue may have refused: the others have it
	}
	if err != nil && !errors.Is(err, ErrQueueFull) {
		// The commit failed: the store still has it in the dead-letter queue.
		return false, true, fmt.Errorf("seq %d: %w", e.seq, err)
	}
	// Every target refused it (or was deleted meanwhile), but the delete
	// from the dead-letter queue was committed: put it back in the store.
	if e.persisted {
		b := &Batch{Ops: []Op{{Kind: OpPutMessage, Queue: from.name, Seq: e.seq, Msg: orig, DeliveryCount: e.count}}}
		if cerr := x.commit(ctx, b); cerr != nil {
			x.log.Error("store commit failed; a dead letter that could not move is kept in memory only",
				"queue", from.name, "seq", e.seq, "err", cerr)
		}
	}
	return false, true, nil
}

// DeleteRetained removes the retained value of address a, and reports
// whether there was one.
func (x *Exchange) DeleteRetained(ctx context.Context, a address.Address) (bool, error) {
	if !x.gate.enter() {
		return false, ErrClosed
	}
	defer x.gate.leave()
	rs := &x.retained
	rs.commitMu.Lock()
	defer rs.commitMu.Unlock()
	rs.mu.RLock()
	old, had := rs.idx.Get(a)
	rs.mu.RUnlock()
	if !had {
		return false, nil
	}
	if old.persisted {
		if err := x.commit(ctx, &Batch{Ops: []Op{{Kind: OpDeleteRetained, Address: a}}}); err != nil {
			return false, fmt.Errorf("delete retained %q: %w", a, err)
		}
	}
	rs.mu.Lock()
	rs.idx.Delete(a)
	rs.mu.Unlock()
	return true, nil
}

// ConsumerInfo describes a consumer for the admin API.
type ConsumerInfo struct {
	ID        uint64
	Queue     string
	Protocol  message.Protocol
	ClientID  string
	ConnID    string
	Credit    int
	Unsettled int
	AutoAck   bool
	Exclusive bool
	Accept    string // the format the consumer asked for (Receiver.Accept)
}

// Consumers returns every consumer, by queue name then ID.
func (x *Exchange) Consumers() []ConsumerInfo {
	x.mu.RLock()
	qs := make([]*queue, 0, len(x.queues))
	for _, q := range x.queues {
		qs = append(qs, q)
	}
	x.mu.RUnlock()
	var out []ConsumerInfo
	for _, q := range qs {
		q.mu.Lock()
		for _, c := range q.consumers {
			out = append(out, ConsumerInfo{
				ID: c.id, Queue: q.name, Protocol: c.opts.Protocol, ClientID: c.opts.ClientID, ConnID: c.opts.ConnID,
				Credit: c.credit, Unsettled: c.unsettled.n, AutoAck: c.opts.AutoAck, Exclusive: c.opts.Exclusive,
				Accept: c.opts.Receiver.Accept,
			})
		}
		q.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b ConsumerInfo) int {
		if c := strings.Compare(a.Queue, b.Queue); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}
