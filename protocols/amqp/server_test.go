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
