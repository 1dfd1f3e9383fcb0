package aibridge

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"gantry/internal/store"
	"gantry/internal/store/sqlite"
)

// countingWriter counts the transactions the recorder asks for.
type countingWriter struct {
	w     BatchWriter
	calls atomic.Int64
}

func (c *countingWriter) InsertAIBridgeBatch(ctx context.Context, b store.AIBridgeBatch) error {
	c.calls.Add(1)
	return c.w.InsertAIBridgeBatch(ctx, b)
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderSQLitePaced records interceptions one at a time at a
// moderate pace (about 2,000/s, the regime where every record used to be
// written on its own) into a real SQLite store, and reports the process
// CPU and the transactions per recorded interception.
func BenchmarkRecorderSQLitePaced(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "gantry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg := Config{}
	cfg.setDefaults()
	if v := os.Getenv("BENCH_LINGER"); v != "" {
		cfg.Recorder.Linger, _ = time.ParseDuration(v)
	}
	newID := newRecordID
	if os.Getenv("BENCH_V4") != "" {
		newID = uuid.New
	}
	cw := &countingWriter{w: st}
	r := newRecorder(cw, cfg.Recorder, slog.New(slog.DiscardHandler), false, nil)
	defer func() { _ = r.close(context.Background()) }()
	user := uuid.New()
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		<-tick.C
		id := newID()
		now := time.Now()
		r.start(&store.Interception{ID: id, InitiatorID: user, Provider: "anthropic", Model: "m", StartedAt: now})
		r.finish(&finalRecords{
			usages:  []store.TokenUsage{{ID: newID(), InterceptionID: id, InputTokens: 1, OutputTokens: 2, CreatedAt: now}},
			prompts: []store.UserPrompt{{ID: newID(), InterceptionID: id, Prompt: "write a test for the parser", CreatedAt: now}},
			end:     store.InterceptionEnd{ID: id, EndedAt: now},
		})
	}
	if err := r.flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(cw.calls.Load())/float64(b.N), "tx/op")
	if s := r.stats(); s.Dropped > 0 {
		b.Fatalf("dropped %d of %d", s.Dropped, s.Enqueued+s.Dropped)
	}
}
