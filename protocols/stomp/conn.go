package stomp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/internal/confirm"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

const (
	readBufferSize = 8 << 10
	// flushThreshold is the most bytes the writer coalesces before a write
	// system call; the queue running dry flushes sooner.
	flushThreshold = 64 << 10
	// maxIdleBuffer is the largest write buffer kept while idle.
	maxIdleBuffer = 256 << 10
	// maxDestCache bounds the per-connection cache of parsed SEND
	// destinations.
	maxDestCache = 256
)

// transport is a byte stream (TCP, TLS) or a message stream (WebSocket).
type transport interface {
	Read(p []byte) (int, error)
	// Write writes whole frames; on a framed transport, exactly one.
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	// CloseWrite says goodbye (TCP FIN, WebSocket close) and leaves the
	// read side open.
	CloseWrite() error
	Close() error
	RemoteAddr() net.Addr
	// Framed reports a message-oriented transport: one frame per Write.
	Framed() bool
	// TLS returns the connection state of a TLS connection, else nil.
	TLS() *tls.ConnectionState
}

type tcpTransport struct{ net.Conn }

func newTCPTransport(c net.Conn) transport { return tcpTransport{c} }

func (t tcpTransport) Framed() bool { return false }

func (t tcpTransport) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (t tcpTransport) TLS() *tls.ConnectionState {
	if tc, ok := t.Conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// outItem is one entry of the outbound queue: a frame of the server's own
// or a delivery, rendered by the writer.
type outItem struct {
	f     *frame.Frame // CONNECTED, RECEIPT, ERROR; nil for a delivery or a bare close
	d     *exchange.Delivery
	sub   *subscription
	p     *pending // client modes: the ack bookkeeping of d
	final bool     // close the connection after writing this item
}

// conn is one STOMP connection. It owns its socket: the read goroutine
// (readLoop) feeds the parser and runs the session; the write goroutine
// (writeLoop) drains the outbound queue; only conn closes the socket.
//
// Lock order: conn.mu is a leaf. It is never held while calling the
// exchange, because the exchange calls subscription handlers (which take
// conn.mu) synchronously from Publish, Settle and AddCredit.
type conn struct {
	srv     *Server
	id      string
	tr      transport
	log     *slog.Logger
	wsCreds *wsCredentials // Authorization: Basic on the WebSocket upgrade
	ctx     context.Context
	cancel  context.CancelFunc
	start   time.Time

	// Owned by the read goroutine.
	parser       *frame.Parser
	version      frame.Version
	connected    bool
	ended        bool // the session is over (DISCONNECT, ERROR): discard input
	cleaned      bool
	ident        auth.Identity
	clientID     string // CONNECT client-id, else the session id
	login        string
	origin       message.Origin
	reg          *conns.Handle // in the admin registry from CONNECT on; nil when there is none
	readHB       time.Duration // client heart-beats expected this often; 0 none
	pendingSince time.Time     // first byte of the incomplete frame
	txs          map[string]*transaction
	dests        map[string]sendTarget
	temps        map[string]bool               // temporary queues declared, by queue name
	replyToFn    func(string) (string, error)  // c.rewriteReplyTo, made once: a method value allocates
	pipe         confirm.Pipeline[sendConfirm] // SENDs in flight and their confirmer (confirm.go)

	mu       sync.Mutex
	space    sync.Cond                // on mu: signalled when control frames leave the queue
	subs     map[string]*subscription // guarded by mu
	acks     map[string]*pending      // guarded by mu: client-mode deliveries by ack id
	nextAck  uint64                   // guarded by mu
	out      []outItem                // guarded by mu
	spare    []outItem                // guarded by mu: the writer's last batch, for reuse
	ctrl     int                      // guarded by mu: control frames in out
	closing  bool                     // guarded by mu: no new work; the writer ends when out is drained
	sockDown bool                     // guarded by mu: socket closed
	writeHB  time.Duration            // guarded by mu: heart-beat interval toward the client; 0 none
	wver     frame.Version            // guarded by mu: the version the writer encodes with

	stopping  atomic.Bool   // closing was set: the reader handles no more frames
	wake      chan struct{} // cap 1: out became non-empty, or closing
	readDone  chan struct{}
	writeDone chan struct{}
	closeOnce sync.Once
}

func newConn(s *Server, tr transport, ws *wsCredentials) *conn {
	id := s.connID()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:       s,
		id:        id,
		tr:        tr,
		log:       s.log.With("conn", id, "remote", tr.RemoteAddr().String()),
		wsCreds:   ws,
		ctx:       ctx,
		cancel:    cancel,
		start:     time.Now(),
		parser:    frame.NewParser(s.limits),
		txs:       make(map[string]*transaction),
		dests:     make(map[string]sendTarget),
		temps:     make(map[string]bool),
		subs:      make(map[string]*subscription),
		acks:      make(map[string]*pending),
		wake:      make(chan struct{}, 1),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
	}
	c.space.L = &c.mu
	c.replyToFn = c.rewriteReplyTo
	c.initPipe()
	return c
}

