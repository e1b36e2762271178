package integration

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// binaryPayload returns a payload that is not valid UTF-8 and contains NUL
// bytes, so a broker that treats payloads as strings shows up.
func binaryPayload(tag string) []byte {
	return append([]byte{0x00, 0xff, 0xfe, 0x80, 0x00}, tag...)
}

// TestPahoV3QoS012 sends one message per QoS from a paho v3 publisher to a
// paho v3 subscriber over TCP.
func TestPahoV3QoS012(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	in := newInbox(16)
	sub := connectV3(t, v3Options(b.TCPURL(), clientID("v3sub")))
	subscribeV3(t, sub, "v3q/#", 2, in)
	pub := connectV3(t, v3Options(b.TCPURL(), clientID("v3pub")))

	want := map[string][]byte{}
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("v3q/qos%d", qos)
		want[topic] = binaryPayload(topic)
		publishV3(t, pub, topic, qos, false, want[topic])
	}
	for _, m := range in.collect(t, 3, recvTimeout) {
		w, ok := want[m.Topic]
		if !ok {
			t.Errorf("unexpected message %v", m)
			continue
		}
		delete(want, m.Topic)
		if !bytes.Equal(m.Payload, w) {
			t.Errorf("%s: payload %x, want %x", m.Topic, m.Payload, w)
		}
		// The delivery QoS is min(publish QoS, granted QoS) (MQTT 3.1.1 §3.8.4).
		if wantQoS := m.Topic[len(m.Topic)-1] - '0'; m.QoS != wantQoS {
			t.Errorf("%s: delivered at QoS %d, want %d", m.Topic, m.QoS, wantQoS)
		}
		if m.Retain {
			t.Errorf("%s: RETAIN set on a live delivery (MQTT-3.3.1-9)", m.Topic)
		}
	}
	in.quiet(t, quietPeriod)
}

// TestPahoV5QoS012 sends one message per QoS from a paho.golang MQTT 5
// publisher to an MQTT 5 subscriber over TCP.
func TestPahoV5QoS012(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "v5q/#", 2)
	pub := connectV5(t, b.MQTTAddr, nil)

	want := map[string][]byte{}
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("v5q/qos%d", qos)
		want[topic] = binaryPayload(topic)
		pub.publish(t, &paho.Publish{Topic: topic, QoS: qos, Payload: want[topic]})
	}
	for _, m := range sub.In.collect(t, 3, recvTimeout) {
		w, ok := want[m.Topic]
		if !ok {
			t.Errorf("unexpected message %v", m)
			continue
		}
		delete(want, m.Topic)
		if !bytes.Equal(m.Payload, w) {
			t.Errorf("%s: payload %x, want %x", m.Topic, m.Payload, w)
		}
		if wantQoS := m.Topic[len(m.Topic)-1] - '0'; m.QoS != wantQoS {
			t.Errorf("%s: delivered at QoS %d, want %d", m.Topic, m.QoS, wantQoS)
		}
	}
	sub.In.quiet(t, quietPeriod)
}

