package amqp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// Defaults applied when a Config field is zero.
const (
	DefaultContainerID    = "rosetta"
	DefaultMaxConnections = 100_000
	DefaultMaxFrameSize   = 64 << 10 // bytes, announced in open (§2.7.1)
	DefaultMaxMessageSize = 1 << 20  // bytes, announced in attach (§2.7.3)
	DefaultMaxSessions    = 64       // per connection: channel-max + 1
	DefaultMaxLinks       = 256      // per session: handle-max + 1
	DefaultSessionWindow  = 2048     // incoming-window, in transfer frames (§2.5.6)
	DefaultLinkCredit     = 256      // link-credit granted to a client's sender (§2.6.7)
	DefaultMaxPending     = 1000     // deliveries buffered per sending link
	DefaultOutboundFrames = 1024     // frames of our own queued before reading stops
	DefaultIdleTimeout    = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	// lingerTimeout is how long a connection that sent a close keeps
	// reading (and discarding) for the peer's close, so that closing the
	// socket does not reset our close away (§2.4.3, DISCARDING state).
	lingerTimeout = time.Second
)

// DefaultMaxPublishesInFlight is how many publishes per connection may wait
// for their store commit before the connection stops reading.
const DefaultMaxPublishesInFlight = 1024

// Config configures the AMQP 1.0 front-end. The zero value of every field
// but Exchange and Auth works; limits are always on.
type Config struct {
	Exchange *exchange.Exchange // required
	Auth     auth.Service       // required
	Logger   *slog.Logger       // nil means discard
	// TLS is used by ServeTLS. With ClientAuth set to verify client
	// certificates, SASL EXTERNAL is offered on connections that present a
	// verified certificate.
	TLS *tls.Config
	// ContainerID is the container-id of our open (§2.7.1); "" means
	// DefaultContainerID.
	ContainerID string

	// MaxConnections open at once; 0 means DefaultMaxConnections.
	MaxConnections int
	// MaxFrameSize is the max-frame-size we announce (§2.7.1), in bytes,
	// at least 512; a frame over it closes the connection with
	// amqp:connection:framing-error. 0 means DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxMessageSize bounds a message sent to us, over all its transfer
	// frames (§2.6.12); a larger one detaches the link with
	// amqp:link:message-size-exceeded. 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxSessions per connection (channel-max is one less); 0 means
	// DefaultMaxSessions.
	MaxSessions int
	// MaxLinks per session (handle-max is one less); 0 means
	// DefaultMaxLinks.
	MaxLinks int
	// SessionWindow is our incoming-window, in transfer frames (§2.5.6); 0
	// means DefaultSessionWindow.
	SessionWindow int
	// LinkCredit is the link-credit granted to a client's sending link,
	// replenished as messages are published (§2.6.7); 0 means
	// DefaultLinkCredit.
	LinkCredit int
	// MaxPending bounds the deliveries of one sending link that are taken
	// from the queue and not yet written to the socket, whatever credit the
	// client grants; 0 means DefaultMaxPending.
	MaxPending int
	// OutboundFrames is how many frames of our own (flows, dispositions,
	// attach replies) may wait for the socket before the connection stops
	// reading; 0 means DefaultOutboundFrames. Deliveries are bounded by
	// MaxPending instead.
	OutboundFrames int
	// MaxPublishesInFlight bounds the messages of one connection that were
	// handed to the exchange and wait for their store commit (durable
	// messages to durable queues) before their disposition is sent; once
	// reached, the connection stops reading until the oldest is stored.
	// 0 means DefaultMaxPublishesInFlight; 1 publishes nearly one at a time.
	MaxPublishesInFlight int

	// IdleTimeout is how long the connection may stay silent before we
	// close it with amqp:resource-limit-exceeded; we announce half of it as
	// our idle-time-out (§2.4.5). 0 means DefaultIdleTimeout; negative
	// means none.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the time from accept to the peer's open, SASL
	// included; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each socket write; a peer that does not read
	// within it is closed as a slow consumer. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// CheckOrigin decides whether a WebSocket upgrade from a browser page
	// is accepted; nil accepts every origin.
	CheckOrigin func(r *http.Request) bool
	// Conns, when set, registers every opened connection for the admin
	// API (listing, counters, closing with amqp:connection:forced); nil
	// means none.
	Conns *conns.Registry
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ContainerID == "" {
		c.ContainerID = DefaultContainerID
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxFrameSize, DefaultMaxFrameSize)
	def(&c.MaxMessageSize, DefaultMaxMessageSize)
	def(&c.MaxSessions, DefaultMaxSessions)
	def(&c.MaxLinks, DefaultMaxLinks)
	def(&c.SessionWindow, DefaultSessionWindow)
	def(&c.LinkCredit, DefaultLinkCredit)
	def(&c.MaxPending, DefaultMaxPending)
	def(&c.OutboundFrames, DefaultOutboundFrames)
	def(&c.MaxPublishesInFlight, DefaultMaxPublishesInFlight)
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&c.IdleTimeout, DefaultIdleTimeout)
	dur(&c.ConnectTimeout, DefaultConnectTimeout)
	dur(&c.WriteTimeout, DefaultWriteTimeout)
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Exchange == nil {
		errs = append(errs, errors.New("amqp: config: Exchange is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("amqp: config: Auth is required"))
	}
	if c.MaxFrameSize != 0 && c.MaxFrameSize < frames.MinMaxFrameSize {
		errs = append(errs, fmt.Errorf("amqp: config: MaxFrameSize %d is below %d (§2.7.1)", c.MaxFrameSize, frames.MinMaxFrameSize))
	}
	if c.MaxSessions > 1<<16 {
		errs = append(errs, fmt.Errorf("amqp: config: MaxSessions %d is above 65536", c.MaxSessions))
	}
	for name, v := range map[string]int{
		"MaxConnections": c.MaxConnections, "MaxFrameSize": c.MaxFrameSize, "MaxMessageSize": c.MaxMessageSize,
		"MaxSessions": c.MaxSessions, "MaxLinks": c.MaxLinks, "SessionWindow": c.SessionWindow,
		"LinkCredit": c.LinkCredit, "MaxPending": c.MaxPending, "OutboundFrames": c.OutboundFrames,
		"MaxPublishesInFlight": c.MaxPublishesInFlight,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("amqp: config: %s is negative", name))
		}
	}
	for name, v := range map[string]time.Duration{
		"ConnectTimeout": c.ConnectTimeout, "WriteTimeout": c.WriteTimeout,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("amqp: config: %s is negative", name))
		}
	}
	return errors.Join(errs...)
}

