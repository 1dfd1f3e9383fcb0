package mockupstream_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"gantry/internal/aibridge/mockupstream"
)

func post(t *testing.T, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestKnobs(t *testing.T) {
	t.Parallel()
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 3, ChunkBytes: 8, BodyBytes: 100, Status: http.StatusOK}})
	base := m.Start()
	defer m.Close()

	t.Run("BodyBytes", func(t *testing.T) {
		resp := post(t, base+"/v1/chat/completions", `{"model":"m"}`, map[string]string{"X-Mock-Body-Bytes": "10000"})
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.InDelta(t, 10000, len(b), 1000)
		require.True(t, gjson.ValidBytes(b))
	})
	t.Run("StreamPacing", func(t *testing.T) {
		start := time.Now()
		resp := post(t, base+"/v1/messages", `{"model":"m","stream":true}`, map[string]string{
			"X-Mock-Ttft-Ms": "50", "X-Mock-Chunks": "5", "X-Mock-Chunk-Interval-Ms": "30", "X-Mock-Chunk-Bytes": "4",
		})
		sc := bufio.NewScanner(resp.Body)
		var deltas []time.Duration
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), "text_delta") {
				deltas = append(deltas, time.Since(start))
				require.Equal(t, "lore", gjson.Get(strings.TrimPrefix(sc.Text(), "data: "), "delta.text").Str)
			}
		}
		require.Len(t, deltas, 5)
		require.GreaterOrEqual(t, deltas[0], 50*time.Millisecond)
		require.GreaterOrEqual(t, deltas[4]-deltas[0], 4*30*time.Millisecond)
	})
	t.Run("FailEveryN", func(t *testing.T) {
		m2 := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 1, ChunkBytes: 1, BodyBytes: 10, Status: 429, FailEveryN: 3}})
		base2 := m2.Start()
		defer m2.Close()
		var statuses []int
		for range 6 {
			resp := post(t, base2+"/v1/messages", `{"model":"m"}`, nil)
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == 429 {
				b, _ := io.ReadAll(resp.Body)
				require.Equal(t, "rate_limit_error", gjson.GetBytes(b, "error.type").Str)
			}
		}
		require.Equal(t, []int{200, 200, 429, 200, 200, 429}, statuses)
		require.EqualValues(t, 2, m2.Stats().Failures)
	})
	t.Run("ChatUsageOnlyWhenAsked", func(t *testing.T) {
		for _, include := range []bool{false, true} {
			body := `{"model":"m","stream":true}`
			if include {
				body = `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`
			}
			resp := post(t, base+"/v1/chat/completions", body, nil)
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, include, strings.Contains(string(b), `"usage"`))
			require.True(t, strings.HasSuffix(string(b), "data: [DONE]\n\n"))
		}
	})
	t.Run("RecordsAndStats", func(t *testing.T) {
		m3 := mockupstream.New(mockupstream.Options{})
		base3 := m3.Start()
		defer m3.Close()
		resp := post(t, base3+"/v1/messages?beta=true", `{"model":"m"}`, map[string]string{
			"X-Api-Key": "k", "Anthropic-Beta": "a,b", "Anthropic-Version": "2023-06-01",
		})
		_, _ = io.ReadAll(resp.Body)
		reqs := m3.Requests()
		require.Len(t, reqs, 1)
		r := reqs[0]
		require.Equal(t, "/v1/messages", r.Path)
		require.Equal(t, "beta=true", r.RawQuery)
		require.Equal(t, "k", r.Header.Get("X-Api-Key"))
		require.Equal(t, "a,b", r.Header.Get("Anthropic-Beta"))
		require.Len(t, r.BodySHA256, 64)
		require.True(t, r.UsageSent)
		statsReq, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base3+"/_mock/stats", nil)
		require.NoError(t, err)
		statsResp, err := http.DefaultClient.Do(statsReq)
		require.NoError(t, err)
		defer statsResp.Body.Close()
		var st mockupstream.Stats
		require.NoError(t, json.NewDecoder(statsResp.Body).Decode(&st))
		require.EqualValues(t, 1, st.Requests)
		require.Equal(t, r.Usage.Input, st.InputTokens)
		require.Equal(t, r.Usage.Output, st.OutputTokens)
		require.Positive(t, st.CPUUserMicros+st.CPUSysMicros)
	})
}

func TestScenarioFromModelName(t *testing.T) {
	t.Parallel()
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 1, ChunkBytes: 4, BodyBytes: 10, Status: http.StatusOK}})
	base := m.Start()
	defer m.Close()
	resp := post(t, base+"/v1/messages", `{"model":"claude-x+tool+thinking"}`, nil)
	b, _ := io.ReadAll(resp.Body)
	types := gjson.GetBytes(b, "content.#.type").Array()
	require.Len(t, types, 3, string(b))
	require.Equal(t, "thinking", types[0].Str)
	require.Equal(t, "tool_use", types[2].Str)
}
