package procstat_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/procstat"
)

func TestParse(t *testing.T) {
	t.Parallel()
	rss, err := procstat.ParseVMRSS([]byte("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   12345 kB\nThreads: 3\n"))
	require.NoError(t, err)
	require.Equal(t, int64(12345*1024), rss)
	_, err = procstat.ParseVMRSS([]byte("Name:\tzombie\n"))
	require.Error(t, err)

	// A command name with spaces and a ')' must not shift the fields.
	stat := "42 (we ird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000 200"
	cpu, err := procstat.ParseCPU([]byte(stat))
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cpu) // (250+50) ticks at 100 Hz
	_, err = procstat.ParseCPU([]byte("42 (x) S 1"))
	require.Error(t, err)
}

func TestSamplerSeesOwnCPUAndRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	s, err := procstat.Start(os.Getpid(), 10*time.Millisecond)
	require.NoError(t, err)
	// Burn at least 60 ms of CPU (the machine may be busy, so measure CPU
	// rather than wall time), bounded at 5 s.
	start, err := procstat.Read(os.Getpid())
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for range 1_000_000 {
			x++
		}
		now, err := procstat.Read(os.Getpid())
		require.NoError(t, err)
		if now.CPU-start.CPU >= 60*time.Millisecond {
			break
		}
	}
	sum, err := s.Stop()
	require.NoError(t, err)
	require.Positive(t, x)
	require.Greater(t, sum.Samples, 3)
	require.Positive(t, sum.PeakRSS)
	require.GreaterOrEqual(t, sum.CPU(), 50*time.Millisecond)

	_, err = procstat.Start(1<<30, 0)
	require.Error(t, err)
}

func TestParseCore(t *testing.T) {
	t.Parallel()
	stat := "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 100 10 40 800 20 5 5 20 0 0\nintr 1\n"
	c, err := procstat.ParseCore([]byte(stat), 1)
	require.NoError(t, err)
	require.Equal(t, 1800*time.Millisecond, c.Busy) // 100+10+40+5+5+20 ticks
	require.Equal(t, 10000*time.Millisecond, c.Total)
	_, err = procstat.ParseCore([]byte(stat), 7)
	require.Error(t, err)
	if runtime.GOOS == "linux" {
		now, err := procstat.ReadCore(0)
		require.NoError(t, err)
		require.Positive(t, now.Total)
	}
}
