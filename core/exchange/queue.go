package exchange

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

// Overflow says what a full queue does with the next message.
type Overflow uint8

// Overflow policies (RabbitMQ's names).
const (
	DropHead      Overflow = iota // drop the oldest message and count it
	RejectPublish                 // refuse the new message: Publish returns ErrQueueFull
)

// QueueConfig configures a queue. Zero fields take the defaults.
//
// Limits count ready messages only, as RabbitMQ does: messages handed out
// and not yet settled are bounded by consumers' credit instead. When a
// queue with priorities overflows with DropHead, the oldest message of the
// lowest priority present goes first, as it is the one that would be
// delivered last.
type QueueConfig struct {
	Durable    bool // definition and durable messages are persisted
	AutoDelete bool // deleted when its last consumer leaves
	// Owner names the session that owns a private subscription queue
	// ("mqtt/<client-id>"), for listing; empty for shared queues.
	Owner string
	// MaxLength in messages; 0 means DefaultMaxLength, negative unlimited.
	MaxLength int
	// MaxBytes in message bytes (message.Size); 0 means DefaultMaxBytes,
	// negative unlimited.
	MaxBytes int64
	Overflow Overflow
	// TTL applied to every message on enqueue (the earlier of it and the
	// message's own Expires wins); 0 means none. A message recovered from
	// the store gets the TTL again from the time of recovery, so it never
	// expires early.
	TTL time.Duration
	// MaxDeliveries before a message is dead-lettered; 0 means
	// DefaultMaxDeliveries, negative unlimited. Only failed attempts
	// (Modified) count; Released does not.
	MaxDeliveries int
	// DeadLetter is the queue that receives dead letters; "" means
	// DefaultDeadLetter, "-" means dead letters are dropped (and counted).
	// A queue that would dead-letter to itself drops instead, so that a
	// message rejected from the dead-letter queue does not loop.
	DeadLetter string
}

func (c QueueConfig) validate() error {
	if c.Overflow > RejectPublish {
		return fmt.Errorf("%w: overflow policy %d", ErrInvalid, c.Overflow)
	}
	if c.TTL < 0 {
		return fmt.Errorf("%w: negative TTL %v", ErrInvalid, c.TTL)
	}
	return nil
}

// numPrio is the number of priority levels a queue keeps apart (0–9).
const numPrio = message.MaxPriority + 1

// queue is a named queue. Its ready messages sit in one list per priority,
// in sequence order; its unsettled ones sit in their consumer's list.
type queue struct {
	x    *Exchange
	id   uint64 // unique in the exchange, to sort queues
	name string
	cfg  QueueConfig // as declared: persisted and reported

	// Limits resolved from cfg at creation; read-only.
	maxLen        int   // negative: unlimited
	maxBytes      int64 // negative: unlimited
	maxDeliveries int   // negative: unlimited
	deadLetter    string
	ttl           time.Duration

	bindings []address.Pattern // guarded by x.mu

	mu          sync.Mutex
	lanes       [numPrio]elist // ready messages by priority, each in seq order
	nonEmpty    uint16         // bit p set when lanes[p] is not empty
	ready       int            // messages in lanes
	readyBytes  int64
	pending     int      // entries in inflight
	pendBytes   int64    // their bytes
	inflight    []*entry // reserved by publishes, not yet visible, in seq order (publish.go, release)
	unsettled   int
	bytes       int64 // ready and unsettled
	expiring    int   // ready messages with an expiry: the sweeper skips queues without
	consumers   []*Consumer
	rr          int  // round-robin position in consumers
	exclusive   bool // a consumer holds the queue exclusively
	deleted     bool
	dispatching bool // a goroutine is handing out messages; see dispatch

	// Counters, read by Stats without q.mu.
	enqueued, delivered, acked, dropped, expired, deadLettered atomic.Uint64
}

