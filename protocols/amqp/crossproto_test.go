package amqp

import (
	"bytes"
	"context"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// TestCrossProtocolToAMQP publishes a message as the MQTT front-end would
// (docs/mapping.md, MQTT ingress) straight to the exchange and checks,
// field by field, what a go-amqp receiver gets.
func TestCrossProtocolToAMQP(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	r := receiver(t, s, "/topics/sensors/+/temp", nil)
	expires := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	created := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	m := &message.Message{
		Address:       address.MustParseMQTT("sensors/1/temp"),
		Body:          []byte(`{"c":21.5}`),
		ContentType:   "application/json",
		CorrelationID: []byte("corr-1"),
		ReplyTo:       "replies/dev-1",
		Durable:       true,
		Priority:      7,
		Expires:       expires,
		CreatedAt:     created,
		Headers: message.Headers{
			{Key: "unit", Value: message.String("C")},
			{Key: "unit", Value: message.String("K")}, // repeated: first wins in application-properties
			{Key: "x-priority", Value: message.String("7")},
		},
		Annotations: message.Annotations{
			Origin: message.Origin{Protocol: message.ProtocolMQTT, ClientID: "dev-1", ConnID: "c1", User: "bob"},
			QoS:    1,
			Trace:  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			Native: message.Headers{{Key: "mqtt.payload-format", Value: message.Int(1)}},
		},
	}
	if _, err := b.x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	got := recv(t, r)
	if !bytes.Equal(got.GetData(), m.Body) {
		t.Errorf("body %q", got.GetData())
	}
	h := got.Header
	if h == nil || !h.Durable || h.Priority != 7 || h.TTL <= 0 || h.TTL > time.Minute || h.DeliveryCount != 0 {
		t.Errorf("header %+v", h)
	}
	p := got.Properties
	if p == nil {
		t.Fatal("no properties")
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("message-id", p.MessageID, m.ID)
	check("user-id", string(p.UserID), "bob")
	check("to", deref(p.To), "/topics/sensors/1/temp")
	check("reply-to", deref(p.ReplyTo), "/topics/replies/dev-1")
	check("correlation-id", p.CorrelationID, "corr-1")
	check("content-type", deref(p.ContentType), "application/json")
	check("absolute-expiry-time", deref(p.AbsoluteExpiryTime).UnixMilli(), expires.UnixMilli())
	check("creation-time", deref(p.CreationTime).UnixMilli(), created.UnixMilli())
	check("unit", got.ApplicationProperties["unit"], "C")
	check("traceparent", got.ApplicationProperties["traceparent"], m.Annotations.Trace)
	check("x-priority", got.Annotations["x-priority"], "7")
	check("x-origin-protocol", got.Annotations["x-origin-protocol"], "mqtt")
	check("x-origin-client-id", got.Annotations["x-origin-client-id"], "dev-1")
	check("x-origin-user", got.Annotations["x-origin-user"], "bob")
	lossy := lossyCounts(b.x)
	check("lossy payload-format", lossy["mqtt>amqp:payload-format"], uint64(1))
	check("lossy repeated key", lossy["mqtt>amqp:headers"], uint64(1))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestCrossProtocolFromAMQP sends with go-amqp and checks the canonical
// message a core consumer gets (what MQTT and STOMP receivers render).
func TestCrossProtocolFromAMQP(t *testing.T) {
	b := newBroker(t, nil)
	got := make(chan *exchange.Delivery, 1)
	if err := b.x.DeclareQueue("core-view", exchange.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := b.x.Bind("core-view", address.MustParseFilter("orders/#")); err != nil {
		t.Fatal(err)
	}
	cons, err := b.x.Consume("core-view", exchange.ConsumerOptions{Credit: 1, AutoAck: true,
		Handler: func(d *exchange.Delivery) { got <- d }})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	c := b.dial(t, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("carol", "x"), ContainerID: "shop-1"})
	s, err := c.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	corr := goamqp.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	ct, ce, subj, rt, gid := "text/plain", "gzip", "new-order", "/queues/answers", "g1"
	created := time.UnixMilli(1_700_000_000_000).UTC()
	msg := &goamqp.Message{
		Header: &goamqp.MessageHeader{Durable: true, Priority: 200, TTL: time.Minute},
		Properties: &goamqp.MessageProperties{MessageID: uint64(7), CorrelationID: corr, ContentType: &ct,
			ContentEncoding: &ce, Subject: &subj, ReplyTo: &rt, GroupID: &gid, CreationTime: &created},
		ApplicationProperties: map[string]any{"qty": int32(3)},
		Annotations:           goamqp.Annotations{"x-tenant": "acme", "x-origin-user": "mallory", "not-x": 1},
		Data:                  [][]byte{[]byte("3 apples")},
	}
	before := time.Now()
	send(t, sender(t, s, "/topics/orders/eu", nil), msg)
	var d *exchange.Delivery
	select {
	case d = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	m := d.Msg
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("address", m.Address.MQTT(), "orders/eu")
	check("body", string(m.Body), "3 apples")
	check("durable", m.Durable, true)
	check("priority", m.Priority, uint8(9)) // 200 is above the canonical 0–9
	if m.Expires.Before(before.Add(time.Minute-time.Second)) || m.Expires.After(time.Now().Add(time.Minute)) {
		t.Errorf("expires %v", m.Expires)
	}
	check("content-type", m.ContentType, ct)
	check("content-encoding", m.ContentEncoding, ce)
	check("subject", m.Subject, subj)
	check("reply-to", m.ReplyTo, "$queue/answers") // canonical (ADR 0002)
	check("group-id", m.GroupID, gid)
	check("created", m.CreatedAt.UnixMilli(), created.UnixMilli())
	check("correlation-id", string(m.CorrelationID), "01020304-0506-0708-090a-0b0c0d0e0f10")
	check("correlation-id type", m.Annotations.Native.GetString(nativeCorrIDType), "uuid")
	check("message-id", m.Annotations.Native.GetString(nativeMessageID), "7")
	check("user", m.UserID, "carol")
	check("origin", m.Annotations.Origin.Protocol, message.ProtocolAMQP)
	check("origin client", m.Annotations.Origin.ClientID, "shop-1")
	check("origin user", m.Annotations.Origin.User, "carol")
	check("qos", m.Annotations.QoS, uint8(1))
	v, _ := m.Headers.Get("qty")
	check("qty", v.IntValue(), int64(3))
	v, _ = m.Headers.Get("x-tenant")
	check("x-tenant", v.Str(), "acme")
	if _, ok := m.Headers.Get("x-origin-user"); ok {
		t.Error("a client's x-origin-user became a header")
	}
	lossy := lossyCounts(b.x)
	check("lossy priority", lossy["amqp>core:priority"], uint64(1))
	check("lossy annotation", lossy["amqp>core:message-annotations"], uint64(1))
}

// lossyCounts reads the exchange's conversion-loss counters as
// "from>to:field" -> count.
func lossyCounts(x *exchange.Exchange) map[string]uint64 {
	out := make(map[string]uint64)
	for _, l := range x.Lossy() {
		out[l.From+">"+l.To+":"+l.Field] = l.N
	}
	return out
}

// TestLossyTooLarge: a delivery larger than the receiver's
// max-message-size is not sent (it is rejected to the dead-letter queue)
// and counted as too-large for the origin protocol and amqp.
func TestLossyTooLarge(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	r := receiver(t, s, "/topics/big/+", &goamqp.ReceiverOptions{MaxMessageSize: 512})
	m := &message.Message{
		Address:     address.MustParseMQTT("big/1"),
		Body:        bytes.Repeat([]byte("x"), 2048),
		Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolSTOMP}},
	}
	if _, err := b.x.Publish(context.Background(), m, exchange.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	noMessage(t, r)
	eventually(t, "too-large counted", func() bool { return lossyCounts(b.x)["stomp>amqp:too-large"] == 1 })
}
