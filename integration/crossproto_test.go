package integration

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
)

// The tests below cross MQTT 5 and STOMP through the real binary and check
// docs/mapping.md field by field, both ways, and request/reply through each
// protocol's own reply-to and correlation fields (docs/mapping.md
// "Reply-to").

func u32(v uint32) *uint32 { return &v }

// TestCrossMQTT5ToSTOMPHeaders publishes an MQTT 5 message with every
// property the mapping carries and checks each STOMP MESSAGE header.
func TestCrossMQTT5ToSTOMPHeaders(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sc := dialSTOMP(t, b)
	sub := subscribeSTOMP(t, sc, "/topic/plant/+/reading", stomp.AckClientIndividual)

	pubID := clientID("x-mqtt-pub")
	pub := connectV5(t, b.MQTTAddr, &paho.Connect{ClientID: pubID, CleanStart: true, KeepAlive: 30})
	sent := time.Now()
	pub.publish(t, &paho.Publish{
		Topic: "plant/7/reading", QoS: 1, Payload: []byte(`{"t":21.5}`),
		Properties: &paho.PublishProperties{
			ContentType:     "application/json",
			CorrelationData: []byte("corr-42"),
			ResponseTopic:   "plant/7/replies",
			MessageExpiry:   u32(120),
			User: paho.UserProperties{
				{Key: "site", Value: "berlin"}, {Key: "unit", Value: "C"}, {Key: "site", Value: "paris"},
				{Key: "x-priority", Value: "7"},
			},
		},
	})
	m := nextSTOMP(t, sub, recvTimeout, "MQTT 5 publish as a STOMP MESSAGE")
	if err := sc.Ack(m); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ key, want string }{
		{"destination", "/topic/plant/7/reading"},
		{"content-type", "application/json"},
		{"correlation-id", "corr-42"},
		{"reply-to", "/topic/plant/7/replies"}, // canonical topic → STOMP topic
		{"persistent", "true"},                 // QoS 1 → durable
		{"priority", "7"},                      // user property x-priority
		{"x-origin-protocol", "mqtt"},
		{"x-origin-client-id", pubID},
		{"content-length", strconv.Itoa(len(`{"t":21.5}`))},
	} {
		if got := header(t, m, tc.key); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.key, got, tc.want)
		}
	}
	if string(m.Body) != `{"t":21.5}` {
		t.Errorf("body %q", m.Body)
	}
	// expires is absolute (ms since the epoch): receive time + 120 s.
	exp, err := strconv.ParseInt(header(t, m, "expires"), 10, 64)
	if err != nil {
		t.Fatalf("expires: %v", err)
	}
	if lo, hi := sent.Add(119*time.Second).UnixMilli(), time.Now().Add(121*time.Second).UnixMilli(); exp < lo || exp > hi {
		t.Errorf("expires %d, want between %d and %d (publish time + 120 s)", exp, lo, hi)
	}
	// User properties keep their order and repeats.
	if got := m.Header.GetAll("site"); !slices.Equal(got, []string{"berlin", "paris"}) {
		t.Errorf("site headers %q, want [berlin paris]", got)
	}
	if got := header(t, m, "unit"); got != "C" {
		t.Errorf("unit %q", got)
	}
	if got := header(t, m, "x-priority"); got != "7" {
		t.Errorf("x-priority header %q", got)
	}
	if _, ok := m.Header.Contains("message-id"); !ok {
		t.Error("no message-id")
	}
}

// TestCrossSTOMPToMQTT5Properties sends a STOMP SEND with every header the
// mapping reads and checks each MQTT 5 property at a paho.golang
// subscriber.
func TestCrossSTOMPToMQTT5Properties(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sub := connectV5(t, b.MQTTAddr, nil)
	sub.subscribe(t, "orders/+/created", 2)

	sc := dialSTOMP(t, b)
	expires := time.Now().Add(90 * time.Second)
	sendSTOMP(t, sc, "/topic/orders/eu/created", "application/json", []byte(`{"id":9}`),
		stomp.SendOpt.Header("correlation-id", "order-9"),
		stomp.SendOpt.Header("reply-to", "/queue/order-replies"),
		stomp.SendOpt.Header("expires", strconv.FormatInt(expires.UnixMilli(), 10)),
		stomp.SendOpt.Header("priority", "8"),
		stomp.SendOpt.Header("persistent", "true"),
		stomp.SendOpt.Header("tenant", "acme"),
		stomp.SendOpt.Header("tag", "a"),
		stomp.SendOpt.Header("tag", "b"),
	)
	m := sub.In.nextFor(t, recvTimeout, "STOMP SEND as an MQTT 5 PUBLISH")
	if m.Topic != "orders/eu/created" || string(m.Payload) != `{"id":9}` {
		t.Errorf("topic %q payload %q", m.Topic, m.Payload)
	}
	if m.QoS != 1 {
		t.Errorf("QoS %d, want 1 (persistent:true enters MQTT at QoS 1, DESIGN.md §5)", m.QoS)
	}
	p := m.Props
	if p == nil {
		t.Fatal("no MQTT 5 properties")
	}
	if p.ContentType != "application/json" {
		t.Errorf("Content Type %q", p.ContentType)
	}
	if !bytes.Equal(p.CorrelationData, []byte("order-9")) {
		t.Errorf("Correlation Data %q", p.CorrelationData)
	}
	if p.ResponseTopic != "$queue/order-replies" {
		t.Errorf("Response Topic %q, want the canonical $queue/order-replies", p.ResponseTopic)
	}
	if p.MessageExpiry == nil {
		t.Error("no Message Expiry Interval")
	} else if left := time.Until(expires).Seconds(); float64(*p.MessageExpiry) < left-2 || float64(*p.MessageExpiry) > left+2 {
		t.Errorf("Message Expiry Interval %d s, want about %.0f s (the time left)", *p.MessageExpiry, left)
	}
	want := []paho.UserProperty{
		{Key: "tenant", Value: "acme"}, {Key: "tag", Value: "a"}, {Key: "tag", Value: "b"},
		{Key: "x-priority", Value: "8"},
		{Key: "x-origin-protocol", Value: "stomp"},
		{Key: "x-origin-client-id", Value: sc.Session()},
	}
	if !slices.Equal(p.User, want) {
		t.Errorf("User Properties\n got %v\nwant %v", p.User, want)
	}
	sub.In.quiet(t, quietPeriod)
}

