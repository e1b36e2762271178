// Package bench is `rosetta bench`: a load generator that publishes over
// any of the broker's protocols and subscribes over any of them, by URL,
// and reports throughput, loss, duplicates, reordering, corruption,
// end-to-end latency and the CPU and memory it cost the client and,
// given its PID, the broker. It drives any broker speaking these
// protocols, so the same scenario runs against Mosquitto or RabbitMQ
// (integration/bench/compare.sh). docs/benchmarks.md describes it.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Modes of delivery accounting.
const (
	Fanout  = "fanout"  // every subscriber gets every message
	Compete = "compete" // the subscribers of one --sub URL share the messages
)

// Config is one bench run. The zero value is not runnable: it needs at
// least one Pub and one Sub, or Connections.
type Config struct {
	Pubs []*Endpoint
	Subs []*Endpoint

	Publishers  int // per --pub URL; 0 means 1
	Subscribers int // per --sub URL; 0 means 1
	Mode        string
	Size        int           // payload bytes; raised to HeaderSize; 0 means 100
	Count       int64         // messages per publisher; 0 with Duration 0 means 10000
	Duration    time.Duration // publish for this long instead of Count
	Rate        float64       // total messages per second over all publishers; 0 means as fast as possible
	Timeout     time.Duration // connect timeout, and how long to wait for the next delivery once publishing ended; 0 means 10s
	BrokerPID   int           // 0 means no broker sampling

	// Connections > 0 selects the idle-connections mode: open this many
	// MQTT connections to Pubs[0] (or Subs[0]), hold them for Duration
	// (0 means 5s), sample the broker, close them.
	Connections int
	SourceIPs   int // cycle local addresses 127.0.0.2.. over this many; 0 means the kernel picks

	Progress io.Writer // one line per second while running; nil means none
}

func (c Config) withDefaults() Config {
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 1
	}
	if c.Mode == "" {
		c.Mode = Fanout
	}
	if c.Size <= 0 {
		c.Size = 100
	}
	c.Size = max(c.Size, HeaderSize)
	if c.Count <= 0 && c.Duration <= 0 {
		c.Count = 10000
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	if c.Connections > 0 {
		if len(c.Pubs)+len(c.Subs) == 0 || append(c.Pubs, c.Subs...)[0].Proto != MQTT {
			return errors.New("bench: --connections needs an mqtt:// --pub or --sub URL")
		}
		return nil
	}
	if len(c.Pubs) == 0 {
		return errors.New("bench: no --pub URL")
	}
	if c.Mode != "" && c.Mode != Fanout && c.Mode != Compete {
		return fmt.Errorf("bench: --mode %q is not fanout or compete", c.Mode)
	}
	if c.Count > 0 && c.Duration > 0 {
		return errors.New("bench: -count and -duration are exclusive")
	}
	if c.Rate < 0 {
		return errors.New("bench: -rate is negative")
	}
	if c.Size > 64<<20 {
		return errors.New("bench: -size over 64 MiB")
	}
	return nil
}

// Latency is a latency summary in nanoseconds.
type Latency struct {
	P50  int64   `json:"p50_ns"`
	P90  int64   `json:"p90_ns"`
	P99  int64   `json:"p99_ns"`
	P999 int64   `json:"p999_ns"`
	Max  int64   `json:"max_ns"`
	Min  int64   `json:"min_ns"`
	Mean float64 `json:"mean_ns"`
}