// TestV5PropertiesPreserved checks an MQTT 5 → MQTT 5 hop keeps every
// PUBLISH property (DESIGN.md §3: same-protocol hops are lossless), user
// properties included in their order and with a repeated key (MQTT 5
// §3.3.2.3.7: "the same name is allowed to appear more than once", and the
// order must be kept).
func TestV5PropertiesPreserved(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "props/#", 2)
	pub := connectV5(t, b.MQTTAddr, nil)

	user := paho.UserProperties{
		{Key: "k", Value: "first"},
		{Key: "trace", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{Key: "k", Value: "second"},
		{Key: "ünï", Value: "çødé ✓"},
		{Key: "empty", Value: ""},
		{Key: "k", Value: "first"}, // an exact repeat is kept too
	}
	const expiry = 3600 // seconds
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			pf := byte(1) // UTF-8 payload
			exp := uint32(expiry)
			payload := []byte(fmt.Sprintf(`{"qos":%d,"text":"héllo"}`, qos))
			pub.publish(t, &paho.Publish{
				Topic:   fmt.Sprintf("props/qos%d", qos),
				QoS:     qos,
				Payload: payload,
				Properties: &paho.PublishProperties{
					ContentType:     "application/json; charset=utf-8",
					ResponseTopic:   "replies/client-7",
					CorrelationData: []byte{0x00, 0x01, 0xfe, 0xff, 'c', 'o', 'r'},
					PayloadFormat:   &pf,
					MessageExpiry:   &exp,
					User:            user,
				},
			})
			m := sub.In.next(t, recvTimeout)
			if !bytes.Equal(m.Payload, payload) {
				t.Errorf("payload %q, want %q", m.Payload, payload)
			}
			if m.QoS != qos {
				t.Errorf("QoS %d, want %d", m.QoS, qos)
			}
			p := m.Props
			if p == nil {
				t.Fatal("no properties on the delivered PUBLISH")
			}
			if p.ContentType != "application/json; charset=utf-8" {
				t.Errorf("content type %q", p.ContentType)
			}
			if p.ResponseTopic != "replies/client-7" {
				t.Errorf("response topic %q", p.ResponseTopic)
			}
			if !bytes.Equal(p.CorrelationData, []byte{0x00, 0x01, 0xfe, 0xff, 'c', 'o', 'r'}) {
				t.Errorf("correlation data %x", p.CorrelationData)
			}
			if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
				t.Errorf("payload format indicator %v, want 1", p.PayloadFormat)
			}
			// MQTT 5 §3.3.2.3.3: the server forwards the expiry minus the
			// time the message waited, so a little less than sent.
			if p.MessageExpiry == nil {
				t.Errorf("message expiry interval missing")
			} else if got := *p.MessageExpiry; got > expiry || got < expiry-30 {
				t.Errorf("message expiry interval %d, want within (%d-30, %d]", got, expiry, expiry)
			}
			if !slices.Equal(p.User, user) {
				t.Errorf("user properties\n got %q\nwant %q", p.User, user)
			}
		})
	}
}

// TestWebSocket crosses transports: paho v3 and paho.golang v5 over
// ws://HTTP/mqtt against TCP peers, in both directions.
func TestWebSocket(t *testing.T) {
	b := startBroker(t, brokerOpts{})

	t.Run("v3 tcp to ws", func(t *testing.T) {
		in := newInbox(8)
		sub := connectV3(t, v3Options(b.WSURL(), clientID("v3ws-sub")))
		subscribeV3(t, sub, "ws/v3/down", 1, in)
		pub := connectV3(t, v3Options(b.TCPURL(), clientID("v3tcp-pub")))
		publishV3(t, pub, "ws/v3/down", 1, false, binaryPayload("down"))
		if m := in.next(t, recvTimeout); !bytes.Equal(m.Payload, binaryPayload("down")) || m.QoS != 1 {
			t.Errorf("got %v", m)
		}
	})
	t.Run("v3 ws to tcp", func(t *testing.T) {
		in := newInbox(8)
		sub := connectV3(t, v3Options(b.TCPURL(), clientID("v3tcp-sub")))
		subscribeV3(t, sub, "ws/v3/up", 2, in)
		pub := connectV3(t, v3Options(b.WSURL(), clientID("v3ws-pub")))
		publishV3(t, pub, "ws/v3/up", 2, false, binaryPayload("up"))
		if m := in.next(t, recvTimeout); !bytes.Equal(m.Payload, binaryPayload("up")) || m.QoS != 2 {
			t.Errorf("got %v", m)
		}
	})
	t.Run("v5 tcp to ws", func(t *testing.T) {
		sub := connectV5Conn(t, dialWS(t, b.WSURL()), nil)
		sub.subscribe(t, "ws/v5/down", 2)
		pub := connectV5(t, b.MQTTAddr, nil)
		for qos := byte(0); qos <= 2; qos++ {
			pub.publish(t, &paho.Publish{Topic: "ws/v5/down", QoS: qos, Payload: binaryPayload(fmt.Sprint(qos)),
				Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "via", Value: "tcp"}}}})
			m := sub.In.nextFor(t, recvTimeout, fmt.Sprintf("QoS %d", qos))
			if !bytes.Equal(m.Payload, binaryPayload(fmt.Sprint(qos))) || m.QoS != qos {
				t.Errorf("got %v", m)
			}
			if m.Props == nil || !slices.Equal(m.Props.User, paho.UserProperties{{Key: "via", Value: "tcp"}}) {
				t.Errorf("user properties lost crossing to WebSocket: %+v", m.Props)
			}
		}
	})
	t.Run("v5 ws to tcp", func(t *testing.T) {
		sub := connectV5(t, b.MQTTAddr, nil)
		sub.subscribe(t, "ws/v5/up", 2)
		pub := connectV5Conn(t, dialWS(t, b.WSURL()), nil)
		for qos := byte(0); qos <= 2; qos++ {
			pub.publish(t, &paho.Publish{Topic: "ws/v5/up", QoS: qos, Payload: binaryPayload(fmt.Sprint(qos))})
			m := sub.In.nextFor(t, recvTimeout, fmt.Sprintf("QoS %d", qos))
			if !bytes.Equal(m.Payload, binaryPayload(fmt.Sprint(qos))) || m.QoS != qos {
				t.Errorf("got %v", m)
			}
		}
	})
	t.Run("v5 ws to ws large", func(t *testing.T) {
		// 200 KiB spans many TCP segments under the WebSocket framing.
		sub := connectV5Conn(t, dialWS(t, b.WSURL()), nil)
		sub.subscribe(t, "ws/v5/large", 1)
		pub := connectV5Conn(t, dialWS(t, b.WSURL()), nil)
		big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
		pub.publish(t, &paho.Publish{Topic: "ws/v5/large", QoS: 1, Payload: big})
		if m := sub.In.next(t, recvTimeout); !bytes.Equal(m.Payload, big) {
			t.Errorf("large payload corrupted: got %d bytes, want %d", len(m.Payload), len(big))
		}
	})
}

