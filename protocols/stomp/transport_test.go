package stomp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/gorilla/websocket"

	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// wsClient is a gorilla WebSocket client speaking raw STOMP.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	p  *frame.Parser
	q  []*frame.Frame
}

func dialWS(t *testing.T, url string, hdr http.Header) (*wsClient, *http.Response) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp", "v11.stomp"}}
	ws, resp, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := frame.NewParser(frame.Limits{})
	p.SetVersion(frame.V12)
	return &wsClient{t: t, ws: ws, p: p}, resp
}

func (c *wsClient) send(typ int, s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(typ, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) read() *frame.Frame {
	c.t.Helper()
	for len(c.q) == 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatal(err)
		}
		n := 0
		if err := c.p.Feed(b, func(f *frame.Frame) error { n++; c.q = append(c.q, f.Clone()); return nil }); err != nil {
			c.t.Fatal(err)
		}
		if n > 1 || typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			c.t.Fatalf("message of type %d held %d frames", typ, n)
		}
	}
	f := c.q[0]
	c.q = c.q[1:]
	return f
}

func TestWebSocket(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.Auth = allowAll{password: "pw"} })
	mux := http.NewServeMux()
	mux.Handle("/stomp", b.srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/stomp"

	t.Run("frames batched and split, basic auth on the upgrade", func(t *testing.T) {
		hdr := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("web:pw"))}}
		c, resp := dialWS(t, url, hdr)
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "v12.stomp" {
			t.Fatalf("subprotocol %q", got)
		}
		// CONNECT and SUBSCRIBE batched in one message.
		c.send(websocket.TextMessage, "CONNECT\naccept-version:1.2\nhost:x\n\n\x00SUBSCRIBE\nid:0\ndestination:/topic/ws\nreceipt:s\n\n\x00")
		if f := c.read(); f.Command != frame.CONNECTED || f.Value("user-name") != "web" {
			t.Fatalf("got %s", f)
		}
		if f := c.read(); f.Command != frame.RECEIPT {
			t.Fatalf("got %s", f)
		}
		// A SEND split across three messages, the binary body in a binary one.
		c.send(websocket.TextMessage, "SEND\ndestination:/topic/ws\ncontent-le")
		c.send(websocket.TextMessage, "ngth:4\n\n")
		c.send(websocket.BinaryMessage, "\xff\x00\xfe\x01\x00\n")
		m := c.read()
		if m.Command != frame.MESSAGE || string(m.Body) != "\xff\x00\xfe\x01" || m.Value("destination") != "/topic/ws" {
			t.Fatalf("got %s", m)
		}
		c.send(websocket.TextMessage, "DISCONNECT\nreceipt:bye\n\n\x00")
		if f := c.read(); f.Command != frame.RECEIPT || f.Value(hReceiptID) != "bye" {
			t.Fatalf("got %s", f)
		}
	})
	t.Run("CONNECT login wins, bad password refused", func(t *testing.T) {
		c, _ := dialWS(t, url, nil)
		c.send(websocket.TextMessage, "CONNECT\naccept-version:1.2\nlogin:x\npasscode:bad\n\n\x00")
		if f := c.read(); f.Command != frame.ERROR || f.Value(hMessage) != msgAuth {
			t.Fatalf("got %s", f)
		}
	})
	t.Run("interoperates with TCP clients", func(t *testing.T) {
		tcp := b.dial(t, stomp.ConnOpt.Login("tcp", "pw"))
		s, err := tcp.Subscribe("/queue/from-ws", stomp.AckAuto)
		if err != nil {
			t.Fatal(err)
		}
		barrier(t, tcp)
		c, _ := dialWS(t, url, nil)
		c.send(websocket.TextMessage, "CONNECT\naccept-version:1.1\nlogin:w\npasscode:pw\n\n\x00")
		if f := c.read(); f.Value("version") != "1.1" {
			t.Fatalf("got %s", f)
		}
		c.send(websocket.TextMessage, "SEND\ndestination:/queue/from-ws\n\nhello\x00")
		if m := recv(t, s); string(m.Body) != "hello" || m.Header.Get("x-origin-user") != "w" {
			t.Fatalf("got %q %v", m.Body, m.Header)
		}
	})
}

func TestShutdown(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t)
	s, err := c.Subscribe("/queue/held", stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send("/queue/held", "", []byte("unacked")); err != nil {
		t.Fatal(err)
	}
	recv(t, s)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	r.expectError(msgShutdown)
	select {
	case err := <-b.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
		b.done <- err // for the cleanup
	case <-time.After(time.Second):
		t.Fatal("Serve did not return")
	}
	if st := b.srv.Stats(); st.Connections != 0 {
		t.Fatalf("stats after shutdown: %+v", st)
	}
	// The unacknowledged message went back to its queue.
	if q, _ := b.x.Queue("held"); q.Ready != 1 || q.Unsettled != 0 {
		t.Fatalf("queue after shutdown: ready %d unsettled %d", q.Ready, q.Unsettled)
	}
	// New connections are refused.
	if nc, err := net.Dial("tcp", b.addr); err == nil {
		nc.Close()
		t.Fatal("listener still open")
	}
}

func TestShutdownGivesUp(t *testing.T) {
	b := newBroker(t, nil)
	r := b.raw(t)
	r.connect("accept-version:1.2")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a done context: %v", err)
	}
	if st := b.srv.Stats(); st.Connections != 0 {
		t.Fatalf("connections left: %d", st.Connections)
	}
}

func TestSlowConsumerIsClosed(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	r := b.raw(t)
	_ = r.nc.(*net.TCPConn).SetReadBuffer(4096)
	r.connect("accept-version:1.2")
	r.send("SUBSCRIBE\nid:0\ndestination:/topic/flood\nreceipt:s\n\n\x00")
	if f := r.read(); f.Command != frame.RECEIPT {
		t.Fatalf("got %s", f)
	}
	pub := b.dial(t)
	body := make([]byte, 256<<10)
	for range 64 {
		if err := pub.Send("/topic/flood", "", body); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "slow consumer closed", func() bool { return b.srv.Stats().SlowConsumers == 1 })
	eventually(t, "connection gone", func() bool { return b.srv.Stats().Connections == 1 })
	if err := pub.Send("/topic/flood", "", []byte("x"), stomp.SendOpt.Receipt); err != nil {
		t.Fatalf("publisher hurt by the slow consumer: %v", err)
	}
}

func TestMaxConnections(t *testing.T) {
	b := newBroker(t, func(c *Config) { c.MaxConnections = 1 })
	b.dial(t)
	r := b.raw(t)
	r.expectError(msgLimit)
}

func TestServeTLS(t *testing.T) {
	cert := selfSigned(t)
	b := newBroker(t, func(c *Config) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.srv.ServeTLS(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	nc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test certificate
	if err != nil {
		t.Fatal(err)
	}
	c, err := stomp.Connect(nc, stomp.ConnOpt.Logger(quietLogger{}), stomp.ConnOpt.HeartBeat(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	s, err := c.Subscribe("/queue/tls", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send("/queue/tls", "", []byte("secure")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); string(m.Body) != "secure" {
		t.Fatalf("got %q", m.Body)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
