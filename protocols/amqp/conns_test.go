package amqp

import (
	"context"
	"errors"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/message"
)

// TestConnsRegistry checks the admin registry: a connection is listed with
// its counters once open, closing it through the registry ends it with
// amqp:connection:forced, and it is removed at the end.
func TestConnsRegistry(t *testing.T) {
	reg := conns.New()
	b := newBroker(t, func(c *Config) { c.Conns = reg })
	conn := b.dial(t, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), ContainerID: "tool"})
	s, err := conn.NewSession(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := receiver(t, s, "reg/q", nil)
	send(t, sender(t, s, "reg/q", nil), goamqp.NewMessage([]byte("hi")))
	m := recv(t, r)
	if err := r.AcceptMessage(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	var got conns.Conn
	eventually(t, "counters", func() bool {
		list := reg.List()
		if len(list) != 1 {
			return false
		}
		got = list[0]
		return got.MessagesIn == 1 && got.MessagesOut == 1
	})
	if got.Protocol != message.ProtocolAMQP || got.ClientID != "tool" || got.Transport != "tcp" || got.Remote == "" {
		t.Fatalf("registered %+v", got)
	}
	if err := reg.Close(got.ID, "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = r.Receive(ctx, nil)
	var ce *goamqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondConnectionForced {
		t.Fatalf("receive after Close: %v, want a connection-forced close", err)
	}
	eventually(t, "removal", func() bool { return reg.Len() == 0 })
}