// TestRetained checks retained messages reach late wildcard subscribers and
// an empty retained publish clears them (MQTT 3.1.1 §3.3.1.3).
func TestRetained(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	pub := connectV3(t, v3Options(b.TCPURL(), clientID("ret-pub")))
	retained := map[string]string{
		"sensors/kitchen/temp":     "21.5",
		"sensors/hall/temp":        "19.0",
		"sensors/hall/humidity":    "40",
		"sensors/garden/temp/raw":  "x", // not matched by sensors/+/temp
		"other/kitchen/temp":       "y", // matched by neither filter
		"sensors/attic/temp":       "17",
		"sensors/attic/temp/extra": "z",
	}
	for topic, v := range retained {
		publishV3(t, pub, topic, 1, true, []byte(v))
	}
	// Overwriting keeps only the last value (MQTT-3.3.1-5).
	publishV3(t, pub, "sensors/attic/temp", 1, true, []byte("18"))
	retained["sensors/attic/temp"] = "18"

	expect := func(t *testing.T, filter string, want map[string]string) {
		t.Helper()
		in := newInbox(16)
		c := connectV3(t, v3Options(b.TCPURL(), clientID("ret-late")))
		subscribeV3(t, c, filter, 1, in)
		got := map[string]string{}
		for _, m := range in.collect(t, len(want), recvTimeout) {
			if _, dup := got[m.Topic]; dup {
				t.Errorf("%s: retained message delivered twice", m.Topic)
			}
			got[m.Topic] = string(m.Payload)
			// MQTT-3.3.1-8: RETAIN is 1 on a message sent because of a new subscription.
			if !m.Retain {
				t.Errorf("%s: RETAIN flag not set on a retained delivery (MQTT-3.3.1-8)", m.Topic)
			}
		}
		for topic, v := range want {
			if got[topic] != v {
				t.Errorf("filter %s: %s = %q, want %q (got %v)", filter, topic, got[topic], v, got)
			}
		}
		in.quiet(t, quietPeriod)
	}

	t.Run("plus", func(t *testing.T) {
		expect(t, "sensors/+/temp", map[string]string{
			"sensors/kitchen/temp": "21.5", "sensors/hall/temp": "19.0", "sensors/attic/temp": "18",
		})
	})
	t.Run("hash", func(t *testing.T) {
		want := map[string]string{}
		for topic, v := range retained {
			if len(topic) > 8 && topic[:8] == "sensors/" {
				want[topic] = v
			}
		}
		expect(t, "sensors/#", want)
	})
	t.Run("clear", func(t *testing.T) {
		watch := newInbox(8)
		w := connectV3(t, v3Options(b.TCPURL(), clientID("ret-watch")))
		subscribeV3(t, w, "sensors/+/temp", 1, watch)
		watch.collect(t, 3, recvTimeout) // the retained ones
		publishV3(t, pub, "sensors/kitchen/temp", 1, true, nil)
		// MQTT-3.3.1-10: the empty retained message is still delivered to
		// current subscribers, with RETAIN 0 (MQTT-3.3.1-9).
		m := watch.next(t, recvTimeout)
		if m.Topic != "sensors/kitchen/temp" || len(m.Payload) != 0 || m.Retain {
			t.Errorf("live delivery of the clearing message: %v, want empty payload, retain=false", m)
		}
		expect(t, "sensors/+/temp", map[string]string{"sensors/hall/temp": "19.0", "sensors/attic/temp": "18"})
		expect(t, "sensors/kitchen/#", map[string]string{})
	})
}

