package main

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSlope(t *testing.T) {
	t.Parallel()
	x := []float64{0, 1, 2, 3, 4}
	require.InDelta(t, 2.0, slope(x, []float64{1, 3, 5, 7, 9}), 1e-12)
	require.InDelta(t, 0.0, slope(x, []float64{5, 5, 5, 5, 5}), 1e-12)
	// Noise around a flat line stays near zero.
	require.InDelta(t, 0.0, slope(x, []float64{5, 6, 4, 6, 4}), 0.5)
	require.True(t, math.IsNaN(slope([]float64{1}, []float64{1})))
	require.True(t, math.IsNaN(slope([]float64{2, 2}, []float64{1, 3})))
}

// Short soaks are held to an absolute growth, long ones to the rate.
func TestSoakLimit(t *testing.T) {
	t.Parallel()
	require.InDelta(t, 5.0, soakLimit(time.Minute), 1e-9)
	require.InDelta(t, 1.0, soakLimit(15*time.Minute), 1e-9)
}

func TestParseGoroutines(t *testing.T) {
	t.Parallel()
	prof := `goroutine profile: total 9
4 @ 0x1 0x2
#	0x1	net/http.(*persistConn).readLoop+0x1	/go/src/net/http/transport.go:2300

4 @ 0x3 0x4
#	0x3	net/http.(*persistConn).writeLoop+0x1	/go/src/net/http/transport.go:2600

1 @ 0x5
#	0x5	main.main+0x1	/x/main.go:1
`
	total, pool := parseGoroutines(prof)
	require.Equal(t, 9, total)
	require.Equal(t, 8, pool)
}
