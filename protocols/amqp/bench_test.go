package amqp

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	amqpmsg "github.com/rosettamq/rosetta/protocols/amqp/message"
)

// BenchmarkSendReceive measures go-amqp sender → our server → exchange →
// go-amqp receiver through real sockets, 100-byte bodies, one sender and
// one receiver. settled: both links pre-settled (at most once). unsettled:
// the sender pipelines with SendWithReceipt and every receipt is awaited
// (accepted after Publish), the receiver accepts each message. The timed
// region ends when the last message arrives (and, unsettled, the last
// receipt is accepted). Allocations are the whole process's, both
// clients included.
func BenchmarkSendReceive(b *testing.B) {
	for _, mode := range []string{"settled", "unsettled"} {
		b.Run(mode, func(b *testing.B) {
			br := newBroker(b, nil)
			s := br.session(b)
			settled := mode == "settled"
			var sopts *goamqp.SenderOptions
			ropts := &goamqp.ReceiverOptions{Credit: 500}
			if settled {
				m := goamqp.SenderSettleModeSettled
				sopts = &goamqp.SenderOptions{SettlementMode: &m}
				ropts.RequestedSenderSettleMode = &m
			}
			r := receiver(b, s, "/queues/bench", ropts)
			snd := sender(b, br.session(b), "/queues/bench", sopts)
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					m, err := r.Receive(context.Background(), nil)
					if err != nil {
						return
					}
					if !settled {
						_ = r.AcceptMessage(context.Background(), m)
					}
					got.Add(1)
				}
			}()
			body := make([]byte, 100)
			receipts := make(chan goamqp.SendReceipt, 4096)
			var acked atomic.Int64
			ackDone := make(chan struct{})
			go func() {
				defer close(ackDone)
				for rc := range receipts {
					if _, err := rc.Wait(context.Background()); err == nil {
						acked.Add(1)
					}
				}
			}()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			// A counted loop rather than b.Loop: the timed region must end
			// when the last message arrives, not when the last one leaves.
			for range b.N {
				m := goamqp.NewMessage(body)
				if settled {
					if err := snd.Send(context.Background(), m, nil); err != nil {
						b.Fatal(err)
					}
					continue
				}
				rc, err := snd.SendWithReceipt(context.Background(), m, nil)
				if err != nil {
					b.Fatal(err)
				}
				receipts <- rc
			}
			close(receipts)
			for end := time.Now().Add(60 * time.Second); got.Load() < int64(b.N); time.Sleep(50 * time.Microsecond) {
				if time.Now().After(end) {
					b.Fatalf("received %d of %d", got.Load(), b.N)
				}
			}
			<-ackDone
			b.StopTimer()
			if !settled && acked.Load() != int64(b.N) {
				b.Fatalf("accepted %d of %d", acked.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			_ = r.Close(context.Background())
			<-done
		})
	}
}

// BenchmarkMapIngress is decode + AMQP → canonical mapping of a 100-byte
// message with properties and two application properties.
func BenchmarkMapIngress(b *testing.B) {
	raw := benchMessage(b)
	in := ingress{Addr: address.Address{"a", "b"}, Origin: message.Origin{Protocol: message.ProtocolAMQP}, Now: time.Now()}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var am amqpmsg.Message
		if err := am.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
		if _, err := messageFromAMQP(&am, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapEgress is canonical → AMQP encoding: forwarded (the bare
// message of an AMQP publisher, byte for byte) and built (a message from
// another protocol).
func BenchmarkMapEgress(b *testing.B) {
	raw := benchMessage(b)
	var am amqpmsg.Message
	if err := am.Unmarshal(raw); err != nil {
		b.Fatal(err)
	}
	fromAMQP, err := messageFromAMQP(&am, ingress{Addr: address.Address{"a", "b"},
		Origin: message.Origin{Protocol: message.ProtocolAMQP, ClientID: "c"}, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	fromMQTT := &message.Message{Address: address.Address{"a", "b"}, Body: make([]byte, 100), ContentType: "text/plain",
		Priority: 4, Headers: message.Headers{{Key: "k", Value: message.String("v")}},
		Annotations: message.Annotations{Origin: message.Origin{Protocol: message.ProtocolMQTT, ClientID: "d"}}}
	to := func(address.Address) string { return "/topics/a/b" }
	for name, m := range map[string]*message.Message{"forwarded": fromAMQP, "built": fromMQTT} {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = appendMessage(buf[:0], m, egress{To: to})
			}
		})
	}
}

func benchMessage(b *testing.B) []byte {
	m := amqpmsg.Message{
		Properties:            &amqpmsg.Properties{MessageID: "id-1", ContentType: "text/plain", Subject: "s"},
		ApplicationProperties: encoding.Map{{Key: "k", Value: "v"}, {Key: "n", Value: int64(1)}},
		Data:                  [][]byte{make([]byte, 100)},
	}
	raw, err := m.Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkSelector evaluates a typical selector.
func BenchmarkSelector(b *testing.B) {
	sel, err := parseSelector("color = 'blue' AND weight > 2500 OR region LIKE 'eu-%'")
	if err != nil {
		b.Fatal(err)
	}
	m := &message.Message{Headers: message.Headers{{Key: "color", Value: message.String("red")},
		{Key: "weight", Value: message.Int(3000)}, {Key: "region", Value: message.String("eu-west")}}}
	b.ReportAllocs()
	for b.Loop() {
		if !sel.Match(m) {
			b.Fatal("no match")
		}
	}
}
