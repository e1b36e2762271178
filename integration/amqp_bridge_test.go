package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
	"golang.org/x/crypto/bcrypt"
)

// TestAMQPBridgeMQTT5 is the headline bridge: an MQTT 5 device publishes
// QoS 1 telemetry with its v5 properties, an AMQP application attached to
// a wildcard topic receives it with every field mapped (docs/mapping.md),
// and a command the AMQP application sends reaches the device's MQTT 5
// subscription with its v5 properties.
func TestAMQPBridgeMQTT5(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	s := amqpSession(t, b)
	app := amqpReceiver(t, s, "/topics/devices/+/temp", &goamqp.ReceiverOptions{Credit: 10})

	devID := clientID("dev-42")
	dev := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: devID, CleanStart: true, KeepAlive: 30})
	dev.publish(t, &paho.Publish{Topic: "devices/42/temp", QoS: 1, Payload: []byte(`{"c":21.5}`),
		Properties: &paho.PublishProperties{
			ContentType:     "application/json",
			CorrelationData: []byte("corr-42"),
			ResponseTopic:   "devices/42/replies",
			MessageExpiry:   ptrTo[uint32](60),
			User:            paho.UserProperties{{Key: "unit", Value: "C"}, {Key: "site", Value: "lab"}},
		}})

	m := recvAMQP(t, app, "MQTT telemetry")
	acceptAMQP(t, app, m)
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("body", string(m.GetData()), `{"c":21.5}`)
	if h := m.Header; h == nil || !h.Durable || h.TTL <= 0 || h.TTL > time.Minute {
		t.Errorf("header %+v, want durable (QoS 1) with a ttl of at most 60s", h)
	}
	p := m.Properties
	if p == nil {
		t.Fatal("no properties section")
	}
	check("content-type", deref(p.ContentType), "application/json")
	check("correlation-id", p.CorrelationID, "corr-42") // UTF-8 correlation data: a string
	check("reply-to", deref(p.ReplyTo), "/topics/devices/42/replies")
	check("to", deref(p.To), "/topics/devices/42/temp")
	if exp := deref(p.AbsoluteExpiryTime); exp.Before(time.Now()) || exp.After(time.Now().Add(61*time.Second)) {
		t.Errorf("absolute-expiry-time %v, want within the next 60s", exp)
	}
	check("application property unit", m.ApplicationProperties["unit"], "C")
	check("application property site", m.ApplicationProperties["site"], "lab")
	check("x-origin-protocol", m.Annotations["x-origin-protocol"], "mqtt")
	check("x-origin-client-id", m.Annotations["x-origin-client-id"], devID)
	if _, ok := m.Annotations["x-origin-user"]; ok {
		t.Errorf("x-origin-user %v on an anonymous publish", m.Annotations["x-origin-user"])
	}

	// And back: a command from AMQP to the device.
	dev.subscribe(t, "cmd/42", 1)
	ctl, err := goamqp.Dial(context.Background(), b.AMQPURL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), ContainerID: "ops-console"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	cmd := goamqp.NewMessage([]byte("reboot"))
	cmd.Header = &goamqp.MessageHeader{Durable: true}
	cmd.Properties = &goamqp.MessageProperties{MessageID: "m-1", ContentType: strPtr("text/plain"),
		CorrelationID: "cmd-1", ReplyTo: strPtr("/topics/cmd/42/ack")}
	cmd.ApplicationProperties = map[string]any{"action": "reboot", "delay": int64(5)}
	sendAMQP(t, amqpSender(t, newAMQPSession(t, ctl), "/topics/cmd/42", nil), cmd)

	got := dev.In.nextFor(t, recvTimeout, "AMQP command on cmd/42")
	check("mqtt topic", got.Topic, "cmd/42")
	check("mqtt payload", string(got.Payload), "reboot")
	check("mqtt qos", got.QoS, byte(1)) // durable enters MQTT at QoS 1
	if got.Props == nil {
		t.Fatal("no MQTT 5 properties")
	}
	check("content type", got.Props.ContentType, "text/plain")
	check("correlation data", string(got.Props.CorrelationData), "cmd-1")
	check("response topic", got.Props.ResponseTopic, "cmd/42/ack")
	user := map[string]string{}
	for _, u := range got.Props.User {
		user[u.Key] = u.Value
	}
	for k, want := range map[string]string{
		"action": "reboot", "delay": "5", // typed values arrive as text
		"x-origin-protocol": "amqp", "x-origin-client-id": "ops-console",
	} {
		check("user property "+k, user[k], want)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestAMQPBridgeSTOMP: STOMP headers become AMQP application-properties
// and back, with the mapped headers (content-type, correlation-id,
// reply-to, persistent) in their AMQP places.
func TestAMQPBridgeSTOMP(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	s := amqpSession(t, b)
	sc := dialSTOMP(t, b)

	t.Run("stomp to amqp", func(t *testing.T) {
		r := amqpReceiver(t, s, "/topics/it/s2a", &goamqp.ReceiverOptions{Credit: 10})
		sendSTOMP(t, sc, "/topic/it/s2a", "application/json", []byte(`{"a":1}`),
			stomp.SendOpt.Header("correlation-id", "c-7"), stomp.SendOpt.Header("reply-to", "/queue/answers"),
			stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("unit", "C"))
		m := recvAMQP(t, r, "STOMP SEND")
		acceptAMQP(t, r, m)
		if string(m.GetData()) != `{"a":1}` {
			t.Errorf("body %q", m.GetData())
		}
		if m.Header == nil || !m.Header.Durable {
			t.Errorf("header %+v, want durable (persistent:true)", m.Header)
		}
		p := deref(m.Properties)
		for name, c := range map[string][2]any{
			"content-type":      {deref(p.ContentType), "application/json"},
			"correlation-id":    {p.CorrelationID, "c-7"},
			"reply-to":          {deref(p.ReplyTo), "/queues/answers"},
			"unit":              {m.ApplicationProperties["unit"], "C"},
			"x-origin-protocol": {m.Annotations["x-origin-protocol"], "stomp"},
		} {
			if c[0] != c[1] {
				t.Errorf("%s = %#v, want %#v", name, c[0], c[1])
			}
		}
		for _, k := range []string{"content-type", "correlation-id", "reply-to", "persistent", "destination", "content-length"} {
			if _, ok := m.ApplicationProperties[k]; ok {
				t.Errorf("STOMP header %s also became an application property", k)
			}
		}
	})

	t.Run("amqp to stomp", func(t *testing.T) {
		sub := subscribeSTOMP(t, sc, "/topic/it/a2s", stomp.AckAuto)
		m := goamqp.NewMessage([]byte("hello stomp"))
		m.Properties = &goamqp.MessageProperties{ContentType: strPtr("text/plain"), CorrelationID: "c-8",
			ReplyTo: strPtr("/queues/answers")}
		m.ApplicationProperties = map[string]any{"unit": "K", "count": int64(3)}
		sendAMQP(t, amqpSender(t, s, "/topics/it/a2s", nil), m)
		got := nextSTOMP(t, sub, recvTimeout, "AMQP message")
		if string(got.Body) != "hello stomp" {
			t.Errorf("body %q", got.Body)
		}
		for k, want := range map[string]string{
			"content-type": "text/plain", "correlation-id": "c-8", "reply-to": "/queue/answers",
			"unit": "K", "count": "3", "x-origin-protocol": "amqp",
		} {
			if v := header(t, got, k); v != want {
				t.Errorf("header %s = %q, want %q", k, v, want)
			}
		}
		// The typed count arrived as text: counted.
		waitMetrics(t, b, []string{`rosetta_conversion_lossy_total{field="header-type",from="amqp",to="stomp"} 1`})
	})
}

// TestAMQPRequestReplyFromMQTT5: an MQTT 5 requester publishes with a
// Response Topic and binary Correlation Data; an AMQP responder reads the
// reply-to and correlation-id, attaches a sender to the reply-to address
// and answers; the requester's subscription gets the reply with its
// correlation data byte for byte.
func TestAMQPRequestReplyFromMQTT5(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	service := amqpSession(t, b)
	requests := amqpReceiver(t, service, "/topics/it/svc/time", &goamqp.ReceiverOptions{Credit: 10})

	requester := connectV5(t, b.MQTTAddr, nil)
	replyTopic := "it/replies/" + requester.ClientID()
	requester.subscribe(t, replyTopic, 1)
	corr := []byte{0x01, 0x02, 0xff} // not UTF-8: stays binary
	requester.publish(t, &paho.Publish{Topic: "it/svc/time", QoS: 1, Payload: []byte("what time is it"),
		Properties: &paho.PublishProperties{ResponseTopic: replyTopic, CorrelationData: corr}})

	req := recvAMQP(t, requests, "MQTT request")
	acceptAMQP(t, requests, req)
	p := deref(req.Properties)
	if got := deref(p.ReplyTo); got != "/topics/"+replyTopic {
		t.Fatalf("reply-to %q, want /topics/%s", got, replyTopic)
	}
	if got, ok := p.CorrelationID.([]byte); !ok || !bytes.Equal(got, corr) {
		t.Fatalf("correlation-id %#v, want binary % x", p.CorrelationID, corr)
	}
	resp := goamqp.NewMessage([]byte("noon"))
	resp.Properties = &goamqp.MessageProperties{CorrelationID: p.CorrelationID}
	sendAMQP(t, amqpSender(t, service, *p.ReplyTo, nil), resp)

	got := requester.In.nextFor(t, recvTimeout, "reply")
	if got.Topic != replyTopic || string(got.Payload) != "noon" {
		t.Fatalf("reply %v", got)
	}
	if got.Props == nil || !bytes.Equal(got.Props.CorrelationData, corr) {
		t.Fatalf("reply correlation data %v, want % x", got.Props, corr)
	}
}

// TestAMQPWebSocket: go-amqp over /amqp on the HTTP port exchanges
// messages with a client on the TCP listener.
func TestAMQPWebSocket(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	wc, err := goamqp.NewConn(ctx, dialAMQPWS(t, b), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatalf("amqp over websocket: %v", err)
	}
	t.Cleanup(func() { _ = wc.Close() })
	ws := newAMQPSession(t, wc)
	tcp := amqpSession(t, b)

	sendAMQP(t, amqpSender(t, ws, "/queues/it-ws", nil), goamqp.NewMessage([]byte("over websocket")))
	r := amqpReceiver(t, tcp, "/queues/it-ws", &goamqp.ReceiverOptions{Credit: 10})
	if m := recvAMQP(t, r, "from websocket"); string(m.GetData()) != "over websocket" {
		t.Errorf("got %q", m.GetData())
	} else {
		acceptAMQP(t, r, m)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB: many frames, many WebSocket messages
	sendAMQP(t, amqpSender(t, tcp, "/queues/it-ws-back", nil), goamqp.NewMessage(big))
	rw := amqpReceiver(t, ws, "/queues/it-ws-back", &goamqp.ReceiverOptions{Credit: 10})
	if m := recvAMQP(t, rw, "to websocket"); !bytes.Equal(m.GetData(), big) {
		t.Errorf("got %d bytes, want %d", len(m.GetData()), len(big))
	} else {
		acceptAMQP(t, rw, m)
	}
}

// TestAMQPMetricsAndShutdown: the AMQP series of /metrics, conversion
// losses of AMQP receivers and publishers, and the goodbye at SIGTERM: an
// AMQP close with amqp:connection:forced.
func TestAMQPMetricsAndShutdown(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	conn := dialAMQP(t, b, nil)
	s := newAMQPSession(t, conn)
	r := amqpReceiver(t, s, "/topics/it/m/#", &goamqp.ReceiverOptions{Credit: 10})

	// MQTT's payload format indicator has no AMQP counterpart.
	mq := connectV5(t, b.MQTTAddr, nil)
	mq.publish(t, &paho.Publish{Topic: "it/m/mqtt", QoS: 0, Payload: []byte("text"),
		Properties: &paho.PublishProperties{PayloadFormat: ptrTo[byte](1)}})
	acceptAMQP(t, r, recvAMQP(t, r, "from MQTT"))
	// A message annotation without the x- prefix has no canonical field.
	m := goamqp.NewMessage([]byte("annotated"))
	m.Annotations = goamqp.Annotations{"vendor-note": "dropped"}
	sendAMQP(t, amqpSender(t, s, "/topics/it/m/amqp", nil), m)
	acceptAMQP(t, r, recvAMQP(t, r, "from AMQP"))

	body := waitMetrics(t, b, []string{
		`rosetta_conversion_lossy_total{field="payload-format",from="mqtt",to="amqp"} 1`,
		`rosetta_conversion_lossy_total{field="message-annotations",from="amqp",to="core"} 1`,
		`rosetta_connections{protocol="amqp"} 1`,
		`rosetta_stats_source_up{source="amqp"} 1`,
		`rosetta_messages_in_total{protocol="amqp"} 1`,
		`rosetta_messages_out_total{protocol="amqp"} 2`,
	})
	for series, least := range map[string]float64{
		`rosetta_connections_accepted_total{protocol="amqp"}`: 1,
		`rosetta_frames_in_total{protocol="amqp"}`:            6, // open, begin, two attaches, flow, transfer, dispositions
		`rosetta_frames_out_total{protocol="amqp"}`:           6,
		`rosetta_bytes_in_total{protocol="amqp"}`:             100,
		`rosetta_bytes_out_total{protocol="amqp"}`:            100,
	} {
		name, label, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		if v, found := sumSeries(body, name, label); !found || v < least {
			t.Errorf("%s = %v (found %v), want >= %v", series, v, found, least)
		}
	}
	for _, series := range []string{`rosetta_protocol_errors_total{protocol="amqp"}`, `rosetta_slow_consumers_total{protocol="amqp"}`} {
		name, label, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		if _, found := sumSeries(body, name, label); !found {
			t.Errorf("%s missing", series)
		}
	}

	code, _ := b.Stop(t, stopTimeout)
	if code != 0 {
		t.Fatalf("exit status %d", code)
	}
	select {
	case <-conn.Done():
	case <-time.After(opTimeout):
		t.Fatal("the AMQP connection was not closed at shutdown")
	}
	var ce *goamqp.ConnError
	if err := conn.Err(); !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondConnectionForced {
		t.Errorf("connection ended with %v, want a close with %s", err, goamqp.ErrCondConnectionForced)
	}
	if !strings.Contains(b.Output(), `msg="shutting down" proto=amqp connections=1`) {
		t.Errorf("no AMQP shutdown line in the broker output")
	}
}

// TestAMQPTLSExternal: the amqp_tls listener with a client CA. A client
// whose certificate names a configured user authenticates with SASL
// EXTERNAL and its messages carry that user; a certificate naming nobody
// configured is refused, and so is a plain connection's EXTERNAL.
func TestAMQPTLSExternal(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("device-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := freeAddr(t)
	cfg := fmt.Sprintf(`tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
auth:
  users:
    - {name: device-7, password_hash: %q}
`, write("server.pem", pki.serverPEM), write("server.key", pki.serverKey), write("ca.pem", pki.caPEM), hash)
	b := startBroker(t, brokerOpts{Config: cfg, Args: []string{"--amqp-tls", tlsAddr}})
	if !strings.Contains(b.Output(), "listener=amqp_tls addr="+tlsAddr) {
		t.Errorf("no listening line for amqp_tls in the broker output")
	}
	dial := func(cert tls.Certificate) (*goamqp.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		return goamqp.Dial(ctx, "amqps://"+tlsAddr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeExternal(""),
			TLSConfig: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"}})
	}

	c, err := dial(pki.client("device-7"))
	if err != nil {
		t.Fatalf("EXTERNAL with device-7's certificate: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := newAMQPSession(t, c)
	sendAMQP(t, amqpSender(t, s, "/queues/it-tls", nil), goamqp.NewMessage([]byte("signed")))
	r := amqpReceiver(t, s, "/queues/it-tls", &goamqp.ReceiverOptions{Credit: 1})
	m := recvAMQP(t, r, "over TLS")
	acceptAMQP(t, r, m)
	if u := m.Annotations["x-origin-user"]; u != "device-7" || string(m.GetData()) != "signed" {
		t.Errorf("got %q from user %v, want device-7", m.GetData(), u)
	}

	if c, err := dial(pki.client("stranger")); err == nil {
		_ = c.Close()
		t.Error("EXTERNAL with a certificate of no configured user was accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if c, err := goamqp.Dial(ctx, b.AMQPURL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeExternal("")}); err == nil {
		_ = c.Close()
		t.Error("EXTERNAL without TLS was accepted")
	}
	// PLAIN still works on the plain listener.
	pc := dialAMQP(t, b, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("device-7", "device-pw")})
	newAMQPSession(t, pc)
}

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates on demand.
type testPKI struct {
	caPEM, serverPEM, serverKey []byte
	pool                        *x509.CertPool
	ca                          *x509.Certificate
	caKey                       *ecdsa.PrivateKey
	serial                      int64 // of the last certificate issued
	t                           *testing.T
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{t: t, pool: x509.NewCertPool()}
	p.caKey = genKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rosetta-it-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(p.ca)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, key := p.issue("127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.serverPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p.serverKey = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return p
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *testPKI) issue(cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	key := genKey(p.t)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial + 100), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return der, key
}

// client returns a client certificate whose Common Name is cn.
func (p *testPKI) client(cn string) tls.Certificate {
	der, key := p.issue(cn, x509.ExtKeyUsageClientAuth)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
