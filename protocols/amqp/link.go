package amqp

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// Symbols of link attach.
const (
	propRetained encoding.Symbol = "x-retained" // link property: retained messages first
)

// link is one link endpoint (§2.6). Our handle equals the peer's: the peer
// chose an unused one within our handle-max, and ours are released with
// theirs.
type link struct {
	s      *session
	name   string
	handle uint32
	role   frames.Role // our role: RoleSender sends to the peer
	// detached is set once our detach is queued or the peer's received:
	// nothing more is sent on the link and its input is discarded.
	detached    atomic.Bool
	releaseOnce sync.Once

	// Receiving (our role is receiver), owned by the read goroutine.
	tgt              target
	sndSettled       bool   // the peer sends pre-settled (snd-settle-mode settled)
	rcvSettleSecond  bool   // rcv-settle-mode second (§2.8.3)
	rcvDeliveryCount uint32 // the peer's delivery-count as we know it (§2.6.7)
	rcvLimit         uint32 // the delivery-count up to which the peer may send
	flowDue          bool
	partial          *partialIn

	// Sending (our role is sender).
	src            source
	queue          string
	private        bool // the queue belongs to the link: deleted with it
	durable        bool // a durable subscription: deleted only by a closing detach
	settled        bool // snd-settle-mode settled: deliveries are pre-settled (at most once)
	peerMaxMessage uint64
	cons           *exchange.Consumer
	toFn           func(address.Address) string

	// creditMu serializes the credit given to the consumer (AddCredit,
	// SetCredit, Drain), which run without mu.
	creditMu sync.Mutex
	mu       sync.Mutex
	// Guarded by mu: §2.6.7 sender state and the consumer's share of it.
	dc         uint32               // our delivery-count
	credit     int64                // our link-credit
	parked     []*exchange.Delivery // handed by the consumer beyond the credit
	inQueue    int                  // deliveries in the outbound queue
	consCredit int64                // credit the consumer holds, as we granted it
	queued     uint64               // deliveries ever queued for the writer
	drainMark  uint64               // queued when the last drain was answered (unspend)

	// Owned by the write goroutine.
	started   uint64 // deliveries the writer took up: the n-th is the n-th queued
	nextTag   uint64
	lastAddr  address.Address
	lastToStr string
}

// partialIn is a delivery to us whose transfers say more (§2.6.14).
type partialIn struct {
	id      uint32
	settled bool
	second  bool
	buf     []byte
}

// onAttach attaches a link the peer initiated (§2.6.3) and answers it, or
// refuses it with an attach without terminus followed by a detach
// carrying the error.
func (s *session) onAttach(p *frames.Attach) error {
	c := s.c
	h := uint32(p.Handle)
	if h > uint32(c.srv.cfg.MaxLinks-1) {
		// "A peer that receives a handle outside the supported range MUST
		// close the connection with the framing-error" (§2.7.2).
		return connErr(frames.ConnectionErrorFramingError, "§2.7.2", "attach with handle %d beyond handle-max %d", h, c.srv.cfg.MaxLinks-1)
	}
	if _, ok := s.links[h]; ok {
		return sessErr(frames.SessionErrorHandleInUse, "§2.6.2", "attach with handle %d, which is in use", h)
	}
	l := &link{s: s, name: p.Name, handle: h, role: !p.Role}
	s.links[h] = l
	key := linkKey{name: p.Name, role: l.role}
	if old := c.linkNames[key]; old != nil {
		// The same link attached again: the new attach wins (§2.6.1).
		c.detachWithError(old, linkErr(old.handle, frames.LinkErrorStolen, "§2.6.1", "link %q attached again", p.Name))
	}
	c.linkNames[key] = l
	var err *Error
	if p.Role == frames.RoleSender {
		err = l.attachReceiver(p)
	} else {
		err = l.attachSender(p)
	}
	if err != nil {
		l.refuse(p, err)
	}
	return nil
}

