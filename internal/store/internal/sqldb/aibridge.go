package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"gantry/internal/store"
)

// maxParams bounds the bind parameters of one statement, well under both
// engines' limits (SQLite 32766, PostgreSQL 65535).
const maxParams = 16000

// inChunk bounds the ids of one "IN (...)" list.
const inChunk = 500

const (
	interceptionCols = `id, initiator_id, api_key_id, provider, provider_name, model, client,
		client_session_id, user_agent, metadata, started_at, ended_at`
	tokenUsageCols = `id, interception_id, provider_response_id, input_tokens, output_tokens,
		cache_read_input_tokens, cache_write_input_tokens, metadata, created_at`
	userPromptCols = `id, interception_id, provider_response_id, prompt, metadata, created_at`
	toolUsageCols  = `id, interception_id, provider_response_id, provider_tool_call_id, server_url,
		tool, input, injected, invocation_error, metadata, created_at`
	modelThoughtCols = `id, interception_id, content, metadata, created_at`
)

// Pacing splits a usage batch into short statements with a pause between
// them. It is for an engine that runs inside the gateway's process
// (SQLite), where a batch write is CPU work on a gateway goroutine. With one
// P (GOMAXPROCS=1, a pinned core) a request whose bytes arrive during that
// work waits until the writer blocks: the scheduler polls the network only
// when no goroutine is runnable. A pause parks the writer, so the scheduler
// polls and runs the ready requests first; a request then waits for at
// most one short statement instead of the whole batch.
type Pacing struct {
	// MaxParams bounds the bind parameters of one statement; 0 means
	// maxParams.
	MaxParams int
	// Pause runs before every statement of a batch but the first, and
	// before the commit; nil means no pauses.
	Pause func()
}

// pacer returns the function to call before each step (statement or
// commit) of one batch.
func (s *Store) pacer() func() {
	pause := s.pacing.Pause
	if pause == nil {
		return func() {}
	}
	first := true
	return func() {
		if first {
			first = false
			return
		}
		pause()
	}
}

func newID(id uuid.UUID) uuid.UUID {
	if id == uuid.Nil {
		return uuid.New()
	}
	return id
}

// InsertAIBridgeBatch writes the batch in one transaction with multi-row
// INSERT ... ON CONFLICT (id) DO NOTHING statements, so a retried batch is a
// no-op, then applies the ends.
func (s *Store) InsertAIBridgeBatch(ctx context.Context, b store.AIBridgeBatch) error {
	if b.Len() == 0 {
		return nil
	}
	pace := s.pacer()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.insertRows(ctx, tx, pace, "aibridge_interceptions", interceptionCols, len(b.Interceptions), func(i int) ([]any, error) {
			r := b.Interceptions[i]
			meta, err := jsonArg("interception metadata", r.Metadata)
			var ended any
			if r.EndedAt != nil {
				ended = s.t(*r.EndedAt)
			}
			return []any{newID(r.ID), r.InitiatorID, r.APIKeyID, r.Provider, r.ProviderName, r.Model,
				r.Client, r.ClientSessionID, r.UserAgent, meta, s.t(r.StartedAt), ended}, err
		})
		if err != nil {
			return err
		}
		err = s.insertRows(ctx, tx, pace, "aibridge_token_usages", tokenUsageCols, len(b.TokenUsages), func(i int) ([]any, error) {
			r := b.TokenUsages[i]
			meta, err := jsonArg("token usage metadata", r.Metadata)
			return []any{newID(r.ID), r.InterceptionID, r.ProviderResponseID, r.InputTokens, r.OutputTokens,
				r.CacheReadInputTokens, r.CacheWriteInputTokens, meta, s.t(r.CreatedAt)}, err
		})
		if err != nil {
			return err
		}
		err = s.insertRows(ctx, tx, pace, "aibridge_user_prompts", userPromptCols, len(b.UserPrompts), func(i int) ([]any, error) {
			r := b.UserPrompts[i]
			meta, err := jsonArg("user prompt metadata", r.Metadata)
			return []any{newID(r.ID), r.InterceptionID, r.ProviderResponseID, r.Prompt, meta, s.t(r.CreatedAt)}, err
		})
		if err != nil {
			return err
		}
		err = s.insertRows(ctx, tx, pace, "aibridge_tool_usages", toolUsageCols, len(b.ToolUsages), func(i int) ([]any, error) {
			r := b.ToolUsages[i]
			meta, err := jsonArg("tool usage metadata", r.Metadata)
			return []any{newID(r.ID), r.InterceptionID, r.ProviderResponseID, r.ProviderToolCallID, r.ServerURL,
				r.Tool, r.Input, r.Injected, r.InvocationError, meta, s.t(r.CreatedAt)}, err
		})
		if err != nil {
			return err
		}
		err = s.insertRows(ctx, tx, pace, "aibridge_model_thoughts", modelThoughtCols, len(b.ModelThoughts), func(i int) ([]any, error) {
			r := b.ModelThoughts[i]
			meta, err := jsonArg("model thought metadata", r.Metadata)
			return []any{newID(r.ID), r.InterceptionID, r.Content, meta, s.t(r.CreatedAt)}, err
		})
		if err != nil {
			return err
		}
		if err := s.endInterceptions(ctx, tx, pace, b.Ends); err != nil {
			return err
		}
		pace() // before the commit
		return nil
	})
	return s.mapErr("insert aibridge batch", err)
}