// Stats are the front-end's counters for metrics. What a conversion to or
// from AMQP drops is counted by the exchange (Exchange.CountLossy, read
// with Exchange.Lossy), with the other front-ends' losses.
type Stats struct {
	Connections   int64 // open now
	Accepted      int64 // connections accepted since New
	FramesIn      int64 // frames read, empty frames excluded
	FramesOut     int64 // frames written, empty frames excluded
	BytesIn       int64
	BytesOut      int64
	MessagesIn    int64 // messages published to the exchange
	MessagesOut   int64 // deliveries written
	Errors        int64 // close, end and detach frames sent with an error
	SlowConsumers int64 // connections closed because they did not read
	AuthFailures  int64 // SASL outcomes other than ok
}

type counters struct {
	connections, accepted, framesIn, framesOut, bytesIn, bytesOut,
	msgsIn, msgsOut, errors, slow, authFail atomic.Int64
}

// Server is the AMQP 1.0 front-end. Create it with New.
type Server struct {
	cfg    Config
	x      *exchange.Exchange
	auth   auth.Service
	log    *slog.Logger
	stats  counters
	idBase string // random per server: connection ids are unguessable
	nextID atomic.Uint64

	mu        sync.Mutex
	closing   bool                      // guarded by mu: Shutdown has begun
	listeners map[net.Listener]struct{} // guarded by mu
	conns     map[*conn]struct{}        // guarded by mu
	wg        sync.WaitGroup            // Serve loops and connections
}