// TestRetainedV5 checks a retained MQTT 5 message keeps its properties
// for late subscribers, and that a retained message whose Message Expiry
// Interval has passed is no longer sent (MQTT 5 §3.3.2.3.3, MQTT-3.3.2-5).
func TestRetainedV5(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	pub := connectV5(t, b.MQTTAddr, nil)
	user := paho.UserProperties{{Key: "unit", Value: "C"}, {Key: "src", Value: "a"}, {Key: "unit", Value: "K"}}
	short, long := uint32(1), uint32(3600)
	pub.publish(t, &paho.Publish{Topic: "rv5/keep", QoS: 1, Retain: true, Payload: []byte("21.5"),
		Properties: &paho.PublishProperties{ContentType: "text/plain", MessageExpiry: &long, User: user}})
	pub.publish(t, &paho.Publish{Topic: "rv5/short", QoS: 1, Retain: true, Payload: []byte("gone soon"),
		Properties: &paho.PublishProperties{MessageExpiry: &short}})
	published := time.Now()

	late := connectV5(t, b.MQTTAddr, nil)
	late.subscribe(t, "rv5/#", 1)
	got := map[string]msg{}
	for _, m := range late.In.collect(t, 2, recvTimeout) {
		got[m.Topic] = m
	}
	if m, ok := got["rv5/keep"]; !ok {
		t.Errorf("rv5/keep not delivered: %v", got)
	} else if m.Props == nil || m.Props.ContentType != "text/plain" || !slices.Equal(m.Props.User, user) {
		t.Errorf("retained rv5/keep lost properties: %+v", m.Props)
	}
	if _, ok := got["rv5/short"]; !ok && time.Since(published) < 900*time.Millisecond {
		t.Errorf("rv5/short not delivered within its expiry: %v", got)
	}

	time.Sleep(time.Until(published.Add(2200 * time.Millisecond)))
	later := connectV5(t, b.MQTTAddr, nil)
	later.subscribe(t, "rv5/#", 1)
	m := later.In.next(t, recvTimeout)
	if m.Topic != "rv5/keep" {
		t.Errorf("got %v, want only rv5/keep (rv5/short expired after 1 s)", m)
	}
	if m.Props == nil || m.Props.MessageExpiry == nil || *m.Props.MessageExpiry > long-2 {
		// MQTT-3.3.2-6: the interval sent is the one received minus the
		// time the message waited in the server.
		t.Errorf("retained rv5/keep after 2 s: message expiry %v, want at most %d", m.Props, long-2)
	}
	later.In.quiet(t, quietPeriod)
}

