package amqp

import (
	"errors"
	"fmt"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// This file is the receiving side of a link (the peer sends, we publish):
// session and link flow control on the way in (§2.5.6, §2.6.7),
// multi-frame and aborted deliveries (§2.6.14), and the disposition that
// follows exchange.Publish (§2.6.12).

// maxAwaiting bounds the deliveries of a session that we accepted in
// rcv-settle-mode second and the peer has not settled yet.
const maxAwaiting = 1 << 16

// maxRelayCache bounds the per-connection cache of parsed anonymous relay
// addresses.
const maxRelayCache = 256

// onTransfer accounts a transfer frame against the session's incoming
// window and hands it to its link.
func (s *session) onTransfer(p *frames.Transfer, payload []byte) error {
	// The transfer-id must lie below next-incoming-id + incoming-window as
	// we last announced them (§2.5.6).
	if s.nextIncomingID-s.inLimit < 1<<31 {
		return sessErr(frames.SessionErrorWindowViolation, "§2.5.6",
			"transfer beyond the incoming window (transfer-id %d, limit %d)", s.nextIncomingID, s.inLimit)
	}
	s.nextIncomingID++
	if s.inLimit-s.nextIncomingID <= uint32(s.c.srv.cfg.SessionWindow)/2 {
		s.needFlow = true
	}
	h := uint32(p.Handle)
	l := s.links[h]
	if l == nil {
		return sessErr(frames.SessionErrorUnattachedHandle, "§2.7.5", "transfer on handle %d, which is not attached", h)
	}
	if l.detached.Load() {
		return nil // detaching: discard (§2.6.5)
	}
	if l.role == frames.RoleSender {
		return linkErr(h, frames.AMQPErrorNotAllowed, "§2.6", "transfer on a link on which the peer receives")
	}
	return l.onTransfer(p, payload)
}

// onTransfer assembles a delivery from its transfer frames, checks link
// credit and message size, and publishes the complete message.
func (l *link) onTransfer(p *frames.Transfer, payload []byte) error {
	cfg := &l.s.c.srv.cfg
	in := l.partial
	if in == nil {
		id, ok := p.DeliveryID.Get()
		if !ok {
			return linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.7.5", "first transfer of a delivery without a delivery-id")
		}
		// A transfer beyond the credit we granted (§2.6.7).
		if l.rcvDeliveryCount-l.rcvLimit < 1<<31 {
			return linkErr(l.handle, frames.LinkErrorTransferLimitExceeded, "§2.6.7",
				"transfer beyond the link credit (delivery-count %d, limit %d)", l.rcvDeliveryCount, l.rcvLimit)
		}
		l.rcvDeliveryCount++
		if l.rcvLimit-l.rcvDeliveryCount <= uint32(cfg.LinkCredit)/2 {
			l.grantCredit()
		}
		settled := p.Settled.Or(false) || l.sndSettled
		second := l.rcvSettleSecond || p.RcvSettleMode.Or(frames.ReceiverSettleModeFirst) == frames.ReceiverSettleModeSecond
		if second && !settled && len(l.s.awaiting) >= maxAwaiting {
			return linkErr(l.handle, frames.AMQPErrorResourceLimitExceeded, "§2.8.3",
				"%d deliveries wait for the peer to settle them (rcv-settle-mode second)", len(l.s.awaiting))
		}
		if p.Aborted {
			return nil // an aborted delivery is settled and needs no disposition (§2.6.12)
		}
		if len(payload) > cfg.MaxMessageSize {
			return l.tooLarge(len(payload))
		}
		if p.More {
			l.partial = &partialIn{id: uint32(id), settled: settled, second: second,
				buf: append(make([]byte, 0, 2*len(payload)), payload...)}
			return nil
		}
		// The payload aliases the read buffer: the message keeps a copy.
		l.deliver(uint32(id), settled, second, append([]byte(nil), payload...))
		return nil
	}
	if id, ok := p.DeliveryID.Get(); ok && uint32(id) != in.id {
		return linkErr(l.handle, frames.AMQPErrorInvalidField, "§2.7.5", "continuation transfer with delivery-id %d, delivery %d under way", id, in.id)
	}
	if p.Aborted {
		l.partial = nil
		return nil
	}
	if len(in.buf)+len(payload) > cfg.MaxMessageSize {
		return l.tooLarge(len(in.buf) + len(payload))
	}
	in.buf = append(in.buf, payload...)
	in.settled = in.settled || p.Settled.Or(false)
	if p.More {
		return nil
	}
	l.partial = nil
	l.deliver(in.id, in.settled, in.second, in.buf)
	return nil
}

func (l *link) tooLarge(n int) error {
	l.partial = nil
	return linkErr(l.handle, frames.LinkErrorMessageSizeExceeded, "§2.7.3",
		"message of at least %d bytes, max-message-size %d", n, l.s.c.srv.cfg.MaxMessageSize)
}

// grantCredit schedules a flow that sets the peer's link-credit back to
// Config.LinkCredit from its current delivery-count.
func (l *link) grantCredit() {
	if l.flowDue {
		return
	}
	l.flowDue = true
	l.s.creditDue = append(l.s.creditDue, l)
}

// onSenderFlow takes the peer's flow state for a link on which it sends:
// its delivery-count (it may have advanced it to use up its credit) and an
// echo request (§2.6.7).
func (l *link) onSenderFlow(p *frames.Flow) error {
	if dc, ok := p.DeliveryCount.Get(); ok {
		l.rcvDeliveryCount = uint32(dc)
	}
	if p.Echo || l.rcvLimit-l.rcvDeliveryCount > 1<<31 {
		l.grantCredit()
	}
	return nil
}

// deliver publishes a complete message and batches its disposition:
// accepted once its publish completed (for a durable message on a durable
// queue, once stored), or rejected with the reason; nothing for a settled
// delivery. A publish still committing when PublishPending returns, or
// any publish while earlier ones are, goes to the connection's confirmer
// (confirm.go), which sends the disposition once the store has answered;
// the reader moves on to the next frame.
func (l *link) deliver(id uint32, settled, second bool, raw []byte) {
	s := l.s
	c := s.c
	m, t, e := l.message(raw)
	if e == nil {
		p := c.srv.x.PublishPending(c.ctx, m, exchange.PublishOptions{EnsureQueue: t.ensure})
		if c.pipe.Busy() || !p.Ready() {
			if !settled && second {
				s.awaiting[id] = struct{}{}
			}
			c.pipe.Push(inFlight{p: p, s: s, id: id, settled: settled, second: second, link: l.name, addr: t.addr})
			return
		}
		_, err := p.Wait(c.ctx)
		e = c.published(t.addr, err)
	}
	if e != nil {
		c.log.Debug("message refused", "link", l.name, "condition", e.Condition, "err", e.Err, "settled", settled)
	}
	if settled {
		return
	}
	s.addDisposition(outcome(id, second, e))
	if second {
		s.awaiting[id] = struct{}{}
	}
}

// outcome is the disposition of delivery id: accepted, or rejected with
// e; settled by us unless the peer settles first (rcv-settle-mode second).
func outcome(id uint32, second bool, e *Error) disposition {
	var st frames.DeliveryState = accepted
	if e != nil {
		st = &frames.Rejected{Error: e.wire()}
	}
	return disposition{role: frames.RoleReceiver, first: id, last: id, settled: !second, state: st}
}

// message decodes, maps and authorizes one message; the error is the
// rejected outcome's.
func (l *link) message(raw []byte) (*message.Message, target, *Error) {
	c := l.s.c
	var am amqpmsg.Message
	if err := am.Unmarshal(raw); err != nil {
		return nil, target{}, newErr(ScopeLink, frames.AMQPErrorDecodeError, "§3.2", "%w", err)
	}
	if am.Properties != nil && len(am.Properties.UserID) > 0 && string(am.Properties.UserID) != c.ident.User {
		// The bare message travels unchanged, so a user-id that is not the
		// authenticated user is refused rather than passed on (§3.2.4).
		return nil, target{}, newErr(ScopeLink, frames.AMQPErrorUnauthorizedAccess, "§3.2.4", "user-id %q is not the authenticated user", am.Properties.UserID)
	}
	t := l.tgt
	if t.anonymous {
		var e *Error
		if t, e = c.relayTarget(&am); e != nil {
			return nil, t, e
		}
	}
	if t.subjectKey {
		var e *Error
		if t, e = c.subjectTarget(&am); e != nil {
			return nil, t, e
		}
	}
	var lost message.Lost
	m, err := messageFromAMQP(&am, ingress{
		Addr:   t.addr,
		Origin: c.origin,
		Now:    time.Now(),
		Lost:   lossSink{&lost},
	})
	if err != nil {
		return nil, t, newErr(ScopeLink, frames.AMQPErrorDecodeError, "§3.2", "%w", err)
	}
	// Lost before routing: counted with the core as the receiving side
	// (docs/mapping.md, "Counting what a conversion drops").
	c.srv.x.CountLossy(message.ProtocolAMQP, message.ProtocolCore, lost)
	return m, t, nil
}

// published counts a completed publish to addr, or maps its error to the
// rejected outcome's. It is safe to call from the confirmer.
func (c *conn) published(addr address.Address, err error) *Error {
	if err != nil {
		switch {
		case errors.Is(err, exchange.ErrQueueFull):
			return newErr(ScopeLink, frames.AMQPErrorResourceLimitExceeded, "", "%w", err)
		case errors.Is(err, exchange.ErrQueueNotFound):
			return newErr(ScopeLink, frames.AMQPErrorNotFound, "", "%w", err)
		case errors.Is(err, exchange.ErrInvalid):
			return newErr(ScopeLink, frames.AMQPErrorInvalidField, "", "%w", err)
		}
		c.log.Error("publish failed", "address", addr.String(), "err", err)
		return newErr(ScopeLink, frames.AMQPErrorInternalError, "", "%w", err)
	}
	c.srv.stats.msgsIn.Add(1)
	c.reg.CountIn()
	return nil
}

// relayTarget resolves the to of a message sent to the anonymous relay
// (a link with a null target) and authorizes it, per message.
func (c *conn) relayTarget(am *amqpmsg.Message) (target, *Error) {
	to := ""
	if am.Properties != nil {
		to = am.Properties.To
	}
	if to == "" {
		return target{}, newErr(ScopeLink, frames.AMQPErrorInvalidField, "§3.2.4", "message to the anonymous relay without a to address")
	}
	t, ok := c.relayTargets[to]
	if !ok {
		var err error
		if t, err = parseTarget(to, nil); err != nil {
			return target{}, newErr(ScopeLink, frames.AMQPErrorInvalidField, "§3.2.4", "to %q: %w", to, err)
		}
		if len(c.relayTargets) >= maxRelayCache {
			clear(c.relayTargets)
		}
		c.relayTargets[to] = t
	}
	if !t.temp && !t.subjectKey && !c.srv.auth.Authorize(c.ident, auth.Publish, address.Pattern(t.addr)) {
		return target{}, newErr(ScopeLink, frames.AMQPErrorUnauthorizedAccess, "", "not allowed to send to %q", to)
	}
	return t, nil
}

// subjectTarget is the address of a message sent to /exchanges/amq.topic
// without a key: its subject is the routing key (RabbitMQ's v2 address
// form).
func (c *conn) subjectTarget(am *amqpmsg.Message) (target, *Error) {
	subject := ""
	if am.Properties != nil {
		subject = am.Properties.Subject
	}
	a, err := parseRoutingKey(subject, false)
	if err != nil {
		return target{}, newErr(ScopeLink, frames.AMQPErrorInvalidField, "", "subject %q as routing key: %w", subject, err)
	}
	if !c.srv.auth.Authorize(c.ident, auth.Publish, address.Pattern(a)) {
		return target{}, newErr(ScopeLink, frames.AMQPErrorUnauthorizedAccess, "", "not allowed to send to %q", fmt.Sprint(a))
	}
	return target{kind: nodeTopic, addr: a}, nil
}
