package mqtt

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/exchange/exchangetest"
	"github.com/rosettamq/rosetta/storage/memory"
)

// startBrokerX is startBroker with an exchange configuration.
func startBrokerX(t testing.TB, xcfg exchange.Config) *broker {
	t.Helper()
	xcfg.Logger = testLogger(t)
	x, err := exchange.New(context.Background(), xcfg)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	srv, err := New(Config{Exchange: x, Auth: testAuth{}, Logger: testLogger(t)})
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

// subscribeAccept sends one SUBSCRIBE with an accept user property ("" for
// none) and returns its reason codes.
func (c *v5client) subscribeAccept(t testing.TB, accept string, opts ...paho.SubscribeOptions) []byte {
	t.Helper()
	s := &paho.Subscribe{Subscriptions: opts}
	if accept != "" {
		s.Properties = &paho.SubscribeProperties{User: paho.UserProperties{{Key: "accept", Value: accept}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, s)
	if sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sa.Reasons
}

func contentType(m msg) string {
	if m.Props == nil {
		return ""
	}
	return m.Props.ContentType
}

// TestAcceptFanOut: in one fan-out, a subscriber that asked for text/upper
// gets the transformed message and one that asked for nothing the
// published bytes. Within a session whose subscriptions overlap, the
// accept of the subscription granting the higher QoS applies.
func TestAcceptFanOut(t *testing.T) {
	b := startBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}})
	up := connectV5(t, b.addr, nil)
	if r := up.subscribeAccept(t, "text/upper", paho.SubscribeOptions{Topic: "fmt/#", QoS: 1}); r[0] != 1 {
		t.Fatalf("suback %#x", r)
	}
	plain := connectV5(t, b.addr, nil)
	plain.subscribe(t, "fmt/#", 1)
	// Overlapping subscriptions: the QoS 1 one's accept wins.
	hiUp := connectV5(t, b.addr, nil)
	hiUp.subscribeAccept(t, "text/upper", paho.SubscribeOptions{Topic: "fmt/+", QoS: 1})
	hiUp.subscribe(t, "fmt/#", 0)
	hiPlain := connectV5(t, b.addr, nil)
	hiPlain.subscribeAccept(t, "text/upper", paho.SubscribeOptions{Topic: "fmt/+", QoS: 0})
	hiPlain.subscribe(t, "fmt/#", 1)

	pub := connectV5(t, b.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "fmt/x", QoS: 1, Payload: []byte("hello"),
		Properties: &paho.PublishProperties{ContentType: "text/plain", User: paho.UserProperties{{Key: "k", Value: "v"}}}})

	for _, tc := range []struct {
		name       string
		c          *v5client
		body, ctyp string
	}{
		{"accept", up, "HELLO", "text/upper"},
		{"plain", plain, "hello", "text/plain"},
		{"overlap, accept on the higher QoS", hiUp, "HELLO", "text/upper"},
		{"overlap, none on the higher QoS", hiPlain, "hello", "text/plain"},
	} {
		m := tc.c.In.next(t, recvTimeout)
		if string(m.Payload) != tc.body || contentType(m) != tc.ctyp || m.QoS != 1 {
			t.Errorf("%s: %v content type %q", tc.name, m, contentType(m))
		}
		if m.Props == nil || m.Props.User.Get("k") != "v" {
			t.Errorf("%s: user properties %+v", tc.name, m.Props)
		}
		tc.c.In.quiet(t, quietPeriod/10)
	}
}

