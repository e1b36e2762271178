package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/rosettamq/rosetta/core/message"
)

// Receiver describes who a delivery is for, as far as payload
// transformation cares: the protocol it will be rendered in, the format the
// receiver asked for (STOMP accept header, AMQP accept link property, MQTT 5
// accept user property; empty when it asked for none), and the queue it
// reads. Config routes may assign a transformation from these fields even
// when the receiver asked for nothing.
type Receiver struct {
	Protocol message.Protocol
	Accept   string
	Queue    string
}

// Transformer rewrites a message for one receiver (DESIGN §6). The core
// only knows this interface: transform/ implements it, so that core
// depends on none of the transformation code.
//
// Transform is called lazily at delivery, from the front-end's writer (not
// from the exchange's dispatch, which must not block), and may take long
// for an out-of-process plugin. It returns m itself when the receiver needs
// nothing done; it never changes m, which other receivers share. The
// implementation caches results per (message, transformation), so a
// fan-out transforms once per format.
type Transformer interface {
	// Check validates a receiver's request when it subscribes, so that an
	// unknown format is refused at subscribe time with a protocol error
	// instead of dead-lettering every message later.
	Check(r Receiver) error
	// Transform returns the message r should get, or nil and no error when
	// the transformation drops the message for r (a filtering step).
	Transform(ctx context.Context, m *message.Message, r Receiver) (*message.Message, error)
}

// ErrUnknownFormat is returned (wrapped) by Transformer.Check for a format
// name nobody can produce.
var ErrUnknownFormat = errors.New("unknown format")

// ErrDropped is returned by Delivery.Transformed when the transformation
// dropped the message for this receiver; the delivery is then settled as
// accepted.
var ErrDropped = errors.New("dropped by transformation")

// CheckReceiver validates r against the configured transformer. Without a
// transformer, any non-empty Accept is refused: nothing could honour it.
func (x *Exchange) CheckReceiver(r Receiver) error {
	if x.cfg.Transformer == nil {
		if r.Accept != "" {
			return fmt.Errorf("accept %q: %w: no transformations configured", r.Accept, ErrUnknownFormat)
		}
		return nil
	}
	return x.cfg.Transformer.Check(r)
}

// Transformed returns the message this delivery's receiver should get: the
// delivery's message itself, or its transformation for the consumer's
// Receiver. When the transformation fails, the delivery is settled by
// dead-lettering the message with reason "transform" and the error as its
// detail (never dropped silently, never delivered half-transformed), and
// the error is returned: the caller must not deliver anything for d and
// must treat it as settled. When the transformation drops the message for
// this receiver, d is settled as accepted and ErrDropped is returned.
func (d *Delivery) Transformed(ctx context.Context) (*message.Message, error) {
	if d.c == nil {
		return d.Msg, nil
	}
	return d.TransformedFor(ctx, d.c.opts.Receiver)
}

// TransformedFor is Transformed for a receiver other than the consumer's
// own: a front-end whose one consumer serves several subscriptions, each
// with its own Accept (an MQTT session queue), names the one this
// delivery is for. r.Queue is set to the delivery's queue. The caller
// checks r with CheckReceiver when the subscription is made.
func (d *Delivery) TransformedFor(ctx context.Context, r Receiver) (*message.Message, error) {
	if d.c == nil {
		return d.Msg, nil
	}
	t := d.c.q.x.cfg.Transformer
	if t == nil {
		return d.Msg, nil
	}
	r.Queue = d.Queue
	m, err := t.Transform(ctx, d.Msg, r)
	if err == nil && m != nil {
		return m, nil
	}
	if err == nil {
		if serr := d.Settle(Outcome{Kind: OutcomeAccepted}); serr != nil && !errors.Is(serr, ErrSettled) {
			return nil, errors.Join(ErrDropped, serr)
		}
		return nil, ErrDropped
	}
	d.c.q.x.log.Warn("transform failed; dead-lettering", "queue", d.Queue, "seq", d.Seq,
		"protocol", r.Protocol, "accept", r.Accept, "err", err)
	d.c.q.x.transformFailed.Add(1)
	if serr := d.deadLetter(err.Error()); serr != nil {
		return nil, errors.Join(fmt.Errorf("transform: %w", err), serr)
	}
	return nil, fmt.Errorf("transform: %w", err)
}

// deadLetter settles d by dead-lettering its message with reason
// "transform". For an auto-acknowledged delivery, which already left its
// queue, a copy is dead-lettered.
func (d *Delivery) deadLetter(detail string) error {
	q := d.c.q
	persist := q.x.store != nil && q.x.gate.enter()
	if persist {
		defer q.x.gate.leave()
	}
	switch d.state.Load() {
	case stateAuto:
		e := &entry{msg: d.Msg, seq: d.Seq, size: int64(d.Msg.Size())}
		return q.x.deadLetter(q, e, "transform", detail, d.DeliveryCount, persist)
	case stateLive:
		if d.state.CompareAndSwap(stateLive, stateSettled) {
			return q.settleDead(d.e, "transform", detail, d.DeliveryCount, persist)
		}
	}
	return ErrSettled
}
