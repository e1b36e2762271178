package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// TestMQTT5SessionAcrossCrash: a persistent MQTT 5 session comes back
// whole after SIGKILL: CONNACK says session present, a subscription keeps
// its options (granted QoS 2, subscription identifier), a shared
// subscription consumes again, and what was published for the session
// before the crash and after the restart, while it was away, arrives.
func TestMQTT5SessionAcrossCrash(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, brokerOpts{DataDir: dir})
	id := clientID("crash-sess")
	expiry := uint32(3600)
	cp := func(clean bool) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	}
	c := connectV5(t, b.MQTTAddr, cp(true))
	subID := 9
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{
		Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &subID},
		Subscriptions: []paho.SubscribeOptions{{Topic: "rs/a", QoS: 2}, {Topic: "$share/grp/rs/s", QoS: 1}},
	})
	if err != nil || len(sa.Reasons) != 2 || sa.Reasons[0] != 2 || sa.Reasons[1] != 1 {
		t.Fatalf("subscribe: %v %+v", err, sa)
	}
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c)
	pub := connectV5(t, b.MQTTAddr, nil)
	pub.publish(t, &paho.Publish{Topic: "rs/a", QoS: 2, Payload: []byte("before the crash")})
	b.Kill(t)

	b2 := startBroker(t, brokerOpts{DataDir: dir})
	pub2 := connectV5(t, b2.MQTTAddr, nil)
	pub2.publish(t, &paho.Publish{Topic: "rs/a", QoS: 2, Payload: []byte("after the restart")})
	c2 := connectV5(t, b2.MQTTAddr, cp(false))
	if !c2.Connack.SessionPresent {
		t.Fatal("CONNACK session present = 0 for a persistent session after a crash")
	}
	for _, want := range []string{"before the crash", "after the restart"} {
		m := c2.In.next(t, recvTimeout)
		if m.Topic != "rs/a" || string(m.Payload) != want || m.QoS != 2 {
			t.Fatalf("got %v, want %q at QoS 2 on rs/a", m, want)
		}
		if m.Props == nil || m.Props.SubscriptionIdentifier == nil || *m.Props.SubscriptionIdentifier != subID {
			t.Errorf("%q: subscription identifier %+v, want %d", want, m.Props, subID)
		}
	}
	pub2.publish(t, &paho.Publish{Topic: "rs/s", QoS: 1, Payload: []byte("shared")})
	if m := c2.In.next(t, recvTimeout); m.Topic != "rs/s" || string(m.Payload) != "shared" {
		t.Fatalf("got %v, want the shared subscription's message", m)
	}
}

// TestExpiredRecoveredFromDisk: durable messages that expire while the
// broker is down are not delivered after the restart; with
// queues.dead_letter_expired they are in the dead-letter queue with
// reason expired, and the messages without an expiry are delivered.
func TestExpiredRecoveredFromDisk(t *testing.T) {
	dir := t.TempDir()
	// Reading the dead-letter queue ("$" addresses are the broker's) takes
	// an explicit rule.
	cfg := `auth:
  allow_anonymous: true
  anonymous_permissions:
    - {action: publish, pattern: "#"}
    - {action: subscribe, pattern: "#"}
    - {action: subscribe, pattern: "$dlq"}
queues:
  dead_letter_expired: true
`
	b := startBroker(t, brokerOpts{DataDir: dir, Config: cfg})
	sc := dialSTOMP(t, b)
	expires := strconv.FormatInt(time.Now().Add(1500*time.Millisecond).UnixMilli(), 10)
	for i := range 10 {
		hdrs := []func(*frame.Frame) error{stomp.SendOpt.Receipt, stomp.SendOpt.Header("persistent", "true")}
		body := "keep-" + strconv.Itoa(i)
		if i%2 == 0 {
			hdrs = append(hdrs, stomp.SendOpt.Header("expires", expires))
			body = "expire-" + strconv.Itoa(i)
		}
		if err := sc.Send("/queue/exp-disk", "text/plain", []byte(body), hdrs...); err != nil {
			t.Fatal(err)
		}
	}
	b.Kill(t)
	time.Sleep(2 * time.Second) // past the expiry, with the broker down

	b2 := startBroker(t, brokerOpts{DataDir: dir, Config: cfg})
	sc2 := dialSTOMP(t, b2)
	sub, err := sc2.Subscribe("/queue/exp-disk", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 10; i += 2 {
		m := <-sub.C
		if m.Err != nil || string(m.Body) != "keep-"+strconv.Itoa(i) {
			t.Fatalf("got %q (%v), want keep-%d", m.Body, m.Err, i)
		}
	}
	select {
	case m := <-sub.C:
		t.Fatalf("an expired message was delivered: %q", m.Body)
	case <-time.After(quietPeriod):
	}
	dlq, err := sc2.Subscribe("/queue/$dlq", stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case m := <-dlq.C:
			if m.Err != nil || m.Header.Get("x-death-reason") != "expired" {
				t.Fatalf("dead letter %q headers %v (%v)", m.Body, m.Header, m.Err)
			}
		case <-time.After(recvTimeout):
			t.Fatal("expired messages not dead-lettered after the restart")
		}
	}
}
