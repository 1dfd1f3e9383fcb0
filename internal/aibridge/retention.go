package aibridge

import (
	"context"
	"log/slog"
	"time"
)

// Purger is the part of store.Store retention needs.
type Purger interface {
	DeleteInterceptionsBefore(ctx context.Context, before time.Time, limit int) (int64, error)
}

// RetentionOptions configure the purge of old interceptions.
type RetentionOptions struct {
	// Retention is how long interceptions are kept (by start time); 0 keeps
	// them forever and RunRetention returns at once.
	Retention time.Duration
	// Interval between purges (default 1h). The first purge runs at once.
	Interval time.Duration
	// BatchSize bounds the interceptions deleted per transaction (default
	// 1000), so a large backlog never holds a long lock while the gateway
	// keeps writing.
	BatchSize int
	// BatchPause is the gap between batches (default 50ms).
	BatchPause time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

func (o *RetentionOptions) setDefaults() {
	defaultTo(&o.Interval, time.Hour)
	defaultTo(&o.BatchSize, 1000)
	defaultTo(&o.BatchPause, 50*time.Millisecond)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// RunRetention purges interceptions older than the retention period on a
// schedule until ctx ends. Run it in the background of the server; with
// several replicas each may run it (the batches skip rows another replica
// has locked).
func RunRetention(ctx context.Context, p Purger, opts RetentionOptions) {
	if opts.Retention <= 0 {
		return
	}
	opts.setDefaults()
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		cutoff := opts.Now().Add(-opts.Retention)
		n, err := Purge(ctx, p, cutoff, opts.BatchSize, opts.BatchPause)
		switch {
		case err != nil && ctx.Err() == nil:
			opts.Logger.Error("aibridge: purge old interceptions", "error", err, "deleted", n)
		case n > 0:
			opts.Logger.Info("aibridge: purged old interceptions", "deleted", n, "cutoff", cutoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes every interception that started before cutoff, with its
// records, in batches of batchSize, and returns how many it deleted.
func Purge(ctx context.Context, p Purger, cutoff time.Time, batchSize int, pause time.Duration) (int64, error) {
	var total int64
	for {
		n, err := p.DeleteInterceptionsBefore(ctx, cutoff, batchSize)
		total += n
		if err != nil || n < int64(batchSize) {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}
