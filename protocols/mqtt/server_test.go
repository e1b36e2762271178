package mqtt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
)

func TestQoS012V3(t *testing.T) {
	b := startBroker(t)
	in := newInbox(16)
	sub := connectV3(t, v3Options(tcpURL(b.addr), clientID("v3-sub")))
	pub := connectV3(t, v3Options(tcpURL(b.addr), clientID("v3-pub")))
	for q := byte(0); q <= 2; q++ {
		subscribeV3(t, sub, fmt.Sprintf("q%d/#", q), q, in)
	}
	for q := byte(0); q <= 2; q++ {
		for pq := byte(0); pq <= 2; pq++ {
			t.Run(fmt.Sprintf("sub%d-pub%d", q, pq), func(t *testing.T) {
				topic := fmt.Sprintf("q%d/p%d", q, pq)
				publishV3(t, pub, topic, pq, false, []byte(topic))
				m := in.next(t, recvTimeout)
				if m.Topic != topic || string(m.Payload) != topic {
					t.Fatalf("got %v, want %s", m, topic)
				}
				if want := min(q, pq); m.QoS != want {
					t.Errorf("QoS %d, want min(sub %d, pub %d) = %d", m.QoS, q, pq, want)
				}
				if m.Retain {
					t.Errorf("RETAIN set on a live delivery")
				}
			})
		}
	}
	in.quiet(t, quietPeriod)
}

func TestQoS012V5(t *testing.T) {
	b := startBroker(t)
	sub := connectV5(t, b.addr, nil)
	pub := connectV5(t, b.addr, nil)
	for q := byte(0); q <= 2; q++ {
		sub.subscribe(t, fmt.Sprintf("q%d/#", q), q)
	}
	for q := byte(0); q <= 2; q++ {
		for pq := byte(0); pq <= 2; pq++ {
			t.Run(fmt.Sprintf("sub%d-pub%d", q, pq), func(t *testing.T) {
				topic := fmt.Sprintf("q%d/p%d", q, pq)
				resp := pub.publish(t, &paho.Publish{Topic: topic, QoS: pq, Payload: []byte(topic)})
				if pq > 0 && (resp == nil || resp.ReasonCode != 0) {
					t.Errorf("publish reason %+v, want 0x00 success", resp)
				}
				m := sub.In.next(t, recvTimeout)
				if m.Topic != topic || string(m.Payload) != topic {
					t.Fatalf("got %v, want %s", m, topic)
				}
				if want := min(q, pq); m.QoS != want {
					t.Errorf("QoS %d, want %d", m.QoS, want)
				}
			})
		}
	}
	sub.In.quiet(t, quietPeriod)
}

// TestPubackReasonSuccess checks a QoS 1 PUBACK carries 0x00 (mochi's
// own would carry 0x01, a SUBACK code).
func TestPubackReasonSuccess(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect(t, 5, clientID("raw"))
	// PUBLISH QoS 1, topic "a", packet id 7, no properties, payload "x".
	if _, err := c.Write(rawPacket(0x32, rawStr("a"), []byte{0, 7, 0}, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	p := c.read(t)
	if p.first>>4 != 4 || len(p.body) < 2 || p.body[0] != 0 || p.body[1] != 7 {
		t.Fatalf("want PUBACK for id 7, got type %d body %x", p.first>>4, p.body)
	}
	if len(p.body) > 2 && p.body[2] != 0 {
		t.Errorf("PUBACK reason %#x, want 0x00", p.body[2])
	}
}

// TestV5PropertiesPreserved checks every MQTT 5 property of a PUBLISH
// reaches an MQTT 5 subscriber intact, user properties in order with
// duplicates, for each QoS.
func TestV5PropertiesPreserved(t *testing.T) {
	b := startBroker(t)
	sub := connectV5(t, b.addr, nil)
	sub.subscribe(t, "props/#", 2)
	// A client that asks for no problem information still gets user
	// properties on PUBLISH (MQTT-3.1.2-29).
	f := false
	quiet := connectV5(t, b.addr, &paho.Connect{ClientID: clientID("v5-quiet"), CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{RequestProblemInfo: f}})
	quiet.subscribe(t, "props/#", 2)
	pub := connectV5(t, b.addr, nil)

	user := paho.UserProperties{
		{Key: "k", Value: "first"},
		{Key: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{Key: "k", Value: "second"},
		{Key: "ünï", Value: "çødé ✓"},
		{Key: "empty", Value: ""},
		{Key: "x-priority", Value: "7"},
		{Key: "k", Value: "first"},
	}
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			pf := byte(1)
			exp := uint32(3600)
			payload := []byte(fmt.Sprintf(`{"qos":%d,"text":"héllo"}`, qos))
			pub.publish(t, &paho.Publish{
				Topic: fmt.Sprintf("props/qos%d", qos), QoS: qos, Payload: payload,
				Properties: &paho.PublishProperties{
					ContentType:     "application/json; charset=utf-8",
					ResponseTopic:   "replies/client-7",
					CorrelationData: []byte{0x00, 0x01, 0xfe, 0xff, 'c'},
					PayloadFormat:   &pf,
					MessageExpiry:   &exp,
					User:            user,
				},
			})
			for _, c := range []*v5client{sub, quiet} {
				m := c.In.next(t, recvTimeout)
				p := m.Props
				if !bytes.Equal(m.Payload, payload) || m.QoS != qos || p == nil {
					t.Fatalf("got %v props %+v", m, p)
				}
				if p.ContentType != "application/json; charset=utf-8" || p.ResponseTopic != "replies/client-7" ||
					!bytes.Equal(p.CorrelationData, []byte{0x00, 0x01, 0xfe, 0xff, 'c'}) {
					t.Errorf("properties %+v", p)
				}
				if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
					t.Errorf("payload format %v, want 1", p.PayloadFormat)
				}
				if p.MessageExpiry == nil || *p.MessageExpiry > 3600 || *p.MessageExpiry < 3590 {
					t.Errorf("message expiry %v, want about 3600", p.MessageExpiry)
				}
				if !slices.Equal(p.User, user) {
					t.Errorf("user properties\n got %q\nwant %q", p.User, user)
				}
			}
		})
	}
}

// TestRetainedLateWildcard publishes retained messages, then subscribes
// with wildcards: each matching retained message arrives once with
// RETAIN set; live ones after it arrive with RETAIN clear.
func TestRetainedLateWildcard(t *testing.T) {
	b := startBroker(t)
	pub := connectV3(t, v3Options(tcpURL(b.addr), clientID("ret-pub")))
	retained := map[string]string{
		"sensors/kitchen/temp":    "21.5",
		"sensors/hall/temp":       "19.0",
		"sensors/hall/humidity":   "40",
		"sensors/garden/temp/raw": "x",
		"other/kitchen/temp":      "y",
	}
	for topic, v := range retained {
		publishV3(t, pub, topic, 1, true, []byte(v))
	}
	publishV3(t, pub, "sensors/hall/temp", 1, true, []byte("19.5")) // replaces (MQTT-3.3.1-5)

	for _, tc := range []struct {
		filter string
		want   map[string]string
	}{
		{"sensors/+/temp", map[string]string{"sensors/kitchen/temp": "21.5", "sensors/hall/temp": "19.5"}},
		{"sensors/#", map[string]string{"sensors/kitchen/temp": "21.5", "sensors/hall/temp": "19.5", "sensors/hall/humidity": "40", "sensors/garden/temp/raw": "x"}},
		{"nothing/#", map[string]string{}},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			in := newInbox(16)
			c := connectV3(t, v3Options(tcpURL(b.addr), clientID("ret-late")))
			subscribeV3(t, c, tc.filter, 1, in)
			got := map[string]string{}
			for _, m := range in.collect(t, len(tc.want), recvTimeout) {
				if _, dup := got[m.Topic]; dup {
					t.Errorf("%s delivered twice", m.Topic)
				}
				got[m.Topic] = string(m.Payload)
				if !m.Retain {
					t.Errorf("%s: RETAIN not set on a retained delivery (MQTT-3.3.1-8)", m.Topic)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			in.quiet(t, quietPeriod)
		})
	}

	t.Run("v5 retain handling and retain as published", func(t *testing.T) {
		c := connectV5(t, b.addr, nil)
		sa := c.subscribeOpts(t,
			paho.SubscribeOptions{Topic: "sensors/kitchen/temp", QoS: 1, RetainHandling: 2},
			paho.SubscribeOptions{Topic: "sensors/hall/+", QoS: 1, RetainAsPublished: true},
		)
		if !bytes.Equal(sa.Reasons, []byte{1, 1}) {
			t.Fatalf("reasons %#x", sa.Reasons)
		}
		got := c.In.collect(t, 2, recvTimeout) // the two hall messages only (MQTT-3.3.1-11)
		for _, m := range got {
			if !hasPrefix(m.Topic, "sensors/hall/") || !m.Retain {
				t.Errorf("retained delivery %v", m)
			}
		}
		c.In.quiet(t, quietPeriod)
		publishV3(t, pub, "sensors/hall/temp", 0, true, []byte("20"))
		if m := c.In.next(t, recvTimeout); !m.Retain {
			t.Errorf("live delivery with Retain As Published lost RETAIN: %v", m)
		}
		publishV3(t, pub, "sensors/kitchen/temp", 0, true, []byte("22"))
		if m := c.In.next(t, recvTimeout); m.Retain {
			t.Errorf("live delivery without Retain As Published kept RETAIN: %v", m)
		}
	})
}

