package admin

import (
	"sync"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

// sample is one reading of the exchange's counters.
type sample struct {
	at     time.Time
	in     map[message.Protocol]uint64
	out    map[message.Protocol]uint64
	queues map[string][2]uint64 // enqueued, delivered
}

// sampler keeps the last historyLen+1 readings, taken every interval by
// Handler.Run or, without it, when a rate is asked for and the newest
// reading is stale.
type sampler struct {
	x        Exchange
	now      func() time.Time
	interval time.Duration

	mu   sync.Mutex
	ring []sample // oldest first (guarded by mu)
}

func newSampler(x Exchange, now func() time.Time, interval time.Duration) *sampler {
	return &sampler{x: x, now: now, interval: interval}
}

func (s *sampler) read() sample {
	st := s.x.Stats()
	qs := s.x.Queues()
	sm := sample{at: s.now(), in: st.In, out: st.Out, queues: make(map[string][2]uint64, len(qs))}
	for _, q := range qs {
		sm.queues[q.Name] = [2]uint64{q.Enqueued, q.Delivered}
	}
	return sm
}

// sample takes a reading.
func (s *sampler) sample() {
	sm := s.read()
	s.mu.Lock()
	s.ring = append(s.ring, sm)
	if len(s.ring) > historyLen+1 {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-historyLen-1:]...)
	}
	s.mu.Unlock()
}

// fresh takes a reading when the newest one is older than an interval (or
// there are fewer than two), so that rates exist without Run.
func (s *sampler) fresh() {
	s.mu.Lock()
	stale := len(s.ring) < 2 || s.now().Sub(s.ring[len(s.ring)-1].at) >= s.interval
	s.mu.Unlock()
	if stale {
		s.sample()
	}
}

// Rate is messages per second in and out.
type Rate struct {
	In  float64 `json:"in"`
	Out float64 `json:"out"`
}

// Point is the per-protocol rates over one sampling interval.
type Point struct {
	Time  int64                     `json:"t"` // Unix milliseconds at the end of the interval
	Rates map[message.Protocol]Rate `json:"rates"`
}

func perSecond(a, b uint64, dt float64) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt
}

func protoRates(a, b sample) map[message.Protocol]Rate {
	dt := b.at.Sub(a.at).Seconds()
	m := make(map[message.Protocol]Rate)
	var total Rate
	for _, p := range []message.Protocol{message.ProtocolMQTT, message.ProtocolSTOMP, message.ProtocolAMQP, message.ProtocolHTTP} {
		m[p] = Rate{}
	}
	for p, n := range b.in {
		r := m[p]
		r.In = perSecond(a.in[p], n, dt)
		m[p] = r
		total.In += r.In
	}
	for p, n := range b.out {
		r := m[p]
		r.Out = perSecond(a.out[p], n, dt)
		m[p] = r
		total.Out += r.Out
	}
	m["total"] = total
	return m
}

// current returns the per-protocol rates over the last interval.
func (s *sampler) current() map[message.Protocol]Rate {
	s.fresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.ring)
	if n < 2 {
		return protoRates(sample{}, sample{})
	}
	return protoRates(s.ring[n-2], s.ring[n-1])
}

// history returns the rates over each sampled interval, oldest first.
func (s *sampler) history() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Point, 0, len(s.ring))
	for i := 1; i < len(s.ring); i++ {
		out = append(out, Point{Time: s.ring[i].at.UnixMilli(), Rates: protoRates(s.ring[i-1], s.ring[i])})
	}
	return out
}

// queueRates returns each queue's rates over the last interval.
func (s *sampler) queueRates() map[string]Rate {
	s.fresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]Rate)
	n := len(s.ring)
	if n < 2 {
		return m
	}
	a, b := s.ring[n-2], s.ring[n-1]
	dt := b.at.Sub(a.at).Seconds()
	for name, v := range b.queues {
		p := a.queues[name]
		m[name] = Rate{In: perSecond(p[0], v[0], dt), Out: perSecond(p[1], v[1], dt)}
	}
	return m
}
