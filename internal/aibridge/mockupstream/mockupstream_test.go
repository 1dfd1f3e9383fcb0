package mockupstream_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
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
	t.Run("Stamp", func(t *testing.T) {
		// Every content delta of every shape carries the time it was sent.
		for _, path := range []string{"/v1/messages", "/v1/chat/completions", "/v1/responses"} {
			before := time.Now().UnixNano()
			resp := post(t, base+path, `{"model":"m","stream":true}`, map[string]string{
				"X-Mock-Chunks": "3", "X-Mock-Chunk-Interval-Ms": "10", "X-Mock-Chunk-Bytes": "32", "X-Mock-Stamp": "1",
			})
			sc := bufio.NewScanner(resp.Body)
			var stamps []int64
			for sc.Scan() {
				line := sc.Text()
				// Content deltas only: the closing events repeat the whole
				// text without stamps.
				if !strings.HasPrefix(line, "data: ") || !strings.Contains(line, "lorem") ||
					!strings.Contains(line, "delta") || strings.Contains(line, ".done") {
					continue
				}
				ns, ok := mockupstream.ParseStamp([]byte(line))
				require.True(t, ok, line)
				require.Contains(t, line, "@"+strconv.FormatInt(ns, 10)+"@um lorem ip\"", "the stamp replaces the head of the 32-byte text")
				stamps = append(stamps, ns)
			}
			require.Len(t, stamps, 3, path)
			require.GreaterOrEqual(t, stamps[0], before)
			require.LessOrEqual(t, stamps[2], time.Now().UnixNano())
			require.GreaterOrEqual(t, stamps[2]-stamps[0], int64(2*10*time.Millisecond), "stamped at send time, not at the start")
		}
		_, ok := mockupstream.ParseStamp([]byte(`{"text":"@12@lorem"}`))
		require.False(t, ok)
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