func newQueue(x *Exchange, name string, cfg QueueConfig) *queue {
	q := &queue{x: x, id: x.queueIDs.Add(1), name: name, cfg: cfg}
	q.maxLen = cfg.MaxLength
	if q.maxLen == 0 {
		q.maxLen = DefaultMaxLength
	}
	q.maxBytes = cfg.MaxBytes
	if q.maxBytes == 0 {
		q.maxBytes = DefaultMaxBytes
	}
	q.maxDeliveries = cfg.MaxDeliveries
	if q.maxDeliveries == 0 {
		q.maxDeliveries = DefaultMaxDeliveries
	}
	switch cfg.DeadLetter {
	case "":
		q.deadLetter = DefaultDeadLetter
	case "-":
		q.deadLetter = ""
	default:
		q.deadLetter = cfg.DeadLetter
	}
	if q.deadLetter == name {
		q.deadLetter = ""
	}
	q.ttl = cfg.TTL
	return q
}

// entry is one message on one queue. It sits in exactly one list at a
// time: a ready lane of its queue, or the unsettled list of the consumer it
// was handed to. Its first Delivery is embedded, so that the common case
// (delivered once, accepted) costs one allocation per message and queue.
type entry struct {
	prev, next *entry // guarded by q.mu
	msg        *message.Message
	seq        uint64
	size       int64
	expires    int64 // UnixNano; 0 means never
	count      int   // failed attempts (delivery-count)
	prio       uint8
	persisted  bool      // the store holds it
	hold       holdState // while in its queue's inflight list; guarded by q.mu
	handedOut  bool      // delivered before: the next delivery is a redelivery
	owner      *Consumer // holding it unsettled; nil while ready
	live       *Delivery // the unsettled delivery while owner != nil
	refused    []uint64  // consumers that asked not to get it again (UndeliverableHere)
	first      Delivery
	firstUsed  bool
}

func (e *entry) expiredAt(now int64) bool { return e.expires != 0 && now >= e.expires }

// elist is an intrusive doubly linked list of entries.
type elist struct {
	head, tail *entry
	n          int
}

func (l *elist) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *elist) insertBefore(e, at *entry) {
	if at == nil {
		l.pushBack(e)
		return
	}
	e.next, e.prev = at, at.prev
	if at.prev != nil {
		at.prev.next = e
	} else {
		l.head = e
	}
	at.prev = e
	l.n++
}

// insertFromTail keeps the list in seq order, searching from the tail: new
// messages almost always go last.
func (l *elist) insertFromTail(e *entry) {
	at := l.tail
	for at != nil && at.seq > e.seq {
		at = at.prev
	}
	if at == nil {
		l.insertBefore(e, l.head)
		return
	}
	l.insertBefore(e, at.next)
}

// insertFromHead keeps the list in seq order, searching from the head: a
// released message goes back near the front, where it was.
func (l *elist) insertFromHead(e *entry) {
	at := l.head
	for at != nil && at.seq < e.seq {
		at = at.next
	}
	l.insertBefore(e, at)
}

func (l *elist) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

// addReady puts e on its lane; fromHead says where to search for its place.
// Caller holds q.mu.
func (q *queue) addReady(e *entry, fromHead bool) {
	l := &q.lanes[e.prio]
	if fromHead {
		l.insertFromHead(e)
	} else {
		l.insertFromTail(e)
	}
	q.nonEmpty |= 1 << e.prio
	q.ready++
	q.readyBytes += e.size
	q.bytes += e.size
	if e.expires != 0 {
		q.expiring++
	}
}

// removeReady takes e off its lane; it stays counted in q.bytes, which the
// caller adjusts when the message leaves the queue. Caller holds q.mu.
func (q *queue) removeReady(e *entry) {
	l := &q.lanes[e.prio]
	l.remove(e)
	if l.n == 0 {
		q.nonEmpty &^= 1 << e.prio
	}
	q.ready--
	q.readyBytes -= e.size
	if e.expires != 0 {
		q.expiring--
	}
}

// chain links removed entries through next, to be finished (store deletes,
// dead-lettering) after q.mu is released.
type chain struct {
	head *entry
	n    int
}

func (c *chain) push(e *entry) {
	e.prev, e.next = nil, c.head
	c.head = e
	c.n++
}

