package integration

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
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
// ack:auto subscription; MQTT QoS 0; AMQP pre-settled): STOMP SEND → STOMP
// MESSAGE, the same run's MQTT → MQTT figure for comparison, both
// STOMP/MQTT directions, AMQP → AMQP settled and unsettled (at-least-once:
// broker and receiver accept each message) and MQTT → AMQP. One producer and one consumer connection each; msg/s is the
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
	// AMQP with go-amqp. Settled: a pre-settled sender and a receiver that
	// asks for pre-settled deliveries (at-most-once, as MQTT QoS 0).
	// Unsettled: each transfer is accepted by the broker (the receipts are
	// collected as they come, so the sender does not wait for each) and
	// each delivery is accepted by the receiver (at-least-once).
	b.Run("amqp-to-amqp-settled", func(b *testing.B) {
		t := "/topics/" + topic()
		r := benchAMQPReceiver(b, br, t, true)
		snd := amqpSender(b, amqpSession(b, br), t, &goamqp.SenderOptions{SettlementMode: goamqp.SenderSettleModeSettled.Ptr()})
		ctx := context.Background()
		runBench(b, func() error { return snd.Send(ctx, goamqp.NewMessage(benchBody), nil) },
			func(n int) error { return drainAMQP(r, n, false) })
	})
	b.Run("amqp-to-amqp-unsettled", func(b *testing.B) {
		t := "/topics/" + topic()
		r := benchAMQPReceiver(b, br, t, false)
		snd := amqpSender(b, amqpSession(b, br), t, &goamqp.SenderOptions{SettlementMode: goamqp.SenderSettleModeUnsettled.Ptr()})
		ctx := context.Background()
		receipts := make(chan goamqp.SendReceipt, 1<<16)
		confirmed := make(chan error, 1)
		go func() { confirmed <- confirmAMQP(receipts) }()
		runBench(b, func() error {
			rc, err := snd.SendWithReceipt(ctx, goamqp.NewMessage(benchBody), nil)
			if err == nil {
				receipts <- rc
			}
			return err
		}, func(n int) error { return drainAMQP(r, n, true) })
		close(receipts)
		if err := <-confirmed; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("mqtt-to-amqp", func(b *testing.B) {
		t := topic()
		r := benchAMQPReceiver(b, br, "/topics/"+t, true)
		pub := benchV3(b, br)
		runBench(b, func() error { return pub.Publish(t, 0, false, benchBody).Error() },
			func(n int) error { return drainAMQP(r, n, false) })
	})
}

// benchAMQPReceiver attaches a go-amqp receiver with 1000 credit on its own
// connection; presettled asks for pre-settled deliveries.
func benchAMQPReceiver(b *testing.B, br *broker, addr string, presettled bool) *goamqp.Receiver {
	b.Helper()
	opts := &goamqp.ReceiverOptions{Credit: 1000}
	if presettled {
		opts.RequestedSenderSettleMode = goamqp.SenderSettleModeSettled.Ptr()
	}
	return amqpReceiver(b, amqpSession(b, br), addr, opts)
}

// drainAMQP receives n messages, accepting each when accept is set.
func drainAMQP(r *goamqp.Receiver, n int, accept bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), benchDrain)
	defer cancel()
	for i := range n {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			return fmt.Errorf("%d of %d messages: %w", i, n, err)
		}
		if accept {
			if err := r.AcceptMessage(ctx, m); err != nil {
				return fmt.Errorf("accept: %w", err)
			}
		}
	}
	return nil
}

// confirmAMQP waits for every receipt until receipts is closed and reports
// the first one that was not accepted.
func confirmAMQP(receipts <-chan goamqp.SendReceipt) error {
	var first error
	for rc := range receipts {
		ctx, cancel := context.WithTimeout(context.Background(), benchDrain)
		st, err := rc.Wait(ctx)
		cancel()
		if err == nil {
			if _, ok := st.(*goamqp.StateAccepted); !ok {
				err = fmt.Errorf("delivery state %T, want accepted", st)
			}
		}
		if first == nil && err != nil {
			first = err
		}
	}
	return first
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