// BrokerUsage is what the run cost the broker process.
type BrokerUsage struct {
	PID            int     `json:"pid"`
	CPUSeconds     float64 `json:"cpu_s"`
	CPUPerMsgUS    float64 `json:"cpu_per_msg_us"` // per message received (per message sent when none were received)
	CPUUtilization float64 `json:"cpu_utilization"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	RSSPeakKiB     int64   `json:"rss_peak_kib"` // VmHWM at the end: the peak since the broker started
}

// Report is the result of one run; --json prints it as is.
type Report struct {
	RunID       string   `json:"run_id"`
	Pub         []string `json:"pub,omitempty"`
	Sub         []string `json:"sub,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	Publishers  int      `json:"publishers,omitempty"`
	Subscribers int      `json:"subscribers,omitempty"`
	Size        int      `json:"size,omitempty"`
	Rate        float64  `json:"target_rate,omitempty"`

	Sent        int64   `json:"sent"`
	Confirmed   int64   `json:"confirmed"` // -1: the publish mode has no confirms
	Rejected    int64   `json:"rejected"`
	Expected    int64   `json:"expected"` // deliveries the subscribers should have had
	Received    int64   `json:"received"` // every delivery, duplicates, corrupt and foreign ones included
	PublishSecs float64 `json:"publish_s"`
	ElapsedSecs float64 `json:"elapsed_s"` // first publish to last delivery
	PublishRate float64 `json:"publish_rate"`
	ReceiveRate float64 `json:"receive_rate"`
	MaxLagMS    float64 `json:"max_schedule_lag_ms,omitempty"` // with -rate: how far the publishers fell behind

	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	Reordered  int64 `json:"reordered"`
	Corrupt    int64 `json:"corrupt"`
	Foreign    int64 `json:"foreign"`
	Unexpected int64 `json:"unexpected"`

	Latency Latency `json:"latency"`

	ClientCPUSeconds  float64      `json:"client_cpu_s"`
	ClientCPUPerMsgUS float64      `json:"client_cpu_per_msg_us"`
	Broker            *BrokerUsage `json:"broker,omitempty"`

	// The idle-connections mode.
	Connections     int     `json:"connections,omitempty"`
	ConnectionsOpen int     `json:"connections_open,omitempty"`
	ConnectSecs     float64 `json:"connect_s,omitempty"`

	Errors []string `json:"errors,omitempty"`
}

// unit is one delivery-accounting unit (see Tracker).
type unit struct {
	t    *Tracker
	subs int // subscribers in it
}

// receiver is one subscriber's state, owned by its delivery goroutine.
type receiver struct {
	u     *unit
	order *Order
	hist  Histogram
	n     atomic.Int64 // deliveries, for progress
	last  atomic.Int64 // Unix ns of the latest delivery
}

func (r *receiver) handle(payload []byte) {
	now := time.Now().UnixNano()
	v, h := r.u.t.Receive(payload, r.order)
	if v == Fresh || v == Duplicate {
		r.hist.Record(now - h.SentNS)
	}
	r.n.Add(1)
	r.last.Store(now)
}

