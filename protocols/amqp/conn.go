package amqp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	"github.com/rosettamq/rosetta/protocols/internal/confirm"
)

const (
	// flushThreshold is the most bytes the writer coalesces before a write
	// system call; the queue running dry flushes sooner.
	flushThreshold = 64 << 10
	// maxIdleBuffer is the largest write buffer kept while idle.
	maxIdleBuffer = 256 << 10
	// minHeartbeat bounds how often we send empty frames, whatever
	// idle-time-out the peer asks for.
	minHeartbeat = 10 * time.Millisecond
)

// Capabilities we offer in open (§2.7.1): the anonymous relay (a null
// target routes by each message's to) and the selector filter (Apache
// filters, apache.org:selector-filter:string).
var offeredCapabilities = []encoding.Symbol{"ANONYMOUS-RELAY", "APACHE.ORG:SELECTOR", "APACHE.ORG:NO_LOCAL"}

// itemKind is what an outbound queue entry holds.
type itemKind uint8

const (
	itemRaw      itemKind = iota // bytes written as they are (protocol headers, SASL frames)
	itemPerf                     // a performative on a channel
	itemDelivery                 // a message for a sending link
)

// outItem is one entry of the outbound queue, rendered by the writer.
type outItem struct {
	kind  itemKind
	raw   []byte
	ch    uint16
	perf  frames.Performative
	sess  *session // the session of a performative (its flows get next-outgoing-id) or delivery
	link  *link    // itemDelivery
	d     *exchange.Delivery
	ctrl  bool // counted in conn.ctrl
	final bool // close the connection after writing this item
}

// conn is one AMQP connection. It owns its socket: the read goroutine
// (serve, readLoop) decodes frames and runs the connection, session and
// link state machines; the write goroutine (writeLoop) drains the outbound
// queue; only conn closes the socket.
//
// Locks: conn.mu guards the outbound queue and is a leaf. A sending link's
// creditMu is taken before its mu, which is taken before conn.mu; a
// session's mu is taken alone. No lock of ours is held while calling the
// exchange, except creditMu, because the exchange calls link handlers
// (which take link.mu and conn.mu) synchronously from Publish, Settle,
// AddCredit and Drain.
type conn struct {
	srv    *Server
	id     string
	tr     transport
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	rd     *frames.Reader

	// Owned by the read goroutine.
	ident        auth.Identity
	containerID  string
	origin       message.Origin
	reg          *conns.Handle // in the admin registry from the open on; nil when there is none
	opened       bool          // the peer's open was received and ours queued
	ended        bool          // close sent or received: discard input until the peer's close
	cleaned      bool
	sessions     map[uint16]*session // by the peer's (incoming) channel
	localChans   map[uint16]bool     // our outgoing channels in use
	peerChanMax  uint16
	linkNames    map[linkKey]*link // attached links by (name, role), for stealing (§2.6.1)
	temps        map[string]bool   // temporary (dynamic) queues, deleted at close
	nextPrivate  uint64
	relayTargets map[string]target          // anonymous relay: parsed to addresses
	pipe         confirm.Pipeline[inFlight] // publishes in flight and their confirmer (confirm.go)

	peerMaxFrame atomic.Uint32 // peer's max-frame-size; set before our open is queued

	mu        sync.Mutex
	space     sync.Cond // on mu: signalled when control items leave the queue
	out       []outItem // guarded by mu
	spare     []outItem // guarded by mu: the writer's last batch, for reuse
	ctrl      int       // guarded by mu: control items in out
	closing   bool      // guarded by mu: no new items; the writer ends when out is drained
	sockDown  bool      // guarded by mu: socket closed
	heartbeat time.Duration

	stopping  atomic.Bool   // a final item is queued: the reader handles no more frames
	wake      chan struct{} // cap 1: out became non-empty, a window opened, or closing
	readDone  chan struct{}
	writeDone chan struct{}
	closeOnce sync.Once

	// Owned by the write goroutine.
	blocked []*session // sessions whose transfers wait for the peer's incoming window
}

type linkKey struct {
	name string
	role frames.Role
}

