package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

const (
	opTimeout   = 5 * time.Second
	recvTimeout = 10 * time.Second
	quietPeriod = 300 * time.Millisecond
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testAuth is an in-test auth.Service: the user "bad" and any password
// "wrong" fail; "anon-only" refuses clients without a user name; a first
// address level "denied" may not be published to, and a filter inside
// "forbidden/#" may not be subscribed to.
type testAuth struct {
	noAnonymous bool
}

func (a testAuth) Authenticate(_ context.Context, c auth.Credentials) (auth.Identity, error) {
	if !c.HasUsername && c.Username == "" {
		if a.noAnonymous {
			return auth.Identity{}, auth.ErrAnonymous
		}
		return auth.Identity{Anonymous: true, ClientID: c.ClientID}, nil
	}
	if c.Username == "bad" || string(c.Password) == "wrong" {
		return auth.Identity{}, auth.ErrBadCredentials
	}
	return auth.Identity{User: c.Username, ClientID: c.ClientID}, nil
}

func (testAuth) Authorize(_ auth.Identity, action auth.Action, p address.Pattern) bool {
	switch action {
	case auth.Publish:
		return len(p) == 0 || p[0] != "denied"
	case auth.Subscribe:
		return !address.MustParseFilter("forbidden/#").Covers(p)
	}
	return false
}

// broker is a front-end on 127.0.0.1:0 with a real exchange.
type broker struct {
	srv  *Server
	x    *exchange.Exchange
	addr string
	errc chan error
}

type brokerOpt func(*Config)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MQTT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startBroker(t testing.TB, opts ...brokerOpt) *broker {
	t.Helper()
	ctx := context.Background()
	x, err := exchange.New(ctx, exchange.Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	cfg := Config{Exchange: x, Auth: testAuth{}, Logger: testLogger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{srv: srv, x: x, addr: l.Addr().String(), errc: make(chan error, 1)}
	go func() { b.errc <- srv.Serve(l) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

var stopped atomic.Int64

// stop shuts the front-end and the exchange down; Serve must return
// ErrServerClosed.
func (b *broker) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-b.errc:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Serve did not return after Shutdown")
	default:
		// already collected by an earlier stop
	}
	if err := b.x.Close(ctx); err != nil && !errors.Is(err, exchange.ErrClosed) {
		t.Errorf("exchange Close: %v", err)
	}
	stopped.Add(1)
}

var idSeq atomic.Int64

func clientID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, idSeq.Add(1))
}

// msg is a received message, protocol-neutral.
type msg struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Dup     bool
	Props   *paho.PublishProperties
}

func (m msg) String() string {
	return fmt.Sprintf("{%s %q q%d r%v}", m.Topic, m.Payload, m.QoS, m.Retain)
}

// inbox collects received messages.
type inbox struct{ ch chan msg }

func newInbox(n int) *inbox { return &inbox{ch: make(chan msg, n)} }

func (in *inbox) next(t testing.TB, d time.Duration) msg {
	t.Helper()
	select {
	case m := <-in.ch:
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
		return msg{}
	}
}

func (in *inbox) collect(t testing.TB, n int, d time.Duration) []msg {
	t.Helper()
	out := make([]msg, 0, n)
	deadline := time.After(d)
	for len(out) < n {
		select {
		case m := <-in.ch:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("got %d of %d messages within %v: %v", len(out), n, d, out)
		}
	}
	return out
}

func (in *inbox) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.ch:
		t.Errorf("unexpected message %v", m)
	case <-time.After(d):
	}
}

// v5client is a paho.golang MQTT 5 client.
type v5client struct {
	*paho.Client
	In          *inbox
	Connack     *paho.Connack
	Disconnects chan *paho.Disconnect
	conn        net.Conn
}

func dialTCP(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectV5 connects an MQTT 5 client; cp nil means a clean session with
// a fresh client identifier.
func connectV5(t testing.TB, addr string, cp *paho.Connect) *v5client {
	t.Helper()
	c, ca, err := connectV5Conn(t, dialTCP(t, addr), cp)
	if err != nil {
		t.Fatalf("v5 connect: %v (connack %+v)", err, ca)
	}
	return c
}

func connectV5Conn(t testing.TB, conn net.Conn, cp *paho.Connect) (*v5client, *paho.Connack, error) {
	t.Helper()
	if cp == nil {
		cp = &paho.Connect{ClientID: clientID("v5"), CleanStart: true, KeepAlive: 30}
	}
	c := &v5client{In: newInbox(1024), Disconnects: make(chan *paho.Disconnect, 1), conn: conn}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			c.In.ch <- msg{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Props: p.Properties}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.Disconnects <- d:
			default:
			}
		},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	c.Connack = ca
	if err != nil {
		_ = conn.Close()
		return nil, ca, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, c)
	})
	return c, ca, nil
}

func waitDone(t testing.TB, c *v5client) {
	select {
	case <-c.Done():
	case <-time.After(opTimeout):
		_ = c.conn.Close()
		<-c.Done()
	}
}

func (c *v5client) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	sa := c.subscribeOpts(t, paho.SubscribeOptions{Topic: filter, QoS: qos})
	if len(sa.Reasons) != 1 || sa.Reasons[0] != qos {
		t.Fatalf("subscribe %s: reasons %#x", filter, sa.Reasons)
	}
}

func (c *v5client) subscribeOpts(t testing.TB, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	if sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sa
}

func (c *v5client) publish(t testing.TB, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := c.Publish(ctx, p)
	if err != nil && resp == nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	return resp
}

// v3 clients (paho.mqtt.golang).

func v3Options(url, id string) *pahov3.ClientOptions {
	return pahov3.NewClientOptions().AddBroker(url).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).SetConnectTimeout(opTimeout)
}

func connectV3(t testing.TB, opts *pahov3.ClientOptions) pahov3.Client {
	t.Helper()
	c := pahov3.NewClient(opts)
	tok := c.Connect()
	waitV3(t, tok, "connect")
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c
}

func waitV3(t testing.TB, tok pahov3.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(opTimeout) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func v3Handler(in *inbox) pahov3.MessageHandler {
	return func(_ pahov3.Client, m pahov3.Message) {
		in.ch <- msg{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate()}
	}
}

func subscribeV3(t testing.TB, c pahov3.Client, filter string, qos byte, in *inbox) {
	t.Helper()
	waitV3(t, c.Subscribe(filter, qos, v3Handler(in)), "subscribe "+filter)
}

func publishV3(t testing.TB, c pahov3.Client, topic string, qos byte, retain bool, payload []byte) {
	t.Helper()
	waitV3(t, c.Publish(topic, qos, retain, payload), "publish "+topic)
}

func tcpURL(addr string) string { return "tcp://" + addr }

// publishCore publishes straight into the exchange, as another protocol
// would.
func publishCore(t testing.TB, x *exchange.Exchange, m *message.Message) {
	t.Helper()
	if _, err := x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatalf("core publish: %v", err)
	}
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }
