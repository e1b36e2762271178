package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"
	"github.com/go-stomp/stomp/v3"
)

// TestTransformPerReceiver is issue 6's headline: an MQTT device publishes
// CBOR; AMQP 1.0 receivers that asked for application/json and STOMP
// subscribers that asked for application/xml each get their format, while
// an MQTT subscriber gets the original CBOR bytes. Each message is
// transformed once per format however many receivers want that format
// (two of each here), which the metrics show.
func TestTransformPerReceiver(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	const n = 3

	var amqpIn []*goamqp.Receiver
	for range 2 {
		amqpIn = append(amqpIn, amqpReceiver(t, amqpSession(t, b), "/topics/devices/+/reading",
			&goamqp.ReceiverOptions{Credit: 10, Properties: map[string]any{"accept": "application/json"}}))
	}
	var stompIn []*stomp.Subscription
	for range 2 {
		sc := dialSTOMP(t, b)
		stompIn = append(stompIn, subscribeSTOMP(t, sc, "/topic/devices/+/reading", stomp.AckAuto,
			stomp.SubscribeOpt.Header("accept", "application/xml")))
	}
	raw := make(chan mqtt.Message, n)
	mc := connectV3(t, v3Options(b.TCPURL(), clientID("cbor-raw")))
	waitV3(t, mc.Subscribe("devices/+/reading", 1, func(_ mqtt.Client, m mqtt.Message) { raw <- m }), "subscribe")

	dev := connectV5(t, b.MQTTAddr, nil)
	var sent [][]byte
	for i := range n {
		body, err := cbor.Marshal(map[string]any{"seq": i, "temp": 21.5, "unit": "C"})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, body)
		dev.publish(t, &paho.Publish{Topic: "devices/42/reading", QoS: 1, Payload: body,
			Properties: &paho.PublishProperties{ContentType: "application/cbor"}})
	}

	for i := range n {
		want := fmt.Sprintf(`"seq":%d`, i)
		for j, r := range amqpIn {
			m := recvAMQP(t, r, "json receiver")
			body := string(m.GetData())
			if m.Properties == nil || deref(m.Properties.ContentType) != "application/json" || !strings.Contains(body, want) || !json.Valid(m.GetData()) {
				t.Fatalf("amqp receiver %d, message %d: content type %v body %q", j, i, m.Properties, body)
			}
			acceptAMQP(t, r, m)
		}
		for j, s := range stompIn {
			select {
			case m := <-s.C:
				if m.Err != nil || m.ContentType != "application/xml" || !strings.Contains(string(m.Body), fmt.Sprintf("<seq>%d</seq>", i)) {
					t.Fatalf("stomp subscriber %d, message %d: %q %q (%v)", j, i, m.ContentType, m.Body, m.Err)
				}
			case <-time.After(recvTimeout):
				t.Fatalf("stomp subscriber %d: no message %d", j, i)
			}
		}
		select {
		case m := <-raw:
			if string(m.Payload()) != string(sent[i]) {
				t.Fatalf("mqtt subscriber got %x, want the original CBOR %x", m.Payload(), sent[i])
			}
		case <-time.After(recvTimeout):
			t.Fatalf("mqtt subscriber: no message %d", i)
		}
	}

	// Once per (message, format): n misses and n hits for each of the two
	// formats.
	body := waitMetrics(t, b, []string{"rosetta_transform_cache_misses_total"})
	if got := metricValue(t, body, "rosetta_transform_cache_misses_total"); got != 2*n {
		t.Errorf("transformations computed: %v, want %d (once per message and format)", got, 2*n)
	}
	if got := metricValue(t, body, "rosetta_transform_cache_hits_total"); got != 2*n {
		t.Errorf("transformations served from the cache: %v, want %d", got, 2*n)
	}
}

// TestTransformRefusals: an unknown format is refused at subscribe time in
// each protocol's own way.
func TestTransformRefusals(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	sc := dialSTOMP(t, b)
	sub, err := sc.Subscribe("/topic/x", stomp.AckAuto, stomp.SubscribeOpt.Header("accept", "application/klingon"))
	if err == nil {
		select {
		case m := <-sub.C:
			if m.Err == nil || !strings.Contains(m.Err.Error()+m.Header.Get("message"), "format") {
				t.Errorf("stomp: %v %v", m.Err, m.Header)
			}
		case <-time.After(recvTimeout):
			t.Error("stomp: unknown format not refused")
		}
	}
	s := amqpSession(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err = s.NewReceiver(ctx, "/topics/x", &goamqp.ReceiverOptions{Properties: map[string]any{"accept": "application/klingon"}})
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField {
		t.Errorf("amqp attach: %v, want amqp:invalid-field", err)
	}
	c := connectV5(t, b.MQTTAddr, nil)
	sa, _ := c.Subscribe(ctx, &paho.Subscribe{
		Properties:    &paho.SubscribeProperties{User: paho.UserProperties{{Key: "accept", Value: "application/klingon"}}},
		Subscriptions: []paho.SubscribeOptions{{Topic: "x", QoS: 1}},
	})
	if sa == nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 0x83 {
		t.Errorf("mqtt SUBACK %+v, want reason 0x83", sa)
	}
}

var metricLine = regexp.MustCompile(`(?m)^(\S+?)(\{[^}]*\})? (\S+)$`)

// metricValue sums the samples of one metric family in a scrape.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	sum, seen := 0.0, false
	for _, m := range metricLine.FindAllStringSubmatch(body, -1) {
		if m[1] != name {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%s: %v", m[0], err)
		}
		sum, seen = sum+v, true
	}
	if !seen {
		t.Fatalf("/metrics has no %s", name)
	}
	return sum
}
