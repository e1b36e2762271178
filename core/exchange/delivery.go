package exchange

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

// Delivery is one message handed to one consumer.
type Delivery struct {
	Msg   *message.Message
	Queue string
	// Seq identifies the message in its queue; stable across redelivery.
	Seq uint64
	// DeliveryCount is the number of earlier failed attempts (AMQP
	// header.delivery-count); Redelivered is true when the message was handed
	// out before (it may have been released without a count).
	DeliveryCount int
	Redelivered   bool

	c     *Consumer
	e     *entry        // nil once settled by an auto-ack
	state atomic.Uint32 // stateLive, stateSettled or stateAuto
}

// Delivery states. Whoever moves a delivery from stateLive to stateSettled
// (its Settle, or the consumer's Close releasing it) owns its entry.
const (
	stateLive uint32 = iota
	stateSettled
	stateAuto
)

// Consumer returns the consumer the delivery was handed to.
func (d *Delivery) Consumer() *Consumer { return d.c }

// Settle ends the delivery with an outcome. Settling twice returns
// ErrSettled. Settle on an AutoAck delivery is a no-op.
//
// Accepted removes the message. Released puts it back where it was, ahead
// of later messages, with its count unchanged. Modified puts it back with
// its count increased, or dead-letters it once the count reaches the
// queue's MaxDeliveries. Rejected dead-letters it. For a persisted message
// Settle returns once the store has the change; an error from the store is
// returned after the in-memory settlement is done.
func (d *Delivery) Settle(o Outcome) error {
	if d.c == nil {
		return fmt.Errorf("settle: %w: delivery not handed out by an exchange", ErrInvalid)
	}
	if o.Kind > OutcomeRejected {
		return fmt.Errorf("settle: %w: outcome %d", ErrInvalid, o.Kind)
	}
	switch d.state.Load() {
	case stateAuto:
		return nil
	case stateLive:
		if d.state.CompareAndSwap(stateLive, stateSettled) {
			return d.c.q.settle(d, o)
		}
	}
	return ErrSettled
}

// settle applies o to d, whose state this goroutine has just moved to
// settled, so that it alone owns the entry.
func (q *queue) settle(d *Delivery, o Outcome) error {
	x := q.x
	// After Close the store may be closed by its owner: skip store writes,
	// which at worst redelivers the message after a restart.
	persist := x.store != nil && x.gate.enter()
	if persist {
		defer x.gate.leave()
	}
	e, c := d.e, d.c
	switch o.Kind {
	case OutcomeAccepted:
		q.mu.Lock()
		q.takeBack(e)
		deleted := q.deleted
		q.mu.Unlock()
		q.acked.Add(1)
		if e.persisted && persist && !deleted {
			b := &Batch{Ops: []Op{{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq}}}
			if o.Lazy {
				x.commitBackground(b, "ack")
				return nil
			}
			if err := x.store.Commit(context.Background(), b); err != nil {
				return fmt.Errorf("settle %q seq %d: %w", q.name, e.seq, err)
			}
		}
		return nil

	case OutcomeReleased:
		q.mu.Lock()
		q.takeBack(e)
		if !q.deleted {
			q.addReady(e, true)
		}
		q.mu.Unlock()
		q.dispatch()
		return nil

	case OutcomeModified:
		n := d.DeliveryCount + 1
		if q.maxDeliveries > 0 && n >= q.maxDeliveries {
			return q.settleDead(e, "delivery-limit", o.Reason, n, persist)
		}
		var err error
		if e.persisted && persist {
			// Committed before the message is visible again, so that its
			// next settlement cannot overtake this count in the store.
			b := &Batch{Ops: []Op{{Kind: OpSetCount, Queue: q.name, Seq: e.seq, DeliveryCount: n}}}
			if err = x.store.Commit(context.Background(), b); err != nil {
				err = fmt.Errorf("settle %q seq %d: %w", q.name, e.seq, err)
			}
		}
		q.mu.Lock()
		q.takeBack(e)
		e.count = n
		if o.UndeliverableHere {
			e.refused = append(e.refused, c.id)
		}
		if !q.deleted {
			q.addReady(e, true)
		}
		q.mu.Unlock()
		q.dispatch()
		return err

	default: // OutcomeRejected
		return q.settleDead(e, "rejected", o.Reason, d.DeliveryCount, persist)
	}
}

// AcceptBatch settles ds, deliveries handed to c, as Accepted, and grants c
// credit more deliveries (as AddCredit), taking the queue's lock once for
// all of them and committing the store deletes of persisted messages in
// one batch: a front-end that writes many deliveries at once settles them
// at once. Deliveries already settled, and auto-acknowledged ones, are
// skipped; a delivery of another consumer is settled on its own. Like
// Settle, it returns once the store has the deletes.
func (c *Consumer) AcceptBatch(ds []*Delivery, credit int) error {
	q := c.q
	x := q.x
	persist := x.store != nil && x.gate.enter()
	if persist {
		defer x.gate.leave()
	}
	var errs []error
	var buf [64]*entry // most batches: no allocation
	es := buf[:0]
	for _, d := range ds {
		if d.c != c {
			if err := d.Settle(Accepted); err != nil && !errors.Is(err, ErrSettled) {
				errs = append(errs, err)
			}
			continue
		}
		if d.state.CompareAndSwap(stateLive, stateSettled) {
			es = append(es, d.e)
		}
	}
	var ops []Op
	q.mu.Lock()
	for _, e := range es {
		q.takeBack(e)
		if e.persisted && persist && !q.deleted {
			ops = append(ops, Op{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq})
		}
	}
	give := credit > 0 && !c.closed
	if give {
		if c.credit > math.MaxInt-credit {
			c.credit = math.MaxInt
		} else {
			c.credit += credit
		}
	}
	q.mu.Unlock()
	q.acked.Add(uint64(len(es)))
	if len(ops) > 0 {
		if err := x.store.Commit(context.Background(), &Batch{Ops: ops}); err != nil {
			errs = append(errs, fmt.Errorf("settle %q: %d deletes: %w", q.name, len(ops), err))
		}
	}
	if give {
		q.dispatch()
	}
	return errors.Join(errs...)
}

