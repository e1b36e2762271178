package amqp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// writeLoop drains the outbound queue. Frames are rendered into one buffer
// and written with one system call per batch (or per flushThreshold
// bytes), so many frames cost one write; the queue running dry flushes.
// Every write has a deadline: a peer that does not read within
// WriteTimeout is closed as a slow consumer. When nothing was written for
// half the peer's idle timeout, an empty frame keeps the connection alive
// (§2.4.5).
func (c *conn) writeLoop() {
	defer close(c.writeDone)
	w := writer{c: c}
	var hbTimer *time.Timer
	defer func() {
		if hbTimer != nil {
			hbTimer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		items := c.out
		c.out, c.spare = c.spare, nil
		took := c.ctrl
		c.ctrl = 0
		closing, down, hb := c.closing, c.sockDown, c.heartbeat
		c.mu.Unlock()
		if took > 0 {
			c.space.Broadcast()
		}
		if down {
			return
		}
		w.retryBlocked()
		if len(items) == 0 {
			if !w.flush() {
				return
			}
			if cap(w.buf) > maxIdleBuffer {
				w.buf = nil
			}
			if cap(w.payload) > maxIdleBuffer {
				w.payload = nil
			}
			w.topUp()
			if closing {
				return
			}
			var hbC <-chan time.Time
			if hb > 0 {
				if hbTimer == nil {
					hbTimer = time.NewTimer(hb)
				}
				hbC = hbTimer.C
			}
			select {
			case <-c.wake:
			case <-hbC:
				if !c.write(frames.AppendEmptyFrame(nil)) {
					return
				}
				hbTimer.Reset(hb)
			}
			continue
		}
		for i := range items {
			it := &items[i]
			w.item(it)
			if it.final {
				if w.flush() {
					_ = c.tr.CloseWrite()
					// Linger: let the peer read our last frame and close first.
					select {
					case <-c.readDone:
					case <-time.After(lingerTimeout):
					}
				}
				c.closeSocket()
				return
			}
			if len(w.buf) >= flushThreshold && !w.flush() {
				return
			}
		}
		clear(items)
		c.mu.Lock()
		more := len(c.out) > 0
		if c.spare == nil {
			c.spare = items[:0]
		}
		c.mu.Unlock()
		if !more {
			if !w.flush() {
				return
			}
			if hbTimer != nil {
				hbTimer.Reset(hb)
			}
		}
		w.topUp()
	}
}

// write writes b with the write deadline; false means the connection is
// done (and closed).
func (c *conn) write(b []byte) bool {
	cfg := &c.srv.cfg
	_ = c.tr.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
	n, err := c.tr.Write(b)
	c.srv.stats.bytesOut.Add(int64(n))
	if err == nil {
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.srv.stats.slow.Add(1)
		c.log.Warn("slow consumer: closing", "write_timeout", cfg.WriteTimeout, "pending_bytes", len(b)-n)
	} else if !c.isSockDown() {
		c.log.Debug("write failed", "err", err)
	}
	c.closeSocket()
	return false
}

// writer is the write goroutine's state.
type writer struct {
	c       *conn
	buf     []byte
	payload []byte        // scratch for one encoded message
	tag     [8]byte       // scratch delivery tag
	written map[*link]int // deliveries written per link since the last topUp
	lost    message.Lost  // what rendering the current delivery dropped
	failed  bool          // a write failed: the socket is closed
}

func (w *writer) flush() bool {
	if w.failed {
		return false
	}
	if len(w.buf) == 0 {
		return true
	}
	if !w.c.write(w.buf) {
		w.failed = true
		return false
	}
	w.buf = w.buf[:0]
	return true
}

// item renders one queue entry.
func (w *writer) item(it *outItem) {
	switch it.kind {
	case itemRaw:
		w.buf = append(w.buf, it.raw...)
	case itemPerf:
		if s := it.sess; s != nil {
			if s.gone.Load() {
				return
			}
			if it.link != nil && len(s.blocked) > 0 {
				// A sending link's flow state follows the transfers that
				// wait for the window.
				w.block(s, *it)
				return
			}
		}
		w.perf(it)
	case itemDelivery:
		s := it.sess
		if s.gone.Load() || it.link.detached.Load() {
			w.count(it.link)
			return // the consumer was closed: it released unsettled deliveries
		}
		if len(s.blocked) > 0 || s.remoteWindow() == 0 {
			w.block(s, *it)
			return
		}
		if p, more := w.delivery(s, it.link, it.d, progress{}); more {
			// Sent in part: the rest waits for the window, first in line.
			w.block(s, *it)
			s.blocked[len(s.blocked)-1].p = p
		}
	}
}

// perf renders a performative; a session flow gets our next-outgoing-id.
func (w *writer) perf(it *outItem) {
	c := w.c
	if f, ok := it.perf.(*frames.Flow); ok && it.sess != nil {
		f.NextOutgoingID = frames.TransferNumber(it.sess.nextOutgoingID)
		f.OutgoingWindow = outgoingWindow
	}
	var err error
	w.buf, err = frames.AppendFrame(w.buf, it.ch, it.perf, nil)
	if err != nil {
		c.log.Error("encode frame", "perf", perfName(it.perf), "err", err)
		return
	}
	c.srv.stats.framesOut.Add(1)
}

// outgoingWindow is the outgoing-window we announce: we do not limit our
// own transfers beyond the peer's incoming window (§2.5.6).
const outgoingWindow = 1<<31 - 1

// progress is a delivery sent in part, waiting for the peer's incoming
// window to open (§2.5.6); the zero value is a delivery not begun.
type progress struct {
	started bool
	id      uint32
	payload []byte
	off     int
}

// block parks an item of session s until its window opens.
func (w *writer) block(s *session, it outItem) {
	if len(s.blocked) == 0 {
		w.c.blocked = append(w.c.blocked, s)
	}
	s.blocked = append(s.blocked, blockedItem{it: it})
}

// blockedItem is an item waiting for the window; p is set for a delivery
// already begun.
type blockedItem struct {
	it outItem
	p  progress
}

// retryBlocked sends what the sessions' windows now allow.
func (w *writer) retryBlocked() {
	c := w.c
	if len(c.blocked) == 0 {
		return
	}
	keep := c.blocked[:0]
	for _, s := range c.blocked {
		for len(s.blocked) > 0 && !s.gone.Load() {
			b := &s.blocked[0]
			if b.it.kind == itemDelivery {
				if b.it.link.detached.Load() {
					w.count(b.it.link)
				} else {
					if s.remoteWindow() == 0 {
						break
					}
					if p, more := w.delivery(s, b.it.link, b.it.d, b.p); more {
						b.p = p
						break
					}
				}
			} else {
				w.perf(&b.it)
			}
			s.blocked[0] = blockedItem{}
			s.blocked = s.blocked[1:]
		}
		if s.gone.Load() {
			for _, b := range s.blocked {
				if b.it.kind == itemDelivery {
					w.count(b.it.link)
				}
			}
			s.blocked = nil
		}
		if len(s.blocked) > 0 {
			keep = append(keep, s)
		} else {
			s.blocked = nil
		}
	}
	clear(c.blocked[len(keep):])
	c.blocked = keep
}

// delivery writes the transfer frames of d on link l, splitting the
// message over frames of at most the peer's max-frame-size (§2.6.12) and
// stopping when the peer's incoming window is used up (§2.5.6). It
// reports more with its progress when part of it is left to send.
func (w *writer) delivery(s *session, l *link, d *exchange.Delivery, p progress) (progress, bool) {
	c := w.c
	if !p.started {
		l.started++
		m, err := d.Transformed(c.ctx)
		if err != nil {
			// Dead-lettered (the transformation failed) or dropped for
			// this receiver, and settled either way: no transfer, and the
			// link credit it took comes back.
			c.log.Debug("delivery not sent", "link", l.name, "queue", d.Queue, "err", err)
			l.unspend(l.started)
			w.count(l)
			return p, false
		}
		w.lost = 0
		e := egress{
			FirstDelivery: !d.Redelivered,
			DeliveryCount: uint32(d.DeliveryCount),
			To:            l.toFn,
			Lost:          lossSink{&w.lost},
		}
		if m != d.Msg {
			// The bytes an AMQP publisher sent describe the original: the
			// transformed message is encoded from its fields.
			e.Rebuild = true
			e.NewBody = !bytes.Equal(m.Body, d.Msg.Body)
		}
		w.payload, err = appendMessage(w.payload[:0], m, e)
		if err == nil && l.peerMaxMessage > 0 && uint64(len(w.payload)) > l.peerMaxMessage {
			err = errTooLarge
			w.lost |= message.LostTooLarge
		}
		c.srv.x.CountLossy(m.Annotations.Origin.Protocol, message.ProtocolAMQP, w.lost)
		if err != nil {
			c.log.Warn("message not sent", "queue", d.Queue, "err", err)
			if !l.settled {
				_ = d.Settle(exchange.Outcome{Kind: exchange.OutcomeRejected, Reason: err.Error()})
			}
			w.count(l)
			return p, false
		}
		p = progress{started: true, id: s.nextDeliveryID, payload: w.payload}
		s.nextDeliveryID++
		c.reg.CountOut()
		if !l.settled {
			s.mu.Lock()
			s.unsettled[p.id] = unsettledOut{l: l, d: d}
			s.mu.Unlock()
		}
		c.srv.stats.msgsOut.Add(1)
	}
	maxFrame := int(c.peerMaxFrame.Load())
	for {
		t := frames.Transfer{Handle: frames.Handle(l.handle), DeliveryID: encoding.Some(frames.DeliveryNumber(p.id))}
		if p.off == 0 {
			binary.BigEndian.PutUint64(w.tag[:], l.nextTag)
			l.nextTag++
			t.DeliveryTag = w.tag[:]
			t.MessageFormat = encoding.Some[frames.MessageFormat](0)
			t.Settled = encoding.Some(l.settled)
		}
		start := len(w.buf)
		var err error
		w.buf, _, err = frames.StartFrame(w.buf, s.outCh, &t)
		if err != nil {
			c.log.Error("encode transfer", "err", err)
			w.buf = w.buf[:start]
			w.count(l)
			return p, false
		}
		room := maxFrame - (len(w.buf) - start)
		rest := len(p.payload) - p.off
		if rest > room {
			// More frames follow: set more=true and encode again (the flag
			// is a field of the performative, before the payload).
			w.buf = w.buf[:start]
			t.More = true
			w.buf, _, _ = frames.StartFrame(w.buf, s.outCh, &t)
			room = maxFrame - (len(w.buf) - start)
		}
		n := min(rest, room)
		w.buf = append(w.buf, p.payload[p.off:p.off+n]...)
		w.buf, _ = frames.FinishFrame(w.buf, start)
		p.off += n
		s.nextOutgoingID++
		c.srv.stats.framesOut.Add(1)
		if len(w.buf) >= flushThreshold && !w.flush() {
			return p, false
		}
		if p.off >= len(p.payload) {
			w.count(l)
			return p, false
		}
		if s.remoteWindow() == 0 {
			// Keep the rest: the payload scratch is reused, so copy it.
			p.payload = append([]byte(nil), p.payload...)
			return p, true
		}
	}
}

var errTooLarge = errors.New("message larger than the receiver's max-message-size")

// count records a delivery of l leaving the queue (written or dropped),
// so that its credit toward the exchange can be topped up.
func (w *writer) count(l *link) {
	if w.written == nil {
		w.written = make(map[*link]int)
	}
	w.written[l]++
}

// topUp gives back the pending room of the links whose deliveries left
// the queue; called without locks.
func (w *writer) topUp() {
	for l, n := range w.written {
		delete(w.written, l)
		l.written(n)
	}
}
