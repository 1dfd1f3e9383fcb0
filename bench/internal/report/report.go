// Package report collects a benchmark run's results and prints them the
// way METHOD.md §12 requires: an environment header, the rig ceiling, one
// row per subject × scenario × level, flags, correctness checks with
// pass/fail, targets, a human table (stderr) and JSON lines (stdout or a
// file).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"gantry/bench/internal/stats"
)

// Flag names (METHOD.md §12.4).
const (
	FlagRigBound    = "rig-bound"
	FlagBuffers     = "buffers"
	FlagMismatch    = "self-vs-blackbox mismatch"
	FlagRateLimited = "rate-limited"
	// FlagContended: processes outside the benchmark used more than 10% of
	// the subject's core during the row, so its figures are pessimistic.
	FlagContended = "contended"
)

// Errors splits failures into HTTP status classes, transport errors and
// rig errors (our side: load generator, mock, descriptors).
type Errors struct {
	Status4xx int `json:"4xx"`
	Status5xx int `json:"5xx"`
	// Other counts 1xx/3xx and unexpected 2xx (wrong headers or body).
	Other     int `json:"other"`
	Transport int `json:"transport"`
	Rig       int `json:"rig"`
	// Status429 is included in Status4xx and also counted on its own.
	Status429 int `json:"429"`
}

// Total is the number of failed requests.
func (e Errors) Total() int { return e.Status4xx + e.Status5xx + e.Other + e.Transport + e.Rig }

// Add counts one failed response by its HTTP status (0 = transport error).
func (e *Errors) Add(status int) {
	switch {
	case status == 0:
		e.Transport++
	case status == 429:
		e.Status429++
		e.Status4xx++
	case status >= 400 && status < 500:
		e.Status4xx++
	case status >= 500:
		e.Status5xx++
	default:
		e.Other++
	}
}

func (e Errors) String() string {
	if e.Total() == 0 {
		return "0"
	}
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{e.Status4xx, "4xx"}, {e.Status5xx, "5xx"}, {e.Other, "other"}, {e.Transport, "net"}, {e.Rig, "rig"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", p.name, p.n))
		}
	}
	return strings.Join(parts, " ")
}

// Row is one subject × scenario × level measurement. Latencies are in
// microseconds. Zero-valued optional fields are omitted from JSON.
type Row struct {
	Subject  string `json:"subject"`
	Scenario string `json:"scenario"`
	Level    string `json:"level"`
	// Offered is the offered rate (req/s) for open-loop runs, or the
	// concurrency for closed-loop ones.
	Offered  float64 `json:"offered,omitempty"`
	Requests int     `json:"requests,omitempty"`
	RPS      float64 `json:"rps,omitempty"`
	P50      float64 `json:"p50_us,omitempty"`
	P99      float64 `json:"p99_us,omitempty"`
	P999     float64 `json:"p999_us,omitempty"`
	// Added latency versus direct, over rounds (median and IQR).
	AddedP50 *stats.Spread `json:"added_p50_us,omitempty"`
	AddedP99 *stats.Spread `json:"added_p99_us,omitempty"`
	Errors   Errors        `json:"errors"`
	CPUPer1k float64       `json:"cpu_ms_per_1k,omitempty"`
	// CPUPct is the subject's CPU use during the run, in % of one core.
	CPUPct float64 `json:"cpu_pct,omitempty"`
	// ForeignPct is the CPU that processes outside the benchmark used on
	// the subject's core during the row, in % of that core (pinned runs).
	ForeignPct float64 `json:"foreign_cpu_pct,omitempty"`
	RSSIdle    float64 `json:"rss_idle_mib,omitempty"`
	RSSPeak    float64 `json:"rss_peak_mib,omitempty"`
	RSSRecov   float64 `json:"rss_recovered_mib,omitempty"`
	// Value/Unit carry single-valued metrics (startup ms, KiB per stream,
	// streams sustained...).
	Value *float64 `json:"value,omitempty"`
	Unit  string   `json:"unit,omitempty"`
	Flags []string `json:"flags,omitempty"`
	Note  string   `json:"note,omitempty"`
}

// Check is a correctness assertion. A failed check makes the run exit
// non-zero.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

// Target compares a measured figure with issue 7's target.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Met is nil when the figure could not be measured.
	Met *bool `json:"met"`
}

// KV is one environment header entry.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Report accumulates a run. Methods are safe for concurrent use.
type Report struct {
	mu      sync.Mutex
	env     []KV
	rig     []Row
	rows    []Row
	checks  []Check
	targets []Target
	notes   []string
}

// Env adds an environment header entry.
func (r *Report) Env(key, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env = append(r.env, KV{key, value})
}

// Rig adds a rig-ceiling row.
func (r *Report) Rig(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rig = append(r.rig, row)
}

// Add adds a result row.
func (r *Report) Add(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

// Check records a correctness check.
func (r *Report) Check(name string, pass bool, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, Check{name, pass, detail})
}

// Target records a target comparison; met is nil when not measured.
func (r *Report) Target(name, want, got string, met *bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = append(r.targets, Target{name, want, got, met})
}

// Note records a free-text line (something skipped or unavailable).
func (r *Report) Note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Rows returns a copy of the result rows.
func (r *Report) Rows() []Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Row(nil), r.rows...)
}

// Failed reports whether any correctness check failed.
func (r *Report) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.checks {
		if !c.Pass {
			return true
		}
	}
	return false
}