func newConn(s *Server, tr transport) *conn {
	id := s.connID()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:          s,
		id:           id,
		tr:           tr,
		log:          s.log.With("conn", id, "remote", tr.RemoteAddr().String()),
		ctx:          ctx,
		cancel:       cancel,
		start:        time.Now(),
		sessions:     make(map[uint16]*session),
		localChans:   make(map[uint16]bool),
		linkNames:    make(map[linkKey]*link),
		temps:        make(map[string]bool),
		relayTargets: make(map[string]target),
		wake:         make(chan struct{}, 1),
		readDone:     make(chan struct{}),
		writeDone:    make(chan struct{}),
	}
	c.space.L = &c.mu
	c.initPipe()
	c.peerMaxFrame.Store(frames.MinMaxFrameSize)
	c.rd = frames.NewReader(countingReader{tr: tr, n: &s.stats.bytesIn}, frames.MinMaxFrameSize)
	return c
}

// countingReader counts the bytes read from the transport.
type countingReader struct {
	tr transport
	n  *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.tr.Read(p)
	r.n.Add(int64(n))
	return n, err
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

func (c *conn) isSockDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockDown
}

// readLoop runs the handshake and then reads frames until the connection
// ends, and returns why.
func (c *conn) readLoop() string {
	if err := c.handshake(); err != nil {
		return err.Error()
	}
	for {
		if !c.rd.Ready() {
			// About to block on the socket: send what was batched.
			c.flushBatched()
		}
		if err := c.tr.SetReadDeadline(c.readDeadline()); err != nil {
			return "set deadline: " + err.Error()
		}
		f, err := c.rd.ReadFrame()
		if err != nil {
			if why, done := c.readError(err); done {
				return why
			}
			continue
		}
		if f.Type != frames.TypeAMQP {
			c.fail(connErr(frames.ConnectionErrorFramingError, "§2.3", "frame type %#x after the SASL layer", uint8(f.Type)))
			continue
		}
		if f.Empty() {
			continue // a heartbeat (§2.4.5)
		}
		c.srv.stats.framesIn.Add(1)
		if c.ended || c.stopping.Load() {
			// Closing: discard everything until the peer's close (§2.4.6
			// DISCARDING).
			if perf, _, err := frames.ParseBody(f.Body); err == nil {
				if _, ok := perf.(*frames.Close); ok {
					return "closed"
				}
			}
			continue
		}
		if err := c.handleFrame(f); err != nil {
			if errors.Is(err, errPeerClosed) {
				return "closed by peer"
			}
			c.fail(err)
		}
	}
}

// errPeerClosed stops the read loop after the peer's close was answered.
var errPeerClosed = errors.New("closed by peer")

// readDeadline is the idle timeout from now (§2.4.5), or the linger time
// once closing.
func (c *conn) readDeadline() time.Time {
	if c.ended || c.stopping.Load() {
		return time.Now().Add(lingerTimeout)
	}
	if c.srv.cfg.IdleTimeout > 0 {
		return time.Now().Add(c.srv.cfg.IdleTimeout)
	}
	return time.Time{}
}

// readError classifies a read failure: done means the read loop ends.
func (c *conn) readError(err error) (string, bool) {
	var fe *frames.FrameError
	switch {
	case errors.As(err, &fe):
		if c.ended {
			return "closed", true
		}
		c.fail(asError(err))
		return "", false
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.ended || c.stopping.Load() {
			return "closed", true
		}
		c.log.Warn("idle timeout", "idle_timeout", c.srv.cfg.IdleTimeout)
		c.fail(connErr(frames.AMQPErrorResourceLimitExceeded, "§2.4.5", "no frame received for %v (idle timeout)", c.srv.cfg.IdleTimeout))
		return "", false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "peer closed", true
	case c.isSockDown():
		return "closed", true
	}
	return "read: " + err.Error(), true
}

// fail ends what err names: a connection error closes the connection; a
// session or link error ends that endpoint and the connection goes on
// (§2.5.4, §2.6.5).
func (c *conn) fail(err error) {
	e := asError(err)
	switch {
	case e.Scope == ScopeLink && e.link != nil:
		c.detachWithError(e.link, e)
		return
	case e.Scope != ScopeConnection && e.sess != nil:
		c.endSession(e.sess, e)
		return
	}
	c.closeWith(e)
}

