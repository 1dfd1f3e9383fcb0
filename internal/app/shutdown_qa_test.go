package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

// TestSIGTERMDrainsAIBridgeStreams is the graceful-shutdown acceptance test
// on a real `gantry server` process: SIGTERM arrives while 20 Anthropic
// streams are open. The ten short ones finish within the grace period and
// reach the client byte for byte as the provider sent them; the ten long
// ones are ended by the gateway shortly before the grace period runs out,
// with Anthropic's error event; the process exits 0 in time; and the
// database, reopened afterwards, holds all 20 interceptions ended with
// their usage.
func TestSIGTERMDrainsAIBridgeStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	t.Parallel()
	mock := mockupstream.New(mockupstream.Options{})
	mockURL := mock.Start()
	t.Cleanup(mock.Close)

	const grace = 3 * time.Second
	args := []string{
		"--shutdown-grace-period", grace.String(),
		"--aibridge-enabled",
		"--aibridge-anthropic-base-url", mockURL,
		"--aibridge-anthropic-key", "sk-ant-central",
		"--cache-dir", t.TempDir(),
	}
	if dbtest.WillUsePostgres() {
		args = append(args, "--postgres-url", dbtest.PostgresURL(t))
	}
	p := startServerProcess(t, args...)
	p.waitHealthy(t)
	owner := p.client("")
	first := apitest.CreateFirstUser(t, owner)

	type result struct {
		long bool
		body string
		err  error
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 20}}
	t.Cleanup(client.CloseIdleConnections)
	results := make(chan result, 20)
	var started, done sync.WaitGroup
	for i := range 20 {
		long := i%2 == 1
		started.Add(1)
		done.Go(func() {
			body := `{"model":"claude-mock-1","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url+"/api/v2/aibridge/anthropic/v1/messages", strings.NewReader(body))
			if err != nil {
				started.Done()
				results <- result{long: long, err: err}
				return
			}
			req.Header.Set("X-Api-Key", first.SessionToken)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			req.Header.Set("X-Mock-Chunk-Interval-Ms", "50")
			if long {
				req.Header.Set("X-Mock-Chunks", "400") // 20 s: outlives the grace period
			} else {
				req.Header.Set("X-Mock-Chunks", "12") // 0.6 s: finishes within it
			}
			resp, err := client.Do(req)
			started.Done()
			if err != nil {
				results <- result{long: long, err: err}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				results <- result{long: long, err: fmt.Errorf("status %d: %s", resp.StatusCode, b)}
				return
			}
			b, err := io.ReadAll(resp.Body)
			results <- result{long: long, body: string(b), err: err}
		})
	}
	// Every stream has its response headers (the gateway sends them with
	// the first event) before the signal.
	started.Wait()
	sigterm := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("server did not exit after SIGTERM\nstderr:\n%s", p.stderr.String())
	}
	exitAfter := time.Since(sigterm)
	require.Equal(t, 0, p.code, "stderr:\n%s", p.stderr.String())
	require.Less(t, exitAfter, grace+2*time.Second, "exit within the grace period plus the record flush")
	stderr := p.stderr.String()
	require.Contains(t, stderr, "shutdown complete")
	require.NotContains(t, stderr, "level=ERROR")
	require.NotContains(t, stderr, "forced shutdown", "the gateway ended its streams before the listener deadline")

	done.Wait()
	close(results)
	// What the provider sent, by the hash of the bytes it wrote.
	sent := map[string]bool{}
	for _, r := range mock.Requests() {
		sent[r.ResponseSHA256] = true
	}
	var short, long int
	for r := range results {
		require.NoError(t, r.err)
		if !r.long {
			short++
			require.Contains(t, r.body, "event: message_stop")
			require.NotContains(t, r.body, "event: error")
			sum := sha256.Sum256([]byte(r.body))
			require.True(t, sent[hex.EncodeToString(sum[:])], "a short stream reached the client altered: %s", r.body)
			continue
		}
		long++
		require.NotContains(t, r.body, "event: message_stop")
		require.True(t, strings.HasSuffix(r.body,
			"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"server closed\"}}\n\n"),
			"a long stream must end with the error event: ...%s", r.body[max(0, len(r.body)-300):])
	}
	require.Equal(t, 10, short)
	require.Equal(t, 10, long)
	require.Greater(t, exitAfter, grace/2, "the long streams were given the grace period")

	// Reopen the database the process used: every interception was ended
	// and carries the usage the provider reported.
	loaded, err := config.Load(config.Inputs{Flags: flagValues(args...)})
	require.NoError(t, err)
	ctx := apitest.Context(t, 30*time.Second)
	st, err := app.OpenStore(ctx, loaded.Values)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ended, total, err := st.ListInterceptions(ctx, store.InterceptionFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 20, total)
	require.Len(t, ended, 20)
	usage := map[string]mockupstream.Usage{}
	for _, r := range mock.Requests() {
		usage[r.ResponseID] = r.Usage
	}
	var completeUsages int
	for _, ic := range ended {
		require.NotNil(t, ic.EndedAt)
		require.Len(t, ic.TokenUsages, 1, "interception %s", ic.ID)
		u := ic.TokenUsages[0]
		want, ok := usage[u.ProviderResponseID]
		require.True(t, ok, "usage of an unknown response %q", u.ProviderResponseID)
		require.Equal(t, want.Input, u.InputTokens)
		require.Positive(t, u.InputTokens)
		if want.Output == u.OutputTokens {
			completeUsages++
		}
	}
	require.GreaterOrEqual(t, completeUsages, 10, "the short streams recorded their final output usage")
}

// flagValues turns "--name value" pairs (and lone "--flag" booleans) into
// config flag values.
func flagValues(args ...string) []config.FlagValue {
	var out []config.FlagValue
	for i := 0; i < len(args); i++ {
		name := strings.TrimPrefix(args[i], "--")
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out = append(out, config.FlagValue{Name: name, Value: args[i+1]})
			i++
			continue
		}
		out = append(out, config.FlagValue{Name: name, Value: "true"})
	}
	return out
}