// overLimit reports whether the ready messages exceed the queue's limits.
func (q *queue) overLimit() bool {
	return q.maxLen >= 0 && q.ready > q.maxLen || q.maxBytes >= 0 && q.readyBytes > q.maxBytes
}

// refuses reports whether a RejectPublish queue has no room for a message
// of size bytes, counting messages reserved by publishes in flight.
func (q *queue) refuses(size int64) bool {
	if q.cfg.Overflow != RejectPublish {
		return false
	}
	return q.maxLen >= 0 && q.ready+q.pending+1 > q.maxLen ||
		q.maxBytes >= 0 && q.readyBytes+q.pendBytes+size > q.maxBytes
}

// dropHead removes ready messages, oldest of the lowest priority first,
// until the queue is within its limits. Caller holds q.mu.
func (q *queue) dropHead(dropped *chain) {
	for q.ready > 0 && q.overLimit() {
		e := q.lanes[bits.TrailingZeros16(q.nonEmpty)].head
		q.removeReady(e)
		q.bytes -= e.size
		dropped.push(e)
	}
}

// takeAllReady empties the ready lanes into c. Caller holds q.mu.
func (q *queue) takeAllReady(c *chain) {
	for p := range q.lanes {
		for e := q.lanes[p].head; e != nil; {
			next := e.next
			q.bytes -= e.size
			c.push(e)
			e = next
		}
		q.lanes[p] = elist{}
	}
	q.nonEmpty, q.ready, q.readyBytes, q.expiring = 0, 0, 0, 0
}

// deleteOps appends an OpDeleteMessage for each persisted entry of c.
func (q *queue) deleteOps(ops []Op, c chain) []Op {
	for e := c.head; e != nil; e = e.next {
		if e.persisted {
			ops = append(ops, Op{Kind: OpDeleteMessage, Queue: q.name, Seq: e.seq})
		}
	}
	return ops
}

// DeclareQueue creates a queue, bound to nothing, or returns nil when it
// exists already (its configuration is kept).
func (x *Exchange) DeclareQueue(name string, cfg QueueConfig) error {
	if name == "" {
		return fmt.Errorf("declare queue: %w: empty name", ErrInvalid)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("declare queue %q: %w", name, err)
	}
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	_, err := x.declare(name, cfg, nil)
	return err
}

// lookup returns the queue called name, or nil.
func (x *Exchange) lookup(name string) *queue {
	x.mu.RLock()
	q := x.queues[name]
	x.mu.RUnlock()
	return q
}

// declare returns the queue called name, creating it with cfg and binding
// it to self (when not nil) if it does not exist.
func (x *Exchange) declare(name string, cfg QueueConfig, self address.Pattern) (*queue, error) {
	x.declMu.Lock()
	defer x.declMu.Unlock()
	if q := x.lookup(name); q != nil {
		return q, nil
	}
	if cfg.Durable && x.store != nil {
		b := &Batch{Ops: []Op{{Kind: OpPutQueue, Queue: name, QueueConfig: cfg}}}
		if self != nil {
			b.Ops = append(b.Ops, Op{Kind: OpPutBinding, Queue: name, Pattern: self})
		}
		if err := x.store.Commit(context.Background(), b); err != nil {
			return nil, fmt.Errorf("declare queue %q: %w", name, err)
		}
	}
	q := newQueue(x, name, cfg)
	x.mu.Lock()
	x.queues[name] = q
	if self != nil {
		x.routes.Add(self, q)
		q.bindings = append(q.bindings, self)
	}
	x.mu.Unlock()
	x.log.Debug("queue declared", "queue", name, "durable", cfg.Durable)
	return q, nil
}

// selfPattern is the binding of an auto-created named queue: its own name
// read as an MQTT topic, so that a plain publish to "orders" reaches queue
// "orders" (DESIGN.md §4). A name that is not a valid topic gets none.
func selfPattern(name string) address.Pattern {
	a, err := address.ParseMQTTTopic(name)
	if err != nil {
		return nil
	}
	return address.Exact(a)
}