// TestWill checks the will of an abruptly closed connection is published
// through the core, with its MQTT 5 properties, and not after DISCONNECT.
func TestWill(t *testing.T) {
	b := startBroker(t)
	watch := connectV5(t, b.addr, nil)
	watch.subscribe(t, "wills/#", 1)

	t.Run("v3", func(t *testing.T) {
		polite := connectV3(t, v3Options(tcpURL(b.addr), clientID("will-polite")).SetWill("wills/polite", "no", 1, false))
		polite.Disconnect(100)
		var raw net.Conn
		opts := v3Options(tcpURL(b.addr), clientID("will-v3")).SetWill("wills/v3", "v3 went away", 1, false).
			SetCustomOpenConnectionFn(func(u *urlT, _ pahov3.ClientOptions) (net.Conn, error) {
				c, err := net.Dial("tcp", u.Host)
				raw = c
				return c, err
			})
		connectV3(t, opts)
		_ = raw.Close()
		m := watch.In.next(t, recvTimeout)
		if m.Topic != "wills/v3" || string(m.Payload) != "v3 went away" || m.QoS != 1 {
			t.Errorf("will: %v", m)
		}
		watch.In.quiet(t, quietPeriod)
	})

	t.Run("v5 with properties", func(t *testing.T) {
		// Written by hand: paho.golang packs no Content Type in Will
		// Properties.
		c := dialRaw(t, b.addr)
		props := append([]byte{0x03}, rawStr("text/plain")...)
		props = append(append(append(props, 0x26), rawStr("who")...), rawStr("v5")...)
		vh := append(rawStr("MQTT"), 5, 0x0E, 0x00, 0x3C, 0x00) // will, will QoS 1, clean start
		payload := append(rawStr(clientID("will-v5")), byte(len(props)))
		payload = append(payload, props...)
		payload = append(append(payload, rawStr("wills/v5")...), rawStr("v5 went away")...)
		if _, err := c.Write(rawPacket(0x10, vh, payload)); err != nil {
			t.Fatal(err)
		}
		if p := c.read(t); p.first>>4 != 2 || p.body[1] != 0 {
			t.Fatalf("CONNACK %x", p.body)
		}
		_ = c.Close()
		m := watch.In.next(t, recvTimeout)
		if m.Topic != "wills/v5" || string(m.Payload) != "v5 went away" || m.QoS != 1 {
			t.Fatalf("will: %v", m)
		}
		if m.Props == nil || m.Props.ContentType != "text/plain" || !slices.Equal(m.Props.User, paho.UserProperties{{Key: "who", Value: "v5"}}) {
			t.Errorf("will properties %+v", m.Props)
		}
	})

	t.Run("v5 delayed, cancelled by reconnect", func(t *testing.T) {
		id := clientID("will-delay")
		delay, expiry := uint32(1), uint32(60)
		connect := func() net.Conn {
			conn := dialTCP(t, b.addr)
			if _, _, err := connectV5Conn(t, conn, &paho.Connect{
				ClientID: id, CleanStart: false, KeepAlive: 30,
				Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
				WillMessage:    &paho.WillMessage{Topic: "wills/delayed", QoS: 1, Payload: []byte("late")},
				WillProperties: &paho.WillProperties{WillDelayInterval: &delay},
			}); err != nil {
				t.Fatal(err)
			}
			return conn
		}
		_ = connect().Close()
		connect() // back within the delay: no will (MQTT-3.1.3-9)
		watch.In.quiet(t, 1500*time.Millisecond)
	})

	t.Run("v5 delayed", func(t *testing.T) {
		delay := uint32(1)
		expiry := uint32(60)
		conn := dialTCP(t, b.addr)
		if _, _, err := connectV5Conn(t, conn, &paho.Connect{
			ClientID: clientID("will-delay2"), CleanStart: true, KeepAlive: 30,
			Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
			WillMessage:    &paho.WillMessage{Topic: "wills/delayed2", QoS: 1, Payload: []byte("late")},
			WillProperties: &paho.WillProperties{WillDelayInterval: &delay},
		}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.Close()
		m := watch.In.next(t, recvTimeout)
		if m.Topic != "wills/delayed2" {
			t.Fatalf("will: %v", m)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("delayed will after %v, want about 1s", d)
		}
	})
}

// TestPersistentSession checks messages published while a persistent
// session's client is away are delivered, in order, when it returns.
func TestPersistentSession(t *testing.T) {
	b := startBroker(t)
	const n = 50
	pub := connectV3(t, v3Options(tcpURL(b.addr), clientID("sess-pub")))

	t.Run("v3 clean session false", func(t *testing.T) {
		id := clientID("sess-v3")
		first := connectV3(t, v3Options(tcpURL(b.addr), id).SetCleanSession(false))
		subscribeV3(t, first, "sess/v3", 1, newInbox(1))
		first.Disconnect(100)
		// Wait until the server has seen the DISCONNECT: a QoS 0 message
		// written to the closing connection before that is lost, as QoS 0
		// allows.
		waitConnections(t, b, 1)
		for i := range n {
			publishV3(t, pub, "sess/v3", byte(i%2), false, []byte(fmt.Sprintf("m%03d", i)))
		}
		in := newInbox(n + 8)
		c := pahov3.NewClient(v3Options(tcpURL(b.addr), id).SetCleanSession(false).SetDefaultPublishHandler(v3Handler(in)))
		tok := c.Connect()
		waitV3(t, tok, "reconnect")
		t.Cleanup(func() { c.Disconnect(100) })
		if !tok.(*pahov3.ConnectToken).SessionPresent() {
			t.Errorf("session present = 0 on resuming a persistent session (MQTT-3.2.2-2)")
		}
		checkSequence(t, in.collect(t, n, recvTimeout), "m%03d")
		in.quiet(t, quietPeriod)
	})

	t.Run("v5 session expiry", func(t *testing.T) {
		id := clientID("sess-v5")
		expiry := uint32(300)
		first := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		first.subscribe(t, "sess/v5", 1)
		_ = first.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, first)
		waitConnections(t, b, 1)
		for i := range n {
			publishV3(t, pub, "sess/v5", 1, false, []byte(fmt.Sprintf("m%03d", i)))
		}
		again := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		if !again.Connack.SessionPresent {
			t.Errorf("session present = 0")
		}
		checkSequence(t, again.In.collect(t, n, recvTimeout), "m%03d")
		again.In.quiet(t, quietPeriod)
	})

	t.Run("v5 no expiry ends with the connection", func(t *testing.T) {
		id := clientID("sess-v5x")
		first := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		first.subscribe(t, "sess/v5x", 1)
		_ = first.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, first)
		// Until the server has seen the DISCONNECT, a new connection takes
		// the live session over and mochi reports it present.
		waitConnections(t, b, 1)
		publishV3(t, pub, "sess/v5x", 1, false, []byte("lost"))
		again := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30})
		if again.Connack.SessionPresent {
			t.Errorf("session present = 1 for a session that had expiry 0")
		}
		again.In.quiet(t, quietPeriod)
		if _, ok := b.x.Queue(sessionQueue(id + "-none")); ok {
			t.Errorf("unexpected queue")
		}
	})

	t.Run("clean session deletes its queue", func(t *testing.T) {
		id := clientID("sess-clean")
		c := connectV3(t, v3Options(tcpURL(b.addr), id))
		subscribeV3(t, c, "sess/clean", 0, newInbox(1))
		if _, ok := b.x.Queue(sessionQueue(id)); !ok {
			t.Fatalf("no session queue while connected")
		}
		c.Disconnect(100)
		deadline := time.Now().Add(opTimeout)
		for {
			if _, ok := b.x.Queue(sessionQueue(id)); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue %s still there after a clean session ended", sessionQueue(id))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestInflightResentOnResume drops a persistent subscriber's connection
// while QoS 1 messages are unacknowledged: on resume they are resent first,
// in their original order, with their packet identifiers and DUP set
// (MQTT-4.4.0-1, MQTT-4.6.0-1), then what was published meanwhile.
func TestInflightResentOnResume(t *testing.T) {
	b := startBroker(t)
	id := clientID("resend")
	expiry := []byte{0x05, 0x11, 0, 0, 0x01, 0x2c} // Session Expiry Interval 300
	raw := dialRaw(t, b.addr)
	raw.connectWith(t, 5, id, true, expiry)
	raw.subscribe(t, "resend/x", 1)
	pub := connectV5(t, b.addr, nil)
	for i := range 3 {
		pub.publish(t, &paho.Publish{Topic: "resend/x", QoS: 1, Payload: []byte{byte('a' + i)}})
	}
	var first []rawPublish
	for range 3 {
		p := parsePublish5(t, raw.read(t))
		if p.qos != 1 || p.dup {
			t.Fatalf("first delivery %+v", p)
		}
		first = append(first, p)
	}
	_ = raw.Close()
	time.Sleep(100 * time.Millisecond)
	pub.publish(t, &paho.Publish{Topic: "resend/x", QoS: 1, Payload: []byte("d")})

	again := dialRaw(t, b.addr)
	ca := again.connectWith(t, 5, id, false, expiry)
	if ca.body[0]&1 != 1 {
		t.Fatalf("session present = 0")
	}
	for i := range 3 {
		p := parsePublish5(t, again.read(t))
		if !p.dup || p.id != first[i].id || string(p.payload) != string(first[i].payload) {
			t.Errorf("resend %d: %+v, want DUP copy of %+v", i, p, first[i])
		}
		again.puback(t, p.id)
	}
	if p := parsePublish5(t, again.read(t)); p.dup || string(p.payload) != "d" {
		t.Errorf("after the resends: %+v, want d", p)
	} else {
		again.puback(t, p.id)
	}
	if _, err := again.readTimeout(quietPeriod); !isTimeout(err) {
		t.Errorf("more after d: %v", err)
	}
}

// TestSharedSubscription checks $share/g/jobs/# splits a stream between
// two clients, each message to exactly one, while a plain subscriber gets
// everything.
func TestSharedSubscription(t *testing.T) {
	b := startBroker(t)
	const n = 200
	a := connectV5(t, b.addr, nil)
	a.subscribe(t, "$share/g/jobs/#", 1)
	c := connectV5(t, b.addr, nil)
	c.subscribe(t, "$share/g/jobs/#", 1)
	plain := connectV5(t, b.addr, nil)
	plain.subscribe(t, "jobs/#", 1)
	pub := connectV5(t, b.addr, nil)
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: fmt.Sprintf("jobs/k%d", i%5), QoS: 1, Payload: []byte(fmt.Sprintf("job-%04d", i))})
	}
	seen := map[string]int{}
	var counts [2]int
	deadline := time.After(2 * recvTimeout)
	for counts[0]+counts[1] < n {
		var m msg
		var who int
		select {
		case m = <-a.In.ch:
		case m = <-c.In.ch:
			who = 1
		case <-deadline:
			t.Fatalf("group got %d of %d (a=%d c=%d)", counts[0]+counts[1], n, counts[0], counts[1])
		}
		counts[who]++
		if _, dup := seen[string(m.Payload)]; dup {
			t.Errorf("%s delivered twice", m.Payload)
		}
		seen[string(m.Payload)] = who
	}
	a.In.quiet(t, quietPeriod)
	c.In.quiet(t, quietPeriod)
	if counts[0] == 0 || counts[1] == 0 {
		t.Errorf("one member got everything: a=%d c=%d", counts[0], counts[1])
	}
	keys := make([]string, 0, n)
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if want := fmt.Sprintf("job-%04d", i); k != want {
			t.Fatalf("union position %d is %q, want %q", i, k, want)
		}
	}
	if got := len(plain.In.collect(t, n, recvTimeout)); got != n {
		t.Errorf("plain subscriber got %d", got)
	}
	t.Logf("split a=%d c=%d", counts[0], counts[1])
}

