package aibridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
)

// BenchmarkGateway measures a full round trip through the gateway (auth,
// parse, upstream call on a warm connection, relay, tap, record) against an
// instant mock, next to the same request sent straight to the mock.
func BenchmarkGateway(b *testing.B) {
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{
		Chunks: 64, ChunkBytes: 16, BodyBytes: 2048, Status: http.StatusOK,
	}, MaxRecords: 1})
	base := m.Start()
	defer m.Close()
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{Providers: []aibridge.Provider{
			{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k", BaseURL: base},
		}},
		Auth:   staticAuth,
		Store:  nopStore{},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Close(ctx)
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	prompt := strings.Repeat("x", 1900)
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"claude","max_tokens":64,"stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, prompt)
		for _, target := range []struct{ name, url string }{
			{"direct", base + "/v1/messages"},
			{"gateway", srv.URL + "/api/v2/aibridge/anthropic/v1/messages"},
		} {
			b.Run(fmt.Sprintf("stream=%t/%s", stream, target.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, target.url, strings.NewReader(body))
					req.Header.Set("X-Api-Key", tokenAlice)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatal(resp.Status)
					}
				}
			})
		}
	}
}
