package amqp

import (
	"errors"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// This file is the sending side of a link (we send, the peer receives):
// the exchange consumer's credit follows the link credit the peer grants
// (§2.6.7), bounded by Config.MaxPending deliveries waiting for the
// socket.
//
// Deliveries the consumer hands over beyond our link-credit (the peer
// lowered its credit, or a drain raced a dispatch) are parked, never sent
// beyond the credit, and go first when credit comes back.

// deliverOut is the consumer's Handler: it queues the delivery for the writer,
// or parks it when the link has no credit. It never blocks.
func (l *link) deliverOut(d *exchange.Delivery) {
	l.mu.Lock()
	l.consCredit--
	if l.detached.Load() {
		// Closing: the consumer's Close releases an unsettled delivery; a
		// settled one was at most once.
		l.mu.Unlock()
		return
	}
	if l.credit > 0 && len(l.parked) == 0 {
		l.sendLocked(d)
	} else {
		l.parked = append(l.parked, d)
	}
	l.mu.Unlock()
}

// sendLocked spends one credit on d and queues it. Caller holds l.mu.
func (l *link) sendLocked(d *exchange.Delivery) {
	l.credit--
	l.dc++
	l.inQueue++
	l.queued++
	l.s.c.enqueueDelivery(l.s, l, d)
}

// unspend gives back the credit of the n-th delivery queued on the link
// (counting from 1), which was not sent: the transformation dead-lettered
// or dropped it. The peer never saw a transfer, so our delivery-count goes
// back with it (§2.6.7) and a parked delivery may take the credit. A
// delivery queued before a drain answer keeps its credit used: the drain
// used up the credit anyway, and the delivery-count we announced stands.
func (l *link) unspend(n uint64) {
	if l.detached.Load() {
		return
	}
	l.mu.Lock()
	if n > l.drainMark {
		l.dc--
		l.credit++
		if len(l.parked) > 0 {
			d := l.parked[0]
			l.parked[0] = nil
			l.parked = l.parked[1:]
			l.sendLocked(d)
		}
	}
	l.mu.Unlock()
}

// onReceiverFlow applies the peer's flow state to our sending link
// (§2.6.7): link-credit(snd) := delivery-count(rcv) + link-credit(rcv) -
// delivery-count(snd); parked deliveries go first; drain hands over what
// is ready and then advances the delivery-count to use up the credit.
func (l *link) onReceiverFlow(p *frames.Flow) error {
	// The answering flow is queued after creditMu is released: queueing may
	// wait for the writer, which may itself wait for creditMu (written).
	if f := l.applyReceiverFlow(p); f != nil {
		l.s.c.enqueue(outItem{kind: itemPerf, ch: l.s.outCh, sess: l.s, link: l, perf: f})
	}
	return nil
}

// applyReceiverFlow applies p and returns the flow to answer with, if any.
func (l *link) applyReceiverFlow(p *frames.Flow) *frames.Flow {
	l.creditMu.Lock()
	defer l.creditMu.Unlock()
	l.mu.Lock()
	rcvDC := uint32(p.DeliveryCount.Or(0)) // unset: our initial delivery-count, 0
	behind := int64(l.dc - rcvDC)          // sent, and not yet counted by the peer
	if l.dc-rcvDC > 1<<31 {
		behind = 0 // the peer claims more than we sent: ignore the difference
	}
	l.credit = max(int64(p.LinkCredit.Or(0))-behind, 0)
	for l.credit > 0 && len(l.parked) > 0 {
		d := l.parked[0]
		l.parked[0] = nil
		l.parked = l.parked[1:]
		l.sendLocked(d)
	}
	l.mu.Unlock()
	l.topUpLocked()
	if p.Drain {
		l.cons.Drain() // hands over what is ready within the credit, then zeroes it
		l.mu.Lock()
		defer l.mu.Unlock()
		// "the sender will (after sending all available messages) advance
		// the delivery-count as much as possible, consuming all
		// link-credit, and send the flow state to the receiver" (§2.6.7).
		l.dc += uint32(l.credit)
		l.credit = 0
		l.consCredit = 0
		l.drainMark = l.queued
		return l.flowLocked(true)
	}
	if p.Echo {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.flowLocked(false)
	}
	return nil
}

// flowLocked is our link flow state. Caller holds l.mu; the session
// fields are the reader's, read on the read goroutine.
func (l *link) flowLocked(drain bool) *frames.Flow {
	f := l.s.flow()
	f.Handle = encoding.Some(frames.Handle(l.handle))
	f.DeliveryCount = encoding.Some(frames.SequenceNo(l.dc))
	f.LinkCredit = encoding.Some(uint32(min(l.credit, 1<<32-1)))
	f.Drain = drain
	if l.cons != nil {
		// §2.6.7: available is the sender's count of messages waiting for
		// credit. It is advisory; the queue's ready count (messages a
		// selector would skip included) is what we know cheaply.
		if q, ok := l.s.c.srv.x.Queue(l.cons.Queue()); ok {
			f.Available = encoding.Some(uint32(min(int64(q.Ready), 1<<32-1)))
		}
	}
	return f
}

// topUpLocked gives the consumer the credit it should hold: what the link
// credit leaves after parked deliveries, within the pending bound. Caller
// holds creditMu.
func (l *link) topUpLocked() {
	l.mu.Lock()
	want := l.wantLocked()
	delta := want - max(l.consCredit, 0)
	l.consCredit = want
	l.mu.Unlock()
	switch {
	case delta > 0:
		l.cons.AddCredit(int(delta))
	case delta < 0:
		l.cons.SetCredit(int(want))
	}
}

// wantLocked is the consumer credit the link calls for. Caller holds mu.
func (l *link) wantLocked() int64 {
	parked := int64(len(l.parked))
	room := int64(l.s.c.srv.cfg.MaxPending-l.inQueue) - parked
	return max(min(l.credit-parked, room), 0)
}

// written is called by the writer for n deliveries that left the queue
// (written or dropped): when the pending bound held the consumer back, it
// gets its credit now.
func (l *link) written(n int) {
	l.mu.Lock()
	l.inQueue -= n
	need := l.consCredit < l.wantLocked()
	l.mu.Unlock()
	if need && !l.detached.Load() {
		l.creditMu.Lock()
		if !l.detached.Load() {
			l.topUpLocked()
		}
		l.creditMu.Unlock()
	}
}

// brokerClosed is the consumer's Closed callback: the exchange closed the
// consumer (queue deleted: detach with amqp:resource-deleted; exchange
// closing: close the connection). It runs on an exchange goroutine.
func (l *link) brokerClosed(err error) {
	c := l.s.c
	if errors.Is(err, exchange.ErrClosed) {
		c.goAway(connErr(frames.ConnectionErrorForced, "", "broker shutting down"))
		return
	}
	if !l.detached.CompareAndSwap(false, true) {
		return
	}
	e := linkErr(l.handle, frames.AMQPErrorResourceDeleted, "", "%w", errLinkClosed(l.queue, err))
	c.log.Warn("link closed by the broker", "link", l.name, "queue", l.queue, "err", err)
	c.srv.stats.errors.Add(1)
	// Not enqueue: an exchange goroutine must not wait for the socket.
	c.mu.Lock()
	if !c.closing {
		c.out = append(c.out, outItem{kind: itemPerf, ch: l.s.outCh, perf: &frames.Detach{Handle: frames.Handle(l.handle), Closed: true, Error: e.wire()}})
	}
	c.mu.Unlock()
	c.signal()
}
