package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("mqtt: server closed")

// Defaults for the zero fields of Config.
const (
	DefaultMaxPacketSize      = 1 << 20 // bytes
	DefaultMaxSubscriptions   = 100
	DefaultMaxConnections     = 100_000
	DefaultReceiveMaximum     = 1024
	DefaultMaxInflight        = 256
	DefaultSessionQueueLength = 100_000
)

// Fixed limits that Config does not expose.
const (
	// maxWindow caps the QoS 1/2 PUBLISH packets in flight toward one
	// client whatever Receive Maximum it states (65,535 when it states
	// none); it is also each core consumer's credit, so it bounds what a
	// session buffers.
	maxWindow = 4096
	// topicAliasMaximum is how many inbound topic aliases a client may
	// set up (announced in CONNACK, MQTT 5 §3.2.2.3.8).
	topicAliasMaximum = 1024
	// mochiWritesPending bounds mochi's own per-client outbound channel.
	// Every delivery goes through our writer instead, so only $SYS
	// updates use it; mochi's default (8192) would cost 64 KiB per client.
	mochiWritesPending = 64
	// sysInterval is how often mochi refreshes $SYS (it reads the Go
	// memory statistics each time).
	sysInterval = 10 // seconds
	// authTimeout bounds one Authenticate call.
	authTimeout = 10 * time.Second
)

// Config configures the MQTT front-end. Zero values take safe defaults.
type Config struct {
	Exchange *exchange.Exchange // required
	Auth     auth.Service       // required
	Logger   *slog.Logger       // nil means discard
	// TLS, when set, is used by ServeTLS.
	TLS *tls.Config
	// MaxPacketSize in bytes; 0 means 1 MiB. It is announced in CONNACK
	// (MQTT 5 §3.2.2.3.6); a bigger packet closes the connection.
	MaxPacketSize uint32
	// MaxSubscriptions per session; 0 means 100. Past it a SUBSCRIBE gets
	// 0x97 Quota exceeded (0x80 Failure for 3.1.1) for each new filter.
	MaxSubscriptions int
	// MaxConnections; 0 means 100000.
	MaxConnections int
	// ReceiveMaximum the server grants each client (inbound QoS>0 inflight);
	// 0 means 1024.
	ReceiveMaximum uint16
	// MaxInflight toward a client when the client states no Receive
	// Maximum (MQTT 3.1.1); 0 means 256.
	MaxInflight int
	// SessionQueueLength bounds a session's undelivered messages; 0 means
	// 100000. A full session queue drops its oldest message (counted in
	// Stats.QoS0Dropped).
	SessionQueueLength int
	// Conns, when set, registers every accepted connection for the admin
	// API (listing, counters, closing with DISCONNECT 0x98); nil means none.
	Conns *conns.Registry
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = DefaultReceiveMaximum
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.SessionQueueLength == 0 {
		c.SessionQueueLength = DefaultSessionQueueLength
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Exchange == nil:
		return errors.New("mqtt: config: Exchange is required")
	case c.Auth == nil:
		return errors.New("mqtt: config: Auth is required")
	case c.MaxSubscriptions < 0, c.MaxConnections < 0, c.MaxInflight < 0, c.SessionQueueLength < 0:
		return errors.New("mqtt: config: limits must not be negative")
	case c.MaxInflight > math.MaxUint16:
		return fmt.Errorf("mqtt: config: MaxInflight %d above 65535 (MQTT packet identifiers)", c.MaxInflight)
	case c.MaxPacketSize != 0 && c.MaxPacketSize < 64:
		return fmt.Errorf("mqtt: config: MaxPacketSize %d is too small to carry a CONNECT", c.MaxPacketSize)
	}
	return nil
}

