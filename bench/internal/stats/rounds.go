package stats

import (
	"math"
	"slices"
	"time"
)

// Spread summarises the per-round values of one metric: METHOD.md reports
// the median of the rounds with the interquartile range, never one run.
type Spread struct {
	Median float64 `json:"median"`
	Q1     float64 `json:"q1"`
	Q3     float64 `json:"q3"`
	IQR    float64 `json:"iqr"`
	N      int     `json:"n"`
}

// Summarize computes the median, the quartiles (linear interpolation
// between closest ranks, the R-7 / spreadsheet definition) and the IQR of
// values. NaN values are ignored. An empty input gives the zero Spread.
func Summarize(values []float64) Spread {
	v := make([]float64, 0, len(values))
	for _, x := range values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	s := Spread{
		Median: interpolate(v, 0.5),
		Q1:     interpolate(v, 0.25),
		Q3:     interpolate(v, 0.75),
		N:      len(v),
	}
	s.IQR = s.Q3 - s.Q1
	return s
}

// interpolate returns the q-quantile of sorted, non-empty v.
func interpolate(v []float64, q float64) float64 {
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	if lo == hi {
		return v[lo]
	}
	frac := pos - float64(lo)
	return v[lo] + (v[hi]-v[lo])*frac
}

// ExactQuantile returns the q-quantile (nearest rank) of ds, sorting a copy.
// For small samples whose differences are finer than the histogram's
// resolution: at 20 ms a histogram bucket is 128 µs wide, too coarse for
// per-event gap overheads of tens of microseconds.
func ExactQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