// refuse answers an attach with no terminus of ours and then a detach with
// the error (§2.6.3).
func (l *link) refuse(p *frames.Attach, e *Error) {
	c := l.s.c
	c.log.Warn("attach refused", "link", l.name, "condition", e.Condition, "err", e.Err)
	reply := &frames.Attach{Name: p.Name, Handle: p.Handle, Role: l.role}
	if l.role == frames.RoleSender {
		reply.Target = p.Target
		reply.InitialDeliveryCount = encoding.Some[frames.SequenceNo](0)
	} else {
		reply.Source = p.Source
	}
	c.enqueue(outItem{kind: itemPerf, ch: l.s.outCh, perf: reply})
	e.handle = l.handle
	c.detachWithError(l, e)
}

// detachWithError detaches l with e (closed=true) and discards its input
// until the peer's detach (§2.6.5).
func (c *conn) detachWithError(l *link, e *Error) {
	if !l.detached.CompareAndSwap(false, true) {
		return
	}
	if e.Condition != frames.LinkErrorStolen {
		c.log.Warn("detaching link", "link", l.name, "condition", e.Condition, "clause", e.Clause, "err", e.Err)
	}
	l.release(false)
	c.srv.stats.errors.Add(1)
	c.enqueue(outItem{kind: itemPerf, ch: l.s.outCh, perf: &frames.Detach{Handle: frames.Handle(l.handle), Closed: true, Error: e.wire()}})
}

// onDetach handles the peer's detach: an answer to ours, or a detach to
// answer (§2.6.4, §2.6.6). A closing detach ends a durable subscription.
func (s *session) onDetach(p *frames.Detach) error {
	h := uint32(p.Handle)
	l := s.links[h]
	if l == nil {
		return sessErr(frames.SessionErrorUnattachedHandle, "§2.7.7", "detach of handle %d, which is not attached", h)
	}
	if p.Error != nil {
		s.c.log.Info("peer detached with an error", "link", l.name, "condition", p.Error.Condition, "description", p.Error.Description)
	}
	if l.role == frames.RoleReceiver {
		s.c.pipe.Drain() // the link's dispositions before our detach
	}
	ours := l.detached.Swap(true)
	l.release(p.Closed)
	delete(s.links, h)
	if !ours {
		s.c.enqueue(outItem{kind: itemPerf, ch: s.outCh, perf: &frames.Detach{Handle: p.Handle, Closed: p.Closed}})
	}
	return nil
}

// release ends the link's use of the exchange, once: the consumer is
// closed (its unsettled deliveries released), a private queue deleted, a
// durable subscription too when deleteDurable.
func (l *link) release(deleteDurable bool) {
	l.releaseOnce.Do(func() {
		c := l.s.c
		if k := (linkKey{name: l.name, role: l.role}); c.linkNames[k] == l {
			delete(c.linkNames, k)
		}
		l.partial = nil
		if l.role != frames.RoleSender {
			return
		}
		if l.cons != nil {
			l.creditMu.Lock()
			if err := l.cons.Close(); err != nil {
				c.log.Warn("close consumer", "queue", l.queue, "err", err)
			}
			l.creditMu.Unlock()
		}
		l.mu.Lock()
		l.parked = nil
		l.mu.Unlock()
		s := l.s
		s.mu.Lock()
		for id, u := range s.unsettled {
			if u.l == l {
				delete(s.unsettled, id)
			}
		}
		s.mu.Unlock()
		if l.private || l.durable && deleteDurable {
			if err := c.srv.x.DeleteQueue(l.queue); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) && !errors.Is(err, exchange.ErrClosed) {
				c.log.Warn("delete link queue", "queue", l.queue, "err", err)
			}
			delete(c.temps, l.queue)
		}
	})
}

