package exchange

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/message"
)

// ConsumerOptions configure a consumer.
type ConsumerOptions struct {
	Protocol message.Protocol // for metrics: deliveries out per protocol
	ClientID string
	ConnID   string
	// Credit is the initial number of deliveries the consumer may be handed
	// before it grants more with AddCredit or SetCredit.
	Credit int
	// AutoAck settles every delivery as accepted when it is handed over
	// (at-most-once). Otherwise each Delivery must be settled.
	AutoAck bool
	// Exclusive refuses other consumers on the queue (ErrExclusive).
	Exclusive bool
	// Filter, when set, is a selector: messages it refuses stay on the
	// queue for other consumers. It is called with the queue locked, so it
	// must be a quick function of the message that does not call the
	// exchange.
	Filter func(*message.Message) bool
	// Handler receives deliveries, in queue order for this consumer. It is
	// called without exchange locks held, from any goroutine, one call at a
	// time per consumer; it must not block (hand the delivery to your own
	// writer). It may call Settle, AddCredit and SetCredit. With an initial
	// Credit it may be called before Consume returns: use
	// Delivery.Consumer, or start with no credit and grant it afterwards.
	// A call already under way may finish after Close returns; settling
	// that delivery then returns ErrSettled.
	Handler func(*Delivery)
	// Closed, when set, is called once when the exchange closes the
	// consumer (queue deleted, exchange closed), with the reason. It is not
	// called when the consumer's owner calls Close.
	Closed func(error)
	// Receiver says what the consumer's messages are transformed for
	// (Delivery.Transformed). Consume refuses an Accept the configured
	// Transformer cannot produce, wrapping ErrUnknownFormat.
	Receiver Receiver
}

// Consume attaches a consumer to a queue, creating the queue with
// Config.DefaultQueue when auto-creation is on. Consumers of one queue
// compete: each message goes to one of them, round-robin among those with
// credit. A queue created here is bound to its own name read as an MQTT
// topic, so that publishes to that address reach it.
func (x *Exchange) Consume(queue string, opts ConsumerOptions) (*Consumer, error) {
	if queue == "" {
		return nil, fmt.Errorf("consume: %w: empty queue name", ErrInvalid)
	}
	if opts.Handler == nil {
		return nil, fmt.Errorf("consume %q: %w: no handler", queue, ErrInvalid)
	}
	if opts.Receiver.Queue == "" {
		opts.Receiver.Queue = queue
	}
	if opts.Receiver.Protocol == "" {
		opts.Receiver.Protocol = opts.Protocol
	}
	if err := x.CheckReceiver(opts.Receiver); err != nil {
		return nil, fmt.Errorf("consume %q: %w", queue, err)
	}
	if !x.gate.enter() {
		return nil, ErrClosed
	}
	defer x.gate.leave()
	c := &Consumer{
		id:     x.consumerIDs.Add(1),
		opts:   opts,
		out:    x.out.counter(opts.Protocol),
		credit: max(opts.Credit, 0),
	}
	// A queue may be deleted between the lookup and the attach: try again,
	// a few times, rather than attach to a dead queue.
	for range 3 {
		q := x.lookup(queue)
		if q == nil {
			if x.cfg.DisableAutoCreate {
				return nil, fmt.Errorf("consume %q: %w", queue, ErrQueueNotFound)
			}
			var err error
			if q, err = x.declare(queue, x.cfg.DefaultQueue, selfPattern(queue)); err != nil {
				return nil, fmt.Errorf("consume: %w", err)
			}
		}
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			continue
		}
		if q.exclusive || opts.Exclusive && len(q.consumers) > 0 {
			q.mu.Unlock()
			return nil, fmt.Errorf("consume %q: %w", queue, ErrExclusive)
		}
		if x.gate.closed() {
			// Close has started and may already have passed this queue.
			q.mu.Unlock()
			return nil, ErrClosed
		}
		c.q = q
		q.consumers = append(q.consumers, c)
		if opts.Exclusive {
			q.exclusive = true
		}
		q.mu.Unlock()
		q.dispatch()
		return c, nil
	}
	return nil, fmt.Errorf("consume %q: %w", queue, ErrQueueNotFound)
}

// Consumer is one receiver attached to a queue.
type Consumer struct {
	id   uint64
	q    *queue
	opts ConsumerOptions
	out  *atomic.Uint64 // deliveries out for opts.Protocol

	// Guarded by q.mu.
	credit    int
	unsettled elist
	closed    bool
}

