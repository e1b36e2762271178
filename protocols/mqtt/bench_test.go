package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// BenchmarkRoundTrip measures one publish → deliver round trip MQTT→MQTT
// through the core over loopback: a paho.golang MQTT 5 client publishes,
// another receives, one message at a time. Allocations include both
// clients'.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		for _, qos := range []byte{0, 1} {
			b.Run(fmt.Sprintf("qos%d/%dB", qos, size), func(b *testing.B) {
				br := startBroker(b)
				sub := connectV5(b, br.addr, nil)
				sub.subscribe(b, "bench/#", qos)
				pub := connectV5(b, br.addr, nil)
				payload := bytes.Repeat([]byte{'x'}, size)
				p := &paho.Publish{Topic: "bench/x", QoS: qos, Payload: payload}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := pub.Publish(ctx, p); err != nil {
						b.Fatal(err)
					}
					<-sub.In.ch
				}
			})
		}
	}
}

// BenchmarkDeliver measures the egress path alone: messages published
// into the exchange (no MQTT publisher) reach one raw MQTT 5 subscriber,
// which reads them off the socket; per op one message of 100 bytes, at
// most 10000 ahead of the subscriber. It covers the session queue's
// consumer, the writer's batching (encode, one write per batch) and the
// batched settlement.
func BenchmarkDeliver(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			br := startBroker(b)
			c := dialRaw(b, br.addr)
			c.connect(b, 5, clientID("deliver"))
			c.subscribe(b, "bench/#", qos)
			a, _ := address.ParseMQTTTopic("bench/x")
			body := bytes.Repeat([]byte{'x'}, 100)
			var read atomic.Int64
			done := make(chan error, 1)
			n := b.N
			go func() { // read (and acknowledge) n PUBLISH packets
				for i := range n {
					p, err := c.readTimeout(recvTimeout)
					if err != nil || p.first>>4 != 3 {
						done <- fmt.Errorf("PUBLISH %d: %#x %v", i, p.first, err)
						return
					}
					if qos > 0 {
						id := p.body[2+(int(p.body[0])<<8|int(p.body[1])):]
						if _, err := c.Write([]byte{0x40, 0x02, id[0], id[1]}); err != nil {
							done <- err
							return
						}
					}
					read.Add(1)
				}
				done <- nil
			}()
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range n {
				for int64(i)-read.Load() > 10000 {
					runtime.Gosched()
				}
				m := &message.Message{Address: a, Body: body, Durable: qos > 0,
					Annotations: message.Annotations{QoS: qos, Origin: message.Origin{Protocol: message.ProtocolMQTT}}}
				if _, err := br.x.Publish(ctx, m, exchange.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkIngestQoS1 measures the ingress path alone: a raw MQTT 3.1.1
// publisher pipelines QoS 1 PUBLISH packets of 100 bytes (up to 1000
// unacknowledged) to a topic nobody subscribes to, and reads the PUBACKs
// (which ackConn gathers); per op one message acknowledged.
func BenchmarkIngestQoS1(b *testing.B) {
	br := startBroker(b)
	c := dialRaw(b, br.addr)
	c.connect(b, 4, clientID("ingest"))
	body := bytes.Repeat([]byte{'x'}, 100)
	pkts := make([][]byte, 1<<16)
	for i := range pkts {
		id := uint16(i%65535 + 1)
		pkts[i] = rawPacket(0x32, rawStr("ingest/x"), []byte{byte(id >> 8), byte(id)}, body)
	}
	window := make(chan struct{}, 1000)
	done := make(chan error, 1)
	n := b.N
	go func() {
		for i := 0; i < n; i++ {
			p, err := c.readTimeout(recvTimeout)
			if err != nil || p.first>>4 != 4 {
				done <- fmt.Errorf("PUBACK %d: %#x %v", i, p.first, err)
				return
			}
			<-window
		}
		done <- nil
	}()
	w := bufio.NewWriterSize(c.Conn, 16<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range n {
		select {
		case window <- struct{}{}:
		default:
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			window <- struct{}{}
		}
		if _, err := w.Write(pkts[i%len(pkts)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
