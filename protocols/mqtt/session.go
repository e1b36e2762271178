package mqtt

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// Lock order: Server.mu, then session.mu, then conn.mu. No exchange call
// (Settle, AddCredit, SetCredit, Consume, Close, Bind...) is made while
// holding a session lock: the exchange may call a consumer's Handler from
// inside them, and the Handler takes session.mu.

// sessionQueue names the core queue of a client's session.
func sessionQueue(clientID string) string { return "mqtt/" + clientID }

// session is the MQTT session of one client identifier (MQTT 5 §4.1): its
// subscriptions, its core queue and consumers, the deliveries handed to it
// and not yet written, and its outbound QoS 1/2 state. A persistent
// session outlives its connections; a clean one ends with its connection.
//
// Deliveries flow: core consumer Handler → pending (bounded by credit) →
// the writer goroutine of the attached connection → PUBLISH. QoS 0
// deliveries are settled once written; QoS 1/2 ones are kept in inflight,
// keyed by packet identifier, until the client's PUBACK or PUBREC.
type session struct {
	srv      *Server
	clientID string
	queue    string // the session's own queue, "mqtt/<client-id>"
	log      *slog.Logger

	// saveMu serializes persist calls, so records reach the store in order.
	saveMu sync.Mutex

	mu         sync.Mutex
	ended      bool
	persistent bool
	protocol   byte   // MQTT protocol version of the last connection, for the record
	username   string // of the last connection, for the record
	expiry     uint32 // Session Expiry Interval of the last connection (MQTT 5)
	offlineAt  int64  // Unix seconds when the session went offline; 0 while connected
	// owner is the connection that opened the session last; it becomes
	// conn when attached. A takeover can come between a connection's
	// OnSessionEstablish and its OnSessionEstablished: the owner, not
	// conn, says which connection the session belongs to then.
	owner     *conn
	conn      *conn   // the attached connection; nil while offline
	w         *writer // the writer of conn; nil while offline
	window    int     // QoS>0 PUBLISH packets the client accepts in flight (MQTT-3.3.4-9)
	subs      map[string]*subscription
	private   []*subscription      // the subscriptions of kind subPrivate, for matching
	consumers map[string]*consumer // by queue name
	pending   []item               // handed by the core, not written yet, in order
	inflight  map[uint16]*outbound // QoS 1/2 deliveries awaiting the client
	lastID    uint16
	sendSeq   uint64
	// subscribing counts SUBSCRIBE packets being processed: the writer
	// holds back until their SUBACK is written (OnPacketProcessed), so no
	// PUBLISH for a new subscription overtakes its SUBACK.
	subscribing int
	// retained holds the filters whose retained messages are to be sent
	// once the SUBACK is written.
	retained []address.Pattern
}

// subscription is one of the session's MQTT subscriptions.
type subscription struct {
	filter  string // as the client wrote it
	kind    subKind
	pattern address.Pattern
	queue   string // shared or queue subscriptions: the queue consumed
	qos     byte   // granted
	noLocal bool
	rap     bool   // Retain As Published
	id      int    // Subscription Identifier, 0 when none
	accept  string // payload format asked for (user property accept, MQTT 5); "" none
}

// consumer is one core consumer of the session: on its own queue, a
// shared group's queue or a named queue.
type consumer struct {
	queue  string
	kind   subKind
	filter string // the subscription it serves (shared and queue kinds)
	c      *exchange.Consumer
	held   int  // deliveries handed over and not settled (guarded by session.mu)
	closed bool // guarded by session.mu
}

// item is a delivery waiting for the writer.
type item struct {
	d *exchange.Delivery
	c *consumer
}

// Outbound QoS states (MQTT 5 §4.3.2, §4.3.3).
const (
	awaitPuback  = iota // QoS 1 PUBLISH sent
	awaitPubrec         // QoS 2 PUBLISH sent
	awaitPubcomp        // PUBREL sent
)

// outbound is a QoS 1/2 delivery in flight toward the client. What a
// resend needs is kept, not the packet: resend renders it again, for the
// connection it resumes on.
type outbound struct {
	id     uint16           // packet identifier
	m      *message.Message // as sent (transformed for the receiver)
	qos    byte
	retain bool
	ids    []int // Subscription Identifiers
	d      *exchange.Delivery
	c      *consumer
	state  int
	seq    uint64 // send order, for resending in order on resume
}

// packet renders o again for a resend on c: the PUBLISH with DUP set and
// the full topic (MQTT-3.3.1-1), or the PUBREL once the client sent
// PUBREC.
func (o *outbound) packet(c *conn, now time.Time) packets.Packet {
	if o.state == awaitPubcomp {
		return pubrelPacket(o.id)
	}
	var pk packets.Packet
	fillPublish(&pk, o.m, o.qos, o.retain, c.v5, now)
	pk.TopicName = o.m.Address.MQTT()
	pk.PacketID = o.id
	pk.FixedHeader.Dup = true
	pk.Properties.SubscriptionIdentifier = o.ids
	return pk
}

