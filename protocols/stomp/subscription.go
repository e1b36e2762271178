package stomp

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// ackMode is a SUBSCRIBE ack header (STOMP 1.2 "SUBSCRIBE ack Header").
type ackMode uint8

const (
	ackAuto             ackMode = iota // settled when handed over; credit returns when written
	ackClient                          // cumulative ACK/NACK
	ackClientIndividual                // one message per ACK/NACK
)

func (m ackMode) String() string {
	switch m {
	case ackClient:
		return "client"
	case ackClientIndividual:
		return "client-individual"
	}
	return "auto"
}

func parseAckMode(v string, has bool) (ackMode, error) {
	if !has {
		return ackAuto, nil
	}
	switch v {
	case "auto":
		return ackAuto, nil
	case "client":
		return ackClient, nil
	case "client-individual":
		return ackClientIndividual, nil
	}
	return 0, fmt.Errorf("ack %q: want auto, client or client-individual", v)
}

// subscription is one SUBSCRIBE: a consumer on an exchange queue.
type subscription struct {
	c       *conn
	id      string // the id header; in 1.0 without one, the destination
	hasID   bool
	dest    string // the destination header
	topic   bool   // MESSAGE destination is the message's address (/topic/...)
	queue   string // exchange queue name
	private bool   // the queue belongs to this subscription: deleted with it
	durable bool
	mode    ackMode

	closed atomic.Bool
	cons   atomic.Pointer[exchange.Consumer]

	unacked []*pending // guarded by c.mu: client modes, in delivery order

	// Owned by the writer goroutine.
	owed     int // credit to give back: ack:auto deliveries written, deliveries not sent
	lastAddr address.Address
	lastDest string
}

// pending is a delivery to a client-mode subscription, waiting for ACK or
// NACK.
type pending struct {
	ack string // the MESSAGE ack header (1.2)
	d   *exchange.Delivery
	sub *subscription
}

func (s *subscription) consumer() *exchange.Consumer { return s.cons.Load() }

// handle is the exchange Handler. It never blocks: it appends to the
// outbound queue, which the consumer's credit bounds (prefetch for the
// client modes, AutoCredit for auto, returned only once written).
func (s *subscription) handle(d *exchange.Delivery) {
	if s.cons.Load() == nil {
		// The first delivery may come before Consume returns.
		s.cons.CompareAndSwap(nil, d.Consumer())
	}
	c := s.c
	c.mu.Lock()
	if s.closed.Load() || c.closing {
		c.mu.Unlock()
		if s.mode != ackAuto {
			_ = d.Settle(exchange.Released) // ErrSettled if Close took it back first
		}
		return
	}
	it := outItem{d: d, sub: s}
	if s.mode != ackAuto {
		c.nextAck++
		p := &pending{ack: strconv.FormatUint(c.nextAck, 10), d: d, sub: s}
		s.unacked = append(s.unacked, p)
		c.acks[p.ack] = p
		it.p = p
	}
	c.out = append(c.out, it)
	first := len(c.out) == 1
	c.mu.Unlock()
	if first {
		c.signal()
	}
}

// brokerClosed is the consumer's Closed callback: the exchange closed the
// consumer (queue deleted, exchange closing). STOMP cannot end one
// subscription from the server side, so the session ends.
func (s *subscription) brokerClosed(err error) {
	if s.closed.Load() {
		return
	}
	s.c.log.Warn("subscription closed by the broker", "subscription", s.id, "queue", s.queue, "err", err)
	msg := msgSubscription + ": closed by the broker"
	if errors.Is(err, exchange.ErrClosed) {
		msg = msgShutdown
	}
	s.c.goAway(msg)
}

// destFor renders the MESSAGE destination in the subscriber's form: the
// message's own address under /topic/ for a topic subscription (a
// wildcard subscriber learns the concrete address), the subscribed
// destination for a queue.
func (s *subscription) destFor(m *message.Message) string {
	if !s.topic {
		return s.dest
	}
	if s.lastDest == "" || !s.lastAddr.Equal(m.Address) {
		s.lastAddr = m.Address
		s.lastDest = prefixTopic + renderAddress(m.Address)
	}
	return s.lastDest
}

// findAcks returns the deliveries an ACK or NACK covers, or an error. id is
// the 1.2 form (the MESSAGE ack header); messageID and subID the 1.0/1.1
// form (subID empty in 1.0). In client mode the acknowledgment is
// cumulative: it covers every earlier unacknowledged delivery of the
// subscription too (STOMP 1.2 "SUBSCRIBE ack Header", "NACK"). Caller holds
// c.mu.
func (c *conn) findAcks(id, messageID, subID string) ([]*pending, error) {
	var p *pending
	if id != "" {
		p = c.acks[id]
	}
	if p == nil && messageID != "" {
		find := func(s *subscription) *pending {
			for _, q := range s.unacked {
				if q.d.Msg.ID == messageID {
					return q
				}
			}
			return nil
		}
		if subID != "" {
			if s := c.subs[subID]; s != nil {
				p = find(s)
			}
		} else {
			for _, s := range c.subs {
				if p = find(s); p != nil {
					break
				}
			}
		}
	}
	if p == nil {
		switch {
		case id != "":
			return nil, fmt.Errorf("no unacknowledged message with ack id %q", id)
		case messageID != "":
			return nil, fmt.Errorf("no unacknowledged message %q on subscription %q", messageID, subID)
		}
		return nil, errors.New("no id (1.2) or message-id (1.0, 1.1) header")
	}
	s := p.sub
	if s.mode == ackClient {
		i := slices.Index(s.unacked, p)
		return slices.Clone(s.unacked[:i+1]), nil
	}
	return []*pending{p}, nil
}

// forget removes settled deliveries from the bookkeeping; those already
// gone (settled in between) are skipped and left out of the result.
// Caller holds c.mu.
func (c *conn) forget(ps []*pending) []*pending {
	out := ps[:0]
	for _, p := range ps {
		if c.acks[p.ack] != p {
			continue
		}
		delete(c.acks, p.ack)
		s := p.sub
		if i := slices.Index(s.unacked, p); i >= 0 {
			s.unacked = slices.Delete(s.unacked, i, i+1)
		}
		out = append(out, p)
	}
	return out
}

// settle applies an outcome to forgotten deliveries and gives their
// credit back. Called without c.mu: Settle and AddCredit may call this
// connection's handlers.
func (c *conn) settle(ps []*pending, o exchange.Outcome) {
	for _, p := range ps {
		if err := p.d.Settle(o); err != nil && !errors.Is(err, exchange.ErrSettled) {
			c.log.Warn("settle", "queue", p.d.Queue, "err", err)
		}
		if !p.sub.closed.Load() {
			p.d.Consumer().AddCredit(1)
		}
	}
}