// insertRows writes n rows with as few multi-row INSERTs as the parameter
// bound allows, calling pace before each; rows whose id already exists are
// skipped.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, pace func(), table, cols string, n int, row func(i int) ([]any, error)) error {
	ncols := strings.Count(cols, ",") + 1
	per := s.rowsPerInsert(ncols)
	for start := 0; start < n; start += per {
		pace()
		end := min(n, start+per)
		args := make([]any, 0, (end-start)*ncols)
		for i := start; i < end; i++ {
			vals, err := row(i)
			if err != nil {
				return fmt.Errorf("%s row %d: %w", table, i, err)
			}
			args = append(args, vals...)
		}
		var err error
		if prepared := s.batchStmts[batchShape{table, end - start}]; prepared != nil {
			err = execIn(ctx, tx, prepared, args)
		} else {
			_, err = s.exec(ctx, tx, insertQuery(table, cols, ncols, end-start), args...)
		}
		if err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

// execIn runs a statement prepared on the writer inside tx. Closing the
// transaction's handle leaves prepared open for the next batch.
func execIn(ctx context.Context, tx *sql.Tx, prepared *sql.Stmt, args []any) error {
	stmt := tx.StmtContext(ctx, prepared)
	defer stmt.Close()
	_, err := stmt.ExecContext(ctx, args...)
	return err
}

// rowsPerInsert is how many rows of ncols columns one INSERT takes.
func (s *Store) rowsPerInsert(ncols int) int {
	return max(1, cmp.Or(s.pacing.MaxParams, maxParams)/ncols)
}

// insertQuery is the INSERT of rows rows into table.
func insertQuery(table, cols string, ncols, rows int) string {
	tuple := "(" + placeholders(ncols) + ")"
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(tuple)
	}
	q.WriteString(" ON CONFLICT (id) DO NOTHING")
	return q.String()
}

// batchShape names one prepared statement of a paced batch: an INSERT of
// rows rows into table, or (rows 0) the interception end UPDATE.
type batchShape struct {
	table string
	rows  int
}

// batchTables are the tables a usage batch inserts into.
var batchTables = [...]struct{ table, cols string }{
	{"aibridge_interceptions", interceptionCols},
	{"aibridge_token_usages", tokenUsageCols},
	{"aibridge_user_prompts", userPromptCols},
	{"aibridge_tool_usages", toolUsageCols},
	{"aibridge_model_thoughts", modelThoughtCols},
}

const endInterceptionQuery = `UPDATE aibridge_interceptions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`

