package amqp

import (
	"errors"
	"strings"
	"testing"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/exchange/exchangetest"
)

func acceptProp(v string) map[string]any { return map[string]any{"accept": v} }

func acceptFilter(v string) []goamqp.LinkFilter {
	return []goamqp.LinkFilter{goamqp.NewLinkFilter("rosetta:accept", 0, v)}
}

func contentType(m *goamqp.Message) string {
	if m.Properties == nil || m.Properties.ContentType == nil {
		return ""
	}
	return *m.Properties.ContentType
}

// TestAcceptFanOut: in one fan-out, receivers that asked for text/upper
// (by link property or by source filter) get the transformed message,
// re-encoded from its fields; a receiver that asked for nothing gets the
// publisher's bare message.
func TestAcceptFanOut(t *testing.T) {
	b := newBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}}, nil)
	s := b.session(t)
	plain := receiver(t, s, "/topics/fmt", &goamqp.ReceiverOptions{Credit: 10})
	byProp := receiver(t, s, "/topics/fmt", &goamqp.ReceiverOptions{Credit: 10, Properties: acceptProp("text/upper")})
	byFilter := receiver(t, s, "/topics/fmt", &goamqp.ReceiverOptions{Credit: 10, Filters: acceptFilter("text/upper")})
	snd := sender(t, s, "/topics/fmt", nil)
	ct := "text/plain"
	send(t, snd, &goamqp.Message{
		Properties:            &goamqp.MessageProperties{ContentType: &ct},
		ApplicationProperties: map[string]any{"k": "v"},
		Data:                  [][]byte{[]byte("hello")},
	})
	send(t, snd, &goamqp.Message{Value: "string body"})

	m := recv(t, plain)
	if string(m.GetData()) != "hello" || contentType(m) != "text/plain" || m.ApplicationProperties["k"] != "v" {
		t.Errorf("plain receiver: %q %q %v", m.GetData(), contentType(m), m.ApplicationProperties)
	}
	if m := recv(t, plain); m.Value != "string body" {
		t.Errorf("plain receiver: amqp-value %v", m.Value)
	}
	for name, r := range map[string]*goamqp.Receiver{"property": byProp, "filter": byFilter} {
		m := recv(t, r)
		if string(m.GetData()) != "HELLO" || contentType(m) != "text/upper" || m.ApplicationProperties["k"] != "v" {
			t.Errorf("%s receiver: %q %q %v", name, m.GetData(), contentType(m), m.ApplicationProperties)
		}
		if err := r.AcceptMessage(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
		// A new body is one data section, whatever the original's form.
		m = recv(t, r)
		if m.Value != nil || string(m.GetData()) != "STRING BODY" || contentType(m) != "text/upper" {
			t.Errorf("%s receiver: value %v data %q %q", name, m.Value, m.GetData(), contentType(m))
		}
		if err := r.AcceptMessage(ctxT(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAcceptUnknownFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		xcfg exchange.Config
		opts goamqp.ReceiverOptions
		want string
	}{
		{"property", exchange.Config{Transformer: exchangetest.UpperTransformer{}}, goamqp.ReceiverOptions{Properties: acceptProp("application/klingon")}, "application/klingon"},
		{"filter", exchange.Config{Transformer: exchangetest.UpperTransformer{}}, goamqp.ReceiverOptions{Filters: acceptFilter("application/klingon")}, "application/klingon"},
		{"no transformer", exchange.Config{}, goamqp.ReceiverOptions{Properties: acceptProp("text/upper")}, "no transformations"},
		{"disagree", exchange.Config{Transformer: exchangetest.UpperTransformer{}},
			goamqp.ReceiverOptions{Properties: acceptProp("text/upper"), Filters: acceptFilter("x-fail")}, "disagree"},
		{"not a string", exchange.Config{Transformer: exchangetest.UpperTransformer{}}, goamqp.ReceiverOptions{Properties: map[string]any{"accept": int64(7)}}, "not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrokerX(t, tc.xcfg, nil)
			s := b.session(t)
			_, err := s.NewReceiver(ctxT(t), "/topics/fmt", &tc.opts)
			var ae *goamqp.Error
			if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField || !strings.Contains(ae.Description, tc.want) {
				t.Fatalf("attach: %v", err)
			}
			// Refused before any queue was made; the session goes on.
			for _, q := range b.x.Queues() {
				if strings.HasPrefix(q.Name, "amqp/") {
					t.Errorf("queue %s left behind", q.Name)
				}
			}
			receiver(t, s, "/topics/fmt", nil)
		})
	}
}

// TestAcceptTransformFailure: a failing transformation dead-letters the
// message (reason transform) and a dropping one settles it; either way the
// receiver gets no transfer, and its link credit is not used: with one
// credit at a time it still gets every later message.
func TestAcceptTransformFailure(t *testing.T) {
	settled := goamqp.SenderSettleModeSettled
	for _, tc := range []struct {
		name string
		mode *goamqp.SenderSettleMode
	}{{"unsettled", nil}, {"settled", &settled}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrokerX(t, exchange.Config{Transformer: exchangetest.UpperTransformer{}}, nil)
			dead := exchangetest.ConsumeDeadLetters(t, b.x)
			s := b.session(t)
			r := receiver(t, s, "/queues/work", &goamqp.ReceiverOptions{Credit: -1, RequestedSenderSettleMode: tc.mode, Properties: acceptProp("text/upper")})
			snd := sender(t, s, "/queues/work", nil)
			for round, bodies := range [][]string{{"!a", "-b", "c"}, {"-d", "!e", "f"}} {
				if err := r.IssueCredit(1); err != nil {
					t.Fatal(err)
				}
				for _, body := range bodies {
					send(t, snd, goamqp.NewMessage([]byte(body)))
				}
				m := recv(t, r)
				if want := strings.ToUpper(bodies[2]); string(m.GetData()) != want {
					t.Fatalf("round %d: got %q, want %q", round, m.GetData(), want)
				}
				if tc.mode == nil {
					if err := r.AcceptMessage(ctxT(t), m); err != nil {
						t.Fatal(err)
					}
				}
				noMessage(t, r)
			}
			// A drain while failed deliveries may still be in the writer's
			// hands: whichever way the race goes, the flow state stays
			// consistent and the next credit brings the next message.
			if err := r.IssueCredit(5); err != nil {
				t.Fatal(err)
			}
			send(t, snd, goamqp.NewMessage([]byte("!g")))
			send(t, snd, goamqp.NewMessage([]byte("-h")))
			if err := r.DrainCredit(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
			if err := r.IssueCredit(1); err != nil {
				t.Fatal(err)
			}
			send(t, snd, goamqp.NewMessage([]byte("i")))
			if m := recv(t, r); string(m.GetData()) != "I" {
				t.Fatalf("after the drain: got %q", m.GetData())
			} else if tc.mode == nil {
				if err := r.AcceptMessage(ctxT(t), m); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range dead.Wait(t, 3) {
				d := m.Annotations.DeadLetter
				if d == nil || d.Reason != "transform" || d.Queue != "work" || !strings.HasPrefix(string(m.Body), "!") {
					t.Errorf("dead letter %q: %+v", m.Body, d)
				}
			}
			eventually(t, "queue settled", func() bool {
				q, _ := b.x.Queue("work")
				return q.Ready == 0 && q.Unsettled == 0
			})
		})
	}
}
