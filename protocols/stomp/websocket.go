package stomp

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rosettamq/rosetta/protocols/internal/wsstream"
)

// WebSocket subprotocols for STOMP (the names stompjs and RabbitMQ use).
var wsSubprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// wsCredentials are the user and password of an Authorization: Basic
// header on the upgrade, used when CONNECT carries no login (browsers
// cannot set headers on a WebSocket, but other clients can).
type wsCredentials struct {
	user, pass string
}

// ServeHTTP upgrades the request to STOMP over WebSocket and serves the
// connection until it ends; mount it at /stomp. STOMP frames may arrive
// one per WebSocket message (what stompjs sends), several per message or
// split across messages: the parser sees one byte stream. Each frame the
// server sends is one message, text when it is valid UTF-8, else binary.
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
		Subprotocols:    wsSubprotocols,
		CheckOrigin:     check,
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
	}
	var creds *wsCredentials
	if u, p, ok := r.BasicAuth(); ok {
		creds = &wsCredentials{user: u, pass: p}
	}
	ws, err := up.Upgrade(w, r, nil) // on failure it has written the HTTP error
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The parser bounds every frame; this bounds one message, which may
	// batch a few frames.
	ws.SetReadLimit(4 * int64(s.limits.MaxFrameSize))
	c := s.newConn(&wsTransport{ws: ws, in: wsstream.NewReader(ws), tls: r.TLS}, creds)
	if c == nil {
		return
	}
	c.serve()
}

// wsTransport adapts a gorilla WebSocket to a transport. gorilla allows
// one reader and one writer at a time: the read goroutine reads, the write
// goroutine writes, and Close and WriteControl may be called from either.
type wsTransport struct {
	ws  *websocket.Conn
	in  *wsstream.Reader
	tls *tls.ConnectionState
}

func (t *wsTransport) Read(p []byte) (int, error) { return t.in.Read(p) }

func (t *wsTransport) Write(p []byte) (int, error) {
	typ := websocket.TextMessage
	if !utf8.Valid(p) {
		typ = websocket.BinaryMessage
	}
	if err := t.ws.WriteMessage(typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *wsTransport) SetReadDeadline(d time.Time) error  { return t.ws.SetReadDeadline(d) }
func (t *wsTransport) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }
func (t *wsTransport) RemoteAddr() net.Addr               { return t.ws.RemoteAddr() }
func (t *wsTransport) Framed() bool                       { return true }
func (t *wsTransport) TLS() *tls.ConnectionState          { return t.tls }
func (t *wsTransport) Close() error                       { return t.ws.Close() }

func (t *wsTransport) CloseWrite() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	return t.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}
