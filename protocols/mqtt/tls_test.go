package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/auth"
)

// selfSigned returns a TLS certificate for 127.0.0.1, made for the test.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rosetta-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestServeTLS(t *testing.T) {
	cert := selfSigned(t)
	sawTLS := make(chan bool, 4)
	b := startBroker(t, func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.Auth = tlsAuth{testAuth{}, sawTLS}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.srv.ServeTLS(l) }()
	t.Cleanup(func() {
		b.stop(t)
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS returned %v", err)
		}
	})
	in := newInbox(4)
	opts := v3Options("ssl://"+l.Addr().String(), clientID("tls")).SetTLSConfig(&tls.Config{InsecureSkipVerify: true})
	c := connectV3(t, opts)
	// The handshake state reaches Authenticate through the connection
	// wrapper (ackConn), for certificate-based authentication.
	if !<-sawTLS {
		t.Error("Authenticate got no TLS connection state")
	}
	subscribeV3(t, c, "tls/#", 1, in)
	publishV3(t, c, "tls/x", 1, false, []byte("secret"))
	if m := in.next(t, recvTimeout); string(m.Payload) != "secret" {
		t.Errorf("got %v", m)
	}
	c.Disconnect(100)
}

// tlsAuth is testAuth reporting whether each Authenticate saw a TLS
// handshake.
type tlsAuth struct {
	testAuth
	saw chan bool
}

func (a tlsAuth) Authenticate(ctx context.Context, c auth.Credentials) (auth.Identity, error) {
	select {
	case a.saw <- c.TLS != nil && c.TLS.HandshakeComplete:
	default:
	}
	return a.testAuth.Authenticate(ctx, c)
}
