package mqtt

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/message"
)

// TestConnsRegistry checks the admin registry: a connection is listed with
// its counters while open, closing it through the registry sends
// DISCONNECT 0x98 Administrative action, and it is removed at the end.
func TestConnsRegistry(t *testing.T) {
	reg := conns.New()
	b := startBroker(t, func(c *Config) { c.Conns = reg })
	id := clientID("reg")
	c := connectV5(t, b.addr, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	c.subscribe(t, "reg/t", 0)
	c.publish(t, &paho.Publish{Topic: "reg/t", Payload: []byte("x")})
	c.In.next(t, 5*time.Second)

	var got conns.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		list := reg.List()
		if len(list) == 1 {
			got = list[0]
			if got.MessagesIn == 1 && got.MessagesOut == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry = %+v, want one connection with 1 in, 1 out", list)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.Protocol != message.ProtocolMQTT || got.ClientID != id || got.Transport != "tcp" || got.Remote == "" {
		t.Fatalf("registered %+v", got)
	}
	if err := reg.Close(got.ID, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-c.Disconnects:
		if d.ReasonCode != 0x98 {
			t.Fatalf("DISCONNECT reason 0x%02x, want 0x98", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT after Close")
	}
	for reg.Len() != 0 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("still registered: %+v", reg.List())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
