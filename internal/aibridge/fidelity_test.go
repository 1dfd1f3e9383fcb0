package aibridge_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestByteFidelity: what the client receives is byte for byte what the
// upstream sent, streams and blocking answers alike (the one documented
// exception, the usage chunk gantry requested itself, is tested in
// TestOpenAIChatSDK).
func TestByteFidelity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	cases := []struct {
		name, mock, path, body string
	}{
		{"MessagesStream", "anthropic", "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true)},
		{"MessagesBlocking", "anthropic", "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false)},
		{"ResponsesStream", "openai", "/api/v2/aibridge/openai/v1/responses", `{"model":"gpt-mock","stream":true,"input":"hi"}`},
		{"ResponsesBlocking", "openai", "/api/v2/aibridge/openai/v1/responses", `{"model":"gpt-mock","input":"hi"}`},
		{"ChatBlocking", "openai", "/api/v2/aibridge/openai/v1/chat/completions", `{"model":"gpt-mock","messages":[]}`},
		{"ChatStreamWithUsage", "openai", "/api/v2/aibridge/openai/v1/chat/completions", `{"model":"gpt-mock","stream":true,"stream_options":{"include_usage":true},"messages":[]}`},
	}
	for _, c := range cases {
		resp := h.do(t, http.MethodPost, c.path, c.body, map[string]string{
			"X-Api-Key": tokenAlice, "X-Mock-Scenario": "tool,thinking", "X-Mock-Body-Bytes": "300000",
		})
		require.Equal(t, http.StatusOK, resp.StatusCode, c.name)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		m := h.mocks[c.mock]
		var upstream string
		require.Eventually(t, func() bool {
			upstream = lastRequest(t, m).ResponseSHA256
			return upstream != ""
		}, 5*time.Second, 5*time.Millisecond)
		require.Equal(t, upstream, hex.EncodeToString(sum[:]), "%s: bytes changed in transit", c.name)
		// The next case must not read this case's record.
		m.Reset()
	}
}

// TestStreamNotBuffered: events reach the client as the upstream paces
// them, not in a burst at the end.
func TestStreamNotBuffered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	const gap = 150 * time.Millisecond
	for _, c := range []struct{ path, body, marker string }{
		{"/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true), "text_delta"},
		{"/api/v2/aibridge/openai/v1/chat/completions", `{"model":"gpt-mock","stream":true,"messages":[]}`, `"content":"lore`},
		{"/api/v2/aibridge/openai/v1/responses", `{"model":"gpt-mock","stream":true,"input":"x"}`, "response.output_text.delta"},
	} {
		resp := h.do(t, http.MethodPost, c.path, c.body, map[string]string{
			"X-Api-Key": tokenAlice, "X-Mock-Chunks": "4", "X-Mock-Chunk-Interval-Ms": fmt.Sprint(gap.Milliseconds()),
		})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		sc := bufio.NewScanner(resp.Body)
		var at []time.Time
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), c.marker) {
				at = append(at, time.Now())
			}
		}
		require.Len(t, at, 4, c.path)
		for i := 1; i < len(at); i++ {
			require.Greater(t, at[i].Sub(at[i-1]), gap/2, "%s: events %d and %d arrived together", c.path, i-1, i)
		}
	}
}