// Stats are the front-end's counters for metrics.
type Stats struct {
	Connections int64
	PacketsIn   int64
	PacketsOut  int64
	// QoS0Dropped counts messages the session queues dropped because they
	// were full (drop-head). With QoS 1/2 publishers it includes their
	// messages too: the core's queue limit does not look at the QoS. It is
	// derived from the queues' drop and expiry counters, so expired
	// messages the exchange dead-letters instead of dropping make it
	// undercount.
	QoS0Dropped int64
	Rejected    int64 // publishes refused (not authorized, invalid topic, queue full)
	BytesIn     int64
	BytesOut    int64
	// Lossy counts deliveries to MQTT clients that could not carry every
	// field of the message (a non-string header, a Subject, properties to
	// a 3.1.1 client...).
	Lossy int64
	// Sessions is the number of MQTT sessions, connected or not.
	Sessions int64
}

// Server is the MQTT front-end: an embedded mochi-mqtt server that speaks
// the protocol, and a gateway hook that routes every message through the
// core exchange (docs/adr/0001-mqtt-routing-in-core.md).
type Server struct {
	cfg   Config
	log   *slog.Logger
	x     *exchange.Exchange
	auth  auth.Service
	mochi *mochi.Server
	hook  *gateway

	// ctx is the lifetime of the server, for exchange and auth calls; it
	// is cancelled when Shutdown returns.
	ctx    context.Context
	cancel context.CancelFunc

	startOnce sync.Once
	startErr  error
	started   atomic.Bool
	closing   atomic.Bool
	done      chan struct{} // closed when Shutdown starts
	shutOnce  sync.Once

	ws       *chanListener
	upgrader websocket.Upgrader

	// conns maps each mochi client to its connection state (*conn).
	conns sync.Map

	mu        sync.Mutex
	sessions  map[string]*session     // by client identifier (guarded by mu)
	listeners map[string]net.Listener // raw listeners passed to Serve (guarded by mu)
	// live holds the connections mochi is serving (guarded by mu); liveWG
	// counts them, added to under mu while not closing.
	live   map[net.Conn]struct{}
	liveWG sync.WaitGroup
	nextLn int                     // guarded by mu
	wills  map[string]*pendingWill // delayed wills by client identifier (guarded by mu)
	// retiredDropped sums the drop counters of deleted session queues
	// (guarded by mu).
	retiredDropped int64

	// wg tracks the session writer goroutines; willWG the delayed-will
	// timer callbacks that are publishing.
	wg     sync.WaitGroup
	willWG sync.WaitGroup

	connSeq     atomic.Uint64
	rejected    atomic.Int64
	lossy       atomic.Int64
	droppedHigh atomic.Int64 // the highest QoS0Dropped reported
}

// New creates the front-end; it accepts no connections until Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("proto", "mqtt")

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(cfg.MaxConnections)
	// No cap: only the publisher's own expiry applies, and the core
	// enforces it. mochi's default (86400 s) would stamp an expiry on every
	// message and drop in-flight ones after a day.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumClientWritesPending = mochiWritesPending
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.ReceiveMaximum = cfg.ReceiveMaximum
	caps.MaximumInflight = math.MaxUint16
	caps.TopicAliasMaximum = topicAliasMaximum
	// A PUBACK must not echo the publisher's user properties back
	// (mochi's default copies the PUBLISH properties into the ack).
	caps.Compatibilities.NoInheritedPropertiesOnAck = true

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    log,
		x:      cfg.Exchange,
		auth:   cfg.Auth,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		ws:     newChanListener(),
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"}, // MQTT-6.0.0-4
			// MQTT over WebSocket is used from pages of any origin (and by
			// clients that send none); authentication happens in CONNECT,
			// not through cookies, so there is no cross-site request to
			// forge.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		sessions:  make(map[string]*session),
		listeners: make(map[string]net.Listener),
		live:      make(map[net.Conn]struct{}),
		wills:     make(map[string]*pendingWill),
	}
	s.mochi = mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 log.With("component", "mochi"),
		SysTopicResendInterval: sysInterval,
		// Every write straight to the socket (see conn.writeRaw): mochi
		// otherwise gathers packets in a buffer while its outbound queue
		// ($SYS only) is not empty, where a SUBACK could wait behind a
		// PUBLISH the session writer sends directly.
		ClientNetWriteBufferSize: 1,
	})
	s.hook = &gateway{srv: s}
	// Our hook is the only auth hook: mochi refuses every client when none
	// allows it, and allows a client when any hook does.
	if err := s.mochi.AddHook(s.hook, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("mqtt: add gateway hook: %w", err)
	}
	return s, nil
}