// TestQueueSubscription checks $queue/<name>: messages sent before any
// consumer wait in the queue, and consumers compete.
func TestQueueSubscription(t *testing.T) {
	b := startBroker(t)
	pub := connectV5(t, b.addr, nil)
	for i := range 3 {
		pub.publish(t, &paho.Publish{Topic: "$queue/orders", QoS: 1, Payload: []byte{byte('0' + i)}})
	}
	c := connectV5(t, b.addr, nil)
	c.subscribe(t, "$queue/orders", 1)
	got := c.In.collect(t, 3, recvTimeout)
	for i, m := range got {
		if string(m.Payload) != string(rune('0'+i)) || m.Topic != "orders" {
			t.Errorf("message %d: %v", i, m)
		}
	}
	// A plain publish to the queue's name reaches it too (DESIGN.md §4).
	pub.publish(t, &paho.Publish{Topic: "orders", QoS: 1, Payload: []byte("3")})
	if m := c.In.next(t, recvTimeout); string(m.Payload) != "3" {
		t.Errorf("got %v", m)
	}
}

func TestNoLocal(t *testing.T) {
	b := startBroker(t)
	c := connectV5(t, b.addr, nil)
	sa := c.subscribeOpts(t, paho.SubscribeOptions{Topic: "nl/#", QoS: 1, NoLocal: true})
	if sa.Reasons[0] != 1 {
		t.Fatalf("reasons %#x", sa.Reasons)
	}
	c.publish(t, &paho.Publish{Topic: "nl/own", QoS: 1, Payload: []byte("own")})
	other := connectV5(t, b.addr, nil)
	other.publish(t, &paho.Publish{Topic: "nl/other", QoS: 1, Payload: []byte("other")})
	if m := c.In.next(t, recvTimeout); m.Topic != "nl/other" {
		t.Errorf("got %v, want only nl/other (MQTT-3.8.3-3)", m)
	}
	c.In.quiet(t, quietPeriod)
}

