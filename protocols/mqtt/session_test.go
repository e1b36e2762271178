package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// TestReceiveMaximum checks no more QoS 1 PUBLISH packets than the
// client's Receive Maximum are in flight (MQTT-3.3.4-9), and that each
// PUBACK lets the next one go, in order.
func TestReceiveMaximum(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connectWith(t, 5, clientID("rm"), true, []byte{0x03, 0x21, 0x00, 0x02}) // Receive Maximum 2
	c.subscribe(t, "rm/x", 1)
	pub := connectV5(t, b.addr, nil)
	const n = 6
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: "rm/x", QoS: 1, Payload: []byte{byte('a' + i)}})
	}
	var got []rawPublish
	for range 2 {
		got = append(got, parsePublish5(t, c.read(t)))
	}
	if _, err := c.readTimeout(quietPeriod); !isTimeout(err) {
		t.Fatalf("a third PUBLISH beyond Receive Maximum 2 (or error %v)", err)
	}
	for len(got) < n {
		c.puback(t, got[len(got)-2].id)
		got = append(got, parsePublish5(t, c.read(t)))
	}
	for i, p := range got {
		if p.qos != 1 || string(p.payload) != string(rune('a'+i)) {
			t.Errorf("publish %d: %+v", i, p)
		}
	}
}

// TestTopicAliasOutbound checks the server uses topic aliases toward a
// client that allows them: the topic is sent once, then only the alias.
func TestTopicAliasOutbound(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connectWith(t, 5, clientID("ta"), true, []byte{0x03, 0x22, 0x00, 0x05}) // Topic Alias Maximum 5
	c.subscribe(t, "ta/+", 0)
	pub := connectV5(t, b.addr, nil)
	for _, topic := range []string{"ta/x", "ta/x", "ta/y"} {
		pub.publish(t, &paho.Publish{Topic: topic, QoS: 0, Payload: []byte(topic)})
	}
	p1, p2, p3 := parsePublish5(t, c.read(t)), parsePublish5(t, c.read(t)), parsePublish5(t, c.read(t))
	if p1.topic != "ta/x" || p1.alias == 0 {
		t.Errorf("first: %+v, want topic and alias", p1)
	}
	if p2.topic != "" || p2.alias != p1.alias || string(p2.payload) != "ta/x" {
		t.Errorf("second: %+v, want alias %d only", p2, p1.alias)
	}
	if p3.topic != "ta/y" || p3.alias == p1.alias {
		t.Errorf("third: %+v", p3)
	}
}

// TestTakeover connects twice with one client identifier: the first
// connection is closed (MQTT-3.1.4-3), a persistent session moves to the
// new connection with its subscriptions, and a clean start drops them.
func TestTakeover(t *testing.T) {
	b := startBroker(t)
	pub := connectV5(t, b.addr, nil)

	t.Run("persistent", func(t *testing.T) {
		id := clientID("take")
		lost := make(chan error, 1)
		c1 := connectV3(t, v3Options(tcpURL(b.addr), id).SetCleanSession(false).
			SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err }))
		subscribeV3(t, c1, "take/x", 1, newInbox(1))
		in := newInbox(8)
		c2 := pahov3.NewClient(v3Options(tcpURL(b.addr), id).SetCleanSession(false).SetDefaultPublishHandler(v3Handler(in)))
		tok := c2.Connect()
		waitV3(t, tok, "second connect")
		t.Cleanup(func() { c2.Disconnect(100) })
		if !tok.(*pahov3.ConnectToken).SessionPresent() {
			t.Errorf("session present = 0 on takeover of a persistent session")
		}
		select {
		case <-lost:
		case <-time.After(recvTimeout):
			t.Fatal("first connection not closed by the takeover")
		}
		pub.publish(t, &paho.Publish{Topic: "take/x", QoS: 1, Payload: []byte("after")})
		if m := in.next(t, recvTimeout); string(m.Payload) != "after" {
			t.Errorf("got %v on the new connection", m)
		}
		in.quiet(t, quietPeriod)
	})

	t.Run("clean start drops the session", func(t *testing.T) {
		id := clientID("take-clean")
		expiry := uint32(60)
		c1 := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		c1.subscribe(t, "takec/x", 1)
		c2 := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		if c2.Connack.SessionPresent {
			t.Errorf("session present after a clean start")
		}
		pub.publish(t, &paho.Publish{Topic: "takec/x", QoS: 1, Payload: []byte("x")})
		c2.In.quiet(t, quietPeriod)
		if qs, ok := b.x.Queue(sessionQueue(id)); ok && len(qs.Bindings) != 0 {
			t.Errorf("the new session's queue has bindings %v", qs.Bindings)
		}
	})
}

