package stomp

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
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// DefaultMaxPublishesInFlight is how many SENDs per connection may wait for
// their store commit before the connection stops reading.
const DefaultMaxPublishesInFlight = 1024

// Defaults applied when a Config field is zero.
const (
	DefaultMaxConnections       = 100_000
	DefaultMaxSubscriptions     = 100
	DefaultMaxTransactions      = 16
	DefaultMaxTransactionFrames = 10_000
	DefaultPrefetch             = 100 // client and client-individual: unacknowledged messages per subscription
	DefaultAutoCredit           = 100 // auto: messages handed over and not yet written
	DefaultMaxPrefetch          = 10_000
	DefaultOutboundFrames       = 1024 // RECEIPTs queued before the reader stops reading
	DefaultHeartBeat            = 100 * time.Millisecond
	DefaultConnectTimeout       = 10 * time.Second
	DefaultFrameTimeout         = 30 * time.Second
	DefaultWriteTimeout         = 10 * time.Second
	DefaultServerName           = "Rosetta"
	// lingerTimeout is how long a connection closing after an ERROR or a
	// DISCONNECT receipt keeps reading (and discarding) so that closing it
	// does not reset the last frame away (STOMP 1.2 "Connection
	// Lingering").
	lingerTimeout = time.Second
)

// Config configures the STOMP front-end. The zero value of every field but
// Exchange and Auth works; limits are always on.
type Config struct {
	Exchange *exchange.Exchange // required
	Auth     auth.Service       // required
	Logger   *slog.Logger       // nil means discard
	// TLS is used by ServeTLS.
	TLS *tls.Config

	// MaxFrameSize, MaxBodySize, MaxHeaders and MaxHeaderLine bound each
	// inbound frame (frame.Limits; 0 means the frame package's default). A
	// frame over a limit gets an ERROR and the connection is closed.
	MaxFrameSize  int
	MaxBodySize   int
	MaxHeaders    int
	MaxHeaderLine int
	// MaxConnections open at once; 0 means DefaultMaxConnections.
	MaxConnections int
	// MaxSubscriptions per connection; 0 means DefaultMaxSubscriptions.
	MaxSubscriptions int
	// MaxTransactions open at once per connection; 0 means
	// DefaultMaxTransactions.
	MaxTransactions int
	// MaxTransactionFrames is the most SEND, ACK and NACK frames one
	// transaction buffers; 0 means DefaultMaxTransactionFrames.
	MaxTransactionFrames int

	// Prefetch is the unacknowledged-message cap of a client or
	// client-individual subscription without a prefetch-count header; 0
	// means DefaultPrefetch.
	Prefetch int
	// AutoCredit is how many deliveries an ack:auto subscription may have
	// handed over and not yet written to the socket; 0 means
	// DefaultAutoCredit.
	AutoCredit int
	// MaxPrefetch caps a prefetch-count header; 0 means DefaultMaxPrefetch.
	MaxPrefetch int
	// OutboundFrames is how many frames of the server's own (RECEIPT) may
	// wait for the socket before the connection stops reading; 0 means
	// DefaultOutboundFrames. Deliveries are bounded by credit instead.
	OutboundFrames int
	// MaxPublishesInFlight bounds the SEND frames of one connection that
	// were handed to the exchange and wait for their store commit
	// (persistent messages to durable queues) before their RECEIPT is
	// written; once reached, the connection stops reading until the oldest
	// is stored. 0 means DefaultMaxPublishesInFlight.
	MaxPublishesInFlight int

	// HeartBeatSend is the shortest interval at which the server offers to
	// send heart-beats (the first CONNECTED heart-beat number); the
	// interval used is the larger of it and the client's wish (STOMP 1.2
	// "Heart-beating"). 0 means DefaultHeartBeat; negative means the
	// server sends none.
	HeartBeatSend time.Duration
	// HeartBeatReceive is the interval at which the server asks for the
	// client's heart-beats (the second number); the interval used is the
	// larger of it and what the client offers, and a connection silent for
	// twice that long is closed. 0 means DefaultHeartBeat; negative means
	// none are asked for.
	HeartBeatReceive time.Duration
	// ConnectTimeout bounds the time from accept to a complete CONNECT,
	// authentication included; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// FrameTimeout bounds the time from a frame's first byte to its last;
	// 0 means DefaultFrameTimeout.
	FrameTimeout time.Duration
	// WriteTimeout bounds each socket write; a client that does not read
	// within it is closed as a slow consumer. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ServerName is sent in CONNECTED's server header; "" means
	// DefaultServerName.
	ServerName string
	// CheckOrigin decides whether a WebSocket upgrade from a browser page
	// is accepted; nil accepts every origin. Credentials travel in CONNECT
	// or an Authorization header, never in cookies, so a foreign page gains
	// nothing it could not do with its own connection.
	CheckOrigin func(r *http.Request) bool
	// Conns, when set, registers every connected session for the admin
	// API (listing, counters, closing with an ERROR frame); nil means none.
	Conns *conns.Registry
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	lim := c.limits()
	c.MaxFrameSize, c.MaxBodySize, c.MaxHeaders, c.MaxHeaderLine = lim.MaxFrameSize, lim.MaxBodySize, lim.MaxHeaders, lim.MaxHeaderLine
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxSubscriptions, DefaultMaxSubscriptions)
	def(&c.MaxTransactions, DefaultMaxTransactions)
	def(&c.MaxTransactionFrames, DefaultMaxTransactionFrames)
	def(&c.Prefetch, DefaultPrefetch)
	def(&c.AutoCredit, DefaultAutoCredit)
	def(&c.MaxPrefetch, DefaultMaxPrefetch)
	def(&c.OutboundFrames, DefaultOutboundFrames)
	def(&c.MaxPublishesInFlight, DefaultMaxPublishesInFlight)
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&c.HeartBeatSend, DefaultHeartBeat)
	dur(&c.HeartBeatReceive, DefaultHeartBeat)
	dur(&c.ConnectTimeout, DefaultConnectTimeout)
	dur(&c.FrameTimeout, DefaultFrameTimeout)
	dur(&c.WriteTimeout, DefaultWriteTimeout)
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	return c
}

