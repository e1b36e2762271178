package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
)

// ---- go-amqp (AMQP 1.0) ----

// dialAMQP connects go-amqp to the broker's AMQP listener, anonymously
// unless opts says otherwise; cleanup closes the connection.
func dialAMQP(t testing.TB, b *broker, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	if opts == nil {
		opts = &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := goamqp.Dial(ctx, b.AMQPURL(), opts)
	if err != nil {
		t.Fatalf("amqp dial %s: %v", b.AMQPAddr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// amqpSession opens a session on a new anonymous connection.
func amqpSession(t testing.TB, b *broker) *goamqp.Session {
	t.Helper()
	return newAMQPSession(t, dialAMQP(t, b, nil))
}

func newAMQPSession(t testing.TB, c *goamqp.Conn) *goamqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("amqp session: %v", err)
	}
	return s
}

func amqpSender(t testing.TB, s *goamqp.Session, addr string, opts *goamqp.SenderOptions) *goamqp.Sender {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	snd, err := s.NewSender(ctx, addr, opts)
	if err != nil {
		t.Fatalf("amqp sender %q: %v", addr, err)
	}
	return snd
}

func amqpReceiver(t testing.TB, s *goamqp.Session, addr string, opts *goamqp.ReceiverOptions) *goamqp.Receiver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	r, err := s.NewReceiver(ctx, addr, opts)
	if err != nil {
		t.Fatalf("amqp receiver %q: %v", addr, err)
	}
	return r
}

// sendAMQP sends m; on an unsettled link it returns once the broker
// accepted it.
func sendAMQP(t testing.TB, snd *goamqp.Sender, m *goamqp.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := snd.Send(ctx, m, nil); err != nil {
		t.Fatalf("amqp send to %s: %v", snd.Address(), err)
	}
}

// recvAMQP returns the next message or fails, saying what was awaited.
func recvAMQP(t testing.TB, r *goamqp.Receiver, what string) *goamqp.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), recvTimeout)
	defer cancel()
	m, err := r.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("%s: amqp receive on %s: %v", what, r.Address(), err)
	}
	return m
}

// acceptAMQP settles m as accepted.
func acceptAMQP(t testing.TB, r *goamqp.Receiver, m *goamqp.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := r.AcceptMessage(ctx, m); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

// quietAMQP fails if a message arrives within d.
func quietAMQP(t testing.TB, r *goamqp.Receiver, d time.Duration, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := r.Receive(ctx, nil); err == nil {
		t.Errorf("%s: unexpected message %q", what, m.GetData())
	}
}

func strPtr(s string) *string { return &s }

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// dialAMQPWS opens a WebSocket to /amqp offering the "amqp" subprotocol
// and returns it as a net.Conn for goamqp.NewConn.
func dialAMQPWS(t testing.TB, b *broker) net.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: opTimeout, Subprotocols: []string{"amqp"}}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, b.AMQPWSURL(), nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("websocket dial %s: %v %s", b.AMQPWSURL(), err, status)
	}
	if got := ws.Subprotocol(); got != "amqp" {
		t.Errorf("websocket subprotocol = %q, want \"amqp\"", got)
	}
	c := &wsConn{ws: ws}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAMQPSettleModesAndCredit: a pre-settled and an unsettled go-amqp