// TestWill checks the Will Message is published when a client's network
// connection is closed without a DISCONNECT (MQTT 3.1.1 §3.1.2.5, MQTT 5
// §3.1.2.5), and not after a normal DISCONNECT (MQTT-3.1.2-10).
func TestWill(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	watch := newInbox(8)
	w := connectV3(t, v3Options(b.TCPURL(), clientID("will-watch")))
	subscribeV3(t, w, "wills/#", 1, watch)

	t.Run("v3", func(t *testing.T) {
		// A client that says goodbye properly: its will must be discarded.
		polite := connectV3(t, v3Options(b.TCPURL(), clientID("will-polite")).
			SetWill("wills/polite", "must not be sent", 1, false))
		polite.Disconnect(100)

		var raw netConnBox
		opts := v3Options(b.TCPURL(), clientID("will-v3")).
			SetWill("wills/v3", "v3 went away", 1, false).
			SetCustomOpenConnectionFn(raw.dial)
		connectV3(t, opts)
		raw.close(t) // no DISCONNECT: the broker sees the TCP connection drop
		m := watch.next(t, recvTimeout)
		if m.Topic != "wills/v3" || string(m.Payload) != "v3 went away" || m.QoS != 1 {
			t.Errorf("will: got %v", m)
		}
		watch.quiet(t, quietPeriod)
	})

	t.Run("v5", func(t *testing.T) {
		// A v5 watcher sees the will's properties (MQTT 5 §3.1.3.2: they
		// are sent with the Will Message when it is published).
		watch5 := connectV5(t, b.MQTTAddr, nil)
		watch5.subscribe(t, "wills/v5", 1)
		// The CONNECT is written by hand: paho.golang v0.23.0 packs Will
		// Properties as CONNECT properties and so drops every property
		// that is valid only for PUBLISH (content type, response topic,
		// correlation data, payload format, message expiry).
		pf, exp := byte(1), uint32(600)
		user := paho.UserProperties{{Key: "who", Value: "v5"}, {Key: "who", Value: "again"}}
		var props []byte
		props = append(props, 0x01, pf)                                                    // Payload Format Indicator
		props = append(props, 0x02, byte(exp>>24), byte(exp>>16), byte(exp>>8), byte(exp)) // Message Expiry Interval
		props = append(append(props, 0x03), str("text/plain")...)                          // Content Type
		props = append(append(props, 0x08), str("wills/reply")...)                         // Response Topic
		props = append(props, 0x09, 0x00, 0x03, 7, 0, 7)                                   // Correlation Data
		for _, u := range user {
			props = append(append(append(props, 0x26), str(u.Key)...), str(u.Value)...) // User Property
		}
		vh := append(str("MQTT"), 5, 0x0E, 0x00, 0x1E, 0x00) // will flag, will QoS 1, clean start; keep alive 30 s; no properties
		payload := append(str(clientID("will-v5")), varint(len(props))...)
		payload = append(payload, props...)
		payload = append(append(payload, str("wills/v5")...), str("v5 went away")...)
		conn := dialRaw(t, b.MQTTAddr)
		if _, err := conn.Write(packet(0x10, vh, payload)); err != nil {
			t.Fatal(err)
		}
		if p, err := conn.read(opTimeout); err != nil || p.Type() != 2 || len(p.Body) < 2 || p.Body[1] != 0 {
			t.Fatalf("CONNACK %x, %v", p.Body, err)
		}
		_ = conn.Close()
		m := watch.next(t, recvTimeout)
		if m.Topic != "wills/v5" || string(m.Payload) != "v5 went away" {
			t.Errorf("will: got %v", m)
		}
		watch.quiet(t, quietPeriod)
		m = watch5.In.next(t, recvTimeout)
		p := m.Props
		if p == nil {
			t.Fatalf("v5 watcher: will %v has no properties", m)
		}
		if p.ContentType != "text/plain" || p.ResponseTopic != "wills/reply" || !bytes.Equal(p.CorrelationData, []byte{7, 0, 7}) {
			t.Errorf("will properties lost: content type %q, response topic %q, correlation data %x",
				p.ContentType, p.ResponseTopic, p.CorrelationData)
		}
		if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
			t.Errorf("will payload format indicator %v, want 1", p.PayloadFormat)
		}
		if p.MessageExpiry == nil || *p.MessageExpiry > exp || *p.MessageExpiry < exp-30 {
			t.Errorf("will message expiry %v, want about %d", p.MessageExpiry, exp)
		}
		if !slices.Equal(p.User, user) {
			t.Errorf("will user properties %q, want %q", p.User, user)
		}
	})

	t.Run("keep alive timeout", func(t *testing.T) {
		// MQTT-3.1.2-24 (3.1.1) / MQTT-3.1.2-22 (5): with no packet for
		// 1.5 times the Keep Alive the server closes the connection as if
		// the network had failed, so the will is published.
		c := dialRaw(t, b.MQTTAddr)
		// CONNECT 3.1.1: flags 0x0E = Will QoS 1 (0x08) | Will Flag (0x04)
		// | Clean Session (0x02); keep alive 1 s; payload: client ID,
		// will topic, will message (§3.1.3).
		_, _ = c.Write(packet(0x10, str("MQTT"), []byte{0x04, 0x0E, 0x00, 0x01},
			str(clientID("will-ka")), str("wills/keepalive"), str("silent")))
		if p, err := c.read(opTimeout); err != nil || p.Type() != 2 || len(p.Body) != 2 || p.Body[1] != 0 {
			t.Fatalf("CONNACK: %v %x", err, p.Body)
		}
		start := time.Now()
		m := watch.next(t, 5*time.Second)
		took := time.Since(start)
		if m.Topic != "wills/keepalive" || string(m.Payload) != "silent" {
			t.Errorf("will: got %v", m)
		}
		if took < time.Second {
			t.Errorf("will sent %v after CONNACK, before the 1 s keep alive could expire", took)
		}
		c.expectClosed(t)
	})
}

