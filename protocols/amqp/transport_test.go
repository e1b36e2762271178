package amqp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/gorilla/websocket"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(cn string, serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testPKI{pool: pool, server: leaf("server", 2, x509.ExtKeyUsageServerAuth),
		client: leaf("device-7", 3, x509.ExtKeyUsageClientAuth)}
}

func TestServeTLS(t *testing.T) {
	pki := newPKI(t)
	b := newBroker(t, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool,
			ClientAuth: tls.VerifyClientCertIfGiven}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.srv.ServeTLS(l) }()
	t.Cleanup(func() {
		_ = b.srv.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS returned %v", err)
		}
	})
	url := "amqps://" + l.Addr().String()

	t.Run("plain over tls", func(t *testing.T) {
		c, err := goamqp.Dial(ctxT(t), url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("u", "p"),
			TLSConfig: &tls.Config{RootCAs: pki.pool}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, _ := c.NewSession(ctxT(t), nil)
		send(t, sender(t, s, "/queues/tls", nil), goamqp.NewMessage([]byte("secure")))
		if got := recv(t, receiver(t, s, "/queues/tls", nil)); string(got.GetData()) != "secure" {
			t.Fatalf("got %q", got.GetData())
		}
	})
	t.Run("external with a client certificate", func(t *testing.T) {
		c, err := goamqp.Dial(ctxT(t), url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeExternal(""),
			TLSConfig: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, _ := c.NewSession(ctxT(t), nil)
		send(t, sender(t, s, "/queues/ext", nil), goamqp.NewMessage([]byte("x")))
		got := recv(t, receiver(t, s, "/queues/ext", nil))
		if u := got.Annotations["x-origin-user"]; u != "device-7" {
			t.Fatalf("x-origin-user %v, want the certificate's CN", u)
		}
	})
	t.Run("external without a certificate", func(t *testing.T) {
		_, err := goamqp.Dial(ctxT(t), url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeExternal(""),
			TLSConfig: &tls.Config{RootCAs: pki.pool}})
		if err == nil {
			t.Fatal("EXTERNAL accepted without a client certificate")
		}
	})
}

// wsNetConn adapts a gorilla client WebSocket to the net.Conn go-amqp
// writes to.
type wsNetConn struct {
	*websocket.Conn
	r io.Reader
}

func (c *wsNetConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsNetConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsNetConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func TestWebSocket(t *testing.T) {
	b := newBroker(t, nil)
	hs := httptest.NewServer(b.srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/amqp"
	d := websocket.Dialer{Subprotocols: []string{"amqp"}}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ws.Subprotocol() != "amqp" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	c, err := goamqp.NewConn(ctxT(t), &wsNetConn{Conn: ws}, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	send(t, sender(t, s, "/queues/ws", nil), goamqp.NewMessage([]byte("over websocket")))
	if got := recv(t, receiver(t, s, "/queues/ws", nil)); string(got.GetData()) != "over websocket" {
		t.Fatalf("got %q", got.GetData())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Without the subprotocol the upgrade is closed at once.
	ws2, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err == nil {
		resp.Body.Close()
		_ = ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws2.ReadMessage(); err == nil {
			t.Fatal("served without the amqp subprotocol")
		}
		ws2.Close()
	}
	eventually(t, "connections closed", func() bool { return b.srv.Stats().Connections == 0 })
}

func TestShutdownClosesWithForced(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t, nil)
	s, err := c.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := receiver(t, s, "/queues/shutdown", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = r.Receive(ctxT(t), nil)
	var ce *goamqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondConnectionForced {
		t.Fatalf("receive after shutdown: %v", err)
	}
	if _, err := goamqp.Dial(ctxT(t), "amqp://"+b.addr, nil); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}