func TestSubscriptionIdentifiers(t *testing.T) {
	b := startBroker(t)
	c := connectV5(t, b.addr, nil)
	for i, f := range []string{"si/#", "si/+/x"} {
		id := i + 10
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := c.Subscribe(ctx, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &id},
			Subscriptions: []paho.SubscribeOptions{{Topic: f, QoS: 1}}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	pub := connectV5(t, b.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "si/a/x", QoS: 1, Payload: []byte("1")})
	m := c.In.next(t, recvTimeout)
	if m.Props == nil {
		t.Fatal("no properties")
	}
	// paho keeps one identifier; the server sends both (MQTT-3.3.4-3).
	if m.Props.SubscriptionIdentifier == nil || (*m.Props.SubscriptionIdentifier != 10 && *m.Props.SubscriptionIdentifier != 11) {
		t.Errorf("subscription identifier %v", m.Props.SubscriptionIdentifier)
	}
	c.In.quiet(t, quietPeriod) // one copy for overlapping subscriptions
}

func TestCrossProtocolDelivery(t *testing.T) {
	b := startBroker(t)
	c := connectV5(t, b.addr, nil)
	c.subscribe(t, "x/#", 2)
	publishCore(t, b.x, &message.Message{
		Address: address.MustParseMQTT("x/amqp"), Body: []byte("hi"), ContentType: "text/plain",
		Durable: true, Priority: 9,
		Headers:     message.Headers{{Key: "n", Value: message.Int(42)}},
		Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolAMQP, ClientID: "container-1"}},
	})
	m := c.In.next(t, recvTimeout)
	if m.QoS != 1 {
		t.Errorf("durable message from AMQP at QoS %d, want 1", m.QoS)
	}
	want := paho.UserProperties{{Key: "n", Value: "42"}, {Key: "x-priority", Value: "9"},
		{Key: "x-origin-protocol", Value: "amqp"}, {Key: "x-origin-client-id", Value: "container-1"}}
	if m.Props == nil || !slices.Equal(m.Props.User, want) || m.Props.ContentType != "text/plain" {
		t.Errorf("props %+v, want user %v", m.Props, want)
	}
	if st := b.srv.Stats(); st.Lossy == 0 {
		t.Errorf("an int header rendered as text was not counted as lossy")
	}
}