func pubrelPacket(id uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id}
}

// writer is the goroutine that writes a session's deliveries to one
// connection.
type writer struct {
	c    *conn
	wake chan struct{}
	stop chan struct{}

	// Owned by the writer goroutine (flush, writeOut):
	buf  []byte               // PUBLISH packets encoded and not written yet
	n    int                  // packets in buf
	qos0 []item               // the QoS 0 deliveries in buf, settled once written
	ds   []*exchange.Delivery // scratch for settling qos0
	pk   packets.Packet       // scratch for the packet being encoded
}

func (w *writer) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func newSession(srv *Server, clientID string) *session {
	return &session{
		srv:       srv,
		clientID:  clientID,
		queue:     sessionQueue(clientID),
		log:       srv.log.With("client", clientID),
		subs:      make(map[string]*subscription),
		consumers: make(map[string]*consumer),
		inflight:  make(map[uint16]*outbound),
	}
}

// init creates the session's queue and its consumer. A queue left by an
// earlier process (recovered from the store) is reused for a resumed
// session, with the subscriptions of its session record (persist.go); a
// queue without a record (a crash between the two, or a record from
// another build) gets its bindings back as QoS 1 subscriptions.
func (ss *session) init(c *conn, clean bool) error {
	x := ss.srv.x
	var rec *sessionRecord
	if v, ok := x.State(sessionKey(ss.clientID)); ok && !clean {
		if r, err := decodeSessionRecord(v); err != nil {
			ss.log.Warn("session record unreadable; subscriptions come back from bindings", "error", err)
		} else {
			rec = &r
		}
	}
	if prev, ok := x.Queue(ss.queue); ok {
		if clean {
			if err := ss.deleteQueue(); err != nil {
				return err
			}
		} else if rec == nil {
			ss.mu.Lock()
			for _, p := range prev.Bindings {
				f := p.MQTT()
				sub := &subscription{filter: f, kind: subPrivate, pattern: p, qos: 1}
				ss.subs[f] = sub
			}
			ss.rebuildPrivate()
			ss.mu.Unlock()
		}
	}
	ss.mu.Lock()
	durable := ss.persistent
	ss.mu.Unlock()
	err := x.DeclareQueue(ss.queue, exchange.QueueConfig{
		Durable:   durable,
		Owner:     ss.queue,
		MaxLength: ss.srv.cfg.SessionQueueLength,
		Overflow:  exchange.DropHead,
	})
	if err != nil {
		return fmt.Errorf("declare session queue: %w", err)
	}
	if _, err := ss.consume(c, ss.queue, subPrivate, ""); err != nil {
		return err
	}
	if rec != nil {
		ss.restore(c, *rec)
	}
	return nil
}

// consume attaches a consumer to queue (created by the exchange when
// missing and auto-creation is on).
func (ss *session) consume(c *conn, queue string, kind subKind, filter string) (*consumer, error) {
	cons := &consumer{queue: queue, kind: kind, filter: filter}
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return nil, errSessionEnded
	}
	credit := 0
	if ss.conn != nil {
		credit = ss.window
	}
	ss.consumers[queue] = cons
	ss.mu.Unlock()

	xc, err := ss.srv.x.Consume(queue, exchange.ConsumerOptions{
		Protocol: message.ProtocolMQTT,
		ClientID: ss.clientID,
		ConnID:   c.id,
		Credit:   credit,
		Handler:  func(d *exchange.Delivery) { ss.handle(cons, d) },
		Closed:   func(err error) { ss.consumerClosed(cons, err) },
	})
	ss.mu.Lock()
	if err != nil {
		if ss.consumers[queue] == cons {
			delete(ss.consumers, queue)
		}
		ss.mu.Unlock()
		return nil, fmt.Errorf("consume %q: %w", queue, err)
	}
	cons.c = xc
	w := ss.w
	ss.mu.Unlock()
	if w != nil {
		w.notify() // the writer skips deliveries of a consumer not yet set up
	}
	return cons, nil
}

var errSessionEnded = errors.New("mqtt: session ended")

// handle is the Handler of every consumer of the session. It never
// blocks: the delivery waits in pending, whose size the credit bounds.
func (ss *session) handle(cons *consumer, d *exchange.Delivery) {
	ss.mu.Lock()
	if cons.closed || ss.ended {
		ss.mu.Unlock()
		_ = d.Settle(exchange.Released)
		return
	}
	cons.held++
	ss.pending = append(ss.pending, item{d: d, c: cons})
	w := ss.w
	ss.mu.Unlock()
	if w != nil {
		w.notify()
	}
}

