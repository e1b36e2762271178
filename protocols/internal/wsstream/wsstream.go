// Package wsstream turns the messages of a WebSocket into a byte stream,
// for the front-ends whose protocols frame themselves (STOMP, AMQP): a
// client may split one protocol frame over several WebSocket messages or
// batch several frames into one, so the parsers read a stream, never
// messages. It lives under protocols/internal because protocols may not
// import each other.
package wsstream

import (
	"errors"
	"io"

	"github.com/gorilla/websocket"
)

// Reader reads the payloads of a WebSocket's text and binary messages as
// one stream; control and other messages are skipped, and a close frame
// from the peer reads as io.EOF. gorilla allows one reader at a time: only
// the connection's read goroutine may call Read.
type Reader struct {
	ws  *websocket.Conn
	cur io.Reader // the message being read; nil between messages
}

// NewReader returns a Reader of ws.
func NewReader(ws *websocket.Conn) *Reader { return &Reader{ws: ws} }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			typ, next, err := r.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
				continue
			}
			r.cur = next
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
