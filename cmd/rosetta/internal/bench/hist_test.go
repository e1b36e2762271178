package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistogramQuantiles checks every reported quantile against a sorted
// oracle, for several distributions, within MaxRelativeError.
func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dists := []struct {
		name string
		gen  func() int64
	}{
		{"small exact", func() int64 { return r.Int64N(128) }},
		{"uniform us", func() int64 { return 1000 + r.Int64N(1_000_000) }},
		{"lognormal", func() int64 { return int64(math.Exp(r.NormFloat64()*2 + 12)) }},
		{"exponential", func() int64 { return int64(r.ExpFloat64() * 2e6) }},
		{"huge", func() int64 { return math.MaxInt64/2 + r.Int64N(math.MaxInt64/4) }},
	}
	qs := []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = d.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range qs {
				rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
				want := vals[rank-1]
				got := h.Quantile(q)
				if err := relErr(got, want); err > MaxRelativeError {
					t.Errorf("q=%v: got %d, oracle %d: relative error %.5f > %.5f", q, got, want, err, MaxRelativeError)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
				t.Errorf("min/max/count = %d/%d/%d, want %d/%d/%d", h.Min(), h.Max(), h.Count(), vals[0], vals[len(vals)-1], len(vals))
			}
		})
	}
}

func relErr(got, want int64) float64 {
	if want == 0 {
		return math.Abs(float64(got))
	}
	return math.Abs(float64(got)-float64(want)) / float64(want)
}

// TestHistogramMerge checks that merging per-goroutine histograms gives
// the histogram of all the values.
func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all, a, b, empty Histogram
	for i := range 50_000 {
		v := int64(r.ExpFloat64() * 1e5)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v * 1) // same values, split unevenly
		}
	}
	var m Histogram
	m.Merge(&empty)
	m.Merge(&a)
	m.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v: merged %d, direct %d", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Errorf("merged summary differs: %d %d %d %v vs %d %d %d %v",
			m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	h.Record(-5) // clamped to 0
	h.Record(math.MaxInt64)
	if h.Min() != 0 || h.Max() != math.MaxInt64 || h.Quantile(1) != math.MaxInt64 || h.Quantile(0.5) != 0 {
		t.Errorf("edges: min %d max %d q1 %d q.5 %d", h.Min(), h.Max(), h.Quantile(1), h.Quantile(0.5))
	}
	// Every bucket's range maps back to it.
	for i := range maxBuckets {
		lo, w := bucketRange(i)
		if bucketOf(lo) != i || bucketOf(lo+w-1) != i {
			t.Fatalf("bucket %d: [%d, %d) maps to %d and %d", i, lo, lo+w, bucketOf(lo), bucketOf(lo+w-1))
		}
		if i >= subCount && float64(w)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d is %d wide at %d: over 1/%d", i, w, lo, subCount)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	v := int64(1)
	for b.Loop() {
		h.Record(v)
		v = v*7 + 13&0xffffffff
	}
}