// attachReceiver sets up a link on which the peer sends to us: the target
// is an address (or null, the anonymous relay), authorized for Publish.
func (l *link) attachReceiver(p *frames.Attach) *Error {
	c := l.s.c
	cfg := &c.srv.cfg
	var tgt *frames.Target
	switch t := p.Target.(type) {
	case nil:
		return linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.7.3", "attach without a target")
	case *frames.Coordinator:
		return linkErr(l.handle, frames.AMQPErrorNotImplemented, "§4.2", "transactions are not supported")
	case *frames.Target:
		tgt = t
	}
	if tgt.Dynamic {
		return linkErr(l.handle, frames.AMQPErrorNotImplemented, "§3.5.4", "dynamic targets are not supported")
	}
	if tgt.Address == "" {
		l.tgt = target{anonymous: true}
	} else {
		t, err := parseTarget(tgt.Address, tgt.Capabilities)
		if err != nil {
			return linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.4", "target %q: %w", tgt.Address, err)
		}
		if !t.temp && !t.subjectKey && !c.srv.auth.Authorize(c.ident, auth.Publish, address.Pattern(t.addr)) {
			return linkErr(l.handle, frames.AMQPErrorUnauthorizedAccess, "", "not allowed to send to %q", tgt.Address)
		}
		l.tgt = t
	}
	l.sndSettled = p.SndSettleModeOrDefault() == frames.SenderSettleModeSettled
	l.rcvSettleSecond = p.RcvSettleMode == frames.ReceiverSettleModeSecond
	l.rcvDeliveryCount = uint32(p.InitialDeliveryCount.Or(0))
	l.rcvLimit = l.rcvDeliveryCount
	reply := &frames.Attach{
		Name:           p.Name,
		Handle:         p.Handle,
		Role:           frames.RoleReceiver,
		SndSettleMode:  p.SndSettleMode,
		RcvSettleMode:  p.RcvSettleMode,
		Source:         p.Source,
		Target:         &frames.Target{Address: tgt.Address, Durable: tgt.Durable, ExpiryPolicy: tgt.ExpiryPolicy, Timeout: tgt.Timeout, Capabilities: tgt.Capabilities},
		MaxMessageSize: encoding.Some(uint64(cfg.MaxMessageSize)),
	}
	c.enqueue(outItem{kind: itemPerf, ch: l.s.outCh, perf: reply})
	l.grantCredit()
	c.log.Debug("link attached", "link", l.name, "role", "receiver", "target", tgt.Address)
	return nil
}

