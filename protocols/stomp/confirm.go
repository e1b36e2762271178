package stomp

import (
	"context"
	"errors"

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

// sendConfirm is a SEND in flight.
type sendConfirm struct {
	p       *exchange.Pending
	receipt string // "" when none was asked
	dest    string
}

// initPipe sets up the connection's confirmer (protocols/internal/confirm).
// It waits for each publish without a deadline: the store answers every
// commit it was handed, so the message becomes visible (or is given back)
// even when the connection is gone.
func (c *conn) initPipe() {
	c.pipe.Size = c.srv.cfg.MaxPublishesInFlight
	c.pipe.Handle = func(sc sendConfirm, _ bool) {
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
	}
}
