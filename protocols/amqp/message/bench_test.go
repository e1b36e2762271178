package message_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
	"github.com/rosettamq/rosetta/protocols/amqp/message"
)

var benchSizes = []int{100, 1024, 16 * 1024}

func benchMessage(size int) *message.Message {
	return &message.Message{
		Header:                &message.Header{Durable: true},
		Properties:            &message.Properties{MessageID: "msg-0001", To: "/queues/orders", ContentType: "application/json"},
		ApplicationProperties: encoding.Map{{Key: "tenant", Value: "acme"}},
		Data:                  [][]byte{bytes.Repeat([]byte{'x'}, size)},
	}
}

var benchTransfer = &frames.Transfer{
	Handle: 1, DeliveryID: encoding.Some[frames.DeliveryNumber](42), DeliveryTag: frames.DeliveryTag{0, 0, 0, 42},
	MessageFormat: encoding.Some[frames.MessageFormat](0),
}

// BenchmarkEncodeTransfer encodes a transfer frame carrying a message
// (header, properties, application-properties, one data section).
func BenchmarkEncodeTransfer(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m := benchMessage(size)
			var frame, payload []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if payload, err = m.Marshal(payload[:0]); err != nil {
					b.Fatal(err)
				}
				if frame, err = frames.AppendFrame(frame[:0], 0, benchTransfer, payload); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(frame)))
		})
	}
}

// BenchmarkDecodeTransfer parses a transfer frame body into the performative
// and decodes its payload into a Message.
func BenchmarkDecodeTransfer(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			payload, _ := benchMessage(size).Marshal(nil)
			frame, _ := frames.AppendFrame(nil, 0, benchTransfer, payload)
			body := frame[8:]
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			var m message.Message
			for b.Loop() {
				perf, pl, err := frames.ParseBody(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := perf.(*frames.Transfer); !ok {
					b.Fatal("not a transfer")
				}
				if err := m.Unmarshal(pl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// repeatReader yields the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// BenchmarkReadFrame reads transfer frames from a stream with the bounded
// reader and splits off the performative.
func BenchmarkReadFrame(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			payload, _ := benchMessage(size).Marshal(nil)
			frame, _ := frames.AppendFrame(nil, 0, benchTransfer, payload)
			r := frames.NewReader(&repeatReader{data: frame}, 1<<20)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.ReadFrame()
				if err != nil || len(f.Body) != len(frame)-8 {
					b.Fatal(err)
				}
			}
		})
	}
}