// TestAcceptUnknownFormat: a SUBSCRIBE asking for a format nobody can
// produce gets 0x83 for each of its filters (MQTT 5 §3.9.3), and the
// filters are not subscribed; the session goes on.
func TestAcceptUnknownFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		xcfg exchange.Config
	}{
		{"unknown to the transformer", exchange.Config{Transformer: exchangetest.UpperTransformer{}}},
		{"no transformer", exchange.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBrokerX(t, tc.xcfg)
			c := connectV5(t, b.addr, nil)
			accept := "application/klingon"
			if tc.xcfg.Transformer == nil {
				accept = "text/upper"
			}
			r := c.subscribeAccept(t, accept,
				paho.SubscribeOptions{Topic: "fmt/#", QoS: 1}, paho.SubscribeOptions{Topic: "$queue/fmtq", QoS: 1})
			if len(r) != 2 || r[0] != 0x83 || r[1] != 0x83 {
				t.Fatalf("suback %#x, want 0x83 0x83", r)
			}
			if _, ok := b.x.Queue("fmtq"); ok {
				t.Error("queue fmtq was created")
			}
			c.publish(t, &paho.Publish{Topic: "fmt/x", QoS: 1, Payload: []byte("x")})
			c.In.quiet(t, quietPeriod)
			c.subscribe(t, "fmt/#", 1)
			c.publish(t, &paho.Publish{Topic: "fmt/x", QoS: 1, Payload: []byte("y")})
			if m := c.In.next(t, recvTimeout); string(m.Payload) != "y" {
				t.Fatalf("got %v", m)
			}
		})
	}
}

// TestAcceptTransformFailure: a failing transformation dead-letters the
// message (reason transform) and a dropping one settles it; either way
// nothing is sent and no inflight slot or credit is kept: with Receive
// Maximum 1 the subscriber still gets every later message.
func TestAcceptTransformFailure(t *testing.T) {
	b := startBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}})
	dead := exchangetest.ConsumeDeadLetters(t, b.x)
	one := uint16(1)
	id := clientID("fail")
	c := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &one}})
	if r := c.subscribeAccept(t, "text/upper", paho.SubscribeOptions{Topic: "fmt/#", QoS: 1}); r[0] != 1 {
		t.Fatalf("suback %#x", r)
	}
	pub := connectV5(t, b.addr, nil)
	bodies := []string{"!a", "-b", "c", "!d", "-e", "f"}
	for _, body := range bodies {
		pub.publish(t, &paho.Publish{Topic: "fmt/x", QoS: 1, Payload: []byte(body)})
	}
	for _, want := range []string{"C", "F"} {
		if m := c.In.next(t, recvTimeout); string(m.Payload) != want {
			t.Fatalf("got %v, want %q", m, want)
		}
	}
	c.In.quiet(t, quietPeriod)
	dl := dead.Wait(t, 2)
	for _, m := range dl {
		d := m.Annotations.DeadLetter
		if d == nil || d.Reason != "transform" || !strings.HasPrefix(string(m.Body), "!") || !strings.Contains(d.Detail, "shout") {
			t.Errorf("dead letter %q: %+v", m.Body, d)
		}
	}
	b.srv.mu.Lock()
	ss := b.srv.sessions[id]
	b.srv.mu.Unlock()
	if ss == nil {
		t.Fatal("no session")
	}
	ss.mu.Lock()
	inflight, pending := len(ss.inflight), len(ss.pending)
	ss.mu.Unlock()
	if inflight != 0 || pending != 0 {
		t.Errorf("%d in flight, %d pending", inflight, pending)
	}
}

// TestAcceptPersists: a persistent session's subscription keeps its
// accept across a broker restart (session record).
func TestAcceptPersists(t *testing.T) {
	store := memory.New()
	b1 := startBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}, Store: store})
	id := clientID("accept-persist")
	expiry := uint32(3600)
	cp := func(clean bool) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	}
	c1 := connectV5(t, b1.addr, cp(true))
	if r := c1.subscribeAccept(t, "text/upper", paho.SubscribeOptions{Topic: "fmt/#", QoS: 1}); r[0] != 1 {
		t.Fatalf("suback %#x", r)
	}
	_ = c1.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c1)
	b1.stop(t)

	b2 := startBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}, Store: store})
	pub := connectV5(t, b2.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "fmt/x", QoS: 1, Payload: []byte("while away")})
	c2 := connectV5(t, b2.addr, cp(false))
	if m := c2.In.next(t, recvTimeout); string(m.Payload) != "WHILE AWAY" || contentType(m) != "text/upper" {
		t.Fatalf("after the restart: %v content type %q", m, contentType(m))
	}
}