// attachSender sets up a link on which we send to the peer: a consumer on
// the queue its source names, created with no credit; the peer's flow
// grants it.
func (l *link) attachSender(p *frames.Attach) *Error {
	c := l.s.c
	x := c.srv.x
	src := p.Source
	if src == nil {
		return linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.7.3", "attach without a source")
	}
	// The format asked for is checked before any queue is made.
	rcv, rerr := l.receiverFor(p)
	if rerr != nil {
		return rerr
	}
	reply := &frames.Source{
		Address:          src.Address,
		Durable:          src.Durable,
		ExpiryPolicy:     src.ExpiryPolicy,
		Timeout:          src.Timeout,
		Dynamic:          src.Dynamic,
		DistributionMode: src.DistributionMode,
		DefaultOutcome:   &frames.Released{},
		Outcomes:         []encoding.Symbol{"amqp:accepted:list", "amqp:rejected:list", "amqp:released:list", "amqp:modified:list"},
		Capabilities:     src.Capabilities,
	}
	var sc source
	if src.Dynamic {
		// A node created for this link (§3.5.3 dynamic): a temporary queue
		// others may send to by its address; deleted with the link.
		c.nextPrivate++
		addr := address.Address{address.TempRoot, string(message.ProtocolAMQP), c.id, strconv.FormatUint(c.nextPrivate, 10)}
		sc = source{kind: nodeQueue, addr: addr, queue: addr.MQTT(), temp: true}
		if err := x.DeclareQueue(sc.queue, exchange.QueueConfig{AutoDelete: true, Owner: "amqp/" + c.id}); err != nil {
			return linkErr(l.handle, frames.AMQPErrorInternalError, "", "dynamic queue: %w", err)
		}
		c.temps[sc.queue] = true
		l.private = true
		if err := x.Bind(sc.queue, address.Exact(addr)); err != nil {
			return linkErr(l.handle, frames.AMQPErrorInternalError, "", "dynamic queue: %w", err)
		}
		reply.Address = renderQueue(addr)
	} else {
		var err error
		if sc, err = parseSource(src.Address, src.Capabilities); err != nil {
			return linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.3", "source %q: %w", src.Address, err)
		}
		pat := sc.pattern
		if sc.kind == nodeQueue {
			pat = address.Exact(sc.addr)
		}
		if sc.temp {
			if !c.ownTemp(pat) {
				return linkErr(l.handle, frames.AMQPErrorUnauthorizedAccess, "", "%q is another connection's temporary queue", src.Address)
			}
		} else if !c.srv.auth.Authorize(c.ident, auth.Subscribe, pat) {
			return linkErr(l.handle, frames.AMQPErrorUnauthorizedAccess, "", "not allowed to receive from %q", src.Address)
		}
	}
	if src.DistributionMode == frames.StdDistModeCopy && sc.kind == nodeQueue {
		// Browsing a queue is not supported: say so rather than consume.
		return linkErr(l.handle, frames.AMQPErrorNotImplemented, "§3.5.7",
			"distribution-mode copy (browsing) is not supported on queue %q; use move", src.Address)
	}
	filter, accepted, ferr := l.filters(src.Filter)
	if ferr != nil {
		return ferr
	}
	reply.Filter = accepted
	l.src = sc
	l.settled = p.SndSettleModeOrDefault() == frames.SenderSettleModeSettled
	l.peerMaxMessage = p.MaxMessageSize.Or(0)

	switch {
	case sc.kind == nodeQueue:
		l.queue = sc.queue
	case src.Durable != frames.TerminusDurabilityNone:
		// A durable subscription, named container-id:link-name (§3.5.5):
		// it outlives the link and the connection until a closing detach.
		if c.containerID == "" {
			return linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.5", "a durable subscription needs a container-id")
		}
		l.queue = durablePrefix + c.containerID + ":" + l.name
		l.durable = true
		if err := x.DeclareQueue(l.queue, exchange.QueueConfig{Durable: true, Owner: "amqp/" + c.containerID}); err != nil {
			return linkErr(l.handle, frames.AMQPErrorInternalError, "", "durable subscription: %w", err)
		}
		// Re-attached with another pattern: follow the new one.
		if qs, ok := x.Queue(l.queue); ok {
			for _, b := range qs.Bindings {
				if !b.Equal(sc.pattern) {
					_ = x.Unbind(l.queue, b)
				}
			}
		}
	default:
		c.nextPrivate++
		l.queue = "amqp/" + c.id + "/" + strconv.FormatUint(c.nextPrivate, 10)
		l.private = true
		if err := x.DeclareQueue(l.queue, exchange.QueueConfig{AutoDelete: true, Owner: "amqp/" + c.id}); err != nil {
			return linkErr(l.handle, frames.AMQPErrorInternalError, "", "subscription queue: %w", err)
		}
	}
	if sc.kind == nodeTopic {
		if err := x.Bind(l.queue, sc.pattern); err != nil {
			l.release(false)
			return linkErr(l.handle, frames.AMQPErrorInternalError, "", "bind %q: %w", sc.pattern, err)
		}
		if v, _ := p.Properties.Get(propRetained); v == true {
			// Retained values first, as an MQTT subscription gets them.
			for _, m := range x.Retained(sc.pattern) {
				if err := x.Enqueue(c.ctx, l.queue, m); err != nil {
					c.log.Warn("retained delivery", "queue", l.queue, "err", err)
				}
			}
		}
	}
	l.toFn = l.renderTo
	cons, err := x.Consume(l.queue, exchange.ConsumerOptions{
		Protocol: message.ProtocolAMQP,
		ClientID: c.containerID,
		ConnID:   c.id,
		AutoAck:  l.settled,
		Filter:   filter,
		Handler:  l.deliverOut,
		Closed:   l.brokerClosed,
		Receiver: rcv,
	})
	if err != nil {
		l.release(false)
		switch {
		case errors.Is(err, exchange.ErrQueueNotFound):
			return linkErr(l.handle, frames.AMQPErrorNotFound, "", "source %q: %w", src.Address, err)
		case errors.Is(err, exchange.ErrExclusive):
			return linkErr(l.handle, frames.AMQPErrorResourceLocked, "", "source %q: %w", src.Address, err)
		case errors.Is(err, exchange.ErrUnknownFormat):
			return l.refuseFormat(rcv.Accept, err)
		}
		return linkErr(l.handle, frames.AMQPErrorInternalError, "", "source %q: %w", src.Address, err)
	}
	l.cons = cons
	c.enqueue(outItem{kind: itemPerf, ch: l.s.outCh, perf: &frames.Attach{
		Name:                 p.Name,
		Handle:               p.Handle,
		Role:                 frames.RoleSender,
		SndSettleMode:        p.SndSettleMode,
		RcvSettleMode:        p.RcvSettleMode,
		Source:               reply,
		Target:               p.Target,
		InitialDeliveryCount: encoding.Some[frames.SequenceNo](0),
	}})
	c.log.Debug("link attached", "link", l.name, "role", "sender", "source", reply.Address, "queue", l.queue, "settled", l.settled, "accept", rcv.Accept)
	return nil
}

