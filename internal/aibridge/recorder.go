package aibridge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/store"
)

// The recorder moves gateway records off the request path. Handlers enqueue
// at most two items per interception (its start, and everything else with
// its end); one goroutine drains the queue into batches and writes each
// batch in one transaction.
//
// Batching: once the writer has an item it lingers up to
// RecorderConfig.Linger (a few milliseconds) for more, up to MaxBatch rows,
// so at moderate load many requests share one transaction instead of two
// transactions per request. When an interception's start and end land in the
// same batch, the end is folded into the start (the row is inserted already
// ended), which saves the UPDATE. A flush does not wait for the linger.
//
// Memory is bounded by RecorderConfig.QueueSize items. Backpressure policy:
// when the queue is full, a handler waits for room (at most
// EnqueueTimeout, default 10s) instead of losing the record, so while the
// database is up nothing is dropped; throughput degrades to the database's
// pace. A record is dropped, counted (RecorderStats.Dropped) and logged only
// when that wait runs out, when the recorder is closed, or at once when the
// queue is full while the last write failed (the database is down: waiting
// would only stall requests). A batch that fails to write is retried up to
// three times (inserts are idempotent by ID), then dropped and counted.
type recorder struct {
	w       BatchWriter
	cfg     RecorderConfig
	log     *slog.Logger
	structd bool
	tracer  trace.Tracer // nil when tracing is off

	q       chan recItem
	closing chan struct{} // closed when close starts: waiting handlers give up
	once    sync.Once
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.RWMutex
	closed bool

	enqueued, written, dropped, failedBatches atomic.Int64
	// failing is set while the last batch write failed.
	failing atomic.Bool
}

type recItem struct {
	start *store.Interception
	fin   *finalRecords
	// flushed, when set, is closed once everything queued before it has
	// been written.
	flushed chan struct{}
}

// finalRecords is everything an interception produces after its start.
type finalRecords struct {
	usages   []store.TokenUsage
	prompts  []store.UserPrompt
	tools    []store.ToolUsage
	thoughts []store.ModelThought
	end      store.InterceptionEnd
}

// RecorderStats are the recorder's counters (items are interception starts
// and finals; rows are database rows).
type RecorderStats struct {
	Enqueued      int64
	WrittenRows   int64
	Dropped       int64
	FailedBatches int64
	Queued        int
}

func newRecorder(w BatchWriter, cfg RecorderConfig, log *slog.Logger, structured bool, tracer trace.Tracer) *recorder {
	r := &recorder{
		w:       w,
		tracer:  tracer,
		cfg:     cfg,
		log:     log,
		structd: structured,
		q:       make(chan recItem, cfg.QueueSize),
		closing: make(chan struct{}),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go r.run()
	return r
}

func (r *recorder) stats() RecorderStats {
	return RecorderStats{
		Enqueued:      r.enqueued.Load(),
		WrittenRows:   r.written.Load(),
		Dropped:       r.dropped.Load(),
		FailedBatches: r.failedBatches.Load(),
		Queued:        len(r.q),
	}
}

// enqueue hands an item to the writer, waiting for room when the queue is
// full (backpressure) but never longer than EnqueueTimeout.
func (r *recorder) enqueue(it recItem) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.drop(it, "recorder closed")
		return
	}
	select {
	case r.q <- it:
		r.enqueued.Add(1)
		return
	default:
	}
	if r.failing.Load() {
		r.drop(it, "record queue full and the database is failing")
		return
	}
	t := time.NewTimer(r.cfg.EnqueueTimeout)
	defer t.Stop()
	select {
	case r.q <- it:
		r.enqueued.Add(1)
	case <-t.C:
		r.drop(it, "record queue full")
	case <-r.closing:
		r.drop(it, "record queue full while closing")
	}
}

func (r *recorder) drop(it recItem, why string) {
	r.dropped.Add(1)
	var id string
	switch {
	case it.start != nil:
		id = it.start.ID.String()
	case it.fin != nil:
		id = it.fin.end.ID.String()
	}
	r.log.Error("aibridge: dropped interception record", "reason", why, "interception_id", id)
	if it.flushed != nil {
		close(it.flushed)
	}
}

func (r *recorder) start(ic *store.Interception) {
	if r.structd {
		r.log.Info("interception log", "record_type", "interception_start",
			"interception_id", ic.ID, "initiator_id", ic.InitiatorID, "api_key_id", ic.APIKeyID,
			"provider", ic.Provider, "provider_name", ic.ProviderName, "model", ic.Model,
			"client", ic.Client, "started_at", ic.StartedAt)
	}
	r.enqueue(recItem{start: ic})
}