// consumerClosed is called by the exchange when it closes a consumer
// (queue deleted, exchange closed).
func (ss *session) consumerClosed(cons *consumer, err error) {
	ss.mu.Lock()
	if !cons.closed && !ss.ended {
		ss.log.Warn("core consumer closed", "queue", cons.queue, "error", err)
	}
	cons.closed = true
	if ss.consumers[cons.queue] == cons {
		delete(ss.consumers, cons.queue)
	}
	ss.dropPendingLocked(cons)
	ss.mu.Unlock()
}

// dropPendingLocked forgets the pending deliveries of a closed consumer
// (the exchange has released them).
func (ss *session) dropPendingLocked(cons *consumer) {
	ss.pending = slices.DeleteFunc(ss.pending, func(it item) bool { return it.c == cons })
	for _, o := range ss.inflight {
		if o.c == cons {
			o.d = nil // the protocol exchange goes on; nothing to settle
		}
	}
}

// settle ends a delivery and, while the client is online, grants the
// consumer one more delivery in its place.
func (ss *session) settle(cons *consumer, d *exchange.Delivery, o exchange.Outcome) {
	if d == nil {
		return
	}
	if err := d.Settle(o); err != nil && !errors.Is(err, exchange.ErrSettled) {
		ss.log.Debug("settle", "queue", cons.queue, "error", err)
	}
	ss.mu.Lock()
	cons.held--
	give := ss.conn != nil && !cons.closed && cons.c != nil
	ss.mu.Unlock()
	if give {
		cons.c.AddCredit(1)
	}
}

// attach makes c the session's connection (OnSessionEstablished): the
// consumers get credit again and a writer starts, which first resends the
// deliveries still in flight (MQTT-4.4.0-1).
func (ss *session) attach(c *conn) {
	ss.mu.Lock()
	if ss.ended || ss.owner != c {
		// Ended, or taken over by a newer connection before this one
		// attached: the newer one attaches.
		ss.mu.Unlock()
		return
	}
	ss.conn = c
	ss.window = c.window
	w := &writer{c: c, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	ss.w = w
	type grant struct {
		c *exchange.Consumer
		n int
	}
	grants := make([]grant, 0, len(ss.consumers))
	for _, cons := range ss.consumers {
		if cons.c != nil && !cons.closed {
			grants = append(grants, grant{cons.c, max(0, ss.window-cons.held)})
		}
	}
	ss.mu.Unlock()
	ss.srv.wg.Add(1)
	go ss.writeLoop(w)
	for _, g := range grants {
		g.c.SetCredit(g.n)
	}
}

// detach takes c off the session if it is the attached connection (or the
// one about to be, between OnSessionEstablish and OnSessionEstablished).
// It reports whether c was current. The writer is told to stop, not
// waited for: it may be blocked writing to a dead socket.
func (ss *session) detach(c *conn) bool {
	ss.mu.Lock()
	if ss.owner == c {
		ss.owner = nil
	} else if ss.conn != c {
		ss.mu.Unlock()
		return false
	}
	w := ss.w
	if ss.conn != c {
		w = nil // owned but not attached yet: no writer runs for c
	} else {
		ss.conn, ss.w = nil, nil
	}
	ss.mu.Unlock()
	if w != nil {
		close(w.stop)
	}
	return true
}

// offline is a persistent session losing its connection: no more credit,
// so new messages wait in the session queue (within its limits). Pending
// deliveries of shared groups go back for the other members; those of
// the own queue and everything in flight wait for the client to return
// (MQTT-4.8.2-4).
func (ss *session) offline() {
	defer ss.persist()
	ss.mu.Lock()
	ss.offlineAt = time.Now().Unix()
	var consumers []*exchange.Consumer
	for _, cons := range ss.consumers {
		if cons.c != nil {
			consumers = append(consumers, cons.c)
		}
	}
	var back []item
	ss.pending = slices.DeleteFunc(ss.pending, func(it item) bool {
		if it.c.kind != subPrivate {
			back = append(back, it)
			return true
		}
		return false
	})
	ss.mu.Unlock()
	for _, c := range consumers {
		c.SetCredit(0)
	}
	for _, it := range back {
		ss.settle(it.c, it.d, exchange.Released)
	}
}

// end ends the session (clean disconnect, clean start, expiry): its
// consumers are closed and its queue deleted. A shared-group delivery
// already sent is not given to another member (MQTT-4.8.2-5): it is
// rejected (dead-lettered).
func (ss *session) end(reason string) {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	w := ss.w
	ss.conn, ss.w = nil, nil
	var reject []item
	for _, o := range ss.inflight {
		if o.d != nil && o.c.kind == subShared && o.state != awaitPubcomp {
			reject = append(reject, item{d: o.d, c: o.c})
		}
	}
	consumers := make([]*consumer, 0, len(ss.consumers))
	for _, cons := range ss.consumers {
		cons.closed = true
		consumers = append(consumers, cons)
	}
	ss.consumers = map[string]*consumer{}
	ss.pending, ss.inflight = nil, map[uint16]*outbound{}
	ss.subs, ss.private = map[string]*subscription{}, nil
	ss.mu.Unlock()
	if w != nil {
		close(w.stop)
	}
	for _, it := range reject {
		_ = it.d.Settle(exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "mqtt session ended before the client acknowledged (MQTT-4.8.2-5)"})
	}
	for _, cons := range consumers {
		if cons.c != nil {
			_ = cons.c.Close()
		}
	}
	if err := ss.deleteQueue(); err != nil {
		ss.log.Warn("delete session queue", "queue", ss.queue, "error", err)
	}
	ss.persist() // ended: deletes the record
	ss.srv.forgetSession(ss)
	ss.log.Debug("session ended", "reason", reason)
}