// closeWith sends a close carrying e (nil: no error) as the last frame
// and stops handling input (§2.4.3). Before the open exchange it sends
// our open first, since close may only follow open (§2.4.1).
func (c *conn) closeWith(e *Error) {
	if c.ended {
		return
	}
	c.ended = true
	var cl frames.Close
	if e != nil {
		cl.Error = e.wire()
		c.srv.stats.errors.Add(1)
		c.log.Warn("closing connection", "condition", e.Condition, "clause", e.Clause, "err", e.Err)
	}
	if !c.opened {
		c.enqueue(outItem{kind: itemPerf, perf: c.ourOpen()})
	}
	c.enqueueFinal(outItem{kind: itemPerf, perf: &cl})
	c.cleanup()
}

// goAway ends the connection from outside the read goroutine (Shutdown,
// a consumer closed by the exchange): close with e, then the socket.
func (c *conn) goAway(e *Error) {
	c.log.Info("closing connection", "condition", e.Condition, "err", e.Err)
	var cl frames.Close
	cl.Error = e.wire()
	if c.enqueueFinal(outItem{kind: itemPerf, perf: &cl}) {
		c.srv.stats.errors.Add(1)
	}
}

// enqueue queues an item of our own, waiting while too many are queued: a
// peer that sends without reading stops being read.
func (c *conn) enqueue(it outItem) {
	it.ctrl = true
	c.mu.Lock()
	for c.ctrl >= c.srv.cfg.OutboundFrames && !c.closing {
		c.space.Wait()
	}
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, it)
	c.ctrl++
	first := len(c.out) == 1
	c.mu.Unlock()
	if first {
		c.signal()
	}
}

// enqueueFinal queues it as the last item; the writer then closes the
// connection. It reports false when the connection was already closing.
func (c *conn) enqueueFinal(it outItem) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	c.stopping.Store(true)
	it.final = true
	c.out = append(c.out, it)
	c.mu.Unlock()
	c.space.Broadcast()
	c.signal()
	return true
}

// enqueueDelivery queues a delivery for a sending link; it never waits:
// the link's credit bounds how many are queued. It reports false when the
// connection is closing.
func (c *conn) enqueueDelivery(s *session, l *link, d *exchange.Delivery) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.out = append(c.out, outItem{kind: itemDelivery, sess: s, link: l, d: d})
	first := len(c.out) == 1
	c.mu.Unlock()
	if first {
		c.signal()
	}
	return true
}

// ourOpen is the open we send (§2.7.1).
func (c *conn) ourOpen() *frames.Open {
	cfg := &c.srv.cfg
	o := &frames.Open{
		ContainerID:         cfg.ContainerID,
		MaxFrameSize:        encoding.Some(uint32(cfg.MaxFrameSize)),
		ChannelMax:          encoding.Some(uint16(cfg.MaxSessions - 1)),
		OfferedCapabilities: offeredCapabilities,
		Properties:          encoding.Map{{Key: encoding.Symbol("product"), Value: "rosetta"}},
	}
	if cfg.IdleTimeout > 0 {
		// "the value in idle-time-out SHOULD be half the peer's actual
		// timeout threshold" (§2.4.5).
		o.IdleTimeOut = encoding.Some(frames.Milliseconds(min(cfg.IdleTimeout/2/time.Millisecond, math.MaxUint32)))
	}
	return o
}

// onOpen handles the peer's open: limits, then our open (§2.4.1, §2.7.1).
func (c *conn) onOpen(o *frames.Open) error {
	c.containerID = o.ContainerID
	c.origin.ClientID = o.ContainerID
	c.peerMaxFrame.Store(max(o.MaxFrameSizeOrDefault(), frames.MinMaxFrameSize))
	c.peerChanMax = o.ChannelMaxOrDefault()
	var hb time.Duration
	if t, ok := o.IdleTimeOut.Get(); ok && t > 0 {
		// Empty frames at half the peer's idle timeout keep it content
		// (§2.4.5).
		hb = max(time.Duration(t)*time.Millisecond/2, minHeartbeat)
	}
	c.rd.SetMaxFrameSize(uint32(c.srv.cfg.MaxFrameSize))
	c.opened = true
	c.mu.Lock()
	c.heartbeat = hb
	c.mu.Unlock()
	c.enqueue(outItem{kind: itemPerf, perf: c.ourOpen()})
	c.reg = c.srv.cfg.Conns.Add(conns.Info{Protocol: message.ProtocolAMQP, ID: c.id, ClientID: o.ContainerID, User: c.ident.User,
		Remote: c.tr.RemoteAddr().String(), Transport: transportName(c.tr)},
		func(string) { c.goAway(connErr(frames.ConnectionErrorForced, "", "closed by an administrator")) })
	c.log.Info("connection opened", "container_id", o.ContainerID, "user", c.ident.User,
		"peer_max_frame_size", c.peerMaxFrame.Load(), "heartbeat", hb)
	return nil
}

