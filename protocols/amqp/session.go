package amqp

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// maxBatchedDispositions is how many disposition ranges a session holds
// before queueing them even though more input is buffered.
const maxBatchedDispositions = 64

// session is one AMQP session (§2.5): a pair of channels, the links
// attached on it and the session flow-control state (§2.5.6).
type session struct {
	c     *conn
	inCh  uint16 // the peer's channel
	outCh uint16 // ours

	// Owned by the read goroutine.
	links          map[uint32]*link // by handle (ours equals the peer's)
	nextIncomingID uint32
	inLimit        uint32 // next-incoming-id + incoming-window as last announced (§2.5.6)
	peerHandleMax  uint32
	discarding     bool                // we sent end with an error: discard until the peer's end (§2.5.4)
	pending        []disposition       // dispositions batched until input runs dry
	needFlow       bool                // a session flow is due (window refill or echo)
	creditDue      []*link             // receiving links owed a flow (credit refill or echo)
	awaiting       map[uint32]struct{} // deliveries to us, rcv-settle-mode second, accepted and not yet settled by the peer

	// peerWindow packs the peer's last next-incoming-id (high 32 bits) and
	// incoming-window (low 32 bits), written by the reader, read by the
	// writer.
	peerWindow atomic.Uint64
	// waiting is set by the writer while transfers wait for the window, so
	// that the reader wakes it when a flow arrives.
	waiting atomic.Bool
	// gone is set once the session ended: the writer drops its items.
	gone atomic.Bool

	mu        sync.Mutex
	unsettled map[uint32]unsettledOut // guarded by mu: our unsettled deliveries by delivery-id

	// Owned by the write goroutine.
	nextOutgoingID uint32 // transfer-id of our next transfer frame; starts at 0
	nextDeliveryID uint32
	blocked        []blockedItem
}

// unsettledOut is a delivery we sent unsettled, waiting for the peer's
// disposition.
type unsettledOut struct {
	l *link
	d *exchange.Delivery
}

// disposition is a batched range of deliveries with one state.
type disposition struct {
	role        frames.Role
	first, last uint32
	settled     bool
	state       frames.DeliveryState
}

// accepted is the shared accepted outcome (it has no fields).
var accepted = &frames.Accepted{}

func (s *session) setPeerWindow(nextIncoming, window uint32) {
	s.peerWindow.Store(uint64(nextIncoming)<<32 | uint64(window))
}

// remoteWindow is the peer's remaining incoming window: next-incoming-id
// plus incoming-window of its last flow, minus our next-outgoing-id
// (§2.5.6). Called by the writer, which owns nextOutgoingID.
func (s *session) remoteWindow() uint32 {
	v := s.peerWindow.Load()
	ni, iw := uint32(v>>32), uint32(v)
	inflight := s.nextOutgoingID - ni // transfers the peer had not seen when it sent the flow
	if inflight >= iw {
		s.waiting.Store(true)
		return 0
	}
	return iw - inflight
}

// onBegin maps a session begun by the peer and answers it (§2.5.1).
func (c *conn) onBegin(ch uint16, b *frames.Begin) error {
	cfg := &c.srv.cfg
	maxCh := uint16(cfg.MaxSessions - 1)
	if ch > maxCh {
		return connErr(frames.ConnectionErrorFramingError, "§2.7.1", "begin on channel %d beyond channel-max %d", ch, maxCh)
	}
	if _, ok := c.sessions[ch]; ok {
		return connErr(frames.AMQPErrorIllegalState, "§2.5.1", "begin on channel %d, which is in use", ch)
	}
	if b.RemoteChannel.Set {
		return connErr(frames.AMQPErrorIllegalState, "§2.5.1", "begin with remote-channel %d answers no begin of ours", b.RemoteChannel.Value)
	}
	out, ok := c.allocChannel(min(maxCh, c.peerChanMax))
	if !ok {
		return connErr(frames.AMQPErrorResourceLimitExceeded, "§2.7.1", "no free channel")
	}
	s := &session{
		c:              c,
		inCh:           ch,
		outCh:          out,
		links:          make(map[uint32]*link),
		nextIncomingID: uint32(b.NextOutgoingID),
		inLimit:        uint32(b.NextOutgoingID) + uint32(cfg.SessionWindow),
		peerHandleMax:  uint32(b.HandleMaxOrDefault()),
		awaiting:       make(map[uint32]struct{}),
		unsettled:      make(map[uint32]unsettledOut),
	}
	// Without a flow yet: initial-outgoing-id + incoming-window (§2.5.6).
	s.setPeerWindow(0, b.IncomingWindow)
	c.sessions[ch] = s
	c.enqueue(outItem{kind: itemPerf, ch: out, perf: &frames.Begin{
		RemoteChannel:  encoding.Some(ch),
		NextOutgoingID: 0,
		IncomingWindow: uint32(cfg.SessionWindow),
		OutgoingWindow: outgoingWindow,
		HandleMax:      encoding.Some(frames.Handle(cfg.MaxLinks - 1)),
	}})
	c.log.Debug("session begun", "channel", ch, "local_channel", out)
	return nil
}