// serve runs the connection to its end; the Server tracks it.
func (c *conn) serve() {
	defer c.srv.removeConn(c)
	c.log.Debug("accepted")
	go c.writeLoop()
	reason := c.readLoop()
	c.pipe.Stop()
	close(c.readDone)
	c.cleanup()
	c.reg.Remove()
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.signal()
	<-c.writeDone
	c.closeSocket()
	c.log.Info("connection closed", "reason", reason)
}

// closeSocket closes the transport once and wakes everything that waits
// on it.
func (c *conn) closeSocket() {
	c.closeOnce.Do(func() {
		_ = c.tr.Close()
		c.cancel()
		c.mu.Lock()
		c.sockDown = true
		c.closing = true
		c.mu.Unlock()
		c.space.Broadcast()
		c.signal()
	})
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// readLoop reads until the socket fails or closes and returns why.
func (c *conn) readLoop() string {
	buf := make([]byte, readBufferSize)
	stats := &c.srv.stats
	for {
		deadline, why := c.readDeadline()
		if err := c.tr.SetReadDeadline(deadline); err != nil {
			return "set deadline: " + err.Error()
		}
		n, err := c.tr.Read(buf)
		if n > 0 {
			stats.bytesIn.Add(int64(n))
			if !c.ended {
				before := c.parser.Frames()
				if ferr := c.parser.Feed(buf[:n], c.handleFrame); ferr != nil {
					c.endSession(ferr)
				} else if !c.parser.Pending() {
					c.pendingSince = time.Time{}
				} else if c.pendingSince.IsZero() || c.parser.Frames() != before {
					// A new frame began in this read: its clock starts now.
					c.pendingSince = time.Now()
				}
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				if c.ended || why == reasonHeartBeat {
					if why == reasonHeartBeat {
						c.log.Warn("read timeout", "reason", why)
					}
					return why
				}
				// A peer too slow to finish CONNECT or a frame is alive:
				// tell it why, then linger as after any ERROR.
				c.endSession(protoErr(msgTimeout, "", "%s", why))
				continue
			case errors.Is(err, io.EOF):
				if c.parser.Pending() && !c.ended {
					return "peer closed inside a frame"
				}
				return "peer closed"
			case c.isSockDown():
				return "closed"
			default:
				return "read: " + err.Error()
			}
		}
	}
}

// Why a read deadline fires.
const (
	reasonConnect   = "no complete CONNECT within the connect timeout"
	reasonHeartBeat = "no heart-beat from the client"
	reasonFrame     = "frame not completed within the frame timeout"
)

// readDeadline returns the read deadline and the reason it would fire.
func (c *conn) readDeadline() (time.Time, string) {
	cfg := &c.srv.cfg
	switch {
	case c.ended:
		return time.Now().Add(lingerTimeout), "linger"
	case !c.connected:
		return c.start.Add(cfg.ConnectTimeout), reasonConnect
	}
	var d time.Time
	why := ""
	if c.readHB > 0 {
		// "The receiver SHOULD be tolerant and take into account an error
		// margin" (STOMP 1.2 "Heart-beating"): twice the interval.
		d, why = time.Now().Add(2*c.readHB), reasonHeartBeat
	}
	if !c.pendingSince.IsZero() {
		if f := c.pendingSince.Add(cfg.FrameTimeout); d.IsZero() || f.Before(d) {
			d, why = f, reasonFrame
		}
	}
	return d, why
}

func (c *conn) isSockDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockDown
}