// close closes the consumers at shutdown; the queue stays.
func (ss *session) close() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	w := ss.w
	ss.conn, ss.w = nil, nil
	consumers := make([]*consumer, 0, len(ss.consumers))
	for _, cons := range ss.consumers {
		cons.closed = true
		consumers = append(consumers, cons)
	}
	ss.pending = nil
	ss.mu.Unlock()
	if w != nil {
		close(w.stop)
	}
	for _, cons := range consumers {
		if cons.c != nil {
			_ = cons.c.Close()
		}
	}
}

// deleteQueue deletes the session queue, keeping its drop count.
func (ss *session) deleteQueue() error {
	x := ss.srv.x
	qs, ok := x.Queue(ss.queue)
	if !ok {
		return nil
	}
	err := x.DeleteQueue(ss.queue)
	if err != nil && !errors.Is(err, exchange.ErrQueueNotFound) {
		return fmt.Errorf("delete queue %q: %w", ss.queue, err)
	}
	ss.srv.mu.Lock()
	ss.srv.retiredDropped += overflowDrops(qs)
	ss.srv.mu.Unlock()
	return nil
}

// subscribe mirrors one granted subscription into the core and reports a
// failure reason code (0 on success), and whether the retained messages
// matching it are to be sent (MQTT-3.3.1-9, MQTT-3.3.1-10,
// MQTT-3.3.1-11; never for shared subscriptions, MQTT 5 §4.8.2).
func (ss *session) subscribe(c *conn, ps packets.Subscription, granted byte, pf parsedFilter, accept string) (byte, bool) {
	sub := &subscription{
		filter:  ps.Filter,
		kind:    pf.kind,
		pattern: pf.pattern,
		queue:   pf.queue,
		qos:     granted,
		noLocal: ps.NoLocal,
		rap:     ps.RetainAsPublished,
		id:      ps.Identifier,
		accept:  accept,
	}
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return packets.ErrUnspecifiedError.Code, false
	}
	_, existed := ss.subs[ps.Filter]
	ss.subs[ps.Filter] = sub // MQTT-3.8.4-3: replaces an identical filter's subscription
	ss.rebuildPrivate()
	_, haveConsumer := ss.consumers[pf.queue]
	ss.mu.Unlock()

	var err error
	x := ss.srv.x
	switch pf.kind {
	case subPrivate:
		err = x.Bind(ss.queue, pf.pattern)
	case subShared:
		if !haveConsumer {
			err = ss.joinGroup(c, sub)
		}
	case subQueue:
		if !haveConsumer {
			_, err = ss.consume(c, pf.queue, subQueue, ps.Filter)
		}
	}
	if err != nil {
		ss.log.Warn("subscribe", "filter", ps.Filter, "error", err)
		ss.mu.Lock()
		if ss.subs[ps.Filter] == sub {
			delete(ss.subs, ps.Filter)
			ss.rebuildPrivate()
		}
		ss.mu.Unlock()
		if errors.Is(err, exchange.ErrQueueNotFound) {
			return packets.ErrTopicFilterInvalid.Code, false
		}
		return packets.ErrUnspecifiedError.Code, false
	}
	sendRetained := pf.kind == subPrivate && (ps.RetainHandling == 0 || ps.RetainHandling == 1 && !existed)
	return 0, sendRetained
}