func (c Config) limits() frame.Limits {
	return frame.Limits{
		MaxFrameSize:  c.MaxFrameSize,
		MaxBodySize:   c.MaxBodySize,
		MaxHeaders:    c.MaxHeaders,
		MaxHeaderLine: c.MaxHeaderLine,
	}.WithDefaults()
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Exchange == nil {
		errs = append(errs, errors.New("stomp: config: Exchange is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("stomp: config: Auth is required"))
	}
	for name, v := range map[string]int{
		"MaxFrameSize": c.MaxFrameSize, "MaxBodySize": c.MaxBodySize, "MaxHeaders": c.MaxHeaders,
		"MaxHeaderLine": c.MaxHeaderLine, "MaxConnections": c.MaxConnections, "MaxSubscriptions": c.MaxSubscriptions,
		"MaxTransactions": c.MaxTransactions, "MaxTransactionFrames": c.MaxTransactionFrames, "Prefetch": c.Prefetch,
		"AutoCredit": c.AutoCredit, "MaxPrefetch": c.MaxPrefetch, "OutboundFrames": c.OutboundFrames,
		"MaxPublishesInFlight": c.MaxPublishesInFlight,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("stomp: config: %s is negative", name))
		}
	}
	for name, v := range map[string]time.Duration{
		"ConnectTimeout": c.ConnectTimeout, "FrameTimeout": c.FrameTimeout, "WriteTimeout": c.WriteTimeout,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("stomp: config: %s is negative", name))
		}
	}
	return errors.Join(errs...)
}

// Stats are the front-end's counters for metrics.
type Stats struct {
	Connections   int64 // open now
	Accepted      int64 // connections accepted since New
	FramesIn      int64 // frames parsed, heart-beats excluded
	FramesOut     int64 // frames written, heart-beats excluded
	BytesIn       int64
	BytesOut      int64
	Errors        int64 // ERROR frames sent
	SlowConsumers int64 // connections closed because they did not read
}

type counters struct {
	connections, accepted, framesIn, framesOut, bytesIn, bytesOut, errors, slow atomic.Int64
}

// Server is the STOMP front-end. Create it with New.
type Server struct {
	cfg    Config
	x      *exchange.Exchange
	auth   auth.Service
	log    *slog.Logger
	limits frame.Limits
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
		return nil, fmt.Errorf("stomp: random: %w", err)
	}
	return &Server{
		cfg:       cfg,
		x:         cfg.Exchange,
		auth:      cfg.Auth,
		log:       cfg.Logger.With("proto", "stomp"),
		limits:    cfg.limits(),
		idBase:    hex.EncodeToString(b[:]),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts STOMP connections on l until Shutdown, then returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, nil) }

// ServeTLS is Serve with a TLS handshake on every connection, using
// Config.TLS.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("stomp: ServeTLS: Config.TLS is nil")
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
			return fmt.Errorf("stomp: accept: %w", err)
		}
		backoff = 0
		if tlsCfg != nil {
			nc = tls.Server(nc, tlsCfg)
		}
		tr := newTCPTransport(nc)
		c := s.newConn(tr, nil)
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

// newConn registers a connection, or refuses it (ERROR, close) when the
// server is shutting down or full; nil means refused.
func (s *Server) newConn(tr transport, wsCreds *wsCredentials) *conn {
	s.stats.accepted.Add(1)
	s.mu.Lock()
	if s.closing || len(s.conns) >= s.cfg.MaxConnections {
		closing := s.closing
		s.mu.Unlock()
		msg := msgLimit
		if closing {
			msg = msgShutdown
		}
		s.log.Warn("connection refused", "remote", tr.RemoteAddr().String(), "reason", msg)
		s.stats.errors.Add(1)
		// Synchronous: a short frame into a fresh socket's buffer does not
		// block, and no goroutine outlives Shutdown.
		refuse(tr, msg, min(s.cfg.WriteTimeout, time.Second))
		return nil
	}
	c := newConn(s, tr, wsCreds)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	return c
}

// refuse writes an ERROR and closes, without a session.
func refuse(tr transport, msg string, timeout time.Duration) {
	f := frame.New(frame.ERROR, hMessage, msg, hContentType, "text/plain", hContentLength, "0")
	_ = tr.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = tr.Write(frame.AppendFrame(nil, f, frame.V12))
	_ = tr.Close()
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
	return Stats{
		Connections:   s.stats.connections.Load(),
		Accepted:      s.stats.accepted.Load(),
		FramesIn:      s.stats.framesIn.Load(),
		FramesOut:     s.stats.framesOut.Load(),
		BytesIn:       s.stats.bytesIn.Load(),
		BytesOut:      s.stats.bytesOut.Load(),
		Errors:        s.stats.errors.Load(),
		SlowConsumers: s.stats.slow.Load(),
	}
}

// Shutdown stops accepting, sends every session an ERROR "server shutting
// down", closes the connections (their subscriptions are closed, open
// transactions aborted, unacknowledged messages released) and waits for
// every goroutine the server started, or gives up when ctx ends, closing
// what is left at once and returning ctx's error.
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
		c.goAway(msgShutdown)
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
	return fmt.Errorf("stomp: shutdown: %w", ctx.Err())
}