// sender fill a queue before any consumer exists; a receiver with manual
// credit gets exactly what it grants, a drain uses up its credit, and a
// receiver that asks for pre-settled deliveries takes messages off the
// queue without settling them.
func TestAMQPSettleModesAndCredit(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	s := amqpSession(t, b)
	settled := amqpSender(t, s, "/queues/it-credit", &goamqp.SenderOptions{SettlementMode: goamqp.SenderSettleModeSettled.Ptr()})
	unsettled := amqpSender(t, s, "/queues/it-credit", nil)
	for i := range 3 {
		sendAMQP(t, settled, goamqp.NewMessage(fmt.Appendf(nil, "s%d", i)))
	}
	for i := range 2 {
		sendAMQP(t, unsettled, goamqp.NewMessage(fmt.Appendf(nil, "u%d", i))) // returns once accepted
	}

	r := amqpReceiver(t, s, "/queues/it-credit", &goamqp.ReceiverOptions{Credit: -1})
	quietAMQP(t, r, quietPeriod, "no credit granted yet")
	if err := r.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		m := recvAMQP(t, r, "within credit 2")
		acceptAMQP(t, r, m)
		got = append(got, string(m.GetData()))
	}
	quietAMQP(t, r, quietPeriod, "credit used up")
	if err := r.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := recvAMQP(t, r, "within credit 10")
		acceptAMQP(t, r, m)
		got = append(got, string(m.GetData()))
	}
	// Queue order is publish order, whichever sender.
	if want := "s0,s1,s2,u0,u1"; strings.Join(got, ",") != want {
		t.Errorf("received %v, want %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := r.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	sendAMQP(t, unsettled, goamqp.NewMessage([]byte("late")))
	quietAMQP(t, r, quietPeriod, "after drain")
	if err := r.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	if m := recvAMQP(t, r, "after new credit"); string(m.GetData()) != "late" {
		t.Errorf("got %q, want late", m.GetData())
	} else {
		acceptAMQP(t, r, m)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A receiver asking for pre-settled deliveries (at-most-once) needs no
	// disposition: the message is gone once sent.
	sendAMQP(t, unsettled, goamqp.NewMessage([]byte("fire-and-forget")))
	ps := amqpReceiver(t, s, "/queues/it-credit", &goamqp.ReceiverOptions{Credit: 10,
		RequestedSenderSettleMode: goamqp.SenderSettleModeSettled.Ptr()})
	if m := recvAMQP(t, ps, "pre-settled delivery"); string(m.GetData()) != "fire-and-forget" {
		t.Errorf("got %q", m.GetData())
	}
	if err := ps.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again := amqpReceiver(t, amqpSession(t, b), "/queues/it-credit", &goamqp.ReceiverOptions{Credit: 10})
	quietAMQP(t, again, quietPeriod, "a pre-settled delivery is not redelivered")
}

// TestAMQPOutcomes: released comes back with the same delivery count,
// modified (delivery-failed) with one more, rejected goes to the
// dead-letter queue, accepted removes the message.
func TestAMQPOutcomes(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	s := amqpSession(t, b)
	snd := amqpSender(t, s, "/queues/it-outcomes", nil)
	r := amqpReceiver(t, s, "/queues/it-outcomes", &goamqp.ReceiverOptions{Credit: 1})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()

	sendAMQP(t, snd, goamqp.NewMessage([]byte("job")))
	m := recvAMQP(t, r, "first delivery")
	if err := r.ReleaseMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	m = recvAMQP(t, r, "after release")
	if string(m.GetData()) != "job" || m.Header != nil && m.Header.DeliveryCount != 0 {
		t.Fatalf("after release: %q header %+v (released does not count)", m.GetData(), m.Header)
	}
	if err := r.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	m = recvAMQP(t, r, "after modify")
	if m.Header == nil || m.Header.DeliveryCount != 1 {
		t.Fatalf("after modify: header %+v, want delivery-count 1", m.Header)
	}
	if err := r.RejectMessage(ctx, m, &goamqp.Error{Condition: "app:bad-job", Description: "cannot do"}); err != nil {
		t.Fatal(err)
	}
	sendAMQP(t, snd, goamqp.NewMessage([]byte("good")))
	m = recvAMQP(t, r, "next message")
	if string(m.GetData()) != "good" {
		t.Fatalf("got %q, want good (the rejected one must not come back)", m.GetData())
	}
	acceptAMQP(t, r, m)
	quietAMQP(t, r, quietPeriod, "after accept")

	waitMetrics(t, b, []string{
		"rosetta_messages_dead_lettered_total 1",
		`rosetta_queue_depth{queue="$dlq"} 1`,
		`rosetta_queue_depth{queue="it-outcomes"} 0`,
	})
}

// waitMetrics polls /metrics until it holds every line in want.
func waitMetrics(t *testing.T, b *broker, want []string) string {
	t.Helper()
	deadline := time.Now().Add(recvTimeout)
	for {
		_, _, body := b.httpGet(t, "/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAMQPSelector: a receiver's JMS selector (apache.org:selector-filter)
// sees only matching messages, from AMQP senders (typed application
// properties) and from MQTT 5 publishers (user properties) alike.
func TestAMQPSelector(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	s := amqpSession(t, b)
	heavy := amqpReceiver(t, s, "/topics/it/sel/#", &goamqp.ReceiverOptions{Credit: 10,
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = 'blue' AND weight > 2500")}})
	blue := amqpReceiver(t, s, "/topics/it/sel/#", &goamqp.ReceiverOptions{Credit: 10,
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = 'blue'")}})
	snd := amqpSender(t, s, "/topics/it/sel/a", nil)
	for _, c := range []struct {
		color  string
		weight int64
	}{{"red", 3000}, {"blue", 2000}, {"blue", 3000}} {
		m := goamqp.NewMessage(fmt.Appendf(nil, "%s-%d", c.color, c.weight))
		m.ApplicationProperties = map[string]any{"color": c.color, "weight": c.weight}
		sendAMQP(t, snd, m)
	}
	mq := connectV5(t, b.MQTTAddr, nil)
	mq.publish(t, &paho.Publish{Topic: "it/sel/mqtt", QoS: 1, Payload: []byte("blue-mqtt"),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "color", Value: "blue"}}}})

	if m := recvAMQP(t, heavy, "heavy blue"); string(m.GetData()) != "blue-3000" {
		t.Errorf("heavy selector got %q, want blue-3000", m.GetData())
	} else {
		acceptAMQP(t, heavy, m)
	}
	quietAMQP(t, heavy, quietPeriod, "heavy selector")
	var got []string
	for range 3 {
		m := recvAMQP(t, blue, "blue")
		acceptAMQP(t, blue, m)
		got = append(got, string(m.GetData()))
	}
	if want := "blue-2000,blue-3000,blue-mqtt"; strings.Join(got, ",") != want {
		t.Errorf("blue selector got %v, want %s", got, want)
	}
	quietAMQP(t, blue, quietPeriod, "blue selector")

	// A selector that does not parse refuses the link.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := s.NewReceiver(ctx, "/queues/it-sel", &goamqp.ReceiverOptions{
		Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("color = ")}})
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField {
		t.Errorf("bad selector: %v, want %s", err, goamqp.ErrCondInvalidField)
	}
}

// TestAMQPDynamicRequestReply: a requester attaches a dynamic receiver
// (a temporary queue named by the broker), sends a request whose reply-to
// is that address, and a responder on another connection answers to it
// through the anonymous relay with the request's correlation-id.
func TestAMQPDynamicRequestReply(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	client, service := amqpSession(t, b), amqpSession(t, b)
	replies := amqpReceiver(t, client, "", &goamqp.ReceiverOptions{DynamicAddress: true, Credit: 10})
	addr := replies.Address()
	if !strings.HasPrefix(addr, "/queues/") {
		t.Fatalf("dynamic address %q, want a /queues/ address", addr)
	}
	requests := amqpReceiver(t, service, "/queues/it-rpc", &goamqp.ReceiverOptions{Credit: 10})
	req := goamqp.NewMessage([]byte("ping"))
	req.Properties = &goamqp.MessageProperties{ReplyTo: &addr, CorrelationID: "rpc-1"}
	sendAMQP(t, amqpSender(t, client, "/queues/it-rpc", nil), req)

	got := recvAMQP(t, requests, "request")
	acceptAMQP(t, requests, got)
	if got.Properties == nil || deref(got.Properties.ReplyTo) != addr || got.Properties.CorrelationID != "rpc-1" {
		t.Fatalf("request properties %+v", got.Properties)
	}
	resp := goamqp.NewMessage([]byte("pong"))
	resp.Properties = &goamqp.MessageProperties{To: got.Properties.ReplyTo, CorrelationID: got.Properties.CorrelationID}
	sendAMQP(t, amqpSender(t, service, "", nil), resp) // anonymous relay: the address is in properties.to

	m := recvAMQP(t, replies, "reply")
	acceptAMQP(t, replies, m)
	if string(m.GetData()) != "pong" || m.Properties == nil || m.Properties.CorrelationID != "rpc-1" {
		t.Fatalf("reply %q %+v", m.GetData(), m.Properties)
	}
	// The temporary queue is its creator's alone.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := service.NewReceiver(ctx, addr, nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Errorf("foreign receiver on a temporary queue: %v", err)
	}
}

// TestAMQPCompetingReceivers: two connections consuming /queues/x share
// its messages, each delivered once.
func TestAMQPCompetingReceivers(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	r1 := amqpReceiver(t, amqpSession(t, b), "/queues/it-work", &goamqp.ReceiverOptions{Credit: 5})
	r2 := amqpReceiver(t, amqpSession(t, b), "/queues/it-work", &goamqp.ReceiverOptions{Credit: 5})
	snd := amqpSender(t, amqpSession(t, b), "/queues/it-work", nil)
	const n = 40
	for i := range n {
		sendAMQP(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "job-%d", i)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	count := [2]int{}
	var wg sync.WaitGroup
	for i, r := range []*goamqp.Receiver{r1, r2} {
		wg.Go(func() {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				m, err := r.Receive(ctx, nil)
				cancel()
				if err != nil {
					return
				}
				_ = r.AcceptMessage(context.Background(), m)
				mu.Lock()
				seen[string(m.GetData())]++
				count[i]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n || count[0]+count[1] != n {
		t.Fatalf("%d distinct of %d, split %v", len(seen), n, count)
	}
	if count[0] == 0 || count[1] == 0 {
		t.Errorf("one receiver got nothing: split %v", count)
	}
}
