package aibridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/apitest"
)

// TestStructuredLogging: one "interception log" record per event, and the
// gantry token never appears in the logs.
func TestStructuredLogging(t *testing.T) {
	t.Parallel()
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 2, ChunkBytes: 4, BodyBytes: 64, Status: http.StatusOK}})
	base := m.Start()
	defer m.Close()
	var logs apitest.LogBuffer
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{StructuredLogging: true, Providers: []aibridge.Provider{
			{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "sk-secret-central-key", BaseURL: base},
		}},
		Auth:   staticAuth,
		Store:  nopStore{},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v2/aibridge/anthropic/v1/messages",
		strings.NewReader(fmt.Sprintf(messagesBody, true)))
	req.Header.Set("X-Api-Key", tokenAlice)
	req.Header.Set("X-Mock-Scenario", "tool,thinking")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	_ = readAll(t, resp.Body)
	_ = resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, gw.Close(ctx))

	types := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == "interception log" {
			types[rec["record_type"].(string)]++
		}
	}
	require.Equal(t, map[string]int{
		"interception_start": 1, "token_usage": 1, "prompt_usage": 1, "tool_usage": 1, "model_thought": 1, "interception_end": 1,
	}, types)
	require.NotContains(t, logs.String(), tokenAlice)
	require.NotContains(t, logs.String(), "sk-secret-central-key")
}
