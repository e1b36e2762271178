package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// ---- go-stomp helpers ----

// quietSTOMPLogger keeps go-stomp's own logging out of the test output.
type quietSTOMPLogger struct{}

func (quietSTOMPLogger) Debugf(string, ...any)   {}
func (quietSTOMPLogger) Infof(string, ...any)    {}
func (quietSTOMPLogger) Warningf(string, ...any) {}
func (quietSTOMPLogger) Errorf(string, ...any)   {}
func (quietSTOMPLogger) Debug(string)            {}
func (quietSTOMPLogger) Info(string)             {}
func (quietSTOMPLogger) Warning(string)          {}
func (quietSTOMPLogger) Error(string)            {}

// dialSTOMP connects a go-stomp client (STOMP 1.2) to the broker's STOMP
// listener and disconnects it on cleanup. Receipts, and so failures, are
// bounded by opTimeout.
func dialSTOMP(t testing.TB, b *broker, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	opts = append([]func(*stomp.Conn) error{
		stomp.ConnOpt.HeartBeat(0, 0),
		stomp.ConnOpt.RcvReceiptTimeout(opTimeout),
		stomp.ConnOpt.UnsubscribeReceiptTimeout(opTimeout),
		stomp.ConnOpt.DisconnectReceiptTimeout(opTimeout),
		stomp.ConnOpt.Logger(quietSTOMPLogger{}),
	}, opts...)
	c, err := stomp.Dial("tcp", b.STOMPAddr, opts...)
	if err != nil {
		t.Fatalf("stomp dial %s: %v", b.STOMPAddr, err)
	}
	t.Cleanup(func() { _ = c.Disconnect() })
	return c
}

// subscribeSTOMP subscribes and returns once the broker has processed the
// SUBSCRIBE. go-stomp cannot take a RECEIPT for a SUBSCRIBE (it reads one
// as the end of the subscription), so a BEGIN/ABORT pair with a receipt
// follows it: the broker handles a connection's frames in order, so that
// RECEIPT means the subscription exists. The pair publishes nothing.
func subscribeSTOMP(t testing.TB, c *stomp.Conn, dest string, ack stomp.AckMode, opts ...func(*frame.Frame) error) *stomp.Subscription {
	t.Helper()
	sub, err := c.Subscribe(dest, ack, opts...)
	if err != nil {
		t.Fatalf("stomp subscribe %s: %v", dest, err)
	}
	barrierSTOMP(t, c)
	return sub
}

// barrierSTOMP returns once the broker has processed every frame c sent
// before it.
func barrierSTOMP(t testing.TB, c *stomp.Conn) {
	t.Helper()
	tx, err := c.BeginWithError()
	if err != nil {
		t.Fatalf("stomp BEGIN: %v", err)
	}
	if err := tx.AbortWithReceipt(); err != nil {
		t.Fatalf("stomp ABORT with receipt: %v", err)
	}
}

// sendSTOMP sends with a receipt: when it returns, the broker has routed
// the message (and stored it, when durable).
func sendSTOMP(t testing.TB, c *stomp.Conn, dest, contentType string, body []byte, opts ...func(*frame.Frame) error) {
	t.Helper()
	opts = append(opts, stomp.SendOpt.Receipt)
	if err := c.Send(dest, contentType, body, opts...); err != nil {
		t.Fatalf("stomp send %s: %v", dest, err)
	}
}

// nextSTOMP returns the next MESSAGE of sub or fails after timeout.
func nextSTOMP(t testing.TB, sub *stomp.Subscription, timeout time.Duration, what string) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		if !ok {
			t.Fatalf("%s: subscription %s closed", what, sub.Destination())
		}
		if m.Err != nil {
			t.Fatalf("%s: %v", what, m.Err)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("%s: no MESSAGE on %s within %v", what, sub.Destination(), timeout)
		return nil
	}
}

// quietSTOMP fails the test if sub receives a MESSAGE within d.
func quietSTOMP(t testing.TB, sub *stomp.Subscription, d time.Duration, what string) {
	t.Helper()
	select {
	case m, ok := <-sub.C:
		if ok {
			t.Errorf("%s: unexpected MESSAGE %q on %s (err %v)", what, bodyOf(m), sub.Destination(), m.Err)
		}
	case <-time.After(d):
	}
}

func bodyOf(m *stomp.Message) string {
	if m == nil {
		return ""
	}
	return string(m.Body)
}