// endSession turns the error that stopped the parser into the session's
// end: an ERROR frame for a protocol error, nothing more for DISCONNECT.
func (c *conn) endSession(err error) {
	c.ended = true
	if errors.Is(err, errDisconnect) || errors.Is(err, errStopped) {
		c.cleanup()
		return
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		pe = parserError(err)
	}
	c.log.Warn("protocol error", "err", pe.Err, "message", pe.Message, "clause", pe.Clause)
	c.sendError(pe)
	c.cleanup()
}

// parserError classifies a frame.Parser error.
func parserError(err error) *ProtocolError {
	switch {
	case errors.Is(err, frame.ErrFrameTooLarge), errors.Is(err, frame.ErrBodyTooLarge),
		errors.Is(err, frame.ErrHeaderLineTooLong), errors.Is(err, frame.ErrTooManyHeaders):
		return wrapErr(msgFrameTooLarge, "STOMP 1.2 Size Limits", err)
	case errors.Is(err, frame.ErrBadEscape):
		return wrapErr(msgMalformed, "STOMP 1.2 Value Encoding", err)
	case errors.Is(err, frame.ErrMissingNUL), errors.Is(err, frame.ErrBadContentLength):
		return wrapErr(msgMalformed, "STOMP 1.2 Header content-length", err)
	}
	return wrapErr(msgMalformed, "STOMP 1.2 Augmented BNF", err)
}

// sendError queues an ERROR frame as the last thing written.
func (c *conn) sendError(pe *ProtocolError) {
	body := pe.Message
	if pe.Err != nil {
		body = pe.Err.Error()
	}
	if pe.Clause != "" {
		body += "\n(" + pe.Clause + ")"
	}
	f := frame.New(frame.ERROR, hMessage, pe.Message)
	if pe.Receipt != "" {
		f.Add(hReceiptID, pe.Receipt)
	}
	f.Headers = append(f.Headers, pe.extra...)
	f.Add(hContentType, "text/plain")
	f.Body = []byte(body)
	f.Add(hContentLength, itoa(len(f.Body)))
	if c.enqueueFinal(f) {
		c.srv.stats.errors.Add(1)
	}
}

// goAway ends the session from outside the read goroutine (Shutdown, a
// consumer closed by the exchange): ERROR, then close.
func (c *conn) goAway(msg string) {
	c.log.Info("closing session", "reason", msg)
	c.sendError(&ProtocolError{Message: msg})
}

// enqueueCtrl queues a frame of the server's own, waiting while too many
// are queued: a client that sends without reading stops being read.
func (c *conn) enqueueCtrl(f *frame.Frame) {
	c.mu.Lock()
	for c.ctrl >= c.srv.cfg.OutboundFrames && !c.closing {
		c.space.Wait()
	}
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, outItem{f: f})
	c.ctrl++
	c.mu.Unlock()
	c.signal()
}

// enqueueFinal queues f (nil: nothing) as the last item; the writer then
// closes the connection. It reports false when the connection was already
// closing.
func (c *conn) enqueueFinal(f *frame.Frame) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	c.stopping.Store(true)
	c.out = append(c.out, outItem{f: f, final: true})
	c.mu.Unlock()
	c.space.Broadcast()
	c.signal()
	return true
}