func (r *recorder) finish(f *finalRecords) {
	if r.structd {
		for _, u := range f.usages {
			r.log.Info("interception log", "record_type", "token_usage", "interception_id", u.InterceptionID,
				"msg_id", u.ProviderResponseID, "input_tokens", u.InputTokens, "output_tokens", u.OutputTokens,
				"cache_read_input_tokens", u.CacheReadInputTokens, "cache_write_input_tokens", u.CacheWriteInputTokens)
		}
		for _, p := range f.prompts {
			r.log.Info("interception log", "record_type", "prompt_usage", "interception_id", p.InterceptionID,
				"msg_id", p.ProviderResponseID, "prompt", p.Prompt)
		}
		for _, t := range f.tools {
			r.log.Info("interception log", "record_type", "tool_usage", "interception_id", t.InterceptionID,
				"msg_id", t.ProviderResponseID, "tool", t.Tool, "input", t.Input, "injected", t.Injected)
		}
		for _, t := range f.thoughts {
			r.log.Info("interception log", "record_type", "model_thought", "interception_id", t.InterceptionID,
				"content", t.Content)
		}
		r.log.Info("interception log", "record_type", "interception_end", "interception_id", f.end.ID, "ended_at", f.end.EndedAt)
	}
	r.enqueue(recItem{fin: f})
}

// flush waits until everything queued before the call is written.
func (r *recorder) flush(ctx context.Context) error {
	done := make(chan struct{})
	r.mu.RLock()
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		return nil
	}
	select {
	case r.q <- recItem{flushed: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops accepting items, writes what is queued and returns when done
// or when ctx ends (then the remainder is dropped and counted).
func (r *recorder) close(ctx context.Context) error {
	// Handlers blocked on a full queue hold the read lock; release them
	// first so close is not held up by their wait.
	r.once.Do(func() { close(r.closing) })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	select {
	case <-r.stopped:
		return nil
	case <-ctx.Done():
		return errors.New("aibridge: flushing records: " + ctx.Err().Error())
	}
}

func (r *recorder) run() {
	defer close(r.stopped)
	var b store.AIBridgeBatch
	var waiters []chan struct{}
	// started indexes the batch's interception rows by ID, to fold ends in.
	started := make(map[uuid.UUID]int)
	add := func(it recItem) {
		if it.flushed != nil {
			waiters = append(waiters, it.flushed)
		}
		if it.start != nil {
			started[it.start.ID] = len(b.Interceptions)
			b.Interceptions = append(b.Interceptions, *it.start)
		}
		if f := it.fin; f != nil {
			b.TokenUsages = append(b.TokenUsages, f.usages...)
			b.UserPrompts = append(b.UserPrompts, f.prompts...)
			b.ToolUsages = append(b.ToolUsages, f.tools...)
			b.ModelThoughts = append(b.ModelThoughts, f.thoughts...)
			if i, ok := started[f.end.ID]; ok && b.Interceptions[i].EndedAt == nil {
				ended := f.end.EndedAt
				b.Interceptions[i].EndedAt = &ended
			} else {
				b.Ends = append(b.Ends, f.end)
			}
		}
	}
	write := func(stopping bool) {
		if b.Len() > 0 {
			r.writeBatch(b, stopping)
		}
		for _, w := range waiters {
			close(w)
		}
		waiters = waiters[:0]
		clear(started)
		b = store.AIBridgeBatch{}
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case it := <-r.q:
			add(it)
			if r.cfg.Linger > 0 {
				linger.Reset(r.cfg.Linger)
			collect:
				for b.Len() < r.cfg.MaxBatch && len(waiters) == 0 {
					select {
					case it := <-r.q:
						add(it)
					case <-linger.C:
						break collect
					case <-r.stop:
						break collect
					}
				}
				linger.Stop()
			}
			// Take what is already queued, up to the batch limit.
		fill:
			for b.Len() < r.cfg.MaxBatch {
				select {
				case it := <-r.q:
					add(it)
				default:
					break fill
				}
			}
			write(false)
		case <-r.stop:
			for {
				select {
				case it := <-r.q:
					add(it)
					if b.Len() >= r.cfg.MaxBatch {
						write(true)
					}
				default:
					write(true)
					return
				}
			}
		}
	}
}

func (r *recorder) writeBatch(b store.AIBridgeBatch, stopping bool) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.WriteTimeout)
		ctx, span := r.traceBatch(ctx, &b, attempt)
		err := r.w.InsertAIBridgeBatch(ctx, b)
		traceEnd(span, 0, false, err)
		span.End()
		cancel()
		if err == nil {
			r.failing.Store(false)
			r.written.Add(int64(b.Len()))
			return
		}
		r.failing.Store(true)
		if attempt >= 3 || stopping {
			r.failedBatches.Add(1)
			r.dropped.Add(int64(len(b.Interceptions) + len(b.Ends)))
			r.log.Error("aibridge: write interception records", "error", err, "rows", b.Len(), "attempts", attempt)
			return
		}
		r.log.Warn("aibridge: write interception records, retrying", "error", err, "rows", b.Len(), "attempt", attempt)
		select {
		case <-time.After(backoff):
		case <-r.stop:
		}
		backoff *= 4
	}
}