func TestAuth(t *testing.T) {
	b := startBroker(t)
	t.Run("v5 wrong password", func(t *testing.T) {
		_, ca, err := connectV5Conn(t, dialTCP(t, b.addr), &paho.Connect{ClientID: clientID("a"), CleanStart: true,
			UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte("wrong")})
		if err == nil || ca == nil || ca.ReasonCode != 0x86 {
			t.Errorf("CONNACK %+v err %v, want 0x86", ca, err)
		}
	})
	t.Run("v3 wrong password", func(t *testing.T) {
		c := pahov3.NewClient(v3Options(tcpURL(b.addr), clientID("a3")).SetUsername("alice").SetPassword("wrong"))
		tok := c.Connect()
		tok.WaitTimeout(opTimeout)
		if rc := tok.(*pahov3.ConnectToken).ReturnCode(); rc != 0x05 {
			t.Errorf("CONNACK return code %#x, want 0x05", rc)
		}
	})
	t.Run("v5 denied publish", func(t *testing.T) {
		c := connectV5(t, b.addr, nil)
		for q := byte(1); q <= 2; q++ {
			resp := c.publish(t, &paho.Publish{Topic: "denied/x", QoS: q, Payload: []byte("x")})
			if resp == nil || resp.ReasonCode != 0x87 {
				t.Errorf("QoS %d: response %+v, want 0x87", q, resp)
			}
		}
		if b.srv.Stats().Rejected < 2 {
			t.Errorf("rejected publishes not counted: %+v", b.srv.Stats())
		}
	})
	t.Run("v5 subscribe denied and quota", func(t *testing.T) {
		bq := startBroker(t, func(c *Config) { c.MaxSubscriptions = 2 })
		c := connectV5(t, bq.addr, nil)
		sa := c.subscribeOpts(t,
			paho.SubscribeOptions{Topic: "ok/1", QoS: 1},
			paho.SubscribeOptions{Topic: "forbidden/#", QoS: 1},
			paho.SubscribeOptions{Topic: "ok/2", QoS: 2},
			paho.SubscribeOptions{Topic: "ok/3", QoS: 0},
			paho.SubscribeOptions{Topic: "$share/g", QoS: 0},
		)
		if want := []byte{0x01, 0x87, 0x02, 0x97, 0x8F}; !bytes.Equal(sa.Reasons, want) {
			t.Errorf("SUBACK %#x, want %#x", sa.Reasons, want)
		}
		// Resubscribing to an existing filter does not count.
		sa = c.subscribeOpts(t, paho.SubscribeOptions{Topic: "ok/1", QoS: 0})
		if sa.Reasons[0] != 0 {
			t.Errorf("resubscribe %#x", sa.Reasons)
		}
	})
	t.Run("v3 subscribe denied", func(t *testing.T) {
		c := connectV3(t, v3Options(tcpURL(b.addr), clientID("a3s")))
		tok := c.SubscribeMultiple(map[string]byte{"ok/in": 1, "forbidden/#": 1}, nil)
		tok.WaitTimeout(opTimeout)
		res := tok.(*pahov3.SubscribeToken).Result()
		if res["ok/in"] != 1 || res["forbidden/#"] != 0x80 {
			t.Errorf("SUBACK %v", res)
		}
	})
	t.Run("anonymous refused", func(t *testing.T) {
		ba := startBroker(t, func(c *Config) { c.Auth = testAuth{noAnonymous: true} })
		_, ca, err := connectV5Conn(t, dialTCP(t, ba.addr), nil)
		if err == nil || ca == nil || ca.ReasonCode != 0x87 {
			t.Errorf("CONNACK %+v err %v, want 0x87", ca, err)
		}
	})
}