// New checks cfg and returns a server; it accepts nothing until Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("amqp: random: %w", err)
	}
	return &Server{
		cfg:       cfg,
		x:         cfg.Exchange,
		auth:      cfg.Auth,
		log:       cfg.Logger.With("proto", "amqp"),
		idBase:    hex.EncodeToString(b[:]),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts AMQP connections on l until Shutdown, then returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, nil) }

// ServeTLS is Serve with a TLS handshake on every connection (§5.2.1,
// "alternative establishment", port 5671), using Config.TLS.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("amqp: ServeTLS: Config.TLS is nil")
	}
	return s.serve(l, s.cfg.TLS)
}

func (s *Server) serve(l net.Listener, tlsCfg *tls.Config) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	s.log.Info("listening", "addr", l.Addr().String(), "tls", tlsCfg != nil)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("amqp: accept: %w", err)
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if tlsCfg != nil {
			nc = tls.Server(nc, tlsCfg)
		}
		c := s.newConn(newTCPTransport(nc))
		if c == nil {
			continue
		}
		go c.serve()
	}
}

// isTemporary reports an accept error worth retrying (EMFILE, ECONNABORTED
// and the like), as net/http does.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &t) && t.Temporary() || errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// newConn registers a connection, or refuses it (our protocol header, then
// close) when the server is shutting down or full; nil means refused.
func (s *Server) newConn(tr transport) *conn {
	s.stats.accepted.Add(1)
	s.mu.Lock()
	if s.closing || len(s.conns) >= s.cfg.MaxConnections {
		closing := s.closing
		s.mu.Unlock()
		reason := "connection limit"
		if closing {
			reason = "shutting down"
		}
		s.log.Warn("connection refused", "remote", tr.RemoteAddr().String(), "reason", reason)
		// Synchronous: 8 bytes into a fresh socket's buffer do not block,
		// and no goroutine outlives Shutdown. A TLS handshake could block:
		// its deadline bounds it.
		_ = tr.SetWriteDeadline(time.Now().Add(min(s.cfg.WriteTimeout, time.Second)))
		_ = tr.SetReadDeadline(time.Now().Add(min(s.cfg.WriteTimeout, time.Second)))
		_, _ = tr.Write(frames.HeaderAMQP.Append(nil))
		_ = tr.Close()
		return nil
	}
	c := newConn(s, tr)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	return c
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.connections.Add(-1)
	s.wg.Done()
}

// connID returns a new connection id: unique, and unguessable, because it
// names the connection's temporary queues.
func (s *Server) connID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on supported platforms
	return fmt.Sprintf("%s-%d-%s", s.idBase[:8], s.nextID.Add(1), hex.EncodeToString(b[:]))
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Connections:   s.stats.connections.Load(),
		Accepted:      s.stats.accepted.Load(),
		FramesIn:      s.stats.framesIn.Load(),
		FramesOut:     s.stats.framesOut.Load(),
		BytesIn:       s.stats.bytesIn.Load(),
		BytesOut:      s.stats.bytesOut.Load(),
		MessagesIn:    s.stats.msgsIn.Load(),
		MessagesOut:   s.stats.msgsOut.Load(),
		Errors:        s.stats.errors.Load(),
		SlowConsumers: s.stats.slow.Load(),
		AuthFailures:  s.stats.authFail.Load(),
	}
	return st
}

// Shutdown stops accepting, closes every connection with
// amqp:connection:forced (their consumers are closed, unsettled deliveries
// released) and waits for every goroutine the server started, or gives up
// when ctx ends, closing what is left at once and returning ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info("shutting down", "connections", len(conns))
	for _, c := range conns {
		c.goAway(connErr(frames.ConnectionErrorForced, "", "server shutting down"))
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.closeSocket()
	}
	s.mu.Unlock()
	<-done // sockets are closed: every goroutine ends promptly
	return fmt.Errorf("amqp: shutdown: %w", ctx.Err())
}