// TestSessionExpiry checks a persistent session's queue is deleted when
// its expiry interval passes while the client is away.
func TestSessionExpiry(t *testing.T) {
	b := startBroker(t)
	id := clientID("expire")
	expiry := uint32(1)
	c := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	c.subscribe(t, "exp/x", 1)
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c)
	if _, ok := b.x.Queue(sessionQueue(id)); !ok {
		t.Fatalf("queue gone right after disconnect; it must outlive the connection")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := b.x.Queue(sessionQueue(id)); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue of an expired session still there")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUnsubscribe(t *testing.T) {
	b := startBroker(t)
	c := connectV5(t, b.addr, nil)
	c.subscribe(t, "u/a", 1)
	c.subscribe(t, "$share/g/u/b", 1)
	pub := connectV5(t, b.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "u/a", QoS: 1, Payload: []byte("1")})
	pub.publish(t, &paho.Publish{Topic: "u/b", QoS: 1, Payload: []byte("2")})
	c.In.collect(t, 2, recvTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"u/a", "$share/g/u/b", "u/none"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(ua.Reasons) != string([]byte{0x00, 0x00, 0x11}) {
		t.Errorf("UNSUBACK %#x", ua.Reasons)
	}
	pub.publish(t, &paho.Publish{Topic: "u/a", QoS: 1, Payload: []byte("3")})
	pub.publish(t, &paho.Publish{Topic: "u/b", QoS: 1, Payload: []byte("4")})
	c.In.quiet(t, quietPeriod)
	if _, ok := b.x.Queue("$share/g/u/b"); ok {
		t.Errorf("shared queue kept after its last member left")
	}
}

