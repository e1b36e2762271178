package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkDurablePublish measures durable publish→confirm throughput
// through the binary: N paho v3 publishers, each sending QoS 1 messages of
// 100 bytes to $queue/bench-durable (a durable queue with no consumer) and
// waiting for each PUBACK, which the broker sends once the message is
// stored. Store engines: badger with sync batch (group commit, the
// default), badger with sync always (one fsync per commit) and memory
// (nothing written). msg/s is the headline, commits/fsync what group
// commit shares (from rosetta_store_*); the broker is another process, so
// allocations are not reported.
//
//	go test ./integration -run '^$' -bench DurablePublish -benchtime 20000x
func BenchmarkDurablePublish(b *testing.B) {
	for _, eng := range []struct {
		name string
		args []string
	}{
		{"badger-batch", []string{"--sync", "batch"}},
		{"badger-always", []string{"--sync", "always"}},
		{"memory", []string{"--storage", "memory"}},
	} {
		b.Run(eng.name, func(b *testing.B) {
			br := startBroker(b, brokerOpts{Args: eng.args})
			for _, n := range []int{1, 32} {
				b.Run(fmt.Sprintf("publishers=%d", n), func(b *testing.B) {
					benchDurable(b, br, n)
				})
			}
		})
	}
}

func benchDurable(b *testing.B, br *broker, n int) {
	clients := make([]mqtt.Client, n)
	for i := range clients {
		clients[i] = benchV3(b, br)
	}
	b.SetBytes(int64(len(benchBody)))
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	commits0, syncs0 := storeCounters(b, br)
	b.ResetTimer()
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				tok := c.Publish("$queue/bench-durable", 1, false, benchBody)
				if !tok.WaitTimeout(benchDrain) || tok.Error() != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("publish: %v", tok.Error()))
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	if commits, syncs := storeCounters(b, br); syncs > syncs0 {
		b.ReportMetric((commits-commits0)/(syncs-syncs0), "commits/fsync")
	}
}

var storeCounterRE = regexp.MustCompile(`(?m)^rosetta_store_(commits|syncs)_total (\S+)$`)

// storeCounters reads rosetta_store_commits_total and
// rosetta_store_syncs_total; both are absent with the memory engine.
func storeCounters(b *testing.B, br *broker) (commits, syncs float64) {
	b.Helper()
	resp, err := http.Get("http://" + br.HTTPAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range storeCounterRE.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "commits" {
			commits = v
		} else {
			syncs = v
		}
	}
	return commits, syncs
}
