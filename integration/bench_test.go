package integration

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
)

// benchBody is the payload of every benchmark message.
var benchBody = bytes.Repeat([]byte("x"), 100)

// benchDrain bounds the wait for the last message of one run; hitting it
// means messages were lost (an MQTT QoS 0 session queue overflowing past
// limits.session_queue_length, for instance), which fails the run.
const benchDrain = 60 * time.Second

// BenchmarkCrossProtocol measures end-to-end throughput through the real
// binary, from the first publish to the last delivery, with 100-byte
// bodies, at-most-once on both sides (STOMP SEND without receipt to an
// ack:auto subscription; MQTT QoS 0): STOMP SEND → STOMP MESSAGE, the same
// run's MQTT → MQTT figure for comparison, and both cross-protocol
// directions. One producer and one consumer connection each; msg/s is the
// headline number. The broker is another process, so B/op and allocs/op
// count the client libraries in the test process, not the broker.
//
//	go test ./integration -run '^$' -bench CrossProtocol -benchtime 20000x
func BenchmarkCrossProtocol(b *testing.B) {
	br := startBroker(b, brokerOpts{})
	var seq atomic.Int64
	topic := func() string { return fmt.Sprintf("bench/%d", seq.Add(1)) }

	b.Run("stomp-to-stomp", func(b *testing.B) {
		t := topic()
		pub, sub := dialSTOMP(b, br), dialSTOMP(b, br)
		s := subscribeSTOMP(b, sub, "/topic/"+t, stomp.AckAuto)
		runBench(b, func() error { return pub.Send("/topic/"+t, "", benchBody) },
			func(n int) error { return drainSTOMP(s, n) })
	})
	b.Run("mqtt-to-mqtt", func(b *testing.B) {
		t := topic()
		pub := benchV3(b, br)
		got := make(chan struct{}, 1024)
		subscribeBenchV3(b, br, t, got)
		runBench(b, func() error { return pub.Publish(t, 0, false, benchBody).Error() },
			func(n int) error { return drainChan(got, n) })
	})
	b.Run("stomp-to-mqtt", func(b *testing.B) {
		t := topic()
		pub := dialSTOMP(b, br)
		got := make(chan struct{}, 1024)
		subscribeBenchV3(b, br, t, got)
		runBench(b, func() error { return pub.Send("/topic/"+t, "", benchBody) },
			func(n int) error { return drainChan(got, n) })
	})
	b.Run("mqtt-to-stomp", func(b *testing.B) {
		t := topic()
		pub, sub := benchV3(b, br), dialSTOMP(b, br)
		s := subscribeSTOMP(b, sub, "/topic/"+t, stomp.AckAuto)
		runBench(b, func() error { return pub.Publish(t, 0, false, benchBody).Error() },
			func(n int) error { return drainSTOMP(s, n) })
	})
}

// runBench times b.N calls of send followed by drain(b.N).
func runBench(b *testing.B, send func() error, drain func(n int) error) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- drain(b.N) }()
	for range b.N {
		if err := send(); err != nil {
			b.Fatalf("send: %v", err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func drainSTOMP(s *stomp.Subscription, n int) error {
	timeout := time.After(benchDrain)
	for i := range n {
		select {
		case m, ok := <-s.C:
			if !ok || m.Err != nil {
				return fmt.Errorf("subscription ended after %d of %d messages: %v", i, n, m)
			}
		case <-timeout:
			return fmt.Errorf("%d of %d messages after %v", i, n, benchDrain)
		}
	}
	return nil
}

func drainChan(got <-chan struct{}, n int) error {
	timeout := time.After(benchDrain)
	for i := range n {
		select {
		case <-got:
		case <-timeout:
			return fmt.Errorf("%d of %d messages after %v", i, n, benchDrain)
		}
	}
	return nil
}

// benchV3 connects a paho.mqtt.golang client for the benchmark.
func benchV3(b *testing.B, br *broker) mqtt.Client {
	b.Helper()
	c := mqtt.NewClient(v3Options(br.TCPURL(), clientID("bench")))
	if tok := c.Connect(); !tok.WaitTimeout(opTimeout) || tok.Error() != nil {
		b.Fatalf("mqtt connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

// subscribeBenchV3 subscribes at QoS 0 and signals got once per message.
func subscribeBenchV3(b *testing.B, br *broker, topic string, got chan<- struct{}) {
	b.Helper()
	c := benchV3(b, br)
	tok := c.Subscribe(topic, 0, func(mqtt.Client, mqtt.Message) { got <- struct{}{} })
	if !tok.WaitTimeout(opTimeout) || tok.Error() != nil {
		b.Fatalf("mqtt subscribe: %v", tok.Error())
	}
}