// joinGroup consumes from a shared subscription's queue, declaring it and
// binding it to the group's filter. The queue is deleted with its last
// member (AutoDelete); if that happens between the steps, try again.
func (ss *session) joinGroup(c *conn, sub *subscription) error {
	x := ss.srv.x
	var err error
	for range 3 {
		err = x.DeclareQueue(sub.queue, exchange.QueueConfig{
			AutoDelete: true,
			MaxLength:  ss.srv.cfg.SessionQueueLength,
			Overflow:   exchange.DropHead,
		})
		if err != nil {
			return fmt.Errorf("declare shared queue: %w", err)
		}
		var cons *consumer
		cons, err = ss.consume(c, sub.queue, subShared, sub.filter)
		if err != nil {
			if errors.Is(err, exchange.ErrQueueNotFound) {
				continue
			}
			return err
		}
		err = x.Bind(sub.queue, sub.pattern)
		if err == nil {
			return nil
		}
		ss.dropConsumer(cons)
		if !errors.Is(err, exchange.ErrQueueNotFound) {
			return fmt.Errorf("bind shared queue: %w", err)
		}
	}
	return err
}

// dropConsumer closes one consumer of the session.
func (ss *session) dropConsumer(cons *consumer) {
	ss.mu.Lock()
	cons.closed = true
	if ss.consumers[cons.queue] == cons {
		delete(ss.consumers, cons.queue)
	}
	ss.dropPendingLocked(cons)
	ss.mu.Unlock()
	if cons.c != nil {
		_ = cons.c.Close()
	}
}

// unsubscribe removes one subscription (MQTT 5 §3.10.4).
func (ss *session) unsubscribe(filter string) {
	ss.mu.Lock()
	sub, ok := ss.subs[filter]
	if !ok || ss.ended {
		ss.mu.Unlock()
		return
	}
	delete(ss.subs, filter)
	ss.rebuildPrivate()
	var cons *consumer
	if sub.kind != subPrivate {
		if c := ss.consumers[sub.queue]; c != nil && c.filter == filter {
			cons = c
		}
	}
	ss.mu.Unlock()
	if sub.kind == subPrivate {
		if err := ss.srv.x.Unbind(ss.queue, sub.pattern); err != nil {
			ss.log.Warn("unbind", "filter", filter, "error", err)
		}
		return
	}
	if cons != nil {
		ss.dropConsumer(cons)
	}
}

func (ss *session) rebuildPrivate() {
	ss.private = ss.private[:0]
	for _, s := range ss.subs {
		if s.kind == subPrivate {
			ss.private = append(ss.private, s)
		}
	}
}

// subscriptionCount returns how many subscriptions the session has and
// whether filter is one of them.
func (ss *session) subscriptionCount(filter string) (int, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.subs[filter]
	return len(ss.subs), ok
}

// beginSubscribe pauses the writer until endSubscribe.
func (ss *session) beginSubscribe() {
	ss.mu.Lock()
	ss.subscribing++
	ss.mu.Unlock()
}

// endSubscribe runs after the SUBACK is written: retained messages for
// the new subscriptions are put on the session queue, marked as retained
// deliveries, so that they go to this client only, within its credit.
func (ss *session) endSubscribe() {
	ss.mu.Lock()
	if ss.subscribing > 0 {
		ss.subscribing--
	}
	filters := ss.retained
	ss.retained = nil
	w := ss.w
	ss.mu.Unlock()
	for _, p := range filters {
		for _, m := range ss.srv.x.Retained(p) {
			cp := m.Clone()
			cp.Annotations.RetainedDelivery = true
			if err := ss.srv.x.Enqueue(ss.srv.ctx, ss.queue, cp); err != nil {
				ss.log.Warn("enqueue retained message", "filter", p.MQTT(), "address", m.Address.MQTT(), "error", err)
			}
		}
	}
	if w != nil {
		w.notify()
	}
}

func (ss *session) queueRetained(p address.Pattern) {
	ss.mu.Lock()
	ss.retained = append(ss.retained, p)
	ss.mu.Unlock()
}

// writeLoop writes the session's deliveries to w's connection until told
// to stop or the connection fails.
func (ss *session) writeLoop(w *writer) {
	defer ss.srv.wg.Done()
	if !ss.resend(w) {
		return
	}
	for {
		if !ss.flush(w) {
			return
		}
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
	}
}