// Run runs one bench and returns its report. An error means the run could
// not start (a connection or subscription failed); problems during the run
// are in Report.Errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	runID := binary.LittleEndian.Uint64(idb[:])
	if cfg.Connections > 0 {
		return runConnections(ctx, cfg, runID)
	}
	rep := &Report{
		RunID: fmt.Sprintf("%016x", runID), Mode: cfg.Mode, Publishers: cfg.Publishers,
		Subscribers: cfg.Subscribers, Size: cfg.Size, Rate: cfg.Rate,
	}
	for _, e := range cfg.Pubs {
		rep.Pub = append(rep.Pub, e.Raw)
	}
	for _, e := range cfg.Subs {
		rep.Sub = append(rep.Sub, e.Raw)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// Subscribers first, so none misses the start.
	var units []*unit
	var recvs []*receiver
	var subs []subscription
	defer func() {
		for _, s := range subs {
			_ = s.Close()
		}
	}()
	for gi, e := range cfg.Subs {
		var shared *unit
		if cfg.Mode == Compete {
			shared = &unit{t: NewTracker(runID), subs: cfg.Subscribers}
			units = append(units, shared)
		}
		for i := range cfg.Subscribers {
			u := shared
			if u == nil {
				u = &unit{t: NewTracker(runID), subs: 1}
				units = append(units, u)
			}
			r := &receiver{u: u, order: NewOrder()}
			s, err := subscribe(cctx, e, fmt.Sprintf("rb-%04x-s%d-%d", runID&0xffff, gi, i), r.handle)
			if err != nil {
				return nil, fmt.Errorf("subscriber %d of %s: %w", i, e.Raw, err)
			}
			subs = append(subs, s)
			recvs = append(recvs, r)
		}
	}
	type pubState struct {
		p    publisher
		e    *Endpoint
		id   uint32
		sent atomic.Int64
		lag  time.Duration
		err  error
	}
	var pubs []*pubState
	defer func() {
		for _, p := range pubs {
			_ = p.p.Close()
		}
	}()
	for gi, e := range cfg.Pubs {
		for i := range cfg.Publishers {
			p, err := dialPublisher(cctx, e, fmt.Sprintf("rb-%04x-p%d-%d", runID&0xffff, gi, i))
			if err != nil {
				return nil, fmt.Errorf("publisher %d of %s: %w", i, e.Raw, err)
			}
			pubs = append(pubs, &pubState{p: p, e: e, id: uint32(len(pubs))})
		}
	}

	var bBefore ProcStat
	if cfg.BrokerPID > 0 {
		s, err := ReadProc(cfg.BrokerPID)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("broker pid %d: %v", cfg.BrokerPID, err))
			cfg.BrokerPID = 0
		}
		bBefore = s
	}
	cpuBefore := selfCPU()

	// Publish. Each publisher paces itself on a computed schedule:
	// message i is due at start + i·interval; it sends whatever is due,
	// then sleeps until the next one is (at least a millisecond, so a fast
	// rate goes out in small bursts rather than one timer per message).
	start := time.Now()
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	if cfg.Duration > 0 {
		var c context.CancelFunc
		pctx, c = context.WithTimeout(pctx, cfg.Duration)
		defer c()
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(len(pubs)) / cfg.Rate)
	}
	var wg sync.WaitGroup
	for _, ps := range pubs {
		wg.Go(func() {
			hdr := Header{RunID: runID, Publisher: ps.id}
			buf := make([]byte, cfg.Size)
			EncodePayload(buf, hdr)
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for seq := int64(0); cfg.Count == 0 || seq < cfg.Count; seq++ {
				if interval > 0 {
					due := start.Add(time.Duration(seq) * interval)
					if d := time.Until(due); d > 0 {
						timer.Reset(max(d, time.Millisecond))
						select {
						case <-timer.C:
						case <-pctx.Done():
						}
					} else {
						ps.lag = max(ps.lag, -d)
					}
				}
				if pctx.Err() != nil {
					break
				}
				hdr.Seq = uint64(seq)
				hdr.SentNS = time.Now().UnixNano()
				if !ps.p.Reuses() {
					buf = make([]byte, cfg.Size)
					EncodePayload(buf, hdr)
				} else {
					Restamp(buf, hdr)
				}
				if err := ps.p.Publish(pctx, buf); err != nil {
					if pctx.Err() == nil {
						ps.err = err
					}
					break
				}
				ps.sent.Add(1)
			}
			fctx, fc := context.WithTimeout(ctx, cfg.Timeout)
			defer fc()
			if err := ps.p.Flush(fctx); err != nil && ps.err == nil {
				ps.err = fmt.Errorf("waiting for confirms: %w", err)
			}
		})
	}

	// Progress, and the end of publishing.
	pubDone := make(chan struct{})
	go func() { wg.Wait(); close(pubDone) }()
	sentTotal := func() (n int64) {
		for _, p := range pubs {
			n += p.sent.Load()
		}
		return n
	}
	recvTotal := func() (n int64) {
		for _, r := range recvs {
			n += r.n.Load()
		}
		return n
	}
	sentSlice := func() []int64 {
		out := make([]int64, len(pubs))
		for i, p := range pubs {
			out[i] = p.sent.Load()
		}
		return out
	}
	perUnit := func(sent int64) (exp int64) { return sent * int64(len(units)) }
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSent, lastRecv int64
	progress := func() {
		if cfg.Progress == nil {
			return
		}
		s, r := sentTotal(), recvTotal()
		fmt.Fprintf(cfg.Progress, "bench: %4.0fs sent %d (%d/s) received %d (%d/s)\n",
			time.Since(start).Seconds(), s, s-lastSent, r, r-lastRecv)
		lastSent, lastRecv = s, r
	}
	var pubEnd time.Time
waitPub:
	for {
		select {
		case <-pubDone:
			pubEnd = time.Now()
			break waitPub
		case <-tick.C:
			progress()
		case <-ctx.Done():
			pcancel()
		}
	}
	// Drain: until every expected delivery is in, or nothing arrived for
	// Timeout. A broker that is merely slow keeps the wait going as long
	// as deliveries keep coming.
	idle := cfg.Timeout
	lastChange, prev := time.Now(), recvTotal()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
