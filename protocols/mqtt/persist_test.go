package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/storage/memory"
)

// startBrokerOn is startBroker with an exchange over store, so that a
// second broker on the same store is a restart.
func startBrokerOn(t *testing.T, store exchange.Store) *broker {
	t.Helper()
	return startBrokerX(t, exchange.Config{Store: store})
}

// TestSessionPersistsAcrossRestart checks that a persistent session comes
// back after a broker restart with Session Present set and every
// subscription option kept: granted QoS, No Local, Retain As Published,
// the Subscription Identifier, and a shared subscription.
func TestSessionPersistsAcrossRestart(t *testing.T) {
	store := memory.New()
	b1 := startBrokerOn(t, store)
	id := clientID("persist")
	expiry := uint32(3600)
	cp := func(clean bool) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	}
	c1 := connectV5(t, b1.addr, cp(true))
	subID := 7
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	sa, err := c1.Subscribe(ctx, &paho.Subscribe{
		Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &subID},
		Subscriptions: []paho.SubscribeOptions{
			{Topic: "p/a", QoS: 2, NoLocal: true},
			{Topic: "p/r", QoS: 0, RetainAsPublished: true},
		},
	})
	if err != nil || len(sa.Reasons) != 2 || sa.Reasons[0] != 2 || sa.Reasons[1] != 0 {
		t.Fatalf("subscribe: %v %+v", err, sa)
	}
	c1.subscribe(t, "$share/g/p/s", 1)
	_ = c1.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c1)
	b1.stop(t)

	b2 := startBrokerOn(t, store)
	pub := connectV5(t, b2.addr, nil)
	pub.publish(t, &paho.Publish{Topic: "p/a", QoS: 2, Payload: []byte("while away")})
	pub.publish(t, &paho.Publish{Topic: "p/r", QoS: 1, Retain: true, Payload: []byte("retained")})

	c2 := connectV5(t, b2.addr, cp(false))
	if !c2.Connack.SessionPresent {
		t.Fatal("Session Present = 0 when resuming a persistent session after a restart")
	}
	got := map[string]msg{}
	for _, m := range c2.In.collect(t, 2, recvTimeout) {
		got[m.Topic] = m
	}
	a := got["p/a"]
	if string(a.Payload) != "while away" || a.QoS != 2 || a.Props == nil || a.Props.SubscriptionIdentifier == nil || *a.Props.SubscriptionIdentifier != subID {
		t.Errorf("p/a: %v props %+v: want QoS 2 with subscription identifier %d", a, a.Props, subID)
	}
	if r := got["p/r"]; string(r.Payload) != "retained" || r.QoS != 0 || !r.Retain {
		t.Errorf("p/r: %v: want QoS 0 (granted) with RETAIN kept (Retain As Published)", r)
	}
	// No Local survived: the client's own publish to p/a does not come back.
	c2.publish(t, &paho.Publish{Topic: "p/a", QoS: 1, Payload: []byte("own")})
	// The shared subscription is back.
	pub.publish(t, &paho.Publish{Topic: "p/s", QoS: 1, Payload: []byte("shared")})
	if m := c2.In.next(t, recvTimeout); m.Topic != "p/s" || string(m.Payload) != "shared" {
		t.Errorf("got %v, want the shared subscription's message", m)
	}
	c2.In.quiet(t, quietPeriod)
}

// TestRestoredSessionExpires checks that a persistent session restored
// from its record, whose client never comes back, expires: its queue and
// record are deleted.
func TestRestoredSessionExpires(t *testing.T) {
	store := memory.New()
	b1 := startBrokerOn(t, store)
	id := clientID("persist-exp")
	expiry := uint32(2)
	c := connectV5(t, b1.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	c.subscribe(t, "pe/x", 1)
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c)
	b1.stop(t)

	b2 := startBrokerOn(t, store)
	if _, ok := b2.x.State(sessionKey(id)); !ok {
		t.Fatal("no session record after the restart")
	}
	if _, ok := b2.x.Queue(sessionQueue(id)); !ok {
		t.Fatal("no session queue after the restart")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, rec := b2.x.State(sessionKey(id))
		_, q := b2.x.Queue(sessionQueue(id))
		if !rec && !q {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restored session did not expire: record %v queue %v", rec, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCleanSessionLeavesNoRecord checks that only persistent sessions are
// recorded, and that a clean start on a persistent session's identifier
// deletes its record.
func TestCleanSessionLeavesNoRecord(t *testing.T) {
	store := memory.New()
	b := startBrokerOn(t, store)
	id := clientID("persist-clean")
	c := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	c.subscribe(t, "pc/x", 1)
	if _, ok := b.x.State(sessionKey(id)); ok {
		t.Fatal("a session without expiry was recorded")
	}
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, c)

	expiry := uint32(600)
	p := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	p.subscribe(t, "pc/y", 1)
	v, ok := b.x.State(sessionKey(id))
	if !ok {
		t.Fatal("persistent session not recorded")
	}
	rec, err := decodeSessionRecord(v)
	if err != nil || len(rec.Subs) != 1 || rec.Subs[0].Filter != "pc/y" || rec.Expiry != 600 || rec.Protocol != 5 {
		t.Fatalf("record %+v %v", rec, err)
	}
	_ = p.Disconnect(&paho.Disconnect{ReasonCode: 0})
	waitDone(t, p)
	c2 := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	_ = c2
	if _, ok := b.x.State(sessionKey(id)); ok {
		t.Fatal("record kept after a clean start")
	}
}
