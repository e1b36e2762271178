package exchange_test

import (
	"slices"
	"testing"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

func TestCountLossy(t *testing.T) {
	x := newExchange(t, exchange.Config{})
	if got := x.Lossy(); len(got) != 0 {
		t.Fatalf("fresh exchange: %v", got)
	}
	x.CountLossy(message.ProtocolAMQP, message.ProtocolMQTT, message.LostHeaderType|message.LostSubject)
	x.CountLossy(message.ProtocolAMQP, message.ProtocolMQTT, message.LostHeaderType)
	x.CountLossy(message.ProtocolMQTT, message.ProtocolSTOMP, 0) // nothing lost: nothing counted
	x.CountLossy("carrier-pigeon", message.ProtocolSTOMP, message.LostGroupID)
	got := x.Lossy()
	slices.SortFunc(got, func(a, b exchange.LossyCount) int {
		if a.Field < b.Field {
			return -1
		}
		if a.Field > b.Field {
			return 1
		}
		return 0
	})
	want := []exchange.LossyCount{
		{From: "other", To: "stomp", Field: "group-id", N: 1},
		{From: "amqp", To: "mqtt", Field: "header-type", N: 2},
		{From: "amqp", To: "mqtt", Field: "subject", N: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lossy() = %v, want %v", got, want)
	}
}

func BenchmarkCountLossy(b *testing.B) {
	x := newExchange(b, exchange.Config{})
	b.ReportAllocs()
	for b.Loop() {
		x.CountLossy(message.ProtocolAMQP, message.ProtocolMQTT, message.LostHeaderType|message.LostSubject)
	}
}