// allocChannel returns the lowest unused outgoing channel up to maxCh
// (§2.5.1 recommends the lowest).
func (c *conn) allocChannel(maxCh uint16) (uint16, bool) {
	for ch := 0; ch <= int(maxCh); ch++ {
		if !c.localChans[uint16(ch)] {
			c.localChans[uint16(ch)] = true
			return uint16(ch), true
		}
	}
	return 0, false
}

// endSession ends s with an error: its links are detached, end is sent,
// and input on it is discarded until the peer's end (§2.5.4).
func (c *conn) endSession(s *session, e *Error) {
	if s.discarding {
		return
	}
	c.log.Warn("ending session", "channel", s.inCh, "condition", e.Condition, "clause", e.Clause, "err", e.Err)
	s.discarding = true
	s.closeLinks(false)
	s.pending, s.creditDue, s.needFlow = nil, nil, false
	s.gone.Store(true)
	c.srv.stats.errors.Add(1)
	c.enqueue(outItem{kind: itemPerf, ch: s.outCh, perf: &frames.End{Error: e.wire()}})
}

// removeSession unmaps s from both channels.
func (c *conn) removeSession(s *session) {
	s.gone.Store(true)
	delete(c.sessions, s.inCh)
	delete(c.localChans, s.outCh)
	c.signal() // the writer drops what s left blocked
}

// handle dispatches a frame on the session's channel.
func (s *session) handle(perf frames.Performative, payload []byte) error {
	switch p := perf.(type) {
	case *frames.Attach:
		return s.onAttach(p)
	case *frames.Flow:
		return s.onFlow(p)
	case *frames.Transfer:
		return s.onTransfer(p, payload)
	case *frames.Disposition:
		return s.onDisposition(p)
	case *frames.Detach:
		return s.onDetach(p)
	case *frames.End:
		return s.onEnd(p)
	}
	return connErr(frames.AMQPErrorIllegalState, "§2.7", "unexpected %s", perfName(perf))
}

// onEnd answers the peer's end (§2.5.2).
func (s *session) onEnd(p *frames.End) error {
	c := s.c
	if p.Error != nil {
		c.log.Info("peer ended session with an error", "channel", s.inCh, "condition", p.Error.Condition, "description", p.Error.Description)
	}
	c.pipe.Drain() // dispositions before our end
	s.closeLinks(false)
	s.flushBatched()
	c.enqueue(outItem{kind: itemPerf, ch: s.outCh, perf: &frames.End{}})
	c.removeSession(s)
	return nil
}

// onFlow updates the session's view of the peer's windows and hands link
// flow state to the link (§2.5.6, §2.6.7).
func (s *session) onFlow(p *frames.Flow) error {
	ni := uint32(0) // initial-outgoing-id when the peer does not know ours yet
	if v, ok := p.NextIncomingID.Get(); ok {
		ni = uint32(v)
	}
	s.setPeerWindow(ni, p.IncomingWindow)
	// "it MUST update the next-incoming-id directly from the
	// next-outgoing-id of the frame" (§2.5.6).
	s.nextIncomingID = uint32(p.NextOutgoingID)
	if s.waiting.CompareAndSwap(true, false) {
		s.c.signal()
	}
	h, ok := p.Handle.Get()
	if !ok {
		if p.Echo {
			s.needFlow = true
		}
		return nil
	}
	l := s.links[uint32(h)]
	if l == nil {
		return sessErr(frames.SessionErrorUnattachedHandle, "§2.7.4", "flow on handle %d, which is not attached", h)
	}
	if l.detached.Load() {
		return nil
	}
	if l.role == frames.RoleSender {
		return l.onReceiverFlow(p)
	}
	return l.onSenderFlow(p)
}

// onDisposition applies the peer's dispositions: outcomes of our
// deliveries (role receiver), or its settlement of deliveries we accepted
// in rcv-settle-mode second (role sender) (§2.7.6, §3.4).
func (s *session) onDisposition(p *frames.Disposition) error {
	first := uint32(p.First)
	last := uint32(p.Last.Or(p.First))
	if last-first > 1<<30 {
		return sessErr(frames.AMQPErrorInvalidField, "§2.7.6", "disposition range %d..%d", first, last)
	}
	if p.Role == frames.RoleSender {
		for id := range s.awaiting {
			if id-first <= last-first {
				delete(s.awaiting, id)
			}
		}
		return nil
	}
	o, terminal := outcomeOf(p.State)
	if !terminal && !p.Settled {
		return nil // received or no state: nothing to do until an outcome
	}
	var ds []unsettledOut
	s.mu.Lock()
	if int(last-first) < len(s.unsettled) {
		for id := first; ; id++ {
			if u, ok := s.unsettled[id]; ok {
				ds = append(ds, u)
				delete(s.unsettled, id)
			}
			if id == last {
				break
			}
		}
	} else {
		for id, u := range s.unsettled {
			if id-first <= last-first {
				ds = append(ds, u)
				delete(s.unsettled, id)
			}
		}
	}
	s.mu.Unlock()
	if len(ds) == 0 {
		return nil
	}
	// A receiver that settles first gets no answer (§2.8.3): its
	// acceptance need not wait for the store (at least once across a
	// crash). With rcv-settle-mode second our settled disposition is the
	// answer, so the delete is durable before it goes out.
	o.Lazy = p.Settled && o.Kind == exchange.OutcomeAccepted
	for _, u := range ds {
		if err := u.d.Settle(o); err != nil && !errors.Is(err, exchange.ErrSettled) {
			s.c.log.Warn("settle", "queue", u.d.Queue, "err", err)
		}
	}
	if !p.Settled {
		// rcv-settle-mode second: the peer settles after us (§2.8.3); we
		// settle now with the outcome we applied.
		s.addDisposition(disposition{role: frames.RoleSender, first: first, last: last, settled: true, state: p.State})
	}
	return nil
}

