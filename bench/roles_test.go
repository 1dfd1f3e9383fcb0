package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fidelity wrapper decides the "headers forwarded byte for byte"
// check, so it must flag every kind of change and pass an intact request.
func TestFidelityWrapper(t *testing.T) {
	t.Parallel()
	f := &fidelity{}
	var seenBody string
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
	}))
	body := `{"model":"m"}`
	sum := sha256.Sum256([]byte(body))
	send := func(mut func(*http.Request)) {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/messages", strings.NewReader(body))
		r.Header.Set(checkHeader, "anthropic")
		r.Header.Set(bodyHashHeader, hex.EncodeToString(sum[:]))
		r.Header.Set("Anthropic-Beta", anthropicBeta)
		r.Header.Set("Anthropic-Version", anthropicVersion)
		r.Header.Set("X-Api-Key", upstreamKey)
		mut(r)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}

	send(func(*http.Request) {})
	require.Equal(t, fidelityStats{Checked: 1}, f.snapshot())
	require.Equal(t, body, seenBody, "the wrapper must hand the body on unchanged")

	send(func(r *http.Request) { r.Header.Set("Anthropic-Beta", "other") })
	send(func(r *http.Request) { r.Header.Del("Anthropic-Version") })
	send(func(r *http.Request) { r.Header.Set("X-Api-Key", "user-token") })
	send(func(r *http.Request) { r.Header.Del("X-Api-Key") })
	send(func(r *http.Request) { r.Header.Add("Authorization", "Bearer user-token") })
	send(func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"model":"x"}`)) })
	got := f.snapshot()
	require.Equal(t, int64(7), got.Checked)
	require.Equal(t, int64(1), got.BetaMismatch)
	require.Equal(t, int64(1), got.VersionMismatch)
	require.Equal(t, int64(3), got.AuthMismatch)
	require.Equal(t, int64(1), got.BodyMismatch)

	// Unmarked requests are not inspected.
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/messages", strings.NewReader(body))
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, int64(7), f.snapshot().Checked)
}

func TestSizedBodies(t *testing.T) {
	t.Parallel()
	require.InDelta(t, 2048, len(chatBody(2048, false)), 8)
	require.InDelta(t, 2048, len(responsesBody(2048, true)), 8)
	require.InDelta(t, 100*1024, len(messagesBody(100*1024, false, 30)), 8)
	require.InDelta(t, 1024*1024, len(messagesBody(1024*1024, false, 30)), 8)
	require.Contains(t, string(chatBody(2048, true)), `"include_usage":true`)
}