// DeleteQueue removes a queue, its bindings and its messages; its
// consumers are closed (their Closed callback says why, with
// ErrQueueDeleted).
func (x *Exchange) DeleteQueue(name string) error {
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	return x.deleteQueue(name, nil)
}

// deleteQueue deletes the queue called name. With only set, it deletes it
// only if it is still that queue and has no consumer: the auto-delete of a
// queue whose last consumer left, raced by a new consumer, keeps it.
func (x *Exchange) deleteQueue(name string, only *queue) error {
	x.declMu.Lock()
	q := x.lookup(name)
	if q == nil || only != nil && q != only {
		x.declMu.Unlock()
		if only != nil {
			return nil
		}
		return fmt.Errorf("delete queue %q: %w", name, ErrQueueNotFound)
	}
	if only != nil {
		q.mu.Lock()
		busy := len(q.consumers) > 0
		q.mu.Unlock()
		if busy {
			x.declMu.Unlock()
			return nil
		}
	}
	if q.cfg.Durable && x.store != nil {
		b := &Batch{Ops: []Op{{Kind: OpDeleteQueue, Queue: name}}}
		if err := x.store.Commit(context.Background(), b); err != nil {
			x.declMu.Unlock()
			return fmt.Errorf("delete queue %q: %w", name, err)
		}
	}
	x.mu.Lock()
	delete(x.queues, name)
	for _, p := range q.bindings {
		x.routes.Remove(p, q)
	}
	q.bindings = nil
	x.mu.Unlock()
	x.declMu.Unlock()

	// The store dropped the messages with the queue; memory follows.
	n := q.closeConsumers(fmt.Errorf("queue %q: %w", name, ErrQueueDeleted), true)
	x.log.Debug("queue deleted", "queue", name, "messages", n)
	return nil
}

// closeConsumers detaches every consumer, releases their unsettled
// deliveries and calls their Closed callbacks with reason. With deleting,
// it marks the queue deleted and drops every message instead, returning how
// many.
func (q *queue) closeConsumers(reason error, deleting bool) int {
	var gone chain
	q.mu.Lock()
	if deleting {
		q.deleted = true
	}
	cs := q.consumers
	q.consumers = nil
	q.exclusive = false
	for _, c := range cs {
		c.detach()
	}
	if deleting {
		q.takeAllReady(&gone)
	}
	q.mu.Unlock()
	for _, c := range cs {
		if c.opts.Closed != nil {
			c.opts.Closed(reason)
		}
	}
	return gone.n
}

// PurgeQueue removes every ready message and returns how many.
func (x *Exchange) PurgeQueue(name string) (int, error) {
	if !x.gate.enter() {
		return 0, ErrClosed
	}
	defer x.gate.leave()
	q := x.lookup(name)
	if q == nil {
		return 0, fmt.Errorf("purge queue %q: %w", name, ErrQueueNotFound)
	}
	var gone chain
	q.mu.Lock()
	q.takeAllReady(&gone)
	q.mu.Unlock()
	if ops := q.deleteOps(nil, gone); len(ops) > 0 {
		if err := x.commit(context.Background(), &Batch{Ops: ops}); err != nil {
			return gone.n, fmt.Errorf("purge queue %q: %w", name, err)
		}
	}
	return gone.n, nil
}

// Bind routes messages whose address matches p to the queue.
// Binding the same pattern twice is a no-op.
func (x *Exchange) Bind(queue string, p address.Pattern) error {
	if len(p) == 0 {
		return fmt.Errorf("bind %q: %w: empty pattern", queue, ErrInvalid)
	}
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	x.declMu.Lock()
	defer x.declMu.Unlock()
	q := x.lookup(queue)
	if q == nil {
		return fmt.Errorf("bind %q to %q: %w", queue, p, ErrQueueNotFound)
	}
	x.mu.RLock()
	bound := slices.ContainsFunc(q.bindings, p.Equal)
	x.mu.RUnlock()
	if bound {
		return nil
	}
	p = address.Pattern(address.Address(p).Clone())
	if q.cfg.Durable && x.store != nil {
		b := &Batch{Ops: []Op{{Kind: OpPutBinding, Queue: queue, Pattern: p}}}
		if err := x.store.Commit(context.Background(), b); err != nil {
			return fmt.Errorf("bind %q to %q: %w", queue, p, err)
		}
	}
	x.mu.Lock()
	x.routes.Add(p, q)
	q.bindings = append(q.bindings, p)
	x.mu.Unlock()
	return nil
}