// prepareBatchStmts prepares, on the writer, every statement a paced batch
// can use: a paced batch is cut into a few fixed shapes, and compiling a
// multi-row INSERT is a good part of SQLite's work per row. They are
// prepared here, before any transaction, because a statement prepared on
// the single-connection writer while a transaction holds it would wait
// for that connection forever. Unpaced batches vary in shape and run as is.
func (s *Store) prepareBatchStmts(ctx context.Context) error {
	if s.pacing.MaxParams == 0 {
		return nil
	}
	s.batchStmts = map[batchShape]*sql.Stmt{}
	prepare := func(k batchShape, q string) error {
		stmt, err := s.w.PrepareContext(ctx, s.d.Rebind(q)) //nolint:sqlclosecheck // closed by closeStmts
		if err != nil {
			return fmt.Errorf("prepare %s: %w", k.table, err)
		}
		s.batchStmts[k] = stmt
		return nil
	}
	for _, t := range batchTables {
		ncols := strings.Count(t.cols, ",") + 1
		for rows := 1; rows <= s.rowsPerInsert(ncols); rows++ {
			if err := prepare(batchShape{t.table, rows}, insertQuery(t.table, t.cols, ncols, rows)); err != nil {
				return err
			}
		}
	}
	return prepare(batchShape{"aibridge_interceptions", 0}, endInterceptionQuery)
}

// endInterceptions sets ended_at once; a replayed end keeps the first value.
func (s *Store) endInterceptions(ctx context.Context, tx *sql.Tx, pace func(), ends []store.InterceptionEnd) error {
	if len(ends) == 0 {
		return nil
	}
	var stmt *sql.Stmt
	if prepared := s.batchStmts[batchShape{"aibridge_interceptions", 0}]; prepared != nil {
		stmt = tx.StmtContext(ctx, prepared)
	} else {
		var err error
		if stmt, err = tx.PrepareContext(ctx, s.d.Rebind(endInterceptionQuery)); err != nil {
			return fmt.Errorf("prepare interception end: %w", err)
		}
	}
	defer stmt.Close()
	for _, e := range ends {
		pace()
		if _, err := stmt.ExecContext(ctx, s.t(e.EndedAt), e.ID); err != nil {
			return fmt.Errorf("end interception %s: %w", e.ID, err)
		}
	}
	return nil
}

func scanInterception(r rowScanner) (store.Interception, error) {
	var i store.Interception
	err := r.Scan(&i.ID, &i.InitiatorID, &i.APIKeyID, &i.Provider, &i.ProviderName, &i.Model, &i.Client,
		&i.ClientSessionID, &i.UserAgent, jsonCol{&i.Metadata}, timeCol{&i.StartedAt}, nullTimeCol{&i.EndedAt})
	return i, err
}

// ListInterceptions returns a page of ended interceptions, newest first, with
// their children loaded in bulk, and the total matching the filter.
func (s *Store) ListInterceptions(ctx context.Context, f store.InterceptionFilter) ([]store.InterceptionDetail, int64, error) {
	where := []string{"ended_at IS NOT NULL"}
	var args []any
	if f.InitiatorID != uuid.Nil {
		where = append(where, "initiator_id = ?")
		args = append(args, f.InitiatorID)
	}
	if f.Provider != "" {
		where = append(where, "(provider = ? OR provider_name = ?)")
		args = append(args, f.Provider, f.Provider)
	}
	if f.Model != "" {
		where = append(where, "model = ?")
		args = append(args, f.Model)
	}
	switch f.Client {
	case "":
	case "Unknown":
		where = append(where, "(client = ? OR client = '')")
		args = append(args, f.Client)
	default:
		where = append(where, "client = ?")
		args = append(args, f.Client)
	}
	if !f.StartedAfter.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, s.t(f.StartedAfter))
	}
	if !f.StartedBefore.IsZero() {
		where = append(where, "started_at <= ?")
		args = append(args, s.t(f.StartedBefore))
	}
	cond := strings.Join(where, " AND ")

	var total int64
	if err := s.queryRow(ctx, s.r, `SELECT count(*) FROM aibridge_interceptions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, s.mapErr("count interceptions", err)
	}

	if f.AfterID != uuid.Nil {
		var startedAt time.Time
		err := s.queryRow(ctx, s.r, `SELECT started_at FROM aibridge_interceptions WHERE id = ?`, f.AfterID).
			Scan(timeCol{&startedAt})
		if err != nil {
			return nil, 0, s.mapErr("list interceptions: cursor interception", err)
		}
		cond += " AND (started_at, id) < (?, ?)"
		args = append(args, s.t(startedAt), f.AfterID)
	}
	args = append(args, limitArg(f.Limit), int64(max(f.Offset, 0)))
	rows, err := s.query(ctx, s.r, `SELECT `+interceptionCols+` FROM aibridge_interceptions WHERE `+cond+`
		ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, 0, s.mapErr("list interceptions", err)
	}
	ints, err := collect(rows, scanInterception)
	if err != nil {
		return nil, 0, s.mapErr("list interceptions", err)
	}
	details, err := s.loadDetails(ctx, ints)
	if err != nil {
		return nil, 0, s.mapErr("list interceptions", err)
	}
	return details, total, nil
}