// TestBadInput checks bad packets close the offending connection with
// the right reason and leave other clients alone.
func TestBadInput(t *testing.T) {
	const maxPacket = 1024
	b := startBroker(t, func(c *Config) { c.MaxPacketSize = maxPacket })
	witness := connectV5(t, b.addr, nil)
	witness.subscribe(t, "witness/#", 1)
	pub := connectV5(t, b.addr, nil)
	seq := 0
	for _, tc := range []struct {
		name    string
		level   byte
		bad     []byte
		reasons []byte
	}{
		{"v5 publish to a/+/b", 5, rawPublish0(5, "a/+/b", []byte("w")), []byte{0x90}},
		{"v3 publish to a/#", 4, rawPublish0(4, "a/#", []byte("w")), nil},
		{"v5 packet too large", 5, rawPublish0(5, "big", bytes.Repeat([]byte{'x'}, 2*maxPacket)), []byte{0x95}},
		{"v3 packet too large", 4, rawPublish0(4, "big", bytes.Repeat([]byte{'x'}, 2*maxPacket)), nil},
		{"v5 topic with 0xff", 5, rawPublish0(5, "a/\xff", []byte("u")), []byte{0x81}},
		{"v3 topic with NUL", 4, rawPublish0(4, "a/\x00", []byte("u")), nil},
		{"v5 qos1 publish to $SYS", 5, rawPacket(0x32, rawStr("$SYS/x"), []byte{0, 9, 0}, []byte("s")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.addr)
			ca := c.connect(t, tc.level, clientID("raw"))
			if tc.level == 5 && tc.name == "v5 packet too large" {
				if v := connackProp(ca.body, 0x27); len(v) != 4 || binary.BigEndian.Uint32(v) != maxPacket {
					t.Errorf("CONNACK Maximum Packet Size %x, want %d", v, maxPacket)
				}
			}
			_, _ = c.Write(tc.bad)
			if strings.Contains(tc.name, "$SYS") {
				p := c.read(t)
				if p.first>>4 != 4 || len(p.body) < 3 || p.body[2] != 0x87 {
					t.Errorf("want PUBACK 0x87, got %#x %x", p.first, p.body)
				}
			} else {
				c.expectClosed(t, tc.reasons...)
			}
			seq++
			topic := fmt.Sprintf("witness/%d", seq)
			pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("alive")})
			if m := witness.In.next(t, recvTimeout); m.Topic != topic {
				t.Errorf("witness got %v", m)
			}
		})
	}
}