// resend writes again, in their original order, the PUBLISH packets not
// acknowledged and the PUBREL packets not completed when the session's
// previous connection ended (MQTT-4.4.0-1, MQTT-4.6.0-1). mochi's own
// resend is not used: it orders by second-granular timestamps.
func (ss *session) resend(w *writer) bool {
	ss.mu.Lock()
	if ss.w != w {
		ss.mu.Unlock()
		return false
	}
	out := make([]*outbound, 0, len(ss.inflight))
	for _, o := range ss.inflight {
		out = append(out, o)
	}
	ss.mu.Unlock()
	if len(out) == 0 {
		return true
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	now := time.Now()
	for _, o := range out {
		ss.mu.Lock()
		pk := o.packet(w.c, now)
		ss.mu.Unlock()
		if err := w.c.cl.WritePacket(pk); err != nil {
			return false
		}
	}
	ss.log.Debug("resent in-flight messages", "count", len(out))
	return true
}

// Write batching: flush encodes deliveries into the writer's buffer and
// writes it out (writeOut) once nothing more can go now, or when it holds
// flushBytes.
const (
	flushBytes = 64 << 10
	// keepBytes is the largest buffer a writer keeps between batches; a
	// bigger one (a large message) is let go once written.
	keepBytes = 256 << 10
)

// flush writes pending deliveries while the window allows. It returns
// false when the writer must exit.
func (ss *session) flush(w *writer) bool {
	c := w.c
	now := time.Now()
	for k := 1; ; k++ {
		if k%64 == 0 {
			now = time.Now()
		}
		ss.mu.Lock()
		if ss.w != w {
			ss.mu.Unlock()
			ss.writeOut(w)
			return false
		}
		if ss.subscribing > 0 || len(ss.pending) == 0 {
			ss.mu.Unlock()
			return ss.writeOut(w)
		}
		it := ss.pending[0]
		if it.c.c == nil {
			ss.mu.Unlock() // its consumer is being set up; consume notifies
			return ss.writeOut(w)
		}
		m := it.d.Msg
		qos, retain, ids, accept, ok := ss.egressLocked(it, c.v5)
		if !ok || m.Expired(now) {
			// No subscription wants it any more (unsubscribed, no-local), or
			// it expired on the way (MQTT-3.3.2-5): it is done with.
			ss.pending = ss.pending[1:]
			ss.mu.Unlock()
			ss.settle(it.c, it.d, exchange.Accepted)
			continue
		}
		if qos > 0 && len(ss.inflight) >= ss.window {
			ss.mu.Unlock() // MQTT-3.3.4-9, MQTT-4.9.0-2: wait for an acknowledgement
			return ss.writeOut(w)
		}
		ss.pending = ss.pending[1:]
		ss.mu.Unlock()
		m, err := ss.transformed(it, accept)
		if err != nil {
			// Dead-lettered or dropped for this receiver, and settled:
			// nothing is sent, no inflight slot is taken, the credit
			// comes back.
			c.log.Debug("delivery not sent", "queue", it.d.Queue, "error", err)
			ss.settle(it.c, it.d, exchange.Accepted)
			continue
		}
		pk := &w.pk
		*pk = packets.Packet{}
		lost := fillPublish(pk, m, qos, retain, c.v5, now)
		if lost != 0 {
			ss.srv.lossy.Add(1)
			ss.srv.x.CountLossy(m.Annotations.Origin.Protocol, message.ProtocolMQTT, lost)
		}
		pk.Properties.SubscriptionIdentifier = ids
		if c.aliasMax > 0 {
			pk.TopicName = m.Address.MQTT() // the alias table's key
		}
		ss.mu.Lock()
		if ss.w != w || it.c.closed || ss.ended {
			// Taken over or closed while transforming: as for a lost
			// connection (writeOut), the delivery waits for the next writer
			// (a closed consumer has released it).
			if !it.c.closed && !ss.ended {
				ss.pending = slices.Insert(ss.pending, 0, it)
			}
			ss.mu.Unlock()
			ss.writeOut(w)
			return false
		}
		var o *outbound
		if qos > 0 {
			pk.PacketID = ss.nextPacketID()
			// A message handed out before (released by a lost connection or
			// consumer, or recovered from the store after a restart) goes
			// with DUP set: it may have reached this or another client
			// already (MQTT-3.3.1-1). Never on QoS 0 (MQTT-3.3.1-2).
			pk.FixedHeader.Dup = it.d.Redelivered
			ss.sendSeq++
			o = &outbound{id: pk.PacketID, m: m, qos: qos, retain: retain, ids: ids, d: it.d, c: it.c, state: awaitPuback, seq: ss.sendSeq}
			if qos == 2 {
				o.state = awaitPubrec
			}
			ss.inflight[pk.PacketID] = o
		}
		ss.mu.Unlock()

		var topic address.Address // encode the topic from the address
		if pk.TopicName == "" {
			topic = m.Address
		}
		if c.aliasMax > 0 {
			// Topic aliases belong to the connection (MQTT 5 §3.3.2.3.4), so
			// only this first send uses one; a resend carries the topic.
			if alias, known := c.cl.State.TopicAliases.Outbound.Set(pk.TopicName); alias > 0 {
				pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
				if known {
					pk.TopicName = ""
				}
			}
		}
		var fits, userDropped bool
		w.buf, _, fits, userDropped = appendPublish(w.buf, pk, topic, c.v5, c.cl.Properties.Props.MaximumPacketSize)
		if !fits {
			// Too big for the client's Maximum Packet Size: discard it as if
			// it were sent (MQTT-3.1.2-25).
			c.log.Debug("delivery discarded: over the client's maximum packet size", "address", m.Address.MQTT())
			ss.srv.lossy.Add(1)
			if o != nil {
				ss.mu.Lock()
				delete(ss.inflight, pk.PacketID)
				ss.mu.Unlock()
			}
			ss.settle(it.c, it.d, exchange.Accepted)
			continue
		}
		if userDropped {
			ss.srv.lossy.Add(1)
			ss.srv.x.CountLossy(m.Annotations.Origin.Protocol, message.ProtocolMQTT, message.LostHeaders)
		}
		w.n++
		if qos == 0 {
			w.qos0 = append(w.qos0, it)
		}
		if len(w.buf) >= flushBytes {
			if !ss.writeOut(w) {
				return false
			}
			now = time.Now()
		}
	}
}

// writeOut writes the packets flush encoded, in one call, and settles the
// QoS 0 deliveries among them. It returns false when the connection
// failed: the QoS 0 deliveries then go back to the head of pending, for
// the next connection of a persistent session; the QoS 1/2 ones stay in
// flight for the resume (MQTT-4.4.0-1).
func (ss *session) writeOut(w *writer) bool {
	if w.n == 0 {
		return true
	}
	c := w.c
	n, size := w.n, len(w.buf)
	err := c.writeRaw(w.buf)
	w.n = 0
	w.buf = w.buf[:0]
	if cap(w.buf) > keepBytes {
		w.buf = nil
	}
	sent := w.qos0
	defer func() {
		clear(sent)
		w.qos0 = sent[:0]
	}()
	if err != nil {
		ss.mu.Lock()
		back := make([]item, 0, len(sent))
		for _, it := range sent {
			if !it.c.closed && !ss.ended {
				back = append(back, it)
			}
		}
		ss.pending = slices.Insert(ss.pending, 0, back...)
		ss.mu.Unlock()
		return false
	}
	info := ss.srv.mochi.Info
	atomic.AddInt64(&info.BytesSent, int64(size))
	atomic.AddInt64(&info.PacketsSent, int64(n))
	atomic.AddInt64(&info.MessagesSent, int64(n))
	for range n {
		c.reg.CountOut()
	}
	// Settle by consumer, one batch per run of the same consumer.
	for i := 0; i < len(sent); {
		cons := sent[i].c
		ds := w.ds[:0]
		for ; i < len(sent) && sent[i].c == cons; i++ {
			ds = append(ds, sent[i].d)
		}
		ss.acceptBatch(cons, ds)
		clear(ds)
		w.ds = ds[:0]
	}
	return true
}

// acceptBatch settles deliveries of one consumer as accepted and, while
// the client is online, grants the consumer as many more.
func (ss *session) acceptBatch(cons *consumer, ds []*exchange.Delivery) {
	ss.mu.Lock()
	cons.held -= len(ds)
	give := ss.conn != nil && !cons.closed && cons.c != nil
	ss.mu.Unlock()
	credit := 0
	if give {
		credit = len(ds)
	}
	if err := ds[0].Consumer().AcceptBatch(ds, credit); err != nil {
		ss.log.Debug("settle", "queue", cons.queue, "error", err)
	}
}

// egressLocked decides how a delivery goes to this client: QoS = min(the
// publish QoS, the highest granted QoS of the matching subscriptions), the
// RETAIN flag and the Subscription Identifiers (MQTT-3.3.4-3: one copy
// carries all of them). ok is false when no subscription wants it.
func (ss *session) egressLocked(it item, v5 bool) (qos byte, retain bool, ids []int, accept string, ok bool) {
	m := it.d.Msg
	o := m.Annotations.Origin
	local := o.Protocol == message.ProtocolMQTT && o.ClientID == ss.clientID
	var maxQoS byte
	var rap bool
	var chosen *subscription // whose accept applies: see acceptWins
	consider := func(s *subscription) {
		if s.noLocal && local {
			return // MQTT-3.8.3-3
		}
		if !ok || acceptWins(s, chosen) {
			chosen = s
		}
		ok = true
		maxQoS = max(maxQoS, s.qos)
		rap = rap || s.rap
		if v5 && s.id > 0 {
			ids = append(ids, s.id)
		}
	}
	if it.c.kind == subPrivate {
		for _, s := range ss.private {
			if s.pattern.Match(m.Address) {
				consider(s)
			}
		}
	} else if s := ss.subs[it.c.filter]; s != nil {
		consider(s)
	}
	if !ok {
		return 0, false, nil, "", false
	}
	if len(ids) > 1 {
		slices.Sort(ids)
	}
	qos = min(publishQoS(m), maxQoS)
	// MQTT-3.3.1-9 (5) / MQTT-3.3.1-8 (3.1.1): RETAIN is set on a delivery
	// caused by a new subscription; otherwise MQTT-3.3.1-12 (5): only with
	// Retain As Published, and never for 3.1.1 (MQTT-3.3.1-9 of 3.1.1).
	retain = m.Annotations.RetainedDelivery || (v5 && rap && m.Annotations.Retain)
	return qos, retain, ids, chosen.accept, true
}

// publishQoS is the QoS a message was published with: MQTT's own, or for
// other protocols 1 when durable and 0 otherwise (DESIGN.md §5).
func publishQoS(m *message.Message) byte {
	if m.Annotations.Origin.Protocol == message.ProtocolMQTT {
		return min(m.Annotations.QoS, 2)
	}
	if m.Durable {
		return 1
	}
	return 0
}

// nextPacketID returns a packet identifier not in use by an outbound
// QoS 1/2 delivery (MQTT-2.2.1-3). The window is below 65535, so one is
// always free. Identifiers of the client's own publishes are a separate
// space and are not looked at.
func (ss *session) nextPacketID() uint16 {
	for {
		ss.lastID++
		if ss.lastID == 0 {
			ss.lastID = 1
		}
		if _, used := ss.inflight[ss.lastID]; !used {
			return ss.lastID
		}
	}
}

// ack handles the client's PUBACK, PUBREC or PUBCOMP for a delivery of
// ours. It returns false when the packet identifier is not one of ours,
// so that mochi handles it.
func (ss *session) ack(c *conn, pk packets.Packet) bool {
	ss.mu.Lock()
	o := ss.inflight[pk.PacketID]
	if o == nil {
		ss.mu.Unlock()
		return false
	}
	var (
		outcome *exchange.Outcome
		d       = o.d
		cons    = o.c
		pubrel  *packets.Packet
	)
	failed := pk.ReasonCode >= packets.ErrUnspecifiedError.Code
	switch {
	case pk.FixedHeader.Type == packets.Puback && o.state == awaitPuback,
		pk.FixedHeader.Type == packets.Pubrec && o.state == awaitPubrec && failed:
		// Delivered, or refused by the client (MQTT-4.4.0-2: not to be sent
		// again; MQTT-4.8.2-6: nor to another member of a shared group), so
		// a refusal dead-letters it.
		delete(ss.inflight, pk.PacketID)
		// A PUBACK gets no answer: the store delete need not be waited
		// for (a crash before it redelivers the message with DUP, QoS 1's
		// at least once). PUBREC stays synchronous below: a QoS 2
		// message must not come back once the client has it.
		res := exchange.Outcome{Kind: exchange.OutcomeAccepted, Lazy: pk.FixedHeader.Type == packets.Puback}
		if failed {
			res = exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: fmt.Sprintf("mqtt client %q refused it with reason code %#x", ss.clientID, pk.ReasonCode)}
		}
		outcome = &res
	case pk.FixedHeader.Type == packets.Pubrec && o.state == awaitPubrec:
		// The client owns the message now (MQTT-4.3.3-8): settle it, and
		// finish the handshake with PUBREL (MQTT-4.3.3-4); the identifier
		// stays in use until PUBCOMP.
		o.state = awaitPubcomp
		o.d, o.m, o.ids = nil, nil, nil
		res := exchange.Accepted
		outcome = &res
		rel := pubrelPacket(pk.PacketID)
		pubrel = &rel
	case pk.FixedHeader.Type == packets.Pubrec && o.state == awaitPubcomp:
		rel := pubrelPacket(pk.PacketID) // a repeated PUBREC: send PUBREL again
		pubrel = &rel
	case pk.FixedHeader.Type == packets.Pubcomp && o.state == awaitPubcomp:
		delete(ss.inflight, pk.PacketID)
	default:
		ss.mu.Unlock()
		return false
	}
	// The writer waits for a free identifier only with deliveries
	// pending; otherwise the credit settle returns brings the next
	// delivery, and handle wakes it.
	var w *writer
	if len(ss.pending) > 0 {
		w = ss.w
	}
	ss.mu.Unlock()
	if pubrel != nil {
		if err := c.cl.WritePacket(*pubrel); err != nil {
			c.log.Debug("write PUBREL", "error", err)
		}
	}
	if outcome != nil && d != nil {
		ss.settle(cons, d, *outcome)
	}
	if w != nil {
		w.notify()
	}
	return true
}

// noopAck is what mochi is given in place of an acknowledgement the
// session handled: a PUBACK for packet identifier 0, which mochi looks up
// in its in-flight table, does not find, and ignores.
func noopAck(pk *packets.Packet) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: pk.ProtocolVersion}
}
