package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// upper is a fake Transformer: "upper" upper-cases the body, "fail" fails,
// anything else is unknown.
type upper struct{}

func (upper) Check(r exchange.Receiver) error {
	switch r.Accept {
	case "", "upper", "fail":
		return nil
	}
	return fmt.Errorf("accept %q: %w", r.Accept, exchange.ErrUnknownFormat)
}

func (upper) Transform(_ context.Context, m *message.Message, r exchange.Receiver) (*message.Message, error) {
	switch r.Accept {
	case "upper":
		c := m.Clone()
		c.Body = []byte(strings.ToUpper(string(m.Body)))
		return c, nil
	case "fail":
		return nil, errors.New("body is not upper-able")
	}
	return m, nil
}

func TestTransformed(t *testing.T) {
	for _, autoAck := range []bool{false, true} {
		t.Run(fmt.Sprintf("autoAck=%v", autoAck), func(t *testing.T) {
			x := newExchange(t, exchange.Config{Transformer: upper{}})
			declare(t, x, "plain", exchange.QueueConfig{}, "t")
			declare(t, x, "up", exchange.QueueConfig{}, "t")
			declare(t, x, "bad", exchange.QueueConfig{}, "t")
			var plain, up, bad, dead sink
			consume(t, x, "plain", &plain, exchange.ConsumerOptions{Credit: 10, AutoAck: autoAck})
			consume(t, x, "up", &up, exchange.ConsumerOptions{Credit: 10, AutoAck: autoAck, Receiver: exchange.Receiver{Accept: "upper"}})
			consume(t, x, "bad", &bad, exchange.ConsumerOptions{Credit: 10, AutoAck: autoAck, Receiver: exchange.Receiver{Accept: "fail"}})
			consume(t, x, "$dlq", &dead, exchange.ConsumerOptions{Credit: 10, AutoAck: true})
			publish(t, x, msg("t", "hello"))

			m, err := plain.last(t).Transformed(context.Background())
			if err != nil || string(m.Body) != "hello" || m != plain.last(t).Msg {
				t.Fatalf("plain: %q %v", m.Body, err)
			}
			m, err = up.last(t).Transformed(context.Background())
			if err != nil || string(m.Body) != "HELLO" {
				t.Fatalf("upper: %v %v", m, err)
			}
			if string(up.last(t).Msg.Body) != "hello" {
				t.Fatal("the shared message was changed")
			}
			if _, err := bad.last(t).Transformed(context.Background()); err == nil {
				t.Fatal("failing transform returned no error")
			}
			dl := dead.last(t).Msg.Annotations.DeadLetter
			if dl == nil || dl.Reason != "transform" || dl.Queue != "bad" || !strings.Contains(dl.Detail, "upper-able") {
				t.Fatalf("dead letter %+v", dl)
			}
			if !autoAck {
				if err := bad.last(t).Settle(exchange.Outcome{}); !errors.Is(err, exchange.ErrSettled) {
					t.Fatalf("settling a dead-lettered delivery: %v", err)
				}
				if s := queueStats(t, x, "bad"); s.Unsettled != 0 || s.Ready != 0 {
					t.Fatalf("bad queue still holds the message: %+v", s)
				}
			}
			if got := x.Stats().TransformFailed; got != 1 {
				t.Fatalf("TransformFailed = %d", got)
			}
		})
	}
}

func TestConsumeRefusesUnknownFormat(t *testing.T) {
	x := newExchange(t, exchange.Config{Transformer: upper{}})
	_, err := x.Consume("q", exchange.ConsumerOptions{Handler: func(*exchange.Delivery) {}, Receiver: exchange.Receiver{Accept: "application/klingon"}})
	if !errors.Is(err, exchange.ErrUnknownFormat) {
		t.Fatalf("err = %v", err)
	}
	y := newExchange(t, exchange.Config{})
	_, err = y.Consume("q", exchange.ConsumerOptions{Handler: func(*exchange.Delivery) {}, Receiver: exchange.Receiver{Accept: "upper"}})
	if !errors.Is(err, exchange.ErrUnknownFormat) {
		t.Fatalf("without a transformer: err = %v", err)
	}
}

type dropAll struct{ upper }

func (dropAll) Transform(context.Context, *message.Message, exchange.Receiver) (*message.Message, error) {
	return nil, nil
}

func TestTransformedDropped(t *testing.T) {
	x := newExchange(t, exchange.Config{Transformer: dropAll{}})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 1})
	publish(t, x, msg("t", "x"))
	if _, err := s.last(t).Transformed(context.Background()); !errors.Is(err, exchange.ErrDropped) {
		t.Fatalf("err = %v", err)
	}
	if st := queueStats(t, x, "q"); st.Unsettled != 0 || st.Ready != 0 || st.Acked != 1 {
		t.Fatalf("queue %+v", st)
	}
}

// TestTransformedFor: one consumer, a receiver per delivery.
func TestTransformedFor(t *testing.T) {
	x := newExchange(t, exchange.Config{Transformer: upper{}})
	declare(t, x, "q", exchange.QueueConfig{}, "t")
	var s, dead sink
	consume(t, x, "q", &s, exchange.ConsumerOptions{Credit: 10, Receiver: exchange.Receiver{Accept: "fail"}})
	consume(t, x, "$dlq", &dead, exchange.ConsumerOptions{Credit: 10, AutoAck: true})
	publish(t, x, msg("t", "a"))
	publish(t, x, msg("t", "b"))
	ds := s.deliveries()
	if len(ds) != 2 {
		t.Fatalf("%d deliveries", len(ds))
	}
	m, err := ds[0].TransformedFor(context.Background(), exchange.Receiver{Protocol: message.ProtocolMQTT, Accept: "upper"})
	if err != nil || string(m.Body) != "A" {
		t.Fatalf("upper: %v %v", m, err)
	}
	if _, err := ds[1].TransformedFor(context.Background(), exchange.Receiver{Accept: "fail"}); err == nil {
		t.Fatal("failing transform returned no error")
	}
	if dl := dead.last(t).Msg.Annotations.DeadLetter; dl == nil || dl.Reason != "transform" || dl.Queue != "q" {
		t.Fatalf("dead letter %+v", dl)
	}
	m, err = ds[0].TransformedFor(context.Background(), exchange.Receiver{})
	if err != nil || m != ds[0].Msg {
		t.Fatalf("no accept: %v %v", m, err)
	}
}