// TestPersistentSession checks a session that outlives its connection
// keeps its subscriptions and queues the QoS 1 messages published while
// the client was away (MQTT 3.1.1 §3.1.2.4, MQTT 5 §3.1.2.11.2).
func TestPersistentSession(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	const n = 20
	pub := connectV3(t, v3Options(b.TCPURL(), clientID("sess-pub")))

	t.Run("v3 clean session false", func(t *testing.T) {
		id := clientID("sess-v3")
		first := connectV3(t, v3Options(b.TCPURL(), id).SetCleanSession(false))
		subscribeV3(t, first, "sess/v3", 2, newInbox(1))
		first.Disconnect(100)

		for i := range n {
			publishV3(t, pub, "sess/v3", byte(1+i%2), false, []byte(fmt.Sprintf("m%03d", i)))
		}
		in := newInbox(n + 8)
		opts := v3Options(b.TCPURL(), id).SetCleanSession(false).SetDefaultPublishHandler(v3Handler(in))
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		waitV3(t, tok, "reconnect")
		t.Cleanup(func() { c.Disconnect(100) })
		if !tok.(*mqtt.ConnectToken).SessionPresent() {
			t.Errorf("CONNACK session present = 0 on resuming a persistent session (MQTT-3.2.2-2)")
		}
		got := in.collect(t, n, recvTimeout)
		checkSequence(t, got, "m%03d")
		for i, m := range got {
			if want := byte(1 + i%2); m.QoS != want && string(m.Payload) == fmt.Sprintf("m%03d", i) {
				t.Errorf("%s delivered at QoS %d, want %d", m.Payload, m.QoS, want)
			}
		}
		in.quiet(t, quietPeriod)
	})

	t.Run("v5 session expiry", func(t *testing.T) {
		id := clientID("sess-v5")
		expiry := uint32(300)
		first := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		first.subscribe(t, "sess/v5", 1)
		if err := first.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
			t.Fatal(err)
		}
		waitDone(t, first)

		for i := range n {
			publishV3(t, pub, "sess/v5", 1, false, []byte(fmt.Sprintf("m%03d", i)))
		}
		again := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		if !again.Connack.SessionPresent {
			t.Errorf("CONNACK session present = 0 on resuming a session with expiry %ds (MQTT-3.2.2-2)", expiry)
		}
		checkSequence(t, again.In.collect(t, n, recvTimeout), "m%03d")
		again.In.quiet(t, quietPeriod)
	})

	t.Run("v5 session expires", func(t *testing.T) {
		// MQTT 5 §3.1.2.11.2: the session ends when the Session Expiry
		// Interval has passed after the network connection closed.
		id := clientID("sess-v5e")
		expiry := uint32(1)
		first := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		first.subscribe(t, "sess/v5e", 1)
		_ = first.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, first)
		publishV3(t, pub, "sess/v5e", 1, false, []byte("expired with the session"))
		time.Sleep(2500 * time.Millisecond)
		again := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30})
		if again.Connack.SessionPresent {
			t.Errorf("CONNACK session present = 1 for a session whose 1 s expiry passed 2.5 s ago")
		}
		again.In.quiet(t, quietPeriod)
	})

	t.Run("v5 expired messages are not delivered", func(t *testing.T) {
		// MQTT-3.3.2-5: a message whose expiry passed before onward
		// delivery started is deleted; MQTT-3.3.2-6: the others carry
		// the remaining interval.
		id := clientID("sess-v5m")
		expiry := uint32(300)
		first := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		first.subscribe(t, "sess/v5m", 1)
		_ = first.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, first)

		p5 := connectV5(t, b.MQTTAddr, nil)
		short, long := uint32(1), uint32(600)
		p5.publish(t, &paho.Publish{Topic: "sess/v5m", QoS: 1, Payload: []byte("short"),
			Properties: &paho.PublishProperties{MessageExpiry: &short}})
		p5.publish(t, &paho.Publish{Topic: "sess/v5m", QoS: 1, Payload: []byte("long"),
			Properties: &paho.PublishProperties{MessageExpiry: &long}})
		time.Sleep(2200 * time.Millisecond)
		again := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		m := again.In.next(t, recvTimeout)
		if string(m.Payload) != "long" {
			t.Errorf("got %v first, want only \"long\" (\"short\" expired while queued)", m)
		}
		if m.Props == nil || m.Props.MessageExpiry == nil || *m.Props.MessageExpiry > long-2 {
			t.Errorf("queued message after 2 s: expiry %+v, want at most %d (MQTT-3.3.2-6)", m.Props, long-2)
		}
		again.In.quiet(t, quietPeriod)
	})

	t.Run("v5 no expiry ends with the connection", func(t *testing.T) {
		// MQTT 5 §3.1.2.11.2: an absent Session Expiry Interval means 0,
		// the session ends when the network connection closes.
		id := clientID("sess-v5x")
		first := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		first.subscribe(t, "sess/v5x", 1)
		_ = first.Disconnect(&paho.Disconnect{ReasonCode: 0})
		waitDone(t, first)
		publishV3(t, pub, "sess/v5x", 1, false, []byte("lost"))
		again := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: id, CleanStart: false, KeepAlive: 30})
		if again.Connack.SessionPresent {
			t.Errorf("CONNACK session present = 1 for a session that had expiry 0")
		}
		again.In.quiet(t, quietPeriod)
	})
}

