package amqp

import (
	"context"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// This file pipelines a connection's durable publishes: the reader hands
// each transfer to exchange.PublishPending and goes on reading, and one
// goroutine per connection, the confirmer, waits for the publishes in the
// order they were made and sends their dispositions (§2.7.6), merged into
// ranges. A publisher that keeps many unsettled transfers in flight thus
// shares one store commit (one fsync) among them instead of paying one
// each. Messages keep their order on every queue whatever the order the
// commits finish in (the exchange holds a message back while an earlier
// one commits), and a disposition is sent only once its message is
// stored.
//
// The window is bounded: once Config.MaxPublishesInFlight publishes wait,
// the reader waits too, and so stops reading the socket. Frames whose
// effect must follow the publishes before them (detach, end, close) wait
// for the confirmer to catch up first (drain).

// inFlight is a publish in flight.
type inFlight struct {
	p       *exchange.Pending
	s       *session
	id      uint32
	settled bool // pre-settled by the peer: no disposition
	second  bool // rcv-settle-mode second: the peer settles after us
	link    string
	addr    address.Address
}

// initPipe sets up the connection's confirmer (protocols/internal/confirm).
// It waits for each publish in order, with no deadline: the store answers
// every commit it was handed, even while closing, so the message becomes
// visible (or is given back) and is never left stored but invisible until
// a restart. Its dispositions are held back while more publishes are
// already queued, which are usually stored by the same commit, and merged
// into ranges.
func (c *conn) initPipe() {
	var out []confirmedRange // confirmer goroutine only
	flush := func() {
		for _, r := range out {
			dp := &frames.Disposition{Role: frames.RoleReceiver, First: frames.DeliveryNumber(r.d.first), Settled: r.d.settled, State: r.d.state}
			if r.d.last != r.d.first {
				dp.Last = encoding.Some(frames.DeliveryNumber(r.d.last))
			}
			c.enqueue(outItem{kind: itemPerf, ch: r.s.outCh, sess: r.s, perf: dp})
		}
		clear(out)
		out = out[:0]
	}
	c.pipe.Size = c.srv.cfg.MaxPublishesInFlight
	c.pipe.Flush = flush
	c.pipe.Handle = func(cf inFlight, more bool) {
		_, err := cf.p.Wait(context.Background())
		e := c.published(cf.addr, err)
		if e != nil {
			c.log.Debug("message refused", "link", cf.link, "condition", e.Condition, "err", e.Err, "settled", cf.settled)
		}
		if !cf.settled {
			d := outcome(cf.id, cf.second, e)
			if n := len(out); n == 0 || out[n-1].s != cf.s || !out[n-1].d.merge(d) {
				out = append(out, confirmedRange{s: cf.s, d: d})
			}
		}
		if !more || len(out) >= maxBatchedDispositions {
			flush()
		}
	}
}

// confirmedRange is a disposition range of one session.
type confirmedRange struct {
	s *session
	d disposition
}

// merge extends d by e when e continues d's range with the same state.
func (d *disposition) merge(e disposition) bool {
	if d.role != e.role || d.settled != e.settled || d.last+1 != e.first || !sameState(d.state, e.state) {
		return false
	}
	d.last = e.last
	return true
}