// Flags returns every distinct flag raised on any row, sorted, each with
// the rows that raised it.
func (r *Report) Flags() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, row := range append(append([]Row(nil), r.rig...), r.rows...) {
		for _, f := range row.Flags {
			out[f] = append(out[f], row.Subject+"/"+row.Scenario+"/"+row.Level)
		}
	}
	return out
}

// WriteJSON writes one JSON object per line: env, rig, row, flag, check,
// target and note records, each with a "type" field.
func (r *Report) WriteJSON(w io.Writer) error {
	flags := r.Flags()
	r.mu.Lock()
	defer r.mu.Unlock()
	enc := json.NewEncoder(w)
	env := map[string]string{"type": "env"}
	for _, kv := range r.env {
		env[kv.Key] = kv.Value
	}
	if err := enc.Encode(env); err != nil {
		return err
	}
	type typed struct {
		Type string `json:"type"`
		Row
	}
	for _, row := range r.rig {
		if err := enc.Encode(typed{"rig", row}); err != nil {
			return err
		}
	}
	for _, row := range r.rows {
		if err := enc.Encode(typed{"row", row}); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(flags) {
		if err := enc.Encode(map[string]any{"type": "flag", "flag": name, "rows": flags[name]}); err != nil {
			return err
		}
	}
	for _, c := range r.checks {
		if err := enc.Encode(struct {
			Type string `json:"type"`
			Check
		}{"check", c}); err != nil {
			return err
		}
	}
	for _, t := range r.targets {
		if err := enc.Encode(struct {
			Type string `json:"type"`
			Target
		}{"target", t}); err != nil {
			return err
		}
	}
	for _, n := range r.notes {
		if err := enc.Encode(map[string]string{"type": "note", "note": n}); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteTable writes the human-readable report.
func (r *Report) WriteTable(w io.Writer) error {
	flags := r.Flags()
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("== environment\n")
	for _, kv := range r.env {
		fmt.Fprintf(&b, "  %-16s %s\n", kv.Key, kv.Value)
	}
	if len(r.rig) > 0 {
		b.WriteString("\n== rig ceiling (load generator -> mock / static handler)\n")
		writeRows(&b, r.rig)
	}
	var latency, single []Row
	for _, row := range r.rows {
		if row.Value != nil {
			single = append(single, row)
		} else {
			latency = append(latency, row)
		}
	}
	if len(latency) > 0 {
		b.WriteString("\n== results (latencies in µs; added = subject − direct, median [IQR] over rounds)\n")
		writeRows(&b, latency)
	}
	if len(single) > 0 {
		b.WriteString("\n== single-valued metrics\n")
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "subject\tscenario\tlevel\tvalue\tunit\tflags\tnote")
		for _, row := range single {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Subject, row.Scenario, row.Level,
				num(*row.Value), row.Unit, strings.Join(row.Flags, ","), row.Note)
		}
		_ = tw.Flush()
	}
	b.WriteString("\n== flags\n")
	if len(flags) == 0 {
		b.WriteString("  none\n")
	}
	for _, name := range sortedKeys(flags) {
		fmt.Fprintf(&b, "  %s: %s\n", name, strings.Join(flags[name], ", "))
	}
	b.WriteString("\n== correctness checks\n")
	for _, c := range r.checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  [%s] %s", verdict, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(&b, ": %s", c.Detail)
		}
		b.WriteByte('\n')
	}
	if len(r.targets) > 0 {
		b.WriteString("\n== targets (issue 7)\n")
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  target\twant\tgot\tverdict")
		for _, t := range r.targets {
			verdict := "n/a"
			if t.Met != nil {
				verdict = map[bool]string{true: "met", false: "MISSED"}[*t.Met]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, verdict)
		}
		_ = tw.Flush()
	}
	if len(r.notes) > 0 {
		b.WriteString("\n== notes\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRows(b *strings.Builder, rows []Row) {
	tw := tabwriter.NewWriter(b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "subject\tscenario\tlevel\toffered\trps\tp50\tp99\tp99.9\t+p50 [IQR]\t+p99 [IQR]\terrors\tcpu-ms/1k\tfgn%\trss idle/peak/rec MiB\tflags")
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			row.Subject, row.Scenario, row.Level, num(row.Offered), num(row.RPS),
			num(row.P50), num(row.P99), num(row.P999), spread(row.AddedP50), spread(row.AddedP99),
			row.Errors, num(row.CPUPer1k), num(row.ForeignPct), rss(row), strings.Join(row.Flags, ","))
	}
	_ = tw.Flush()
}

// num prints a figure compactly: integers above 100, one decimal below.
func num(v float64) string {
	switch {
	case v == 0 || math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func spread(s *stats.Spread) string {
	if s == nil || s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s [%s]", signed(s.Median), num(s.IQR))
}

func signed(v float64) string {
	if v > 0 {
		return "+" + num(v)
	}
	if v == 0 {
		return "0"
	}
	return num(v)
}

func rss(row Row) string {
	if row.RSSIdle == 0 && row.RSSPeak == 0 && row.RSSRecov == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s/%s", num(row.RSSIdle), num(row.RSSPeak), num(row.RSSRecov))
}

// Ptr returns a pointer to v (for Row.Value and Target.Met).
func Ptr[T any](v T) *T { return &v }