// checkSequence checks msgs carry the payloads fmt.Sprintf(format, i) for
// i = 0..len(msgs)-1, in that order.
func checkSequence(t *testing.T, msgs []msg, format string) {
	t.Helper()
	for i, m := range msgs {
		if want := fmt.Sprintf(format, i); string(m.Payload) != want {
			var got []string
			for _, m := range msgs {
				got = append(got, string(m.Payload))
			}
			t.Errorf("message %d is %q, want %q; all: %v", i, m.Payload, want, got)
			return
		}
	}
}

// TestSharedSubscription checks $share/g/jobs/# spreads messages over the
// group's members, each message to exactly one (MQTT 5 §4.8.2).
func TestSharedSubscription(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	const n = 200
	a := connectV5(t, b.MQTTAddr, nil)
	a.subscribe(t, "$share/g/jobs/#", 1)
	c := connectV5(t, b.MQTTAddr, nil)
	c.subscribe(t, "$share/g/jobs/#", 1)
	// A plain subscriber to the same topics gets every message regardless.
	plain := connectV5(t, b.MQTTAddr, nil)
	plain.subscribe(t, "jobs/#", 1)

	pub := connectV5(t, b.MQTTAddr, nil)
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: fmt.Sprintf("jobs/kind%d", i%5), QoS: 1, Payload: []byte(fmt.Sprintf("job-%04d", i))})
	}

	seen := map[string]string{} // payload -> which member
	var counts [2]int
	deadline := time.After(2 * recvTimeout)
	for counts[0]+counts[1] < n {
		var m msg
		var who int
		select {
		case m = <-a.In.ch:
			who = 0
		case m = <-c.In.ch:
			who = 1
		case <-deadline:
			t.Fatalf("group received %d of %d messages (a=%d, c=%d)", counts[0]+counts[1], n, counts[0], counts[1])
		}
		counts[who]++
		key := string(m.Payload)
		if prev, dup := seen[key]; dup {
			t.Errorf("%s delivered twice (to %s and member %d)", key, prev, who)
		}
		seen[key] = fmt.Sprint(who)
	}
	a.In.quiet(t, quietPeriod)
	c.In.quiet(t, quietPeriod)
	if counts[0] == 0 || counts[1] == 0 {
		t.Errorf("one member got everything: a=%d, c=%d", counts[0], counts[1])
	}
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if want := fmt.Sprintf("job-%04d", i); k != want {
			t.Fatalf("union of the group's messages: position %d is %q, want %q", i, k, want)
		}
	}
	if got := len(plain.In.collect(t, n, recvTimeout)); got != n {
		t.Errorf("plain subscriber got %d, want %d", got, n)
	}
	t.Logf("shared split: a=%d c=%d", counts[0], counts[1])
}
