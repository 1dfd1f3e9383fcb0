package report_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

func sample() *report.Report {
	r := &report.Report{}
	r.Env("cpu", "Test CPU")
	r.Env("pinning", "pinned")
	r.Rig(report.Row{Subject: "direct", Scenario: "rig", Level: "max", RPS: 20000, P50: 40, P99: 120})
	added := stats.Summarize([]float64{110, 120, 130})
	var errs report.Errors
	errs.Add(0)
	errs.Add(429)
	errs.Add(503)
	r.Add(report.Row{
		Subject: "gantry-sqlite", Scenario: "S1", Level: "c1", Offered: 1, RPS: 3000,
		P50: 150, P99: 400, P999: 900, AddedP50: &added, Errors: errs, CPUPer1k: 180.6,
		RSSIdle: 20, RSSPeak: 30, RSSRecov: 22, Flags: []string{report.FlagRigBound},
	})
	r.Add(report.Row{Subject: "gantry-sqlite", Scenario: "startup", Level: "cold", Value: report.Ptr(120.0), Unit: "ms"})
	r.Check("records = successes", true, "1000/1000")
	r.Target("added p50 c1", "<= 500 µs", "120 µs", report.Ptr(true))
	r.Target("reference", "-", "unavailable", nil)
	r.Note("reference: unavailable")
	return r
}

func TestTableHasEverySection(t *testing.T) {
	t.Parallel()
	r := sample()
	var b bytes.Buffer
	require.NoError(t, r.WriteTable(&b))
	out := b.String()
	for _, want := range []string{
		"== environment", "Test CPU", "== rig ceiling", "20000",
		"+120 [10.0]", "4xx:1 5xx:1 net:1", "181", "20.0/30.0/22.0",
		"== single-valued metrics", "cold", "120",
		"rig-bound: gantry-sqlite/S1/c1",
		"[PASS] records = successes: 1000/1000",
		"MISSED", "n/a", "met",
		"reference: unavailable",
	} {
		if want == "MISSED" {
			require.NotContains(t, out, want)
			continue
		}
		require.Contains(t, out, want)
	}
	require.False(t, r.Failed())
	r.Check("headers forwarded", false, "anthropic-beta changed")
	require.True(t, r.Failed())
	b.Reset()
	require.NoError(t, r.WriteTable(&b))
	require.Contains(t, b.String(), "[FAIL] headers forwarded: anthropic-beta changed")
}

func TestJSONLines(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, sample().WriteJSON(&b))
	types := map[string]int{}
	sc := bufio.NewScanner(&b)
	var row map[string]any
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		typ, _ := m["type"].(string)
		types[typ]++
		if typ == "row" && m["scenario"] == "S1" {
			row = m
		}
	}
	require.Equal(t, map[string]int{"env": 1, "rig": 1, "row": 2, "flag": 1, "check": 1, "target": 2, "note": 1}, types)
	require.NotNil(t, row)
	require.InDelta(t, 150.0, row["p50_us"], 1e-9)
	added := row["added_p50_us"].(map[string]any)
	require.InDelta(t, 120.0, added["median"], 1e-9)
	require.InDelta(t, 10.0, added["iqr"], 1e-9)
	errs := row["errors"].(map[string]any)
	require.InDelta(t, 1.0, errs["429"], 1e-9)
	require.InDelta(t, 1.0, errs["transport"], 1e-9)
	require.Equal(t, []any{"rig-bound"}, row["flags"])
}

func TestErrorsTotal(t *testing.T) {
	t.Parallel()
	var e report.Errors
	require.Equal(t, "0", e.String())
	for _, s := range []int{0, 0, 404, 429, 500, 302} {
		e.Add(s)
	}
	e.Rig++
	require.Equal(t, 7, e.Total())
	require.True(t, strings.Contains(e.String(), "net:2"))
	require.Equal(t, 2, e.Status4xx)
	require.Equal(t, 1, e.Status429)
}
