package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// Client-side bounds.
const (
	opTimeout   = 5 * time.Second        // connect, subscribe, publish acknowledgement
	recvTimeout = 5 * time.Second        // waiting for an expected message
	quietPeriod = 300 * time.Millisecond // how long "nothing more arrives" is watched
)

var clientSeq atomic.Int64

// clientID returns a unique client identifier of at most 23 characters
// (the length every MQTT 3.1.1 server must accept, MQTT-3.1.3-5).
func clientID(role string) string {
	if len(role) > 14 {
		role = role[:14]
	}
	return fmt.Sprintf("%s-%d", role, clientSeq.Add(1))
}

// msg is one application message received by a client, whatever the
// client library.
type msg struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Dup     bool
	Props   *paho.PublishProperties // MQTT 5 only; nil for 3.1.1
}

func (m msg) String() string {
	return fmt.Sprintf("%s q%d r=%v %q", m.Topic, m.QoS, m.Retain, m.Payload)
}

// inbox collects the messages a client receives.
type inbox struct{ ch chan msg }

func newInbox(capacity int) *inbox { return &inbox{ch: make(chan msg, capacity)} }

// put is called from the client library's callback. It blocks when the
// inbox is full, which applies back-pressure to the client as a slow
// application would.
func (in *inbox) put(m msg) { in.ch <- m }

// next returns the next message or fails the test after timeout.
func (in *inbox) next(t *testing.T, timeout time.Duration) msg {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %v", timeout)
		return msg{}
	}
}

// nextFor is next with a description of the awaited message for the
// failure.
func (in *inbox) nextFor(t *testing.T, timeout time.Duration, what string) msg {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("%s: no message within %v", what, timeout)
		return msg{}
	}
}

// collect returns exactly n messages or fails, listing what did arrive.
func (in *inbox) collect(t *testing.T, n int, timeout time.Duration) []msg {
	t.Helper()
	var got []msg
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m := <-in.ch:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("got %d of %d messages within %v: %v", len(got), n, timeout, got)
		}
	}
	return got
}

// quiet fails the test if any message arrives within d.
func (in *inbox) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.ch:
		t.Errorf("unexpected extra message: %v", m)
	case <-time.After(d):
	}
}

// ---- paho.mqtt.golang (MQTT 3.1.1) ----

// v3Options returns paho v3 options with no retries, so a failure shows up
// at once instead of being papered over by a reconnect.
func v3Options(brokerURL, id string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID(id).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(opTimeout).
		SetWriteTimeout(opTimeout).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true)
}

// connectV3 connects a paho v3 client and disconnects it on cleanup.
func connectV3(t *testing.T, opts *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(opTimeout) {
		t.Fatalf("v3 connect %s: no CONNACK within %v", opts.ClientID, opTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("v3 connect %s: %v", opts.ClientID, err)
	}
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c
}

// v3Handler puts every message into in.
func v3Handler(in *inbox) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		in.put(msg{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...),
			QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate()})
	}
}

// subscribeV3 subscribes and checks the granted QoS.
func subscribeV3(t *testing.T, c mqtt.Client, filter string, qos byte, in *inbox) {
	t.Helper()
	tok := c.Subscribe(filter, qos, v3Handler(in))
	waitV3(t, tok, "subscribe "+filter)
	got := tok.(*mqtt.SubscribeToken).Result()[filter]
	if got != qos {
		t.Fatalf("v3 SUBACK for %q: return code 0x%02x, want granted QoS %d", filter, got, qos)
	}
}

// publishV3 publishes and waits for the acknowledgement (for QoS 0, for
// the write).
func publishV3(t *testing.T, c mqtt.Client, topic string, qos byte, retain bool, payload []byte) {
	t.Helper()
	waitV3(t, c.Publish(topic, qos, retain, payload), "publish "+topic)
}

func waitV3(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(opTimeout) {
		t.Fatalf("v3 %s: not done within %v", what, opTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("v3 %s: %v", what, err)
	}
}

// ---- eclipse/paho.golang (MQTT 5) ----

// v5client is a paho.golang client with what the tests observe of it.
type v5client struct {
	*paho.Client
	Conn        net.Conn
	In          *inbox
	Disconnects chan *paho.Disconnect // DISCONNECT packets sent by the server
	Connack     *paho.Connack
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newV5 creates a paho.golang client on conn whose messages go to an inbox
// of the given capacity.
func newV5(conn net.Conn, capacity int) *v5client {
	v := &v5client{Conn: conn, In: newInbox(capacity), Disconnects: make(chan *paho.Disconnect, 1)}
	v.Client = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: opTimeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				v.In.put(msg{Topic: p.Topic, Payload: append([]byte(nil), p.Payload...),
					QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate(), Props: p.Properties})
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case v.Disconnects <- d:
			default:
			}
		},
		OnClientError: func(error) {},
	})
	return v
}

// connectV5 dials addr over TCP, connects with cp and disconnects on
// cleanup; a nil cp means a clean start with a fresh client ID.
func connectV5(t *testing.T, addr string, cp *paho.Connect) *v5client {
	t.Helper()
	return connectV5Conn(t, dialTCP(t, addr), cp)
}