// TestWebSocket crosses transports: paho v3 over ws:// to a TCP client
// and back.
func TestWebSocket(t *testing.T) {
	b := startBroker(t)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		b.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	wsURL := "ws://" + strings.TrimPrefix(hs.URL, "http://") + "/mqtt"

	wsIn, tcpIn := newInbox(8), newInbox(8)
	ws := connectV3(t, v3Options(wsURL, clientID("ws")))
	subscribeV3(t, ws, "ws/in", 1, wsIn)
	tcp := connectV3(t, v3Options(tcpURL(b.addr), clientID("tcp")))
	subscribeV3(t, tcp, "ws/out", 1, tcpIn)

	publishV3(t, tcp, "ws/in", 1, false, []byte("to ws"))
	if m := wsIn.next(t, recvTimeout); string(m.Payload) != "to ws" {
		t.Errorf("ws got %v", m)
	}
	big := bytes.Repeat([]byte("0123456789"), 10000)
	publishV3(t, ws, "ws/out", 1, false, big)
	if m := tcpIn.next(t, recvTimeout); !bytes.Equal(m.Payload, big) {
		t.Errorf("tcp got %d bytes, want %d", len(m.Payload), len(big))
	}
	ws.Disconnect(100)
	tcp.Disconnect(100)
}

// TestShutdown checks MQTT 5 clients get DISCONNECT 0x8B, 3.1.1 clients
// see the connection close, and Serve returns ErrServerClosed.
func TestShutdown(t *testing.T) {
	b := startBroker(t)
	v5 := connectV5(t, b.addr, nil)
	v5.subscribe(t, "s/#", 1)
	lost := make(chan error, 1)
	connectV3(t, v3Options(tcpURL(b.addr), clientID("v3")).
		SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err }))
	b.stop(t)
	select {
	case d := <-v5.Disconnects:
		if d.ReasonCode != 0x8B {
			t.Errorf("DISCONNECT %#x, want 0x8B", d.ReasonCode)
		}
	case <-time.After(recvTimeout):
		t.Errorf("no DISCONNECT")
	}
	select {
	case <-lost:
	case <-time.After(recvTimeout):
		t.Errorf("v3 connection not closed")
	}
	if c, err := net.DialTimeout("tcp", b.addr, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("still accepting after Shutdown")
	}
}

// Test100kQoS1 sends 100,000 QoS 1 messages from one publisher to one
// subscriber: none lost, none duplicated, in order.
func Test100kQoS1(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	b := startBroker(t)
	var (
		mu        sync.Mutex
		next      uint64
		dups, bad int
		done      = make(chan struct{})
	)
	seen := make([]bool, n)
	handler := func(_ pahov3.Client, m pahov3.Message) {
		seq := binary.BigEndian.Uint64(m.Payload())
		mu.Lock()
		defer mu.Unlock()
		switch {
		case seq >= uint64(n):
			bad++
		case seen[seq]:
			dups++
		case seq != next:
			bad++
		default:
			seen[seq] = true
			next++
			if next == uint64(n) {
				close(done)
			}
		}
	}
	sub := connectV3(t, v3Options(tcpURL(b.addr), clientID("100k-sub")))
	waitV3(t, sub.Subscribe("load/#", 1, handler), "subscribe")
	pub := connectV3(t, v3Options(tcpURL(b.addr), clientID("100k-pub")).SetMaxResumePubInFlight(512))
	start := time.Now()
	toks := make(chan pahov3.Token, 512)
	errc := make(chan error, 1)
	go func() {
		for tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				select {
				case errc <- fmt.Errorf("publish: %v", tok.Error()):
				default:
				}
			}
		}
		close(errc)
	}()
	for i := range n {
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(i))
		toks <- pub.Publish("load/x", 1, false, p[:])
	}
	close(toks)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		mu.Lock()
		t.Fatalf("received %d of %d (dups %d, bad %d)", next, n, dups, bad)
	}
	el := time.Since(start)
	time.Sleep(quietPeriod)
	mu.Lock()
	defer mu.Unlock()
	if dups != 0 || bad != 0 {
		t.Errorf("duplicates %d, out of order or unknown %d", dups, bad)
	}
	t.Logf("%d QoS 1 messages in %v (%.0f msg/s)", n, el, float64(n)/el.Seconds())
}

// TestServeAfterShutdown checks Serve refuses to start once the server is
// shut down.
func TestServeAfterShutdown(t *testing.T) {
	b := startBroker(t)
	b.stop(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Serve(l); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// checkSequence checks msgs carry fmt.Sprintf(format, i) for i = 0, 1, ...
func checkSequence(t *testing.T, msgs []msg, format string) {
	t.Helper()
	for i, m := range msgs {
		if want := fmt.Sprintf(format, i); string(m.Payload) != want {
			t.Errorf("message %d is %q, want %q (all: %v)", i, m.Payload, want, msgs)
			return
		}
	}
}