// GetInterception returns one interception, ended or not, with children.
func (s *Store) GetInterception(ctx context.Context, id uuid.UUID) (store.InterceptionDetail, error) {
	i, err := scanInterception(s.queryRow(ctx, s.r,
		`SELECT `+interceptionCols+` FROM aibridge_interceptions WHERE id = ?`, id))
	if err != nil {
		return store.InterceptionDetail{}, s.mapErr("get interception", err)
	}
	details, err := s.loadDetails(ctx, []store.Interception{i})
	if err != nil {
		return store.InterceptionDetail{}, s.mapErr("get interception", err)
	}
	return details[0], nil
}

// loadDetails attaches children and initiators with one query per table per
// chunk of ids, never one per interception.
func (s *Store) loadDetails(ctx context.Context, ints []store.Interception) ([]store.InterceptionDetail, error) {
	out := make([]store.InterceptionDetail, len(ints))
	byID := make(map[uuid.UUID]*store.InterceptionDetail, len(ints))
	ids := make([]any, 0, len(ints))
	initiators := make(map[uuid.UUID][]*store.InterceptionDetail)
	for n, i := range ints {
		d := &out[n]
		*d = store.InterceptionDetail{
			Interception:  i,
			Initiator:     store.User{ID: i.InitiatorID, Roles: []string{}},
			TokenUsages:   []store.TokenUsage{},
			UserPrompts:   []store.UserPrompt{},
			ToolUsages:    []store.ToolUsage{},
			ModelThoughts: []store.ModelThought{},
		}
		byID[i.ID] = d
		ids = append(ids, i.ID)
		initiators[i.InitiatorID] = append(initiators[i.InitiatorID], d)
	}
	userIDs := make([]any, 0, len(initiators))
	for id := range initiators {
		userIDs = append(userIDs, id)
	}
	err := loadIn(ctx, s, `SELECT `+userCols+` FROM users WHERE id IN `, "", userIDs, scanUser, func(u store.User) {
		for _, d := range initiators[u.ID] {
			d.Initiator = u
		}
	})
	if err != nil {
		return nil, fmt.Errorf("load initiators: %w", err)
	}
	const order = " ORDER BY created_at, id"
	if err := loadIn(ctx, s, `SELECT `+tokenUsageCols+` FROM aibridge_token_usages WHERE interception_id IN `, order, ids,
		scanTokenUsage, func(c store.TokenUsage) { d := byID[c.InterceptionID]; d.TokenUsages = append(d.TokenUsages, c) }); err != nil {
		return nil, fmt.Errorf("load token usages: %w", err)
	}
	if err := loadIn(ctx, s, `SELECT `+userPromptCols+` FROM aibridge_user_prompts WHERE interception_id IN `, order, ids,
		scanUserPrompt, func(c store.UserPrompt) { d := byID[c.InterceptionID]; d.UserPrompts = append(d.UserPrompts, c) }); err != nil {
		return nil, fmt.Errorf("load user prompts: %w", err)
	}
	if err := loadIn(ctx, s, `SELECT `+toolUsageCols+` FROM aibridge_tool_usages WHERE interception_id IN `, order, ids,
		scanToolUsage, func(c store.ToolUsage) { d := byID[c.InterceptionID]; d.ToolUsages = append(d.ToolUsages, c) }); err != nil {
		return nil, fmt.Errorf("load tool usages: %w", err)
	}
	if err := loadIn(ctx, s, `SELECT `+modelThoughtCols+` FROM aibridge_model_thoughts WHERE interception_id IN `, order, ids,
		scanModelThought, func(c store.ModelThought) { d := byID[c.InterceptionID]; d.ModelThoughts = append(d.ModelThoughts, c) }); err != nil {
		return nil, fmt.Errorf("load model thoughts: %w", err)
	}
	return out, nil
}