// start starts mochi once: its event loop ($SYS, expiries) and the
// WebSocket listener.
func (s *Server) start() error {
	s.startOnce.Do(func() {
		if s.closing.Load() {
			s.startErr = ErrServerClosed
			return
		}
		if err := s.mochi.Serve(); err != nil {
			s.startErr = fmt.Errorf("mqtt: start: %w", err)
			return
		}
		if err := s.mochi.AddListener(listeners.NewNet("ws", s.ws)); err != nil {
			s.startErr = fmt.Errorf("mqtt: add websocket listener: %w", err)
			return
		}
		// WebSocket writes are messages: no ackConn.
		s.mochi.Listeners.Serve("ws", func(id string, c net.Conn) error { return s.establish(id, c, false) })
		s.started.Store(true)
	})
	return s.startErr
}

// Serve accepts MQTT connections on l until Shutdown; it returns
// ErrServerClosed after Shutdown. mochi owns the accepted connections and
// closes them on Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, "tcp")
}

// ServeTLS is Serve with the TLS handshake done on every accepted conn.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("mqtt: ServeTLS: Config.TLS is nil")
	}
	return s.serve(tls.NewListener(l, s.cfg.TLS), "tls")
}

func (s *Server) serve(l net.Listener, kind string) error {
	if err := s.start(); err != nil {
		_ = l.Close()
		return err
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.nextLn++
	id := kind + "-" + strconv.Itoa(s.nextLn)
	s.listeners[id] = l
	s.mu.Unlock()

	if err := s.mochi.AddListener(listeners.NewNet(id, l)); err != nil {
		return fmt.Errorf("mqtt: serve %s: %w", l.Addr(), err)
	}
	s.mochi.Listeners.Serve(id, func(id string, c net.Conn) error { return s.establish(id, c, true) })
	s.log.Info("listening", "listener", id, "addr", l.Addr().String())
	<-s.done
	return ErrServerClosed
}

// establish serves one accepted connection through mochi (for its whole
// life), wrapped in an ackConn when wrap is set, and tracks it so that
// Shutdown can close it and wait for it.
func (s *Server) establish(listener string, c net.Conn, wrap bool) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = c.Close()
		return ErrServerClosed
	}
	s.live[c] = struct{}{}
	s.liveWG.Add(1) // under mu while not closing: Shutdown waits after
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.live, c)
		s.mu.Unlock()
		s.liveWG.Done()
	}()
	if wrap {
		c = newAckConn(c)
	}
	return s.mochi.EstablishConnection(listener, c)
}

// ServeHTTP upgrades an HTTP request to MQTT over WebSocket (subprotocol
// "mqtt", binary frames) and serves the connection; mount it at /mqtt.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.start(); err != nil {
		http.Error(w, "mqtt: server closed", http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered the request already.
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "error", err)
		return
	}
	// Room for one packet of the largest size per WebSocket message, plus
	// slack for clients that pack several small packets into one.
	ws.SetReadLimit(int64(s.cfg.MaxPacketSize) + 64<<10)
	c := newWSConn(ws)
	select {
	case s.ws.ch <- c:
	case <-s.ws.done:
		_ = c.Close()
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	info := s.mochi.Info
	st := Stats{
		Connections: atomic.LoadInt64(&info.ClientsConnected),
		PacketsIn:   atomic.LoadInt64(&info.PacketsReceived),
		PacketsOut:  atomic.LoadInt64(&info.PacketsSent),
		BytesIn:     atomic.LoadInt64(&info.BytesReceived),
		BytesOut:    atomic.LoadInt64(&info.BytesSent),
		Rejected:    s.rejected.Load(),
		Lossy:       s.lossy.Load(),
	}
	s.mu.Lock()
	st.QoS0Dropped = s.retiredDropped
	st.Sessions = int64(len(s.sessions))
	queues := make([]string, 0, len(s.sessions))
	for _, ss := range s.sessions {
		queues = append(queues, ss.queue)
	}
	s.mu.Unlock()
	for _, q := range queues {
		if qs, ok := s.x.Queue(q); ok {
			st.QoS0Dropped += overflowDrops(qs)
		}
	}
	// A session ending moves its count from the live sum to retiredDropped;
	// keep the counter monotonic across that moment.
	for {
		high := s.droppedHigh.Load()
		if st.QoS0Dropped <= high {
			st.QoS0Dropped = high
			break
		}
		if s.droppedHigh.CompareAndSwap(high, st.QoS0Dropped) {
			break
		}
	}
	return st
}