// header returns a MESSAGE header, failing the test when it is absent.
func header(t testing.TB, m *stomp.Message, key string) string {
	t.Helper()
	v, ok := m.Header.Contains(key)
	if !ok {
		t.Errorf("MESSAGE has no %q header; headers: %v", key, headerList(m))
	}
	return v
}

func headerList(m *stomp.Message) []string {
	var out []string
	for i := range m.Header.Len() {
		k, v := m.Header.GetAt(i)
		out = append(out, k+":"+v)
	}
	return out
}

// ---- go-stomp through the binary ----

// TestSTOMPTopicAndQueue sends to a topic and to a queue and receives
// both, with the broker's headers in the subscriber's form.
func TestSTOMPTopicAndQueue(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	pub := dialSTOMP(t, b)
	sub := dialSTOMP(t, b)

	topic := subscribeSTOMP(t, sub, "/topic/go/+/events", stomp.AckAuto)
	sendSTOMP(t, pub, "/topic/go/a1/events", "text/plain", []byte("on topic"), stomp.SendOpt.Header("app", "x"))
	m := nextSTOMP(t, topic, recvTimeout, "topic message")
	if string(m.Body) != "on topic" || m.ContentType != "text/plain" || header(t, m, "app") != "x" {
		t.Errorf("topic MESSAGE body %q content-type %q headers %v", m.Body, m.ContentType, headerList(m))
	}
	// A wildcard subscriber learns the concrete address.
	if m.Destination != "/topic/go/a1/events" {
		t.Errorf("destination %q, want /topic/go/a1/events", m.Destination)
	}
	if got := header(t, m, "x-origin-protocol"); got != "stomp" {
		t.Errorf("x-origin-protocol %q", got)
	}

	// A queue send before any consumer waits in the queue (DESIGN.md §4).
	sendSTOMP(t, pub, "/queue/go-orders", "application/json", []byte(`{"n":1}`))
	queue := subscribeSTOMP(t, sub, "/queue/go-orders", stomp.AckClientIndividual)
	m = nextSTOMP(t, queue, recvTimeout, "queued message")
	if string(m.Body) != `{"n":1}` || m.Destination != "/queue/go-orders" || m.ContentType != "application/json" {
		t.Errorf("queue MESSAGE %q dest %q content-type %q", m.Body, m.Destination, m.ContentType)
	}
	if err := sub.Ack(m); err != nil {
		t.Fatalf("ack: %v", err)
	}
	quietSTOMP(t, topic, quietPeriod, "topic subscriber after a queue send")
	quietSTOMP(t, queue, quietPeriod, "queue after ack")
}