// Queue returns the name of the consumer's queue.
func (c *Consumer) Queue() string { return c.q.name }

// AddCredit grants n more deliveries.
func (c *Consumer) AddCredit(n int) {
	if n <= 0 {
		return
	}
	q := c.q
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return
	}
	if c.credit > math.MaxInt-n {
		c.credit = math.MaxInt
	} else {
		c.credit += n
	}
	q.mu.Unlock()
	q.dispatch()
}

// SetCredit sets the remaining credit to n (AMQP flow sets it absolutely).
func (c *Consumer) SetCredit(n int) {
	q := c.q
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return
	}
	c.credit = max(n, 0)
	q.mu.Unlock()
	if n > 0 {
		q.dispatch()
	}
}

// Credit returns the remaining credit.
func (c *Consumer) Credit() int {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return c.credit
}

// Drain hands over what is ready now within the credit, then sets the
// credit to zero; it returns the credit that was left unused (AMQP drain).
// When another goroutine is handing out this queue's messages (Drain called
// from a Handler, or racing a Publish), Drain does not wait for it: it
// zeroes the credit at once and returns what was left, which is a valid
// AMQP drain outcome (the sender may use less credit than it could).
func (c *Consumer) Drain() int {
	q := c.q
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return 0
	}
	var gone chain
	if !q.dispatching {
		q.dispatching = true
		gone = q.run(-1, true)
		q.dispatching = false
	}
	left := c.credit
	c.credit = 0
	q.mu.Unlock()
	q.finishExpired(&gone)
	return left
}

// Unsettled returns how many deliveries are handed over and not settled.
func (c *Consumer) Unsettled() int {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return c.unsettled.n
}

// Close detaches the consumer. Its unsettled deliveries are released back
// to the queue (redelivered with their count unchanged). An AutoDelete queue
// whose last consumer leaves is deleted. Closing twice is a no-op.
func (c *Consumer) Close() error {
	q := c.q
	x := q.x
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return nil
	}
	if i := slices.Index(q.consumers, c); i >= 0 {
		q.consumers = slices.Delete(q.consumers, i, i+1)
		if q.rr > i {
			q.rr--
		}
	}
	if c.opts.Exclusive {
		q.exclusive = false
	}
	c.detach()
	autoDelete := q.cfg.AutoDelete && len(q.consumers) == 0 && !q.deleted
	q.mu.Unlock()
	if autoDelete && x.gate.enter() {
		defer x.gate.leave()
		if err := x.deleteQueue(q.name, q); err != nil {
			return fmt.Errorf("close consumer: auto-delete: %w", err)
		}
		return nil
	}
	q.dispatch()
	return nil
}

// detach marks c closed and takes back its unsettled deliveries: released
// to the queue, or dropped when the queue is deleted. A delivery whose
// Settle is under way is left to that Settle. Caller holds q.mu.
func (c *Consumer) detach() {
	q := c.q
	c.closed = true
	c.credit = 0
	for e := c.unsettled.head; e != nil; {
		next := e.next
		if e.live.state.CompareAndSwap(stateLive, stateSettled) {
			q.takeBack(e)
			if !q.deleted {
				q.addReady(e, true)
			}
		}
		e = next
	}
}

// takeBack removes an unsettled entry from its consumer. Caller holds q.mu.
func (q *queue) takeBack(e *entry) {
	e.owner.unsettled.remove(e)
	e.owner, e.live = nil, nil
	q.unsettled--
	q.bytes -= e.size
}

// publisherBudget is how many deliveries a publishing (or settling)
// goroutine makes for others before it hands the rest of the work to a
// goroutine of its own.
const publisherBudget = 256

// dispatch hands ready messages to consumers with credit, unless another
// goroutine is doing so already: that one re-examines the queue under q.mu
// before it stops, so it sees whatever the caller just changed. This is why
// no "more work" flag is needed.
func (q *queue) dispatch() {
	q.mu.Lock()
	if q.dispatching || q.ready == 0 || len(q.consumers) == 0 {
		q.mu.Unlock()
		return
	}
	q.dispatching = true
	gone := q.run(publisherBudget, false)
	q.finishExpired(&gone)
}