// overflowDrops is how many messages a queue dropped because it was full:
// its drops less its expiries (which the exchange counts as drops when it
// does not dead-letter them).
func overflowDrops(qs exchange.QueueStats) int64 {
	if qs.Expired >= qs.Dropped {
		return 0
	}
	return int64(qs.Dropped - qs.Expired)
}

// Shutdown stops accepting, sends MQTT 5 clients DISCONNECT 0x8B (server
// shutting down), closes every connection and waits for the session
// goroutines, or gives up when ctx ends. Wills of the closed connections
// are published (MQTT 5 §3.1.2.5: the server closed the connection), and
// delayed wills still pending are published now, since sessions do not
// survive the process. Persistent sessions' queues stay in the exchange.
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.shutOnce.Do(func() {
		first = true
		s.closing.Store(true)
		close(s.done)
	})
	if !first {
		return nil
	}
	defer s.cancel()
	s.log.Info("shutting down")
	// Wait for a start in progress, and prevent any later one, so that
	// started is settled from here on.
	s.startOnce.Do(func() { s.startErr = ErrServerClosed })

	// 1. Stop accepting.
	s.mu.Lock()
	for _, l := range s.listeners {
		_ = l.Close()
	}
	s.mu.Unlock()
	s.ws.Close()

	// 2. Say goodbye: MQTT 5 clients get DISCONNECT 0x8B; 3.1.1 has no
	// server DISCONNECT, so their connections are just closed.
	if s.started.Load() {
		for _, cl := range s.mochi.Clients.GetAll() {
			if cl.Net.Inline || cl.Closed() {
				continue
			}
			if cl.Properties.ProtocolVersion == 5 {
				_ = s.mochi.DisconnectClient(cl, packets.ErrServerShuttingDown)
			} else if cl.Net.Conn != nil {
				// Closing the socket (not cl.Stop) makes mochi see a read
				// error, so it publishes the will as for any server close.
				_ = cl.Net.Conn.Close()
			}
		}
	}

	// Connections accepted but not yet in mochi's table (mid-CONNECT) are
	// closed too; the others are closed already.
	s.mu.Lock()
	for c := range s.live {
		_ = c.Close()
	}
	s.mu.Unlock()

	// 3. Wait for every connection to end, so that every OnDisconnect has
	// run, then close mochi. mochi's Close does not wait for connections,
	// and must not run while one is still leaving its client table: its
	// Clients.GetByListener read-locks the table twice, which deadlocks
	// against a Delete in between (mochi v2.7.9).
	var errs []error
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.liveWG.Wait()
		if s.started.Load() {
			_ = s.mochi.Close()
		}
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		return fmt.Errorf("mqtt: shutdown: waiting for connections: %w", ctx.Err())
	}

	// 4. Publish the delayed wills now.
	s.flushWills()

	// 5. Close every core consumer; unsettled deliveries go back to their
	// queues, and persistent sessions' queues stay.
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.sessions = make(map[string]*session)
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.close()
	}

	// 6. Wait for the session writers.
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("mqtt: shutdown: waiting for session writers: %w", ctx.Err()))
	}
	s.log.Info("shut down")
	return errors.Join(errs...)
}

// conn returns the connection state of a mochi client, or nil.
func (s *Server) conn(cl *mochi.Client) *conn {
	if v, ok := s.conns.Load(cl); ok {
		return v.(*conn)
	}
	return nil
}
