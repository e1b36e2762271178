package amqp

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rosettamq/rosetta/protocols/internal/wsstream"
)

// transport is a byte stream: TCP, TLS, or WebSocket binary messages.
type transport interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	// CloseWrite says goodbye (TCP FIN, WebSocket close) and leaves the
	// read side open.
	CloseWrite() error
	Close() error
	RemoteAddr() net.Addr
	// TLS returns the connection state of a TLS connection, else nil. It
	// completes the handshake first.
	TLS() *tls.ConnectionState
}

type tcpTransport struct{ net.Conn }

func newTCPTransport(c net.Conn) transport { return tcpTransport{c} }

func (t tcpTransport) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (t tcpTransport) TLS() *tls.ConnectionState {
	tc, ok := t.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	if err := tc.Handshake(); err != nil {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

// wsSubprotocol is the WebSocket subprotocol of AMQP 1.0 (the OASIS AMQP
// WebSocket Binding).
const wsSubprotocol = "amqp"

// ServeHTTP upgrades the request to AMQP over WebSocket (subprotocol
// "amqp", binary messages) and serves the connection until it ends; mount
// it at /amqp. AMQP frames may span messages and a message may hold
// several frames: the connection reads one byte stream.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isClosing() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	check := s.cfg.CheckOrigin
	if check == nil {
		check = func(*http.Request) bool { return true }
	}
	up := websocket.Upgrader{
		Subprotocols:    []string{wsSubprotocol},
		CheckOrigin:     check,
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
	}
	ws, err := up.Upgrade(w, r, nil) // on failure it has written the HTTP error
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if ws.Subprotocol() != wsSubprotocol {
		s.log.Debug("websocket without the amqp subprotocol", "remote", r.RemoteAddr)
		msg := websocket.FormatCloseMessage(websocket.CloseProtocolError, "subprotocol amqp required")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	// The frame reader bounds every frame; this bounds one message.
	ws.SetReadLimit(int64(4 * s.cfg.MaxFrameSize))
	c := s.newConn(&wsTransport{ws: ws, in: wsstream.NewReader(ws), tls: r.TLS})
	if c == nil {
		return
	}
	c.serve()
}

// wsTransport adapts a gorilla WebSocket to a byte stream. gorilla allows
// one reader and one writer at a time: the read goroutine reads, the write
// goroutine writes, and Close and WriteControl may be called from either.
type wsTransport struct {
	ws  *websocket.Conn
	in  *wsstream.Reader
	tls *tls.ConnectionState
}

func (t *wsTransport) Read(p []byte) (int, error) { return t.in.Read(p) }

func (t *wsTransport) Write(p []byte) (int, error) {
	if err := t.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *wsTransport) SetReadDeadline(d time.Time) error  { return t.ws.SetReadDeadline(d) }
func (t *wsTransport) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }
func (t *wsTransport) RemoteAddr() net.Addr               { return t.ws.RemoteAddr() }
func (t *wsTransport) TLS() *tls.ConnectionState          { return t.tls }
func (t *wsTransport) Close() error                       { return t.ws.Close() }

func (t *wsTransport) CloseWrite() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	return t.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}
