package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseServerTiming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"gantry;dur=0.123", 123 * time.Microsecond, true},
		{"floor;dur=1.5", 1500 * time.Microsecond, true},
		{"cache;desc=hit, gantry;dur=2", 2 * time.Millisecond, true},
		{"gantry", 0, false},
		{"gantry;dur=-1", 0, false},
		{"gantry;dur=x", 0, false},
		{"", 0, false},
	} {
		got, ok := parseServerTiming(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.InDelta(t, float64(tc.want), float64(got), float64(time.Microsecond), tc.in)
	}
}

func TestParseOverhead(t *testing.T) {
	t.Parallel()
	exp := `# HELP gantry_aibridge_gateway_overhead_seconds Time spent in gantry.
# TYPE gantry_aibridge_gateway_overhead_seconds histogram
gantry_aibridge_gateway_overhead_seconds_bucket{provider="a",route="/v1/messages",le="0.0001"} 3
gantry_aibridge_gateway_overhead_seconds_sum{provider="a",route="/v1/messages"} 0.0005
gantry_aibridge_gateway_overhead_seconds_count{provider="a",route="/v1/messages"} 4
gantry_aibridge_gateway_overhead_seconds_sum{provider="b",route="/chat/completions"} 0.0015 1700000000000
gantry_aibridge_gateway_overhead_seconds_count{provider="b",route="/chat/completions"} 6
gantry_aibridge_time_to_first_byte_seconds_sum{provider="a"} 9
`
	p, err := parseOverhead(strings.NewReader(exp))
	require.NoError(t, err)
	require.InDelta(t, 0.002, p.sum, 1e-12)
	require.InDelta(t, 10.0, p.count, 1e-12)
}

// The flag needs both a relative and an absolute disagreement.
func TestSelfMismatch(t *testing.T) {
	t.Parallel()
	require.False(t, selfMismatch(330, 300), "within 20%")
	require.False(t, selfMismatch(40, 11), "over 20% but under 50 µs")
	require.True(t, selfMismatch(330, 139), "over both")
	require.True(t, selfMismatch(-100, 10), "negative black-box")
	require.False(t, selfMismatch(1000, 850), "15% of a large figure")
}
