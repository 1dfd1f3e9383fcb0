package aibridge_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// metricValue sums a metric family's samples whose labels include want.
func metricValue(t *testing.T, h *harness, name string, want map[string]string) (sum float64, count uint64) {
	t.Helper()
	fams, err := h.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += m.Histogram.GetSampleSum()
				count += m.Histogram.GetSampleCount()
			}
		}
	}
	return sum, count
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	auth := map[string]string{"X-Api-Key": tokenAlice}
	for range 2 {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true), auth)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_ = readAll(t, resp.Body)
		require.Contains(t, resp.Header.Get("Server-Timing"), "gantry;dur=")
	}
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false),
		map[string]string{"X-Api-Key": tokenAlice, "X-Mock-Status": "429"})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	_ = readAll(t, resp.Body)
	resp = h.do(t, http.MethodGet, "/api/v2/aibridge/anthropic/v1/models", "", auth)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = h.do(t, http.MethodGet, "/api/v2/aibridge/anthropic/v1/models", "", map[string]string{"X-Api-Key": "wrong"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp = h.do(t, http.MethodGet, "/api/v2/aibridge/"+strings.Repeat("z", 40)+"/v1/models", "", auth)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	h.waitEnded(t, 3)

	p := "gantry_aibridge_"
	v, _ := metricValue(t, h, p+"interceptions_total", map[string]string{"provider": "anthropic", "status": "completed", "route": "/v1/messages", "initiator_id": aliceID.String()})
	require.EqualValues(t, 2, v)
	v, _ = metricValue(t, h, p+"interceptions_total", map[string]string{"status": "failed"})
	require.EqualValues(t, 1, v)
	v, _ = metricValue(t, h, p+"interceptions_inflight", nil)
	require.EqualValues(t, 0, v)
	v, _ = metricValue(t, h, p+"passthrough_total", map[string]string{"route": "/v1/models", "method": "GET"})
	require.EqualValues(t, 1, v)
	v, _ = metricValue(t, h, p+"prompts_total", nil)
	require.EqualValues(t, 3, v)
	var wantIn, wantOut float64
	for _, r := range h.mocks["anthropic"].Requests() {
		wantIn += float64(r.Usage.Input)
		wantOut += float64(r.Usage.Output)
	}
	v, _ = metricValue(t, h, p+"tokens_total", map[string]string{"type": "input"})
	require.Equal(t, wantIn, v)
	v, _ = metricValue(t, h, p+"tokens_total", map[string]string{"type": "output"})
	require.Equal(t, wantOut, v)
	_, n := metricValue(t, h, p+"gateway_overhead_seconds", nil)
	require.EqualValues(t, 3, n)
	_, n = metricValue(t, h, p+"time_to_first_byte_seconds", nil)
	require.EqualValues(t, 3, n)
	_, n = metricValue(t, h, p+"interceptions_duration_seconds", nil)
	require.EqualValues(t, 3, n)
	v, _ = metricValue(t, h, p+"rejections_total", map[string]string{"reason": "unauthorized"})
	require.EqualValues(t, 1, v)
	// An unknown provider name from the URL never becomes a label value.
	v, _ = metricValue(t, h, p+"rejections_total", map[string]string{"provider": "unknown", "reason": "not_found"})
	require.EqualValues(t, 1, v)
	v, _ = metricValue(t, h, p+"records_dropped_total", nil)
	require.Zero(t, v)
}