// loadIn runs prefix + "(?, ...)" + suffix for each chunk of ids and hands
// every scanned row to add.
func loadIn[T any](ctx context.Context, s *Store, prefix, suffix string, ids []any,
	scan func(rowScanner) (T, error), add func(T),
) error {
	for start := 0; start < len(ids); start += inChunk {
		chunk := ids[start:min(len(ids), start+inChunk)]
		rows, err := s.query(ctx, s.r, prefix+"("+placeholders(len(chunk))+")"+suffix, chunk...)
		if err != nil {
			return err
		}
		vals, err := collect(rows, scan)
		if err != nil {
			return err
		}
		for _, v := range vals {
			add(v)
		}
	}
	return nil
}

func scanTokenUsage(r rowScanner) (store.TokenUsage, error) {
	var c store.TokenUsage
	err := r.Scan(&c.ID, &c.InterceptionID, &c.ProviderResponseID, &c.InputTokens, &c.OutputTokens,
		&c.CacheReadInputTokens, &c.CacheWriteInputTokens, jsonCol{&c.Metadata}, timeCol{&c.CreatedAt})
	return c, err
}

func scanUserPrompt(r rowScanner) (store.UserPrompt, error) {
	var c store.UserPrompt
	err := r.Scan(&c.ID, &c.InterceptionID, &c.ProviderResponseID, &c.Prompt, jsonCol{&c.Metadata},
		timeCol{&c.CreatedAt})
	return c, err
}

func scanToolUsage(r rowScanner) (store.ToolUsage, error) {
	var c store.ToolUsage
	err := r.Scan(&c.ID, &c.InterceptionID, &c.ProviderResponseID, &c.ProviderToolCallID, &c.ServerURL,
		&c.Tool, &c.Input, &c.Injected, &c.InvocationError, jsonCol{&c.Metadata}, timeCol{&c.CreatedAt})
	return c, err
}

func scanModelThought(r rowScanner) (store.ModelThought, error) {
	var c store.ModelThought
	err := r.Scan(&c.ID, &c.InterceptionID, &c.Content, jsonCol{&c.Metadata}, timeCol{&c.CreatedAt})
	return c, err
}

// childTables are deleted together with their interceptions.
var childTables = []string{
	"aibridge_token_usages", "aibridge_user_prompts", "aibridge_tool_usages", "aibridge_model_thoughts",
}

// DeleteInterceptionsBefore deletes up to limit interceptions that started
// before the cutoff (oldest first) and all their children, in one
// transaction. limit <= 0 means DefaultBatch.
func (s *Store) DeleteInterceptionsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = DefaultBatch
	}
	var deleted int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.query(ctx, tx, `SELECT id FROM aibridge_interceptions WHERE started_at < ?
			ORDER BY started_at, id LIMIT ?`+s.d.SkipLocked, s.t(before), limit)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(r rowScanner) (any, error) {
			var id uuid.UUID
			err := r.Scan(&id)
			return id, err
		})
		if err != nil {
			return err
		}
		for start := 0; start < len(ids); start += inChunk {
			chunk := ids[start:min(len(ids), start+inChunk)]
			in := "(" + placeholders(len(chunk)) + ")"
			for _, t := range childTables {
				if _, err := s.exec(ctx, tx, `DELETE FROM `+t+` WHERE interception_id IN `+in, chunk...); err != nil {
					return fmt.Errorf("delete %s: %w", t, err)
				}
			}
			res, err := s.exec(ctx, tx, `DELETE FROM aibridge_interceptions WHERE id IN `+in, chunk...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			deleted += n
		}
		return nil
	})
	if err != nil {
		return 0, s.mapErr("delete interceptions", err)
	}
	return deleted, nil
}
