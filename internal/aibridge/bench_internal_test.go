package aibridge

// Micro-benchmarks of the hot paths that have no exported surface of their
// own: route classification, the SSE framing and usage taps, and the record
// queue. Compare runs with benchstat.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gantry/internal/store"
)

func BenchmarkClassify(b *testing.B) {
	cases := []struct {
		t    ProviderType
		path string
	}{
		{TypeAnthropic, "/v1/messages"},
		{TypeOpenAI, "/v1/chat/completions"},
		{TypeOpenAI, "/v1/responses/resp_123"},
		{TypeCopilot, "/unknown/path"},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			if classify(c.t, http.MethodPost, c.path).kind == routeNone && c.t != TypeCopilot {
				b.Fatal("unexpected routeNone")
			}
		}
	}
}

// anthropicStream is a realistic Messages stream: start, 64 text deltas, a
// tool call, usage and stop.
func anthropicStream() []byte {
	var sb strings.Builder
	sb.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":1200,\"cache_creation_input_tokens\":30,\"cache_read_input_tokens\":4000,\"output_tokens\":1}}}\n\n")
	sb.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for range 64 {
		sb.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lorem ipsum dolor sit \"}}\n\n")
	}
	sb.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	sb.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n")
	sb.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"Paris\\\"}\"}}\n\n")
	sb.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n")
	sb.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":300}}\n\n")
	sb.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(sb.String())
}

func chatStream() []byte {
	var sb strings.Builder
	for range 64 {
		sb.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lorem ipsum dolor sit \"},\"finish_reason\":null}]}\n\n")
	}
	sb.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":64,\"total_tokens\":164,\"prompt_tokens_details\":{\"cached_tokens\":20}}}\n\n")
	sb.WriteString("data: [DONE]\n\n")
	return []byte(sb.String())
}

// BenchmarkSSETap frames a whole stream into events and feeds each to the
// tap, as the relay does; allocations per stream are the figure of merit.
func BenchmarkSSETap(b *testing.B) {
	for _, c := range []struct {
		name   string
		api    apiKind
		stream []byte
	}{
		{"anthropic", apiMessages, anthropicStream()},
		{"chat", apiChat, chatStream()},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.stream)))
			for b.Loop() {
				tp := newTap(c.api, true)
				buf := c.stream
				for {
					n := eventEnd(buf, 0)
					if n < 0 {
						break
					}
					tp.event(buf[:n])
					buf = buf[n:]
				}
				if tp.result().usage == nil {
					b.Fatal("no usage")
				}
			}
		})
	}
}

type nopWriter struct{}

func (nopWriter) InsertAIBridgeBatch(context.Context, store.AIBridgeBatch) error { return nil }

// BenchmarkRecorder measures the request-path cost of recording one
// interception (start + final) and the writer's batching keeping up.
func BenchmarkRecorder(b *testing.B) {
	cfg := Config{}
	cfg.setDefaults()
	r := newRecorder(nopWriter{}, cfg.Recorder, slog.New(slog.DiscardHandler), false, nil)
	defer func() { _ = r.close(context.Background()) }()
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := uuid.New()
			r.start(&store.Interception{ID: id, Model: "m", StartedAt: now})
			r.finish(&finalRecords{
				usages: []store.TokenUsage{{ID: uuid.New(), InterceptionID: id, InputTokens: 1, OutputTokens: 2}},
				end:    store.InterceptionEnd{ID: id, EndedAt: now},
			})
		}
	})
	b.StopTimer()
	if err := r.flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if s := r.stats(); s.Dropped > 0 {
		b.Logf("dropped %d of %d", s.Dropped, s.Enqueued+s.Dropped)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	for _, n := range []int{2, 30, 300} {
		var sb strings.Builder
		sb.WriteString(`{"model":"claude-sonnet","max_tokens":4096,"stream":true,"system":"` + strings.Repeat("You are a coding agent. ", 200) + `","messages":[`)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"role":"%s","content":[{"type":"text","text":"message %d %s"}]}`, map[bool]string{true: "user", false: "assistant"}[i%2 == 0], i, strings.Repeat("x", 200))
		}
		sb.WriteString(`]}`)
		body := []byte(sb.String())
		b.Run(fmt.Sprintf("messages=%d/bytes=%d", n, len(body)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				ri := parseRequest(apiMessages, body)
				if !ri.stream {
					b.Fatal("stream flag lost")
				}
			}
		})
	}
}