// outcomeOf maps a delivery state to an exchange outcome; terminal is
// false for received and absent states. A delivery settled without an
// outcome takes the source's default-outcome, which we announce as
// released (§3.5.3).
func outcomeOf(st frames.DeliveryState) (exchange.Outcome, bool) {
	switch v := st.(type) {
	case *frames.Accepted:
		return exchange.Accepted, true
	case *frames.Rejected:
		o := exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: "rejected"}
		if v.Error != nil {
			o.Reason = string(v.Error.Condition)
			if v.Error.Description != "" {
				o.Reason += ": " + v.Error.Description
			}
		}
		return o, true
	case *frames.Released:
		return exchange.Released, true
	case *frames.Modified:
		// delivery-failed counts an attempt; undeliverable-here keeps the
		// message from this link's consumer (§3.4.5).
		if !v.DeliveryFailed.Or(false) && !v.UndeliverableHere.Or(false) {
			return exchange.Released, true
		}
		return exchange.Outcome{Kind: exchange.OutcomeModified, UndeliverableHere: v.UndeliverableHere.Or(false)}, true
	}
	return exchange.Released, false
}

// addDisposition batches a disposition, merging it into the previous
// range when contiguous with the same state (§2.7.6 first/last).
func (s *session) addDisposition(d disposition) {
	if n := len(s.pending); n > 0 {
		p := &s.pending[n-1]
		if p.role == d.role && p.settled == d.settled && p.last+1 == d.first && sameState(p.state, d.state) {
			p.last = d.last
			return
		}
	}
	s.pending = append(s.pending, d)
	if len(s.pending) >= maxBatchedDispositions {
		s.flushDispositions()
	}
}

// sameState reports states that one disposition can carry together.
func sameState(a, b frames.DeliveryState) bool {
	if a == b {
		return true
	}
	_, aa := a.(*frames.Accepted)
	_, ba := b.(*frames.Accepted)
	return aa && ba
}

func (s *session) flushDispositions() {
	for _, d := range s.pending {
		dp := &frames.Disposition{Role: d.role, First: frames.DeliveryNumber(d.first), Settled: d.settled, State: d.state}
		if d.last != d.first {
			dp.Last = encoding.Some(frames.DeliveryNumber(d.last))
		}
		s.c.enqueue(outItem{kind: itemPerf, ch: s.outCh, perf: dp})
	}
	clear(s.pending)
	s.pending = s.pending[:0]
}

// flushBatched queues the batched dispositions, the session flow and the
// receiving links' flows.
func (s *session) flushBatched() {
	if s.discarding {
		return
	}
	if len(s.pending) > 0 {
		s.flushDispositions()
	}
	if s.needFlow {
		s.needFlow = false
		s.c.enqueue(outItem{kind: itemPerf, ch: s.outCh, sess: s, perf: s.flow()})
	}
	credit := uint32(s.c.srv.cfg.LinkCredit)
	for i, l := range s.creditDue {
		l.flowDue = false
		if !l.detached.Load() {
			// The peer may send credit deliveries from its delivery-count
			// as we know it (§2.6.7).
			l.rcvLimit = l.rcvDeliveryCount + credit
			f := s.flow()
			f.Handle = encoding.Some(frames.Handle(l.handle))
			f.DeliveryCount = encoding.Some(frames.SequenceNo(l.rcvDeliveryCount))
			f.LinkCredit = encoding.Some(credit)
			s.c.enqueue(outItem{kind: itemPerf, ch: s.outCh, sess: s, perf: f})
		}
		s.creditDue[i] = nil
	}
	s.creditDue = s.creditDue[:0]
}

// flow is a session flow announcing a full incoming window from
// next-incoming-id; the writer fills in next-outgoing-id and
// outgoing-window.
func (s *session) flow() *frames.Flow {
	w := uint32(s.c.srv.cfg.SessionWindow)
	s.inLimit = s.nextIncomingID + w
	return &frames.Flow{
		NextIncomingID: encoding.Some(frames.TransferNumber(s.nextIncomingID)),
		IncomingWindow: w,
	}
}

// closeLinks detaches every link of the session locally (the session or
// connection is ending): consumers closed, private queues deleted.
// deleteDurable also removes durable subscriptions.
func (s *session) closeLinks(deleteDurable bool) {
	for h, l := range s.links {
		l.detached.Store(true)
		l.release(deleteDurable)
		delete(s.links, h)
	}
}
