package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connectParallel is how many idle connections are being opened at once.
const connectParallel = 64

// runConnections is the idle-connections mode: it opens cfg.Connections
// MQTT connections (CONNECT, CONNACK, then nothing: keep alive off), holds
// them for cfg.Duration and reports the broker's memory before and after.
// With SourceIPs > 0 the local addresses cycle over 127.0.0.2.. so that
// no single source address runs out of ephemeral ports.
func runConnections(ctx context.Context, cfg Config, runID uint64) (*Report, error) {
	e := append(cfg.Pubs, cfg.Subs...)[0]
	hold := cfg.Duration
	if hold <= 0 {
		hold = 5 * time.Second
	}
	rep := &Report{RunID: fmt.Sprintf("%016x", runID), Connections: cfg.Connections, Pub: []string{e.Raw}}
	var before ProcStat
	if cfg.BrokerPID > 0 {
		s, err := ReadProc(cfg.BrokerPID)
		if err != nil {
			return nil, fmt.Errorf("broker pid %d: %w", cfg.BrokerPID, err)
		}
		before = s
	}
	conns := make([]*mqttClient, cfg.Connections)
	var next, opened atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range min(connectParallel, cfg.Connections) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Connections || ctx.Err() != nil {
					return
				}
				var local net.Addr
				if cfg.SourceIPs > 0 {
					k := i % cfg.SourceIPs
					// 127.0.0.2 .. 127.0.0.254, then 127.0.1.2 ...
					local = &net.TCPAddr{IP: net.IPv4(127, 0, byte(k/253), byte(k%253+2))}
				}
				cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
				c, err := dialMQTT(cctx, e, fmt.Sprintf("rb-%04x-idle-%d", runID&0xffff, i), local, false)
				cancel()
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					errMu.Unlock()
					continue
				}
				conns[i] = c
				if n := opened.Add(1); cfg.Progress != nil && n%1000 == 0 {
					fmt.Fprintf(cfg.Progress, "bench: %d connections open\n", n)
				}
			}
		})
	}
	wg.Wait()
	rep.ConnectSecs = time.Since(start).Seconds()
	rep.ConnectionsOpen = int(opened.Load())
	if firstErr != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%d connections failed; first: %v", cfg.Connections-rep.ConnectionsOpen, firstErr))
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	if cfg.BrokerPID > 0 {
		rep.Broker = brokerUsage(cfg.BrokerPID, before, 0, time.Since(start), &rep.Errors)
	}
	for _, c := range conns {
		if c != nil {
			_ = c.nc.Close()
		}
	}
	return rep, nil
}