// TestCrossRequestReplySTOMPToMQTT: a STOMP requester with a reply-to
// (temporary queue, named queue, topic) and an MQTT 5 responder that
// publishes its answer to the Response Topic as given.
func TestCrossRequestReplySTOMPToMQTT(t *testing.T) {
	for _, tc := range []struct {
		name      string
		replyTo   string // the requester's reply-to and subscription
		wantTopic string // the Response Topic the responder sees; "" to only check the prefix
		prefix    string
		auth      bool // users configured: the responder may not publish anywhere
	}{
		{name: "temporary queue", replyTo: "/temp-queue/answers", prefix: "$queue/$tmp/stomp/"},
		{name: "temporary queue, responder without publish rights", replyTo: "/temp-queue/answers", prefix: "$queue/$tmp/stomp/", auth: true},
		{name: "named queue", replyTo: "/queue/svc-answers", wantTopic: "$queue/svc-answers"},
		{name: "topic", replyTo: "/topic/answers/app1", wantTopic: "answers/app1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts brokerOpts
			responder := &paho.Connect{ClientID: clientID("responder"), CleanStart: true, KeepAlive: 30}
			var login []func(*stomp.Conn) error
			service := "$queue/rpc-svc"
			dest := "/queue/rpc-svc"
			if tc.auth {
				// alice may subscribe under alice/ and publish only under
				// alice/ and users/alice/: not to the reply address.
				opts.Config = authConfig(t, "alice-pw", "bob-pw")
				responder.Username, responder.UsernameFlag = "alice", true
				responder.Password, responder.PasswordFlag = []byte("alice-pw"), true
				login = append(login, stomp.ConnOpt.Login("bob", "bob-pw"))
				service, dest = "$queue/alice/rpc", "/queue/alice/rpc"
			}
			b := startBroker(t, opts)
			svc := connectV5(t, b.MQTTAddr, responder)
			svc.subscribe(t, service, 1)

			req := dialSTOMP(t, b, login...)
			answers := subscribeSTOMP(t, req, tc.replyTo, stomp.AckAuto)
			sendSTOMP(t, req, dest, "text/plain", []byte("2+2"),
				stomp.SendOpt.Header("reply-to", tc.replyTo), stomp.SendOpt.Header("correlation-id", "req-1"))

			in := svc.In.nextFor(t, recvTimeout, "the request at the MQTT responder")
			if in.Props == nil {
				t.Fatal("request without properties")
			}
			rt := in.Props.ResponseTopic
			if tc.wantTopic != "" && rt != tc.wantTopic || !strings.HasPrefix(rt, tc.prefix) {
				t.Fatalf("Response Topic %q, want %q (prefix %q)", rt, tc.wantTopic, tc.prefix)
			}
			if tc.prefix != "" && !strings.HasSuffix(rt, "/"+req.Session()+"/answers") {
				t.Errorf("Response Topic %q does not name the requester's session %s", rt, req.Session())
			}
			if string(in.Props.CorrelationData) != "req-1" {
				t.Fatalf("Correlation Data %q", in.Props.CorrelationData)
			}
			svc.publish(t, &paho.Publish{Topic: rt, QoS: 1, Payload: []byte("4"),
				Properties: &paho.PublishProperties{CorrelationData: in.Props.CorrelationData, ContentType: "text/plain"}})

			r := nextSTOMP(t, answers, recvTimeout, "the reply at the STOMP requester")
			if string(r.Body) != "4" || header(t, r, "correlation-id") != "req-1" || header(t, r, "x-origin-protocol") != "mqtt" {
				t.Errorf("reply %q headers %v", r.Body, headerList(r))
			}
		})
	}
}

// TestCrossRequestReplyMQTTToSTOMP: an MQTT 5 requester with a Response
// Topic (a topic, or $queue/ for a queue) and a STOMP responder that sends
// its answer to the reply-to header as given.
func TestCrossRequestReplyMQTTToSTOMP(t *testing.T) {
	for _, tc := range []struct {
		name          string
		responseTopic string // also what the requester subscribes to
		wantReplyTo   string
	}{
		{"topic", "replies/client-1", "/topic/replies/client-1"},
		{"queue", "$queue/replies-client-1", "/queue/replies-client-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, brokerOpts{})
			sc := dialSTOMP(t, b)
			service := subscribeSTOMP(t, sc, "/queue/pricing", stomp.AckClientIndividual)

			req := connectV5(t, b.MQTTAddr, nil)
			req.subscribe(t, tc.responseTopic, 1)
			req.publish(t, &paho.Publish{Topic: "$queue/pricing", QoS: 1, Payload: []byte("sku-1"),
				Properties: &paho.PublishProperties{ResponseTopic: tc.responseTopic, CorrelationData: []byte{0x01, 'q', 0x02}}})

			m := nextSTOMP(t, service, recvTimeout, "the request at the STOMP responder")
			replyTo := header(t, m, "reply-to")
			if replyTo != tc.wantReplyTo {
				t.Fatalf("reply-to %q, want %q", replyTo, tc.wantReplyTo)
			}
			corr := header(t, m, "correlation-id")
			if corr != "\x01q\x02" {
				t.Fatalf("correlation-id %q", corr)
			}
			sendSTOMP(t, sc, replyTo, "text/plain", []byte("9.99"), stomp.SendOpt.Header("correlation-id", corr))
			if err := sc.Ack(m); err != nil {
				t.Fatal(err)
			}

			r := req.In.nextFor(t, recvTimeout, "the reply at the MQTT 5 requester")
			if string(r.Payload) != "9.99" || r.Props == nil || !bytes.Equal(r.Props.CorrelationData, []byte{0x01, 'q', 0x02}) {
				t.Errorf("reply %v properties %+v", r, r.Props)
			}
			if r.Props != nil && r.Props.ContentType != "text/plain" {
				t.Errorf("reply Content Type %q", r.Props.ContentType)
			}
		})
	}
}