// run is the dispatch loop. It is entered with q.mu held and q.dispatching
// set. With keep, it returns with both still held; otherwise it releases
// them (or hands them to a new goroutine once budget runs out; a negative
// budget is unlimited). It returns the expired entries it removed, which
// the caller finishes without q.mu.
func (q *queue) run(budget int, keep bool) chain {
	var gone chain
	for {
		if budget == 0 && !keep {
			if q.x.handOff(q) {
				q.mu.Unlock()
				return gone
			}
			budget = -1
		}
		c, e, m := q.pick(&gone)
		if c == nil {
			break
		}
		d, del := q.handOut(c, e, m)
		q.mu.Unlock()
		q.finishExpired(&gone)
		if del && q.x.gate.enter() {
			q.x.commitBackground(&Batch{Ops: []Op{{Kind: OpDeleteMessage, Queue: q.name, Seq: d.Seq}}}, "auto-ack")
			q.x.gate.leave()
		}
		c.out.Add(1)
		c.opts.Handler(d)
		budget--
		q.mu.Lock()
	}
	if !keep {
		q.dispatching = false
		q.mu.Unlock()
	}
	return gone
}

// handOff continues q's dispatch loop in a new goroutine, which owns
// q.dispatching from now on; false means the exchange is closing and the
// caller must go on itself.
func (x *Exchange) handOff(q *queue) bool {
	if !x.gate.enter() {
		return false
	}
	go func() {
		defer x.gate.leave()
		q.mu.Lock()
		gone := q.run(-1, false)
		q.finishExpired(&gone)
	}()
	return true
}

// pick chooses the next consumer, round-robin among those with credit, and
// the message it gets. Expired messages met on the way are moved to gone.
// Caller holds q.mu.
func (q *queue) pick(gone *chain) (*Consumer, *entry, *message.Message) {
	n := len(q.consumers)
	now := int64(-1) // read the clock only if a message has an expiry
	for i := 0; i < n && q.ready > 0; i++ {
		k := (q.rr + i) % n
		c := q.consumers[k]
		if c.credit <= 0 {
			continue
		}
		if e, m := q.find(c, &now, gone); e != nil {
			q.rr = (k + 1) % n
			return c, e, m
		}
	}
	return nil, nil, nil
}

// find returns the first ready message c may have: highest priority first,
// then in sequence order, skipping what c's filter refuses and what c
// asked not to get again. Caller holds q.mu.
func (q *queue) find(c *Consumer, now *int64, gone *chain) (*entry, *message.Message) {
	for mask := q.nonEmpty; mask != 0; {
		p := bits.Len16(mask) - 1
		mask &^= 1 << p
		for e := q.lanes[p].head; e != nil; {
			next := e.next
			if e.expires != 0 {
				if *now < 0 {
					*now = q.x.now().UnixNano()
				}
				if e.expiredAt(*now) {
					q.removeReady(e)
					q.bytes -= e.size
					gone.push(e)
					e = next
					continue
				}
			}
			if len(e.refused) == 0 || !slices.Contains(e.refused, c.id) {
				m, err := q.message(e)
				if err != nil {
					// A paged message the store cannot give back: nothing
					// can deliver or dead-letter it.
					q.x.log.Error("paged message unreadable; dropped", "queue", q.name, "seq", e.seq, "err", err)
					q.x.loadErrors.Add(1)
					q.removeReady(e)
					q.bytes -= e.size
					q.dropped.Add(1)
					e = next
					continue
				}
				if c.opts.Filter == nil || c.opts.Filter(m) {
					return e, m
				}
			}
			e = next
		}
	}
	return nil, nil
}

// handOut gives e to c and returns the Delivery, and whether the store
// must delete the message now (an auto-acknowledged persisted message).
// Caller holds q.mu.
func (q *queue) handOut(c *Consumer, e *entry, m *message.Message) (*Delivery, bool) {
	q.removeReady(e)
	c.credit--
	q.delivered.Add(1)
	var d *Delivery
	if !e.firstUsed {
		d, e.firstUsed = &e.first, true
	} else {
		d = new(Delivery) // a redelivery: the earlier Delivery stays settled
	}
	// A paged message is resident again while it is unsettled: the
	// Delivery holds it anyway, and settlement may dead-letter it.
	e.msg = m
	d.Msg, d.Queue, d.Seq, d.DeliveryCount, d.Redelivered = m, q.name, e.seq, e.count, e.handedOut
	d.c = c
	e.handedOut = true
	if c.opts.AutoAck {
		d.state.Store(stateAuto)
		q.bytes -= e.size
		q.acked.Add(1)
		return d, e.persisted
	}
	d.e = e
	e.owner, e.live = c, d
	c.unsettled.pushBack(e)
	q.unsettled++
	return d, false
}
