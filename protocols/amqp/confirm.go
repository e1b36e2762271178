package amqp

import (
	"context"
	"sync/atomic"

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

// confirm is a publish in flight, or a barrier.
type confirm struct {
	p       *exchange.Pending
	s       *session
	id      uint32
	settled bool // pre-settled by the peer: no disposition
	second  bool // rcv-settle-mode second: the peer settles after us
	link    string
	addr    address.Address
	barrier chan struct{} // closed once everything before it is confirmed
}

// pipeline is the connection's confirmer and its queue. push, busy and
// drain are called by the read goroutine only.
type pipeline struct {
	c        *conn
	ch       chan confirm // bounded by Config.MaxPublishesInFlight
	inflight atomic.Int64 // pushed publishes the confirmer has not finished
	done     chan struct{}
}

// busy reports whether publishes are in flight: a new one then follows
// them through the confirmer, so that dispositions go out in order.
func (pl *pipeline) busy() bool { return pl.inflight.Load() > 0 }

// push hands a publish to the confirmer, starting it on first use, and
// waits while the window is full.
func (pl *pipeline) push(cf confirm) {
	if pl.ch == nil {
		pl.ch = make(chan confirm, pl.c.srv.cfg.MaxPublishesInFlight)
		pl.done = make(chan struct{})
		go pl.run()
	}
	pl.inflight.Add(1)
	pl.ch <- cf
}

// drain waits until every publish pushed so far is confirmed and its
// disposition queued.
func (pl *pipeline) drain() {
	if !pl.busy() {
		return
	}
	b := make(chan struct{})
	pl.ch <- confirm{barrier: b}
	<-b
}

// stop waits for the publishes in flight and ends the confirmer. Their
// dispositions are dropped if the connection is closing.
func (pl *pipeline) stop() {
	if pl.ch == nil {
		return
	}
	close(pl.ch)
	<-pl.done
}

// run is the confirmer goroutine. It waits for each publish in order,
// with no deadline: the store answers every commit it was handed, even
// while closing, so the message becomes visible (or is given back) and is
// never left stored but invisible until a restart.
func (pl *pipeline) run() {
	defer close(pl.done)
	c := pl.c
	var out []confirmedRange
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
	for cf := range pl.ch {
		if cf.barrier != nil {
			flush()
			close(cf.barrier)
			continue
		}
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
		// Dispositions wait while more publishes are already queued,
		// which are usually stored by the same commit.
		if len(pl.ch) == 0 || len(out) >= maxBatchedDispositions {
			flush()
		}
		pl.inflight.Add(-1)
	}
	flush()
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