// writeLoop drains the outbound queue. Frames are rendered into one buffer
// and written with one system call per batch (or per flushThreshold
// bytes), so many frames cost one write; the queue running dry flushes.
// Every write has a deadline: a client that does not read within
// WriteTimeout is closed as a slow consumer.
func (c *conn) writeLoop() {
	defer close(c.writeDone)
	var (
		buf     []byte
		hbTimer *time.Timer
		refill  []*subscription // subscriptions owed credit (ack:auto, or a delivery not sent)
	)
	defer func() {
		if hbTimer != nil {
			hbTimer.Stop()
		}
	}()
	framed := c.tr.Framed()
	stats := &c.srv.stats
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		if !c.write(buf) {
			return false
		}
		buf = buf[:0]
		return true
	}
	for {
		c.mu.Lock()
		items := c.out
		c.out, c.spare = c.spare, nil
		took := c.ctrl
		c.ctrl = 0
		closing, down := c.closing, c.sockDown
		hb, ver := c.writeHB, c.wver
		c.mu.Unlock()
		if took > 0 {
			c.space.Broadcast()
		}
		if down {
			return
		}
		if len(items) == 0 {
			if !flush() {
				return
			}
			if cap(buf) > maxIdleBuffer {
				buf = nil
			}
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
				// Nothing was written for a whole interval: "if the sender
				// has no real STOMP frame to send, it MUST send an EOL"
				// (STOMP 1.2 "Heart-beating").
				if !c.write(frame.HeartBeat) {
					return
				}
				hbTimer.Reset(hb)
			}
			continue
		}
		for i := range items {
			it := &items[i]
			switch {
			case it.d != nil:
				s := it.sub
				if s.closed.Load() {
					continue // unsubscribed: Close released it (client modes)
				}
				m, err := it.d.Transformed(c.ctx)
				if err != nil {
					// Dead-lettered (transform failed) or dropped for this
					// receiver, and settled either way: nothing is sent, no
					// ack id stays pending, and the credit comes back.
					c.log.Debug("delivery not sent", "subscription", s.id, "queue", it.d.Queue, "err", err)
					if it.p != nil {
						c.mu.Lock()
						c.forget([]*pending{it.p})
						c.mu.Unlock()
					}
					if s.owed == 0 {
						refill = append(refill, s)
					}
					s.owed++
					continue
				}
				md := messageMeta{Dest: s.destFor(m), Sub: s.id, HasSub: s.hasID, Redelivered: it.d.Redelivered}
				if it.p != nil && ver == frame.V12 {
					md.Ack = it.p.ack
				}
				buf = appendMessage(buf, m, md, ver)
				c.reg.CountOut()
				if lost := stompLoss(m); lost != 0 {
					c.srv.x.CountLossy(m.Annotations.Origin.Protocol, message.ProtocolSTOMP, lost)
				}
				if s.mode == ackAuto {
					if s.owed == 0 {
						refill = append(refill, s)
					}
					s.owed++
				}
			case it.f != nil:
				buf = frame.AppendFrame(buf, it.f, ver)
			}
			if it.f != nil || it.d != nil {
				stats.framesOut.Add(1)
			}
			if it.final {
				if flush() {
					_ = c.tr.CloseWrite()
					// Linger: let the peer read the last frame and close
					// first (STOMP 1.2 "Connection Lingering").
					select {
					case <-c.readDone:
					case <-time.After(lingerTimeout):
					}
				}
				c.closeSocket()
				return
			}
			if framed || len(buf) >= flushThreshold {
				if !flush() {
					return
				}
			}
		}
		clear(items)
		c.mu.Lock()
		more := len(c.out) > 0
		if c.spare == nil {
			c.spare = items[:0]
		}
		c.mu.Unlock()
		if !more || len(buf) >= flushThreshold {
			if !flush() {
				return
			}
			if hbTimer != nil {
				hbTimer.Reset(hb)
			}
		}
		// ack:auto credit comes back once the message is in the socket's
		// hands, so what waits in our queue stays bounded by AutoCredit; a
		// delivery the transformation dead-lettered or dropped gives its
		// credit back in any mode.
		for _, s := range refill {
			n := s.owed
			s.owed = 0
			if n > 0 && !s.closed.Load() {
				s.consumer().AddCredit(n)
			}
		}
		refill = refill[:0]
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

func itoa(n int) string { return strconv.Itoa(n) }
