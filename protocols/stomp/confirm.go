package stomp

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// This file pipelines a connection's SEND frames: the reader hands each to
// exchange.PublishPending and goes on reading, and one goroutine per
// connection, the confirmer, waits for the publishes in frame order and
// writes their RECEIPTs, so that a client that does not wait for each
// RECEIPT before its next SEND shares one store commit (one fsync) among
// many persistent messages. A RECEIPT is written only once its message is
// stored (DESIGN.md §5), and RECEIPTs keep frame order: any other frame
// that asks for a receipt, or whose effect must follow the SENDs before it
// (SUBSCRIBE, UNSUBSCRIBE, BEGIN, COMMIT, ABORT, DISCONNECT), waits for the
// confirmer to catch up first (drain). ACK and NACK without a receipt do
// not wait. A SEND that fails once in flight (its store commit failed) is
// answered with an ERROR, as before, in its turn; SENDs after it may have
// been published by then.
//
// The window is bounded by Config.MaxPublishesInFlight: once full, the
// reader waits, and so stops reading the socket.

// sendConfirm is a SEND in flight, or a barrier.
type sendConfirm struct {
	p       *exchange.Pending
	receipt string // "" when none was asked
	dest    string
	barrier chan struct{} // closed once everything before it is confirmed
}

// pipeline is the connection's confirmer and its queue. push, busy and
// drain are called by the read goroutine only.
type pipeline struct {
	c        *conn
	ch       chan sendConfirm // bounded by Config.MaxPublishesInFlight
	inflight atomic.Int64     // pushed publishes the confirmer has not finished
	done     chan struct{}
}

// busy reports whether SENDs are in flight.
func (pl *pipeline) busy() bool { return pl.inflight.Load() > 0 }

// push hands a SEND to the confirmer, starting it on first use, and waits
// while the window is full.
func (pl *pipeline) push(sc sendConfirm) {
	if pl.ch == nil {
		pl.ch = make(chan sendConfirm, pl.c.srv.cfg.MaxPublishesInFlight)
		pl.done = make(chan struct{})
		go pl.run()
	}
	pl.inflight.Add(1)
	pl.ch <- sc
}

// drain waits until every SEND pushed so far is confirmed and its RECEIPT
// (or ERROR) queued.
func (pl *pipeline) drain() {
	if !pl.busy() {
		return
	}
	b := make(chan struct{})
	pl.ch <- sendConfirm{barrier: b}
	<-b
}

// stop waits for the SENDs in flight and ends the confirmer.
func (pl *pipeline) stop() {
	if pl.ch == nil {
		return
	}
	close(pl.ch)
	<-pl.done
}

// run is the confirmer goroutine. It waits for each publish without a
// deadline: the store answers every commit it was handed, so the message
// becomes visible (or is given back) even when the connection is gone.
func (pl *pipeline) run() {
	defer close(pl.done)
	c := pl.c
	for sc := range pl.ch {
		if sc.barrier != nil {
			close(sc.barrier)
			continue
		}
		_, err := sc.p.Wait(context.Background())
		if err := c.published(err, sc.dest); err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				pe = wrapErr(msgInternal, "", err)
			}
			pe.Receipt = sc.receipt
			c.log.Warn("protocol error", "err", pe.Err, "message", pe.Message, "clause", pe.Clause)
			c.sendError(pe) // the reader stops at its next frame
		} else if sc.receipt != "" {
			c.enqueueCtrl(frame.New(frame.RECEIPT, hReceiptID, sc.receipt))
		}
		pl.inflight.Add(-1)
	}
}
