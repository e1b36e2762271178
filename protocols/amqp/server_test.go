package amqp

import (
	"fmt"
	"testing"

	goamqp "github.com/Azure/go-amqp"
)

func TestSendReceiveQueue(t *testing.T) {
	b := newBroker(t, nil)
	s := b.session(t)
	snd := sender(t, s, "/queues/orders", nil)
	for i := range 3 {
		send(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "m%d", i)))
	}
	r := receiver(t, s, "/queues/orders", &goamqp.ReceiverOptions{Credit: 10})
	for i := range 3 {
		m := recv(t, r)
		if got, want := string(m.GetData()), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if err := r.AcceptMessage(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
	noMessage(t, r)
}

// TestSeveralSessions: sessions and links of one connection are
// independent; ending one leaves the others working.
func TestSeveralSessions(t *testing.T) {
	b := newBroker(t, nil)
	c := b.dial(t, nil)
	var sessions []*goamqp.Session
	for range 3 {
		s, err := c.NewSession(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	var rcvs []*goamqp.Receiver
	for i, s := range sessions {
		rcvs = append(rcvs, receiver(t, s, fmt.Sprintf("/queues/s%d", i), nil))
	}
	for i := range sessions {
		// Sent on the next session, received on this one.
		snd := sender(t, sessions[(i+1)%3], fmt.Sprintf("/queues/s%d", i), nil)
		send(t, snd, goamqp.NewMessage(fmt.Appendf(nil, "to %d", i)))
	}
	for i, r := range rcvs {
		m := recv(t, r)
		if string(m.GetData()) != fmt.Sprintf("to %d", i) {
			t.Fatalf("session %d got %q", i, m.GetData())
		}
		_ = r.AcceptMessage(ctxT(t), m)
	}
	if err := sessions[0].Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	send(t, sender(t, sessions[2], "/queues/s1", nil), goamqp.NewMessage([]byte("still")))
	if got := recv(t, rcvs[1]); string(got.GetData()) != "still" {
		t.Fatalf("got %q", got.GetData())
	}
	if q, _ := b.x.Queue("s0"); q.Consumers != 0 {
		t.Fatalf("queue s0 keeps %d consumers after its session ended", q.Consumers)
	}
}