// connectV5Conn connects a v5 client over an established conn (TCP or
// WebSocket).
func connectV5Conn(t *testing.T, conn net.Conn, cp *paho.Connect) *v5client {
	t.Helper()
	if cp == nil {
		cp = &paho.Connect{ClientID: clientID("v5"), CleanStart: true, KeepAlive: 30}
	}
	v := newV5(conn, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ca, err := v.Connect(ctx, cp)
	if err != nil {
		code := -1
		if ca != nil {
			code = int(ca.ReasonCode)
		}
		t.Fatalf("v5 connect %s: %v (CONNACK reason %#x)", cp.ClientID, err, code)
	}
	v.Connack = ca
	t.Cleanup(func() {
		select {
		case <-v.Done():
		default:
			_ = v.Disconnect(&paho.Disconnect{ReasonCode: 0})
		}
	})
	return v
}

// waitDone waits for the client to have shut down after a Disconnect.
func waitDone(t *testing.T, v *v5client) {
	t.Helper()
	select {
	case <-v.Done():
	case <-time.After(opTimeout):
		t.Fatalf("v5 client %s not shut down %v after DISCONNECT", v.ClientID(), opTimeout)
	}
}

// subscribe subscribes one filter and checks the SUBACK grants qos.
func (v *v5client) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sa, err := v.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("v5 subscribe %q: %v", filter, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] != qos {
		t.Fatalf("v5 SUBACK for %q: reasons %#x, want [%#x]", filter, sa.Reasons, qos)
	}
}

// publish publishes and checks the acknowledgement is a success.
func (v *v5client) publish(t *testing.T, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := v.Publish(ctx, p)
	if err != nil {
		t.Fatalf("v5 publish %s q%d: %v", p.Topic, p.QoS, err)
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		t.Fatalf("v5 publish %s q%d: reason %#x", p.Topic, p.QoS, resp.ReasonCode)
	}
}

// ---- MQTT over WebSocket ----

// dialWS opens a WebSocket to the broker's /mqtt endpoint offering the
// "mqtt" subprotocol (MQTT-6.0.0-3) and returns it as a net.Conn carrying
// binary frames (MQTT-6.0.0-1).
func dialWS(t *testing.T, wsURL string) net.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: opTimeout, Subprotocols: []string{"mqtt"}}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("websocket dial %s: %v %s", wsURL, err, status)
	}
	// MQTT-6.0.0-4: the subprotocol the server selects must be "mqtt".
	if got := ws.Subprotocol(); got != "mqtt" {
		t.Errorf("websocket subprotocol = %q, want \"mqtt\" (MQTT-6.0.0-4)", got)
	}
	c := &wsConn{ws: ws}
	t.Cleanup(func() { c.Close() })
	return c
}

// wsConn adapts a gorilla WebSocket to net.Conn: reads run across message
// boundaries (MQTT packets need not be aligned with frames, MQTT-6.0.0-2)
// and each Write is one binary message, so paho.golang's packets, written
// piecewise, arrive split over several frames, which the broker must
// accept.
//
// paho.golang writes from several goroutines (acknowledgements, pings,
// publishes). It holds a sync.Locker writer for the whole of a packet
// (packets.ControlPacket.WriteTo), so wsConn implements Lock and Unlock;
// without that, two packets' pieces interleave on the wire.
type wsConn struct {
	ws *websocket.Conn

	rmu sync.Mutex
	r   io.Reader // guarded by rmu: the current message, nil between messages

	pmu sync.Mutex // held by paho.golang for a whole packet (Lock, Unlock)
	wmu sync.Mutex // serializes the frames themselves, which gorilla requires
}

var _ sync.Locker = (*wsConn)(nil)

// Lock is called by paho.golang before it writes the pieces of a packet.
func (c *wsConn) Lock() { c.pmu.Lock() }

// Unlock is called by paho.golang after the last piece of a packet.
func (c *wsConn) Unlock() { c.pmu.Unlock() }

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: got message type %d, MQTT needs binary frames (MQTT-6.0.0-1)", typ)
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

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error                       { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(d time.Time) error  { return c.ws.SetReadDeadline(d) }
func (c *wsConn) SetWriteDeadline(d time.Time) error { return c.ws.SetWriteDeadline(d) }
func (c *wsConn) SetDeadline(d time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(d), c.ws.SetWriteDeadline(d))
}

// netConnBox is a paho v3 OpenConnectionFunc that keeps the net.Conn it
// dials, so a test can drop the connection under the client.
type netConnBox struct {
	mu sync.Mutex
	c  net.Conn // guarded by mu
}

func (b *netConnBox) dial(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", uri.Host, opTimeout)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.c = c
	b.mu.Unlock()
	return c, nil
}

// close closes the TCP connection without any MQTT DISCONNECT.
func (b *netConnBox) close(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		t.Fatal("no connection was dialed")
	}
	_ = b.c.Close()
}
