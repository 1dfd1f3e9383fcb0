package stats_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/stats"
)

func TestExactQuantile(t *testing.T) {
	t.Parallel()
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	require.Equal(t, time.Duration(5), stats.ExactQuantile(ds, 0.5))
	require.Equal(t, time.Duration(10), stats.ExactQuantile(ds, 0.99))
	require.Equal(t, time.Duration(1), stats.ExactQuantile(ds, 0))
	require.Equal(t, time.Duration(5), ds[0], "the input is not reordered")
	require.Zero(t, stats.ExactQuantile(nil, 0.5))
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dist := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform-us", func() time.Duration { return time.Duration(rng.IntN(1_000_000)) }},
		{"lognormal", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5 + 12))
		}},
		{"bimodal", func() time.Duration {
			if rng.IntN(100) < 3 {
				return 40*time.Millisecond + time.Duration(rng.IntN(1_000_000))
			}
			return 80*time.Microsecond + time.Duration(rng.IntN(20_000))
		}},
	} {
		t.Run(dist.name, func(t *testing.T) {
			h := stats.NewHistogram()
			vals := make([]time.Duration, 50_000)
			for i := range vals {
				vals[i] = dist.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			require.Equal(t, uint64(len(vals)), h.Count())
			require.Equal(t, vals[0], h.Min())
			require.Equal(t, vals[len(vals)-1], h.Max())
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				want := stats.ExactQuantile(vals, q)
				got := h.Quantile(q)
				tol := math.Max(float64(want)*0.01, 1)
				require.InDeltaf(t, float64(want), float64(got), tol, "q=%v", q)
			}
		})
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	t.Parallel()
	h := stats.NewHistogram()
	for v := range 200 {
		h.Record(time.Duration(v))
	}
	require.Equal(t, time.Duration(99), h.Quantile(0.5))
	require.Equal(t, time.Duration(0), h.Quantile(0))
	require.Equal(t, time.Duration(199), h.Quantile(1))
	require.Equal(t, uint64(10), h.CountBelow(10))
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	t.Parallel()
	empty := stats.NewHistogram()
	require.Zero(t, empty.Quantile(0.99))
	require.Zero(t, empty.Mean())
	require.Zero(t, empty.Min())

	a, b := stats.NewHistogram(), stats.NewHistogram()
	for i := range 1000 {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(i+1000) * time.Microsecond)
	}
	a.Merge(b)
	a.Merge(nil)
	a.Merge(empty)
	require.Equal(t, uint64(2000), a.Count())
	require.InDelta(t, float64(1000*time.Microsecond), float64(a.Quantile(0.5)), float64(10*time.Microsecond))
	require.Equal(t, 1999*time.Microsecond, a.Max())
	require.InDelta(t, float64(999500*time.Nanosecond), float64(a.Mean()), 1)
	// Negative input is clamped, not a panic.
	a.Record(-time.Second)
	require.Equal(t, time.Duration(0), a.Min())
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	s := stats.Summarize([]float64{7, 1, 3, 5, math.NaN(), 9})
	require.Equal(t, 5, s.N)
	require.InDelta(t, 5.0, s.Median, 1e-9)
	require.InDelta(t, 3.0, s.Q1, 1e-9)
	require.InDelta(t, 7.0, s.Q3, 1e-9)
	require.InDelta(t, 4.0, s.IQR, 1e-9)

	even := stats.Summarize([]float64{4, 1, 2, 3})
	require.InDelta(t, 2.5, even.Median, 1e-9)
	require.InDelta(t, 1.75, even.Q1, 1e-9)
	require.InDelta(t, 3.25, even.Q3, 1e-9)

	require.Equal(t, stats.Spread{}, stats.Summarize(nil))
	one := stats.Summarize([]float64{-2})
	require.InDelta(t, -2.0, one.Median, 1e-9)
	require.Zero(t, one.IQR)
}
