package aibridge_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

// countingPurger counts batches.
type countingPurger struct {
	aibridge.Purger
	calls atomic.Int64
}

func (c *countingPurger) DeleteInterceptionsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	c.calls.Add(1)
	return c.Purger.DeleteInterceptionsBefore(ctx, before, limit)
}

func interceptionBatch(started time.Time) (store.AIBridgeBatch, uuid.UUID) {
	id := uuid.New()
	end := started.Add(time.Second)
	return store.AIBridgeBatch{
		Interceptions: []store.Interception{{ID: id, InitiatorID: aliceID, Provider: "anthropic", ProviderName: "anthropic", Model: "m", StartedAt: started}},
		TokenUsages:   []store.TokenUsage{{ID: uuid.New(), InterceptionID: id, InputTokens: 1, OutputTokens: 2, CreatedAt: end}},
		UserPrompts:   []store.UserPrompt{{ID: uuid.New(), InterceptionID: id, Prompt: "p", CreatedAt: end}},
		ToolUsages:    []store.ToolUsage{{ID: uuid.New(), InterceptionID: id, Tool: "t", Input: "{}", CreatedAt: end}},
		ModelThoughts: []store.ModelThought{{ID: uuid.New(), InterceptionID: id, Content: "c", CreatedAt: end}},
		Ends:          []store.InterceptionEnd{{ID: id, EndedAt: end}},
	}, id
}

// TestRetention runs on SQLite, and on PostgreSQL when
// GANTRY_TEST_POSTGRES_URL is set.
func TestRetention(t *testing.T) {
	t.Parallel()
	st := dbtest.New(t)
	ctx := t.Context()
	now := time.Now().UTC()
	cutoff := now.Add(-60 * 24 * time.Hour)
	var old, fresh []uuid.UUID
	for i := range 15 {
		b, id := interceptionBatch(cutoff.Add(-time.Duration(i+1) * time.Hour))
		require.NoError(t, st.InsertAIBridgeBatch(ctx, b))
		old = append(old, id)
	}
	for i := range 5 {
		b, id := interceptionBatch(cutoff.Add(time.Duration(i+1) * time.Minute))
		require.NoError(t, st.InsertAIBridgeBatch(ctx, b))
		fresh = append(fresh, id)
	}

	// Traffic continues while the purge runs.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := interceptionBatch(time.Now().UTC())
			if err := st.InsertAIBridgeBatch(ctx, b); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	})
	p := &countingPurger{Purger: st}
	n, err := aibridge.Purge(ctx, p, cutoff, 4, time.Millisecond)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.EqualValues(t, 15, n)
	require.GreaterOrEqual(t, p.calls.Load(), int64(4), "deleted in batches of at most 4")

	for _, id := range old {
		_, err := st.GetInterception(ctx, id)
		require.True(t, errors.Is(err, store.ErrNotFound), "old interception %s survived: %v", id, err)
	}
	for _, id := range fresh {
		d, err := st.GetInterception(ctx, id)
		require.NoError(t, err)
		require.Len(t, d.TokenUsages, 1)
		require.Len(t, d.UserPrompts, 1)
		require.Len(t, d.ToolUsages, 1)
		require.Len(t, d.ModelThoughts, 1)
	}
	_, count, err := st.ListInterceptions(ctx, store.InterceptionFilter{Limit: 1})
	require.NoError(t, err)
	require.EqualValues(t, 5+written.Load(), count)

	// RunRetention purges on start and returns when ctx ends; 0 keeps all.
	b, id := interceptionBatch(now.Add(-2 * time.Hour))
	require.NoError(t, st.InsertAIBridgeBatch(ctx, b))
	aibridge.RunRetention(ctx, st, aibridge.RetentionOptions{Retention: 0})
	_, err = st.GetInterception(ctx, id)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		aibridge.RunRetention(runCtx, st, aibridge.RetentionOptions{Retention: time.Hour, Interval: time.Hour})
		close(done)
	}()
	require.Eventually(t, func() bool {
		_, err := st.GetInterception(ctx, id)
		return errors.Is(err, store.ErrNotFound)
	}, 10*time.Second, 20*time.Millisecond)
	cancel()
	<-done
}
