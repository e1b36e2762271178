package badger

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/storage/memory"
)

// BenchmarkCommit measures Commit of one durable message put, as a
// publish to one durable queue makes, with 1 and 32 committers at once,
// under each sync policy, with the memory store as the reference. msg/s
// is the throughput of the whole run; ns/op with 32 committers is per
// message, not the latency of one commit.
func BenchmarkCommit(b *testing.B) {
	const bodySize = 256
	body := make([]byte, bodySize)
	for _, committers := range []int{1, 32} {
		for _, kind := range []string{"memory", "none", "batch", "always"} {
			b.Run(fmt.Sprintf("committers=%d/%s", committers, kind), func(b *testing.B) {
				var st exchange.Store
				if kind == "memory" {
					st = memory.New()
				} else {
					p, err := ParseSyncPolicy(kind)
					if err != nil {
						b.Fatal(err)
					}
					s := openTest(b, b.TempDir(), Options{Sync: p})
					st = s
				}
				ctx := context.Background()
				if err := st.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{declare("q")}}); err != nil {
					b.Fatal(err)
				}
				var seq atomic.Uint64
				commitOne := func() {
					// Seqs wrap so that the memory store stays bounded;
					// badger then overwrites keys, which costs the same.
					n := seq.Add(1) % (1 << 16)
					m := &message.Message{ID: "m", Address: address.Address{"bench", "q"}, Body: body, Durable: true, Priority: 4}
					op := exchange.Op{Kind: exchange.OpPutMessage, Queue: "q", Seq: n, Msg: m}
					if err := st.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{op}}); err != nil {
						b.Error(err)
					}
				}
				b.SetBytes(bodySize)
				b.ReportAllocs()
				b.ResetTimer()
				if committers == 1 {
					for b.Loop() {
						commitOne()
					}
				} else {
					b.SetParallelism(max(1, committers/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							commitOne()
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
				if s, ok := st.(*Store); ok {
					// How many commits shared a transaction (an fsync).
					b.ReportMetric(float64(s.stats.requests.Load())/float64(max(1, s.stats.txns.Load())), "commits/txn")
				}
			})
		}
	}
}
