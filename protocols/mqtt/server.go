// Package mqtt is Rosetta's MQTT 3.1.1 and 5 front-end, built on an
// embedded mochi-mqtt server. STUB: the API below is the contract; the
// implementation is in progress.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("mqtt: server closed")

// Config configures the MQTT front-end. Zero values take safe defaults.
type Config struct {
	Exchange *exchange.Exchange // required
	Auth     auth.Service       // required
	Logger   *slog.Logger       // nil means discard
	// TLS, when set, is used by ServeTLS.
	TLS *tls.Config
	// MaxPacketSize in bytes; 0 means 1 MiB.
	MaxPacketSize uint32
	// MaxSubscriptions per session; 0 means 100.
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
	// 100000.
	SessionQueueLength int
}

// Stats are the front-end's counters for metrics.
type Stats struct {
	Connections int64
	PacketsIn   int64
	PacketsOut  int64
	QoS0Dropped int64 // QoS 0 deliveries dropped because a session queue was full
	Rejected    int64 // publishes refused (not authorized, invalid topic, queue full)
	BytesIn     int64
	BytesOut    int64
}

// Server is the MQTT front-end.
type Server struct{}

// New creates the front-end; it accepts no connections until Serve.
func New(cfg Config) (*Server, error) { return nil, errors.New("mqtt: not implemented") }

// Serve accepts MQTT connections on l until Shutdown; it returns
// ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error { return errors.New("mqtt: not implemented") }

// ServeTLS is Serve with the TLS handshake done on every accepted conn.
func (s *Server) ServeTLS(l net.Listener) error { return errors.New("mqtt: not implemented") }

// ServeHTTP upgrades an HTTP request to MQTT over WebSocket (subprotocol
// "mqtt", binary frames) and serves the connection; mount it at /mqtt.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// Stats returns the counters.
func (s *Server) Stats() Stats { return Stats{} }

// Shutdown stops accepting, sends MQTT 5 clients DISCONNECT 0x8B (server
// shutting down), closes every connection and waits for the session
// goroutines, or gives up when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