// Unbind removes a binding; a missing binding is not an error.
func (x *Exchange) Unbind(queue string, p address.Pattern) error {
	if !x.gate.enter() {
		return ErrClosed
	}
	defer x.gate.leave()
	x.declMu.Lock()
	defer x.declMu.Unlock()
	q := x.lookup(queue)
	if q == nil {
		return fmt.Errorf("unbind %q from %q: %w", queue, p, ErrQueueNotFound)
	}
	x.mu.RLock()
	i := slices.IndexFunc(q.bindings, p.Equal)
	x.mu.RUnlock()
	if i < 0 {
		return nil
	}
	if q.cfg.Durable && x.store != nil {
		b := &Batch{Ops: []Op{{Kind: OpDeleteBinding, Queue: queue, Pattern: p}}}
		if err := x.store.Commit(context.Background(), b); err != nil {
			return fmt.Errorf("unbind %q from %q: %w", queue, p, err)
		}
	}
	x.mu.Lock()
	x.routes.Remove(q.bindings[i], q)
	q.bindings = slices.Delete(q.bindings, i, i+1)
	x.mu.Unlock()
	return nil
}

// QueueStats describes a queue for the admin API and metrics.
type QueueStats struct {
	Name       string
	Config     QueueConfig
	Bindings   []address.Pattern
	Ready      int   // messages waiting
	Unsettled  int   // handed out, not settled
	Bytes      int64 // of ready and unsettled messages
	Consumers  int
	Enqueued   uint64
	Delivered  uint64
	Acked      uint64
	Dropped    uint64 // overflow, expired or dead-letter dropped
	Expired    uint64
	DeadLetter uint64 // messages this queue sent to its dead-letter queue
}

// Queues returns a snapshot of every queue, sorted by name.
func (x *Exchange) Queues() []QueueStats {
	x.mu.RLock()
	qs := make([]*queue, 0, len(x.queues))
	for _, q := range x.queues {
		qs = append(qs, q)
	}
	out := make([]QueueStats, len(qs))
	for i, q := range qs {
		out[i].Bindings = clonePatterns(q.bindings)
	}
	x.mu.RUnlock()
	for i, q := range qs {
		q.stats(&out[i])
	}
	slices.SortFunc(out, func(a, b QueueStats) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Queue returns one queue's snapshot.
func (x *Exchange) Queue(name string) (QueueStats, bool) {
	var s QueueStats
	x.mu.RLock()
	q := x.queues[name]
	if q != nil {
		s.Bindings = clonePatterns(q.bindings)
	}
	x.mu.RUnlock()
	if q == nil {
		return s, false
	}
	q.stats(&s)
	return s, true
}

func (q *queue) stats(s *QueueStats) {
	s.Name, s.Config = q.name, q.cfg
	q.mu.Lock()
	s.Ready, s.Unsettled, s.Bytes, s.Consumers = q.ready, q.unsettled, q.bytes, len(q.consumers)
	q.mu.Unlock()
	s.Enqueued = q.enqueued.Load()
	s.Delivered = q.delivered.Load()
	s.Acked = q.acked.Load()
	s.Dropped = q.dropped.Load()
	s.Expired = q.expired.Load()
	s.DeadLetter = q.deadLettered.Load()
}

func clonePatterns(ps []address.Pattern) []address.Pattern {
	out := make([]address.Pattern, len(ps))
	for i, p := range ps {
		out[i] = address.Pattern(address.Address(p).Clone())
	}
	return out
}