drain:
	for len(recvs) > 0 {
		select {
		case <-poll.C:
			n := recvTotal()
			if n >= perUnit(sentTotal()) && uniqueTotal(units, sentSlice()) >= perUnit(sentTotal()) {
				break drain
			}
			if n != prev {
				prev, lastChange = n, time.Now()
			}
			if time.Since(lastChange) > idle || ctx.Err() != nil {
				break drain
			}
		case <-tick.C:
			progress()
		}
	}
	progress()
	cpu := selfCPU() - cpuBefore

	// Results.
	sent := make([]int64, len(pubs))
	for i, p := range pubs {
		sent[i] = p.sent.Load()
		rep.Sent += sent[i]
		if p.err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("publisher %d (%s): %v", p.id, p.e.Raw, p.err))
		}
		ok, bad := p.p.Confirmed()
		if ok < 0 {
			rep.Confirmed = -1
		} else if rep.Confirmed >= 0 {
			rep.Confirmed += ok
		}
		rep.Rejected += bad
		rep.MaxLagMS = max(rep.MaxLagMS, float64(p.lag)/float64(time.Millisecond))
	}
	for _, u := range units {
		c := u.t.Result(sent)
		rep.Lost += c.Lost
		rep.Duplicated += c.Duplicated
		rep.Corrupt += c.Corrupt
		rep.Foreign += c.Foreign
		rep.Unexpected += c.Unexpected
	}
	rep.Expected = perUnit(rep.Sent)
	var hist Histogram
	var lastRecvNS int64
	for i, r := range recvs {
		hist.Merge(&r.hist)
		rep.Received += r.n.Load()
		rep.Reordered += r.order.Reordered
		lastRecvNS = max(lastRecvNS, r.last.Load())
		if err := subs[i].Err(); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("subscriber %d: %v", i, err))
		}
	}
	rep.PublishSecs = pubEnd.Sub(start).Seconds()
	if rep.PublishSecs > 0 {
		rep.PublishRate = float64(rep.Sent) / rep.PublishSecs
	}
	if lastRecvNS > 0 {
		rep.ElapsedSecs = time.Unix(0, lastRecvNS).Sub(start).Seconds()
		if rep.ElapsedSecs > 0 {
			rep.ReceiveRate = float64(rep.Received) / rep.ElapsedSecs
		}
	}
	rep.Latency = Latency{
		P50: hist.Quantile(0.50), P90: hist.Quantile(0.90), P99: hist.Quantile(0.99),
		P999: hist.Quantile(0.999), Max: hist.Max(), Min: hist.Min(), Mean: hist.Mean(),
	}
	msgs := rep.Received
	if msgs == 0 {
		msgs = rep.Sent
	}
	rep.ClientCPUSeconds = cpu.Seconds()
	if msgs > 0 {
		rep.ClientCPUPerMsgUS = float64(cpu.Microseconds()) / float64(msgs)
	}
	if cfg.BrokerPID > 0 {
		rep.Broker = brokerUsage(cfg.BrokerPID, bBefore, msgs, time.Since(start), &rep.Errors)
	}
	return rep, nil
}

// uniqueTotal is the number of distinct messages all units have, capped
// per unit at what was sent (so duplicates do not end the wait early).
func uniqueTotal(units []*unit, sent []int64) (n int64) {
	var total int64
	for _, s := range sent {
		total += s
	}
	for _, u := range units {
		c := u.t.Result(sent)
		n += total - c.Lost
	}
	return n
}

func brokerUsage(pid int, before ProcStat, msgs int64, wall time.Duration, errs *[]string) *BrokerUsage {
	after, err := ReadProc(pid)
	if err != nil {
		*errs = append(*errs, fmt.Sprintf("broker pid %d: %v", pid, err))
		return nil
	}
	b := &BrokerUsage{
		PID: pid, CPUSeconds: (after.CPU - before.CPU).Seconds(),
		RSSBeforeKiB: before.RSSKiB, RSSAfterKiB: after.RSSKiB, RSSPeakKiB: after.HWMKiB,
	}
	if msgs > 0 {
		b.CPUPerMsgUS = b.CPUSeconds * 1e6 / float64(msgs)
	}
	if wall > 0 {
		b.CPUUtilization = b.CPUSeconds / wall.Seconds()
	}
	return b
}