// settleDead takes an unsettled entry back and dead-letters it.
func (q *queue) settleDead(e *entry, reason, detail string, count int, persist bool) error {
	q.mu.Lock()
	q.takeBack(e)
	deleted := q.deleted
	q.mu.Unlock()
	if deleted {
		return nil
	}
	return q.x.deadLetter(q, e, reason, detail, count, persist)
}

// OutcomeKind is the result of a delivery (AMQP 1.0 §3.4).
type OutcomeKind uint8

// Outcomes, as AMQP names them.
const (
	OutcomeAccepted OutcomeKind = iota // processed: remove
	OutcomeReleased                    // not processed: requeue, count unchanged
	OutcomeModified                    // failed: requeue with count+1 (or dead-letter past MaxDeliveries)
	OutcomeRejected                    // invalid: dead-letter
)

// Outcome is how a consumer settles a delivery.
type Outcome struct {
	Kind OutcomeKind
	// UndeliverableHere (Modified) asks that this consumer not get the
	// message again.
	UndeliverableHere bool
	// Reason (Rejected) is recorded in the dead letter.
	Reason string
	// Lazy (Accepted) commits the store delete of a persisted message in
	// the background instead of waiting for it: for acknowledgements the
	// client gets no confirmation of (an AMQP disposition the receiver
	// settled first, an MQTT PUBACK). A crash before the delete lands
	// redelivers the message, marked as a redelivery: at least once, as
	// the client was promised. Settle then returns before the store has
	// the change, and a store error is logged instead of returned.
	Lazy bool
}

// Common outcomes.
var (
	Accepted = Outcome{Kind: OutcomeAccepted}
	Released = Outcome{Kind: OutcomeReleased}
	Modified = Outcome{Kind: OutcomeModified}
	Rejected = Outcome{Kind: OutcomeRejected}
)

// deadLetter moves e, already taken out of from, to from's dead-letter
// queue (created on demand, durable, with Config.DefaultQueue's limits) as
// a clone annotated with why, like RabbitMQ's x-death. The store put and
// the delete from the source queue are one batch. With no dead-letter
// queue, or when it refuses the message, the message is dropped and
// counted. persist false skips store writes (the exchange is closing).
func (x *Exchange) deadLetter(from *queue, e *entry, reason, detail string, count int, persist bool) error {
	var pre []Op
	if e.persisted && persist {
		pre = []Op{{Kind: OpDeleteMessage, Queue: from.name, Seq: e.seq}}
	}
	dropIt := func(ops []Op) error {
		from.dropped.Add(1)
		x.drop(dropDeadLetter, 1)
		if err := x.commit(context.Background(), &Batch{Ops: ops}); err != nil {
			return fmt.Errorf("dead-letter from %q: %w", from.name, err)
		}
		return nil
	}
	if from.deadLetter == "" || !persist && x.gate.closed() {
		return dropIt(pre)
	}
	dlq := x.lookup(from.deadLetter)
	if dlq == nil {
		cfg := x.cfg.DefaultQueue
		cfg.Durable, cfg.AutoDelete = true, false
		var err error
		if dlq, err = x.declare(from.deadLetter, cfg, nil); err != nil {
			x.log.Error("dead-letter queue not created", "queue", from.deadLetter, "err", err)
			return dropIt(pre)
		}
	}
	orig := e.msg
	if orig == nil { // paged out while ready (expired, dropped by a limit)
		from.mu.Lock()
		var err error
		orig, err = from.message(e)
		from.mu.Unlock()
		if err != nil {
			x.log.Error("paged message unreadable; not dead-lettered", "queue", from.name, "seq", e.seq, "err", err)
			x.loadErrors.Add(1)
			return dropIt(pre)
		}
	}
	m := orig.Clone()
	// As RabbitMQ does, the dead letter loses its expiry, or an expired
	// message would expire again at once in the dead-letter queue.
	m.Expires = time.Time{}
	m.Annotations.DeadLetter = &message.DeadLetter{
		Reason:        reason,
		Queue:         from.name,
		Address:       orig.Address.MQTT(),
		Time:          x.now(),
		DeliveryCount: count,
		Detail:        detail,
	}
	r, err := x.placeOne(context.Background(), m, dlq, pre)
	if r.Queues == 0 {
		if err != nil && !errors.Is(err, ErrQueueFull) {
			// The commit failed: the store still has the message where it was.
			return fmt.Errorf("dead-letter from %q to %q: %w", from.name, dlq.name, err)
		}
		// Refused (full) or deleted meanwhile: pre is committed, count a drop.
		return dropIt(nil)
	}
	from.deadLettered.Add(1)
	x.deadLettered.Add(1)
	return nil
}