// durablePrefix starts the queue name of an AMQP durable subscription.
const durablePrefix = "amqp/durable/"

// renderTo renders a message's address as the to of a message we build
// (not one forwarded as it was sent); called by the writer.
func (l *link) renderTo(a address.Address) string {
	if l.src.kind == nodeQueue {
		if l.lastToStr == "" {
			l.lastToStr = renderQueue(l.src.addr)
		}
		return l.lastToStr
	}
	if l.lastToStr == "" || !l.lastAddr.Equal(a) {
		l.lastAddr = a
		l.lastToStr = renderTopic(a)
	}
	return l.lastToStr
}

// Filters we apply (Apache filters, apache-filters.xml).
const (
	selectorFilterName encoding.Symbol = "apache.org:selector-filter:string"
	selectorFilterCode uint64          = 0x0000468C_00000004
	noLocalFilterName  encoding.Symbol = "apache.org:no-local-filter:list"
	noLocalFilterCode  uint64          = 0x0000468C_00000003
)

// filters reads a source's filter-set (§3.5.1): the selector filter and
// the no-local filter are applied and echoed in our attach, and so is the
// accept filter (receiverFor reads it); others are left out of it, which
// tells the peer they are not applied (§3.5.3).
func (l *link) filters(fs frames.FilterSet) (func(*message.Message) bool, frames.FilterSet, *Error) {
	if len(fs) == 0 {
		return nil, nil, nil
	}
	var sel *selector
	noLocal := false
	var accepted frames.FilterSet
	for _, p := range fs {
		if isAcceptFilter(p) { // read by receiverFor
			accepted = append(accepted, p)
			continue
		}
		d, ok := p.Value.(encoding.Described)
		if !ok {
			continue
		}
		switch {
		case d.Descriptor == selectorFilterName || d.Descriptor == selectorFilterCode:
			text, ok := d.Value.(string)
			if !ok {
				return nil, nil, linkErr(l.handle, frames.AMQPErrorInvalidField, "§3.5.1", "selector filter value is %T, not a string", d.Value)
			}
			s, err := parseSelector(text)
			if err != nil {
				return nil, nil, linkErr(l.handle, frames.AMQPErrorInvalidField, "JMS §3.8.1.1", "selector %q: %w", text, err)
			}
			sel = s
			accepted = append(accepted, p)
		case d.Descriptor == noLocalFilterName || d.Descriptor == noLocalFilterCode:
			noLocal = true
			accepted = append(accepted, p)
		}
	}
	connID := l.s.c.id
	switch {
	case sel != nil && noLocal:
		return func(m *message.Message) bool { return m.Annotations.Origin.ConnID != connID && sel.Match(m) }, accepted, nil
	case sel != nil:
		return sel.Match, accepted, nil
	case noLocal:
		return func(m *message.Message) bool { return m.Annotations.Origin.ConnID != connID }, accepted, nil
	}
	return nil, accepted, nil
}

// ownTemp reports whether p lies inside this connection's temporary
// queues; any other pattern under address.TempRoot belongs to someone else.
func (c *conn) ownTemp(p address.Pattern) bool {
	return len(p) > 3 && p[0] == address.TempRoot && p[1] == string(message.ProtocolAMQP) && p[2] == c.id &&
		!address.Pattern(p[:3]).HasWildcard()
}

// errLinkClosed describes a link the broker closed.
func errLinkClosed(queue string, err error) error {
	return fmt.Errorf("queue %q closed by the broker: %w", queue, err)
}