// TestConnectionLimit checks MaxConnections refuses the next client.
func TestConnectionLimit(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.MaxConnections = 1 })
	connectV5(t, b.addr, nil)
	_, ca, err := connectV5Conn(t, dialTCP(t, b.addr), nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x89 {
		t.Errorf("second client: connack %+v err %v, want 0x89 Server busy", ca, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestSessionQueueOverflow checks a full session queue drops its oldest
// messages and counts them, while the client is away.
func TestSessionQueueOverflow(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.SessionQueueLength = 5 })
	id := clientID("overflow")
	first := connectV3(t, v3Options(tcpURL(b.addr), id).SetCleanSession(false))
	subscribeV3(t, first, "of/x", 0, newInbox(1))
	first.Disconnect(100)
	waitConnections(t, b, 0) // the session is offline: no credit
	pub := connectV5(t, b.addr, nil)
	for i := range 12 {
		pub.publish(t, &paho.Publish{Topic: "of/x", QoS: 0, Payload: []byte{byte('a' + i)}})
	}
	deadline := time.Now().Add(opTimeout)
	for b.srv.Stats().QoS0Dropped < 7 {
		if time.Now().After(deadline) {
			qs, _ := b.x.Queue(sessionQueue(id))
			t.Fatalf("dropped %d, want 7 (queue %+v)", b.srv.Stats().QoS0Dropped, qs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	in := newInbox(16)
	c := pahov3.NewClient(v3Options(tcpURL(b.addr), id).SetCleanSession(false).SetDefaultPublishHandler(v3Handler(in)))
	waitV3(t, c.Connect(), "reconnect")
	t.Cleanup(func() { c.Disconnect(100) })
	var got string
	for _, m := range in.collect(t, 5, recvTimeout) {
		got += string(m.Payload)
	}
	if got != "hijkl" {
		t.Errorf("got %q, want the 5 newest (drop-head)", got)
	}
}

func waitConnections(t testing.TB, b *broker, n int64) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for b.srv.Stats().Connections != n {
		if time.Now().After(deadline) {
			t.Fatalf("connections %d, want %d", b.srv.Stats().Connections, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTopicAliasInbound checks a publish that names its topic only by an
// alias is authorized and routed on the aliased topic, and that an unknown
// alias is a protocol error.
func TestTopicAliasInbound(t *testing.T) {
	b := startBroker(t)
	sub := connectV5(t, b.addr, nil)
	sub.subscribe(t, "alias/#", 0)
	c := dialRaw(t, b.addr)
	ca := c.connect(t, 5, clientID("alias"))
	if v := connackProp(ca.body, 0x22); len(v) != 2 || v[1] == 0 && v[0] == 0 {
		t.Errorf("CONNACK Topic Alias Maximum %x", v)
	}
	aliasProps := []byte{0x03, 0x23, 0x00, 0x03}
	for _, p := range [][]byte{
		rawPacket(0x30, rawStr("alias/in"), aliasProps, []byte("one")),
		rawPacket(0x30, rawStr(""), aliasProps, []byte("two")),
	} {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"one", "two"} {
		if m := sub.In.next(t, recvTimeout); m.Topic != "alias/in" || string(m.Payload) != want {
			t.Errorf("got %v, want %s on alias/in", m, want)
		}
	}
	if _, err := c.Write(rawPacket(0x30, rawStr(""), []byte{0x03, 0x23, 0x00, 0x04}, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	c.expectClosed(t, 0x82)
}

// TestDeniedPublishV3 checks a 3.1.1 client whose QoS 1 publish is not
// authorized is disconnected without a DISCONNECT packet (MQTT-3.3.5-2),
// and its QoS 0 one is dropped.
func TestDeniedPublishV3(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect(t, 4, clientID("deny3"))
	if _, err := c.Write(rawPublish0(4, "denied/x", []byte("q0"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.readTimeout(quietPeriod); !isTimeout(err) {
		t.Fatalf("QoS 0 denied publish: %v, want silence", err)
	}
	if _, err := c.Write(rawPacket(0x32, rawStr("denied/x"), []byte{0, 1}, []byte("q1"))); err != nil {
		t.Fatal(err)
	}
	c.expectClosed(t)
}

// TestQoS2OutboundResume checks the QoS 2 handshake toward a subscriber:
// the delivery is settled at PUBREC, and a PUBREL not completed when the
// connection dropped is sent again on resume, not the PUBLISH.
func TestQoS2OutboundResume(t *testing.T) {
	b := startBroker(t)
	id := clientID("q2")
	expiry := []byte{0x05, 0x11, 0, 0, 0x01, 0x2c}
	c := dialRaw(t, b.addr)
	c.connectWith(t, 5, id, true, expiry)
	c.subscribe(t, "q2/x", 2)
	pub := connectV5(t, b.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "q2/x", QoS: 2, Payload: []byte("exactly once")})
	p := parsePublish5(t, c.read(t))
	if p.qos != 2 || string(p.payload) != "exactly once" {
		t.Fatalf("got %+v", p)
	}
	if _, err := c.Write(rawPacket(0x50, []byte{byte(p.id >> 8), byte(p.id)})); err != nil { // PUBREC
		t.Fatal(err)
	}
	rel := c.read(t)
	if rel.first != 0x62 || rel.body[0] != byte(p.id>>8) || rel.body[1] != byte(p.id) {
		t.Fatalf("want PUBREL for %d, got %#x %x", p.id, rel.first, rel.body)
	}
	deadline := time.Now().Add(opTimeout)
	for {
		qs, _ := b.x.Queue(sessionQueue(id))
		if qs.Unsettled == 0 && qs.Ready == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not settled after PUBREC: %+v", qs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.Close()
	waitConnections(t, b, 1)
	again := dialRaw(t, b.addr)
	again.connectWith(t, 5, id, false, expiry)
	rel = again.read(t)
	if rel.first != 0x62 || rel.body[1] != byte(p.id) {
		t.Fatalf("on resume want PUBREL for %d, got %#x %x", p.id, rel.first, rel.body)
	}
	if _, err := again.Write(rawPacket(0x70, []byte{byte(p.id >> 8), byte(p.id)})); err != nil { // PUBCOMP
		t.Fatal(err)
	}
	if _, err := again.readTimeout(quietPeriod); !isTimeout(err) {
		t.Errorf("after PUBCOMP: %v, want silence", err)
	}
}

// TestQoS2InboundDuplicate resends a QoS 2 PUBLISH with DUP before
// PUBREL: it is acknowledged with a successful PUBREC and delivered once
// (MQTT-4.3.3-10).
func TestQoS2InboundDuplicate(t *testing.T) {
	b := startBroker(t)
	sub := connectV5(t, b.addr, nil)
	sub.subscribe(t, "eo/#", 2)
	for _, level := range []byte{4, 5} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			c := dialRaw(t, b.addr)
			c.connect(t, level, clientID("eo"))
			var props []byte
			if level == 5 {
				props = []byte{0}
			}
			pub := func(first byte, payload string) []byte {
				return rawPacket(first, rawStr("eo/x"), []byte{1, 7}, props, []byte(payload))
			}
			expect := func(typ byte) {
				t.Helper()
				p := c.read(t)
				if p.first>>4 != typ || p.body[0] != 1 || p.body[1] != 7 || len(p.body) > 2 && p.body[2] >= 0x80 {
					t.Fatalf("got %#x %x, want type %d success", p.first, p.body, typ)
				}
			}
			for _, step := range []struct {
				b   []byte
				typ byte
			}{
				{pub(0x34, "once"), 5}, {pub(0x3C, "once"), 5}, {[]byte{0x62, 2, 1, 7}, 7},
				{pub(0x34, "twice"), 5}, {[]byte{0x62, 2, 1, 7}, 7},
			} {
				if _, err := c.Write(step.b); err != nil {
					t.Fatal(err)
				}
				expect(step.typ)
			}
			got := sub.In.collect(t, 2, recvTimeout)
			if string(got[0].Payload) != "once" || string(got[1].Payload) != "twice" {
				t.Errorf("got %v", got)
			}
			sub.In.quiet(t, quietPeriod)
		})
	}
}

// TestRedeliveryDup: a QoS 1 message handed to a client that went away
// without acknowledging it goes to the next consumer with DUP set
// (MQTT-3.3.1-1); its first delivery had DUP clear.
func TestRedeliveryDup(t *testing.T) {
	b := startBroker(t)
	pub := connectV5(t, b.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "$queue/redo", QoS: 1, Payload: []byte("once")})

	first := dialRaw(t, b.addr)
	first.connect(t, 5, clientID("redo-a"))
	first.subscribe(t, "$queue/redo", 1)
	p := parsePublish5(t, first.read(t))
	if p.dup || string(p.payload) != "once" || p.qos != 1 {
		t.Fatalf("first delivery %+v, want once at QoS 1 without DUP", p)
	}
	_ = first.Close() // no PUBACK: the message goes back to the queue

	second := dialRaw(t, b.addr)
	second.connect(t, 5, clientID("redo-b"))
	second.subscribe(t, "$queue/redo", 1)
	p = parsePublish5(t, second.read(t))
	if !p.dup || string(p.payload) != "once" {
		t.Fatalf("redelivery %+v, want once with DUP", p)
	}
	second.puback(t, p.id)
}