// handleFrame dispatches one AMQP frame after the open exchange (§2.4,
// §2.5, §2.6). Errors are *Error values; fail turns them into frames.
func (c *conn) handleFrame(f frames.Frame) error {
	perf, payload, err := frames.ParseBody(f.Body)
	if err != nil {
		return asError(err)
	}
	if c.log.Enabled(c.ctx, slog.LevelDebug) {
		c.log.Debug("frame in", "channel", f.Channel, "perf", perfName(perf), "payload_bytes", len(payload))
	}
	switch p := perf.(type) {
	case *frames.Open:
		return connErr(frames.AMQPErrorIllegalState, "§2.4.1", "second open")
	case *frames.Close:
		return c.onClose(p)
	case *frames.Begin:
		return c.onBegin(f.Channel, p)
	}
	if f.Channel > uint16(c.srv.cfg.MaxSessions-1) {
		// "A peer that receives a channel number outside the supported
		// range MUST close the connection with the framing-error" (§2.7.1).
		return connErr(frames.ConnectionErrorFramingError, "§2.7.1", "channel %d beyond channel-max %d", f.Channel, c.srv.cfg.MaxSessions-1)
	}
	s := c.sessions[f.Channel]
	if s == nil {
		return connErr(frames.AMQPErrorIllegalState, "§2.5.5", "%s on channel %d, which has no session", perfName(perf), f.Channel)
	}
	if s.discarding {
		if _, ok := perf.(*frames.End); ok {
			c.removeSession(s)
		}
		return nil // §2.5.4: discard until the peer's end
	}
	err = s.handle(perf, payload)
	if err != nil {
		// Name the endpoint a session or link error ends.
		var e *Error
		if errors.As(err, &e) && e.Scope != ScopeConnection {
			if e.sess == nil {
				e.sess = s
			}
			if e.Scope == ScopeLink && e.link == nil {
				if e.link = s.links[e.handle]; e.link == nil {
					e.Scope = ScopeSession
				}
			}
		}
	}
	return err
}

// onClose answers the peer's close with ours (§2.4.3) and ends the read
// loop.
func (c *conn) onClose(p *frames.Close) error {
	if p.Error != nil {
		c.log.Info("peer closed with an error", "condition", p.Error.Condition, "description", p.Error.Description)
	}
	c.pipe.Drain() // dispositions before our close
	c.ended = true
	c.cleanup()
	c.enqueueFinal(outItem{kind: itemPerf, perf: &frames.Close{}})
	return errPeerClosed
}

func perfName(p frames.Performative) string {
	switch p.(type) {
	case *frames.Open:
		return "open"
	case *frames.Begin:
		return "begin"
	case *frames.Attach:
		return "attach"
	case *frames.Flow:
		return "flow"
	case *frames.Transfer:
		return "transfer"
	case *frames.Disposition:
		return "disposition"
	case *frames.Detach:
		return "detach"
	case *frames.End:
		return "end"
	case *frames.Close:
		return "close"
	}
	return "unknown"
}

// flushBatched queues the dispositions and flows the sessions batched
// while input was buffered.
func (c *conn) flushBatched() {
	for _, s := range c.sessions {
		s.flushBatched()
	}
}

// cleanup ends the connection's use of the exchange: every link is
// detached (consumers closed, unsettled deliveries released, private
// queues deleted) and temporary queues are deleted. It runs once, on the
// read goroutine.
func (c *conn) cleanup() {
	if c.cleaned {
		return
	}
	c.cleaned = true
	for _, s := range c.sessions {
		s.closeLinks(false)
	}
	for q := range c.temps {
		if err := c.srv.x.DeleteQueue(q); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) && !errors.Is(err, exchange.ErrClosed) {
			c.log.Warn("delete temporary queue", "queue", q, "err", err)
		}
	}
	clear(c.temps)
}
