package stomp

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

// BenchmarkSendReceive measures SEND → exchange → MESSAGE through real
// sockets with the go-stomp client on both ends (one producer, one
// consumer, ack:auto, 100-byte bodies). Allocations are the whole
// process's: both clients included.
func BenchmarkSendReceive(b *testing.B) {
	for _, dest := range []string{"/topic/bench", "/queue/bench"} {
		b.Run(dest, func(b *testing.B) {
			br := newBroker(b, nil)
			cons := br.dial(b)
			s, err := cons.Subscribe(dest, stomp.AckAuto)
			if err != nil {
				b.Fatal(err)
			}
			barrier(b, cons)
			prod := br.dial(b)
			var got atomic.Int64
			go func() {
				for m := range s.C {
					if m.Err != nil {
						return
					}
					got.Add(1)
				}
			}()
			body := make([]byte, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			// A counted loop rather than b.Loop: the timed region must end
			// when the last MESSAGE arrives, not when the last SEND leaves.
			for range b.N {
				if err := prod.Send(dest, "", body); err != nil {
					b.Fatal(err)
				}
			}
			for end := time.Now().Add(30 * time.Second); got.Load() < int64(b.N); time.Sleep(50 * time.Microsecond) {
				if time.Now().After(end) {
					b.Fatalf("received %d of %d", got.Load(), b.N)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkMapSend is the SEND → canonical message mapping alone.
func BenchmarkMapSend(b *testing.B) {
	f := frame.New(frame.SEND, "destination", "/topic/a/b", "content-type", "text/plain", "persistent", "true", "app", "1", "content-length", "100")
	f.Body = make([]byte, 100)
	in := sendInput{Addr: address.Address{"a", "b"}, Origin: goldenOrigin, Now: goldenNow, Version: frame.V12}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := messageFromSend(f, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderMessage is the canonical message → MESSAGE rendering: 0
// allocations.
func BenchmarkRenderMessage(b *testing.B) {
	m := goldenMessage(func(m *message.Message) {
		m.ID = "01J0000000000000000000000"
		m.Body = make([]byte, 100)
		m.ContentType = "text/plain"
		m.Headers = message.Headers{{Key: "app", Value: message.String("1")}}
	})
	md := messageMeta{Dest: "/topic/a/b", Sub: "0", HasSub: true, Ack: strconv.Itoa(12345)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMessage(buf[:0], m, md, frame.V12)
	}
}
