// Package stats holds the benchmark's numeric tools: a log-linear latency
// histogram (HDR-style, bounded relative error) and the round statistics
// (median, quartiles, IQR) that every "added" figure is reported with.
package stats

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: every power-of-two range is split into
// 2^subBits linear buckets, so a recorded value is known to within
// 1/2^subBits (0.78%) of itself. METHOD.md asks for percentiles exact to
// about 1%.
const (
	subBits  = 7
	subCount = 1 << subBits // 128
	// Values below linearMax get one bucket each (exact).
	linearMax = 2 * subCount // 256
	// 64-bit values need at most 64-subBits-1 shifts.
	numBuckets = (64-subBits-1)*subCount + linearMax
)

// Histogram records non-negative durations (nanoseconds) with bounded
// relative error. The zero value is not usable; call NewHistogram. It is not
// safe for concurrent use: each goroutine records into its own and Merge
// combines them.
type Histogram struct {
	counts []uint64
	count  uint64
	sum    float64
	min    int64
	max    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

func bucketOf(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	return shift*subCount + int(v>>uint(shift))
}

// bucketBounds returns the inclusive value range of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < linearMax {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	m := uint64(i - shift*subCount)
	return m << uint(shift), (m+1)<<uint(shift) - 1
}

// Record adds one value. Negative values are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))]++
	h.count++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds all of o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.count += o.count
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count }

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest recorded value (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact arithmetic mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count))
}

// Quantile returns the value at quantile q in [0,1] with the nearest-rank
// definition: the smallest recorded value v such that at least q of all
// values are <= v. The result is the midpoint of v's bucket, clamped to
// the recorded min and max, so it is within the bucket's relative error.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			mid := int64(lo + (hi-lo)/2)
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// CountBelow returns how many recorded values are strictly below d, to
// bucket precision (used for the buffering check: gaps under 1 ms).
func (h *Histogram) CountBelow(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	limit := bucketOf(uint64(d))
	var n uint64
	for i := 0; i < limit; i++ {
		n += h.counts[i]
	}
	return n
}
