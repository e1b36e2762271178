package bench

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's resolution: every power of two is split
// into 2^subBits linear buckets, so a bucket is at most 1/128 of the values
// it holds wide, and the midpoint Quantile reports is within 1/256
// (0.4 %) of any value in it. Values below 2^subBits are exact.
const (
	subBits    = 7
	subCount   = 1 << subBits
	maxBuckets = (64 - subBits + 1) * subCount
)

// MaxRelativeError bounds |Quantile(q) - exact| / exact for any q.
const MaxRelativeError = 1.0 / (2 * subCount)

// Histogram records non-negative int64 values (nanoseconds here) in
// log-linear buckets, in the manner of HdrHistogram: constant relative
// error, constant memory, and two histograms merge by adding counts. The
// zero value is empty and ready to use. It is not safe for concurrent use:
// each goroutine records into its own and the results are merged.
type Histogram struct {
	counts   []uint64 // grown on demand up to maxBuckets
	n        uint64
	min, max int64
	sum      float64
}

// bucketOf returns the bucket index of v ≥ 0.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	e := bits.Len64(u) - subBits - 1 // u>>e is in [subCount, 2*subCount)
	return (e+1)*subCount + int(u>>e) - subCount
}

// bucketRange returns the smallest value of bucket i and the bucket width.
func bucketRange(i int) (lo, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	e := i/subCount - 1
	return int64(uint64(i%subCount+subCount) << e), int64(1) << e
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.grow(i + 1)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *Histogram) grow(n int) {
	n = max(n, 2*len(h.counts), 16*subCount)
	n = min(n, maxBuckets)
	c := make([]uint64, n)
	copy(c, h.counts)
	h.counts = c
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts))
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the exact extremes; 0 when empty.
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest recorded value; 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the average of the recorded values; 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the value of rank
// ceil(q·n) (at least 1) in sorted order, within MaxRelativeError, and
// never outside [Min, Max]. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			v := lo + (w-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
