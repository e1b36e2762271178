package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
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
