package transform

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets returns the upper bounds of the latency histograms in
// Stats, chosen to separate in-process steps (microseconds) from plugin
// calls (hundreds of microseconds and up).
func LatencyBuckets() []time.Duration { return slices.Clone(latencyBuckets[:]) }

var latencyBuckets = [...]time.Duration{
	5 * time.Microsecond, 25 * time.Microsecond, 100 * time.Microsecond, 500 * time.Microsecond,
	2500 * time.Microsecond, 10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond,
	time.Second, 5 * time.Second,
}

// Counters are the figures kept for a step or a plan.
type Counters struct {
	Calls  uint64 // messages in
	Errors uint64 // messages that failed
	Drops  uint64 // messages dropped
	// Latency is the time spent, one observation per call of the step with
	// a batch (per computation for a plan).
	Latency Histogram
}

// Histogram is a latency distribution in the shape Prometheus exports:
// cumulative bucket counts, a sum and a count.
type Histogram struct {
	Count   uint64
	Sum     time.Duration
	Buckets [len(latencyBuckets)]uint64 // Buckets[i] counts observations ≤ LatencyBuckets()[i]
}

// StepStats are the counters of every instance of one named step.
type StepStats struct {
	Step string
	Counters
}

// PlanStats are the counters of one plan: the chain of steps a receiver's
// route and accept value resolved to, labelled as "route sensors/# |
// cbor-to-json | json-to-xml".
type PlanStats struct {
	Plan string
	Counters
	CacheHits   uint64 // transformations served from the cache (or from a concurrent computation)
	CacheMisses uint64 // transformations computed
}

// Stats is a snapshot of an engine's metrics.
type Stats struct {
	Steps          []StepStats // sorted by step name
	Plans          []PlanStats // sorted by plan
	Passthrough    uint64      // Transform calls that needed nothing (no route, no accept)
	CacheHits      uint64
	CacheMisses    uint64
	CacheEvictions uint64
	CacheEntries   int
	CacheBytes     int64
}

// counters is the live, lock-free form of Counters.
type counters struct {
	calls, errors, drops atomic.Uint64
	count                atomic.Uint64
	sum                  atomic.Int64
	buckets              [len(latencyBuckets)]atomic.Uint64 // not cumulative
}

func (c *counters) observe(res []Result, d time.Duration) {
	c.calls.Add(uint64(len(res)))
	for _, r := range res {
		switch {
		case r.Err != nil:
			c.errors.Add(1)
		case r.Msg == nil:
			c.drops.Add(1)
		}
	}
	c.latency(d)
}

func (c *counters) latency(d time.Duration) {
	c.count.Add(1)
	c.sum.Add(int64(d))
	for i, ub := range latencyBuckets {
		if d <= ub {
			c.buckets[i].Add(1)
			return
		}
	}
}

func (c *counters) snapshot() Counters {
	s := Counters{Calls: c.calls.Load(), Errors: c.errors.Load(), Drops: c.drops.Load()}
	s.Latency.Count = c.count.Load()
	s.Latency.Sum = time.Duration(c.sum.Load())
	var cum uint64
	for i := range c.buckets {
		cum += c.buckets[i].Load()
		s.Latency.Buckets[i] = cum
	}
	return s
}

type planStats struct {
	label string
	counters
	hits, misses atomic.Uint64
}

// engineStats holds an engine's counters. Step counters are created while
// the engine is built and never after, so they are read without a lock;
// plans appear as receivers ask for them.
type engineStats struct {
	steps       map[string]*counters // fixed after NewEngine
	mu          sync.Mutex
	plans       map[string]*planStats // guarded by mu
	passthrough atomic.Uint64
	hits        atomic.Uint64
	misses      atomic.Uint64
}

func newEngineStats() *engineStats {
	return &engineStats{steps: map[string]*counters{}, plans: map[string]*planStats{}}
}

func (s *engineStats) step(name string) *counters {
	c, ok := s.steps[name]
	if !ok {
		c = &counters{}
		s.steps[name] = c
	}
	return c
}

func (s *engineStats) plan(label string) *planStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[label]
	if !ok {
		p = &planStats{label: label}
		s.plans[label] = p
	}
	return p
}

func (s *engineStats) snapshot() Stats {
	out := Stats{Passthrough: s.passthrough.Load(), CacheHits: s.hits.Load(), CacheMisses: s.misses.Load()}
	for name, c := range s.steps {
		out.Steps = append(out.Steps, StepStats{Step: name, Counters: c.snapshot()})
	}
	slices.SortFunc(out.Steps, func(a, b StepStats) int { return strings.Compare(a.Step, b.Step) })
	s.mu.Lock()
	for _, p := range s.plans {
		out.Plans = append(out.Plans, PlanStats{Plan: p.label, Counters: p.snapshot(), CacheHits: p.hits.Load(), CacheMisses: p.misses.Load()})
	}
	s.mu.Unlock()
	slices.SortFunc(out.Plans, func(a, b PlanStats) int { return strings.Compare(a.Plan, b.Plan) })
	return out
}
