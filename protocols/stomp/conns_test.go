package stomp

import (
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/message"
)

// TestConnsRegistry checks the admin registry: a session is listed with its
// counters once connected, closing it through the registry sends an ERROR
// frame, and it is removed at the end.
func TestConnsRegistry(t *testing.T) {
	reg := conns.New()
	b := newBroker(t, func(c *Config) { c.Conns = reg })
	r := b.raw(t)
	r.connect("client-id:tool")
	r.send("SUBSCRIBE\nid:0\ndestination:/topic/reg\n\n\x00")
	r.send("SEND\ndestination:/topic/reg\nreceipt:1\n\nhi\x00")
	seen := map[string]bool{}
	for range 2 {
		seen[r.read().Command] = true
	}
	if !seen["RECEIPT"] || !seen["MESSAGE"] {
		t.Fatalf("frames %v, want a RECEIPT and a MESSAGE", seen)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, reg.List())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var got conns.Conn
	wait("counters", func() bool {
		list := reg.List()
		if len(list) != 1 {
			return false
		}
		got = list[0]
		return got.MessagesIn == 1 && got.MessagesOut == 1
	})
	if got.Protocol != message.ProtocolSTOMP || got.ClientID != "tool" || got.Transport != "tcp" || got.Remote == "" {
		t.Fatalf("registered %+v", got)
	}
	if err := reg.Close(got.ID, "test"); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatalf("no ERROR after Close: %v", err)
		}
		if f.Command == "ERROR" {
			break
		}
	}
	wait("removal", func() bool { return reg.Len() == 0 })
}
