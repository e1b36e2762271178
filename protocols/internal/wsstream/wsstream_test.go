package wsstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestReader checks that frames split over messages and batched within
// one read back as one stream, that ping and empty messages are skipped,
// and that the peer's close reads as io.EOF.
func TestReader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			got <- ""
			return
		}
		defer ws.Close()
		b, err := io.ReadAll(NewReader(ws))
		if err != nil {
			t.Errorf("ReadAll: %v", err)
		}
		got <- string(b)
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		typ  int
		data string
	}{
		{websocket.TextMessage, "SEND\ndestin"},
		{websocket.BinaryMessage, "ation:/q\n\nbody\x00"},
		{websocket.PingMessage, "ping"},
		{websocket.TextMessage, ""},
		{websocket.TextMessage, "\nSEND\n\n\x00SEND\n\n\x00"},
	} {
		if m.typ == websocket.PingMessage {
			err = c.WriteControl(m.typ, []byte(m.data), deadline())
		} else {
			err = c.WriteMessage(m.typ, []byte(m.data))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	want := "SEND\ndestination:/q\n\nbody\x00\nSEND\n\n\x00SEND\n\n\x00"
	if s := <-got; s != want {
		t.Errorf("stream %q, want %q", s, want)
	}
	_ = c.Close()
}

func deadline() (t time.Time) { return time.Now().Add(time.Second) }
