package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/report"
)

// The cross-check sends the harness's own S1 request: same method, URL and
// headers, the body from a file.
func TestBombardierArgv(t *testing.T) {
	t.Parallel()
	s := &subject{openai: "http://127.0.0.1:4242/api/v2/aibridge/bench-openai/v1", token: "tok"}
	tg := s.request(shapeChat, nil, instantKnobs(2048), "")
	got := bombardierArgv("/x/bombardier", 128, 3*time.Second, tg, "/tmp/body.json")
	require.Equal(t, []string{
		"/x/bombardier",
		"--connections=128",
		"--duration=3s",
		"--timeout=10s",
		"--latencies",
		"--method=POST",
		"--format=json",
		"--print=result",
		"--body-file=/tmp/body.json",
		"--header=Authorization: Bearer tok",
		"--header=Content-Type: application/json",
		"--header=User-Agent: gantry-bench/1",
		"--header=X-Mock-Body-Bytes: 2048",
		"--header=X-Mock-Status: 200",
		"--header=X-Mock-Ttft-Ms: 0",
		"http://127.0.0.1:4242/api/v2/aibridge/bench-openai/v1/chat/completions",
	}, got)
}

// bombardierJSON has the shape of bombardier v1.2.6's --format=json
// --print=result --latencies output.
const bombardierJSON = `{"spec":{"numberOfConnections":32,"testType":"timed","testDurationSeconds":3,` +
	`"method":"POST","url":"http://127.0.0.1:4242/v1/chat/completions",` +
	`"headers":[{"key":"Authorization","value":"Bearer tok"}],"bodyFilePath":"/tmp/body.json",` +
	`"stream":false,"timeoutSeconds":10,"client":"fasthttp"},` +
	`"result":{"bytesRead":31000000,"bytesWritten":21000000,"timeTakenSeconds":3.0000,` +
	`"req1xx":0,"req2xx":9000,"req3xx":1,"req4xx":3,"req5xx":2,"others":4,` +
	`"errors":[{"description":"timeout","count":4}],` +
	`"latency":{"mean":3500.5,"stddev":100.2,"max":25000,"percentiles":{"50":3300,"75":3600,"90":4000,"95":4400,"99":6000}},` +
	`"rps":{"mean":2998.4,"stddev":120.5,"max":4100.2,"percentiles":{"50":3000.000000,"75":3100.000000,"90":3200.000000,"95":3300.000000,"99":3900.000000}}}}`

func TestParseBombardier(t *testing.T) {
	t.Parallel()
	res, err := parseBombardier([]byte("\n" + bombardierJSON + "\n"))
	require.NoError(t, err)
	require.Equal(t, 9010, res.total())
	require.InDelta(t, 3000, res.goodput(), 1e-9)
	require.Equal(t, report.Errors{Status4xx: 3, Status5xx: 2, Other: 1, Transport: 4}, res.errs())

	row := res.row("gantry-sqlite", 32)
	require.Equal(t, "S1 max RPS (bombardier, closed loop c32)", row.Scenario)
	require.Equal(t, "c32 x 3s", row.Level)
	require.InDelta(t, 32, row.Offered, 0)
	require.Equal(t, 9010, row.Requests)
	require.InDelta(t, 3000, row.RPS, 1e-9)
	require.InDelta(t, 3300, row.P50, 0)
	require.InDelta(t, 6000, row.P99, 0)
	require.Equal(t, 10, row.Errors.Total())
	require.Contains(t, row.Note, "req/s mean 2998, max 4100")
	require.Contains(t, row.Note, "errors: timeout x4")

	for _, bad := range []string{"", "bombardier: unknown flag", `{"result":{}}`, `{"result":`} {
		_, err := parseBombardier([]byte(bad))
		require.Error(t, err, bad)
	}
}

// Anything but bombardier at the pinned version is refused, and the header
// says why.
func TestBombardierStatus(t *testing.T) {
	t.Parallel()
	got, err := bombardierStatus("")
	require.NoError(t, err)
	require.Equal(t, "not requested (-bombardier)", got)

	_, err = bombardierStatus(filepath.Join(t.TempDir(), "bombardier"))
	require.ErrorContains(t, err, "scripts/install-bombardier.sh")

	// The test binary is a Go binary, but not bombardier.
	self, err := os.Executable()
	require.NoError(t, err)
	_, err = bombardierStatus(self)
	require.ErrorContains(t, err, "not "+bombardierModule)
}
