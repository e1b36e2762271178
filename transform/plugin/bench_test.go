package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin"
)

// benchMsg is a 1 KiB message with five headers, the shape used for the
// go-plugin figures in the dependency notes.
func benchMsg() *message.Message {
	m := &message.Message{ID: "bench", Address: address.MustParseMQTT("bench/a"), Body: bytes.Repeat([]byte("x"), 1024), ContentType: "text/plain"}
	for i := range 5 {
		m.Headers.Add(fmt.Sprint("h", i), message.String("value"))
	}
	return m
}

// upper is the same work as the test plugin's "upper" mode, in process.
var upper = transform.StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
	c := m.Clone()
	c.Body = bytes.ToUpper(c.Body)
	c.Headers.Add("pid", message.Int(1))
	return c, nil
})

func benchStep(b *testing.B) transform.Step {
	_, p := start(b, plugin.Config{Path: bin.test, CallTimeout: 30 * time.Second})
	return step(b, p, `{"mode":"upper"}`)
}

func check(b *testing.B, r []transform.Result) {
	for _, x := range r {
		if x.Err != nil {
			b.Fatal(x.Err)
		}
	}
}

func perMsg(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}

// BenchmarkPlugin compares one message per call (one caller), the same
// single-message Apply from many concurrent callers (coalesced by the
// host), explicit batches of 100, and the same work in process.
func BenchmarkPlugin(b *testing.B) {
	m := benchMsg()
	b.Run("single", func(b *testing.B) {
		s := benchStep(b)
		batch := []*message.Message{m}
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body)))
		n := 0
		for b.Loop() {
			check(b, s.Apply(context.Background(), batch))
			n++
		}
		perMsg(b, n)
	})
	b.Run("concurrent-64", func(b *testing.B) {
		s := benchStep(b)
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body)))
		b.SetParallelism(32) // x GOMAXPROCS (2) = 64 callers
		b.RunParallel(func(pb *testing.PB) {
			batch := []*message.Message{m}
			for pb.Next() {
				check(b, s.Apply(context.Background(), batch))
			}
		})
		perMsg(b, b.N)
	})
	b.Run("batch-100", func(b *testing.B) {
		s := benchStep(b)
		batch := make([]*message.Message, 100)
		for i := range batch {
			batch[i] = m
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body) * len(batch)))
		n := 0
		for b.Loop() {
			check(b, s.Apply(context.Background(), batch))
			n += len(batch)
		}
		perMsg(b, n)
	})
	b.Run("in-process", func(b *testing.B) {
		batch := []*message.Message{m}
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body)))
		n := 0
		for b.Loop() {
			check(b, upper.Apply(context.Background(), batch))
			n++
		}
		perMsg(b, n)
	})
}