// TestSTOMPCompetingConsumers checks that two consumers of one /queue/
// split the stream: every message goes to exactly one of them, and both
// get some.
func TestSTOMPCompetingConsumers(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c1, c2, pub := dialSTOMP(t, b), dialSTOMP(t, b), dialSTOMP(t, b)
	s1 := subscribeSTOMP(t, c1, "/queue/work", stomp.AckAuto)
	s2 := subscribeSTOMP(t, c2, "/queue/work", stomp.AckAuto)

	const n = 40
	for i := range n {
		if err := pub.Send("/queue/work", "text/plain", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	sendSTOMP(t, pub, "/queue/work-done", "", nil) // a receipt after the batch: all n are routed

	got := map[string]int{} // body -> consumer
	counts := [2]int{}
	deadline := time.After(recvTimeout)
	for len(got) < n {
		var m *stomp.Message
		var who int
		select {
		case m = <-s1.C:
			who = 0
		case m = <-s2.C:
			who = 1
		case <-deadline:
			t.Fatalf("got %d of %d messages: %v", len(got), n, counts)
		}
		if m == nil || m.Err != nil {
			t.Fatalf("subscription failed: %v", m)
		}
		if prev, dup := got[string(m.Body)]; dup {
			t.Fatalf("message %s delivered twice (consumers %d and %d)", m.Body, prev, who)
		}
		got[string(m.Body)] = who
		counts[who]++
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("one consumer got everything: %v", counts)
	}
	// Round-robin between consumers with credit (DESIGN.md §4).
	if d := counts[0] - counts[1]; d < -n/4 || d > n/4 {
		t.Errorf("uneven split %v", counts)
	}
	quietSTOMP(t, s1, quietPeriod, "consumer 1")
	quietSTOMP(t, s2, quietPeriod, "consumer 2")
}

// TestSTOMPNackRedelivers checks that a client-individual NACK puts the
// message back in the queue, and that round-robin hands it to the other
// consumer, marked redelivered, with the same message-id.
func TestSTOMPNackRedelivers(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c1, c2, pub := dialSTOMP(t, b), dialSTOMP(t, b), dialSTOMP(t, b)
	subs := []*stomp.Subscription{
		subscribeSTOMP(t, c1, "/queue/nack", stomp.AckClientIndividual),
		subscribeSTOMP(t, c2, "/queue/nack", stomp.AckClientIndividual),
	}
	conns := []*stomp.Conn{c1, c2}
	sendSTOMP(t, pub, "/queue/nack", "text/plain", []byte("job-1"))

	first, m := -1, (*stomp.Message)(nil)
	select {
	case m = <-subs[0].C:
		first = 0
	case m = <-subs[1].C:
		first = 1
	case <-time.After(recvTimeout):
		t.Fatal("no consumer got the message")
	}
	if m.Err != nil || string(m.Body) != "job-1" {
		t.Fatalf("first delivery %q %v", bodyOf(m), m.Err)
	}
	if _, ok := m.Header.Contains("redelivered"); ok {
		t.Errorf("first delivery marked redelivered: %v", headerList(m))
	}
	id := header(t, m, "message-id")
	if err := conns[first].Nack(m); err != nil {
		t.Fatalf("nack: %v", err)
	}

	other := 1 - first
	r := nextSTOMP(t, subs[other], recvTimeout, "redelivery to the other consumer")
	if string(r.Body) != "job-1" || header(t, r, "message-id") != id || header(t, r, "redelivered") != "true" {
		t.Errorf("redelivery %q message-id %q headers %v", r.Body, id, headerList(r))
	}
	if err := conns[other].Ack(r); err != nil {
		t.Fatalf("ack: %v", err)
	}
	quietSTOMP(t, subs[first], quietPeriod, "the consumer that NACKed")
	quietSTOMP(t, subs[other], quietPeriod, "after the ACK")
}

// TestSTOMPTransactions checks that an aborted transaction delivers
// nothing and a committed one delivers its SENDs in order.
func TestSTOMPTransactions(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	pub, sub := dialSTOMP(t, b), dialSTOMP(t, b)
	s := subscribeSTOMP(t, sub, "/queue/tx", stomp.AckAuto)

	tx := pub.Begin()
	for _, body := range []string{"aborted-1", "aborted-2"} {
		if err := tx.Send("/queue/tx", "text/plain", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.AbortWithReceipt(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	// A marker sent after the ABORT is the first and only message: had
	// the aborted SENDs been published, they would come before it.
	sendSTOMP(t, pub, "/queue/tx", "text/plain", []byte("marker"))
	if m := nextSTOMP(t, s, recvTimeout, "marker"); string(m.Body) != "marker" {
		t.Fatalf("first message %q, want the marker: the aborted transaction delivered", m.Body)
	}
	quietSTOMP(t, s, quietPeriod, "after an aborted transaction")

	tx = pub.Begin()
	for _, body := range []string{"c1", "c2"} {
		if err := tx.Send("/queue/tx", "text/plain", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	quietSTOMP(t, s, quietPeriod, "before COMMIT")
	if err := tx.CommitWithReceipt(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	var got []string
	for range 2 {
		got = append(got, string(nextSTOMP(t, s, recvTimeout, "committed message").Body))
	}
	if !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("committed messages %q", got)
	}
}

// TestSTOMPPersistentReceipt checks that a persistent SEND to a queue
// nobody consumes yet gets its RECEIPT, and that the message waits in the
// queue and arrives marked persistent.
func TestSTOMPPersistentReceipt(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	pub := dialSTOMP(t, b)
	start := time.Now()
	err := pub.Send("/queue/durable", "text/plain", []byte("kept"),
		stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Receipt)
	if err != nil {
		t.Fatalf("persistent SEND: no RECEIPT: %v", err)
	}
	t.Logf("RECEIPT after %v", time.Since(start))

	sub := dialSTOMP(t, b)
	s := subscribeSTOMP(t, sub, "/queue/durable", stomp.AckClient)
	m := nextSTOMP(t, s, recvTimeout, "persistent message")
	if string(m.Body) != "kept" || header(t, m, "persistent") != "true" {
		t.Errorf("MESSAGE %q headers %v", m.Body, headerList(m))
	}
	if err := sub.Ack(m); err != nil {
		t.Fatal(err)
	}

	// A SEND the broker refuses gets an ERROR instead of a RECEIPT.
	// The broker closes the connection after the ERROR, so the cleanup's
	// DISCONNECT gets no receipt: do not wait long for it.
	bad := dialSTOMP(t, b, stomp.ConnOpt.DisconnectReceiptTimeout(100*time.Millisecond))
	if err := bad.Send("/nowhere/x", "text/plain", []byte("x"), stomp.SendOpt.Receipt); err == nil {
		t.Fatal("SEND to an invalid destination got a RECEIPT")
	}
}

// TestSTOMPMetricsAndShutdown checks the STOMP series in /metrics and that
// a STOMP session is told "server shutting down" by an ERROR frame when
// the broker stops.
func TestSTOMPMetricsAndShutdown(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	c := dialSTOMP(t, b)
	s := subscribeSTOMP(t, c, "/topic/m", stomp.AckAuto)
	sendSTOMP(t, c, "/topic/m", "", []byte("x"))
	nextSTOMP(t, s, recvTimeout, "message")

	// Series with their least values; the exchange's counters may be
	// folded in asynchronously, so poll briefly.
	want := map[string]float64{
		`rosetta_connections{protocol="stomp"}`:                1,
		`rosetta_stats_source_up{source="stomp"}`:              1,
		`rosetta_messages_in_total{protocol="stomp"}`:          1,
		`rosetta_messages_out_total{protocol="stomp"}`:         1,
		`rosetta_connections_accepted_total{protocol="stomp"}`: 1,
		`rosetta_frames_in_total{protocol="stomp"}`:            4, // CONNECT, SUBSCRIBE, SEND, and more
		`rosetta_frames_out_total{protocol="stomp"}`:           4, // CONNECTED, RECEIPTs, MESSAGE
		`rosetta_bytes_in_total{protocol="stomp"}`:             100,
		`rosetta_bytes_out_total{protocol="stomp"}`:            100,
	}
	var body string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, _, body = b.httpGet(t, "/metrics")
		missing := 0
		for series, least := range want {
			name, label, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
			if v, found := sumSeries(body, name, label); !found || v < least {
				missing++
				if time.Now().After(deadline) {
					t.Errorf("%s = %v (found %v), want >= %v", series, v, found, least)
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	if t.Failed() {
		t.Logf("STOMP series:\n%s", grepLines(body, `"stomp"`))
	}

	code, _ := b.Stop(t, stopTimeout)
	if code != 0 {
		t.Fatalf("exit status %d", code)
	}
	select {
	case m := <-s.C:
		if m == nil || m.Err == nil {
			t.Fatalf("want the ERROR as a subscription error, got %v", m)
		}
		if got := m.Err.Error(); !strings.Contains(got, "server shutting down") {
			t.Errorf("error %q, want the broker's ERROR \"server shutting down\"", got)
		}
	case <-time.After(opTimeout):
		t.Fatal("no ERROR reached the STOMP client at shutdown")
	}
	if !strings.Contains(b.Output(), `msg="shutting down" proto=stomp connections=1`) {
		t.Errorf("no STOMP shutdown line in the broker output")
	}
}

// TestSTOMPTLS checks the stomp_tls listener: it starts when a certificate
// is configured, and a go-stomp client that verifies the certificate
// exchanges a message over it.
func TestSTOMPTLS(t *testing.T) {
	certPEM, keyPEM := selfSignedCert(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for name, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsAddr := freeAddr(t)
	b := startBroker(t, brokerOpts{
		Config: fmt.Sprintf("tls: {cert_file: %q, key_file: %q}\nauth: {allow_anonymous: true}\n", certFile, keyFile),
		Args:   []string{"--stomp-tls", tlsAddr},
	})
	if !strings.Contains(b.Output(), "listener=stomp_tls addr="+tlsAddr) {
		t.Errorf("no listening line for stomp_tls in the broker output")
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	nc, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	c, err := stomp.Connect(nc, stomp.ConnOpt.HeartBeat(0, 0), stomp.ConnOpt.RcvReceiptTimeout(opTimeout),
		stomp.ConnOpt.Logger(quietSTOMPLogger{}))
	if err != nil {
		t.Fatalf("stomp over tls: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect() })
	s := subscribeSTOMP(t, c, "/queue/tls", stomp.AckAuto)
	sendSTOMP(t, c, "/queue/tls", "text/plain", []byte("secret"))
	if m := nextSTOMP(t, s, recvTimeout, "message over TLS"); string(m.Body) != "secret" {
		t.Errorf("body %q", m.Body)
	}
}

// selfSignedCert returns a PEM certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rosetta-it"},
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
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
