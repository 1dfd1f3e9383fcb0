//go:build unix

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store/dbtest"
	"gantry/sdk"
)

const (
	// agentTimeout bounds one CLI run; a healthy turn takes 1-3 s.
	agentTimeout = 90 * time.Second
	// installTimeout bounds scripts/install-agents.sh (about 30 s).
	installTimeout = 10 * time.Minute
	// recordTimeout bounds the wait for the gateway's asynchronous records.
	recordTimeout = 20 * time.Second

	claudeModel = "claude-opus-5-5" // Claude Code 2.1.332's default model
	codexModel  = "gpt-5-codex"
)

// The mock streams mockChunks deltas of mockChunkBytes bytes each; its
// generator fills them with "lorem ipsum " (see mockupstream), so the text an
// agent must print is known in advance.
const (
	mockChunks     = 3
	mockChunkBytes = 12
)

var mockText = strings.TrimSpace(strings.Repeat("lorem ipsum ", mockChunks))

// ---------------------------------------------------------------------------
// The agents.

type agentBins struct {
	claude string
	codex  string
}

var installOnce struct {
	sync.Once
	out []byte
	err error
}

// agents returns the installed CLIs. When they are missing it installs them
// under CI and skips otherwise.
func agents(t *testing.T) agentBins {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := os.Getenv("GANTRY_AGENT_TOOLS")
	if dir == "" {
		dir = filepath.Join(root, "e2e", ".tools")
	}
	script := filepath.Join(root, "scripts", "install-agents.sh")
	bins := agentBins{
		claude: filepath.Join(dir, "node_modules", ".bin", "claude"),
		codex:  filepath.Join(dir, "node_modules", ".bin", "codex"),
	}
	// The script is the one place that knows the pinned versions.
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "--check")
		cmd.Env = append(os.Environ(), "GANTRY_AGENT_TOOLS="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if check() == nil {
		return bins
	}
	if os.Getenv("CI") == "" {
		t.Skipf("Claude Code and Codex are not installed in %s: run scripts/install-agents.sh "+
			"(under CI this test installs them itself)", dir)
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, script)
		cmd.Env = append(os.Environ(), "GANTRY_AGENT_TOOLS="+dir)
		installOnce.out, installOnce.err = cmd.CombinedOutput()
	})
	require.NoError(t, installOnce.err, "scripts/install-agents.sh failed:\n%s", installOnce.out)
	require.NoError(t, check(), "agents still missing after scripts/install-agents.sh")
	return bins
}

// agentRun is the outcome of one CLI run.
type agentRun struct {
	stdout, stderr string
	err            error // nil when the CLI exited 0
	took           time.Duration
}

// mustSucceed fails the test unless the run exited 0.
func (r agentRun) mustSucceed(t *testing.T, name string) agentRun {
	t.Helper()
	require.NoError(t, r.err, "%s failed\nstdout:\n%s\nstderr:\n%s", name, tail(r.stdout), tail(r.stderr))
	return r
}

// runAgent runs one agent to completion within agentTimeout, in its own
// process group so that nothing it started outlives the run. Only a run that
// does not finish in time fails the test here.
func runAgent(t *testing.T, bin string, args, env []string, dir string) agentRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), agentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil // /dev/null: both CLIs would otherwise wait for more input
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stray children
	}
	run := agentRun{stdout: stdout.String(), stderr: stderr.String(), err: err, took: time.Since(start)}
	t.Logf("%s %s: %v in %s", filepath.Base(bin), args[0], errOrOK(err), run.took.Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %s\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), agentTimeout, tail(run.stdout), tail(run.stderr))
	}
	return run
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// tail keeps the end of a long output for failure messages.
func tail(s string) string {
	const limit = 4000
	if len(s) > limit {
		return "…" + s[len(s)-limit:]
	}
	return s
}

// baseEnv is a minimal environment: nothing of the caller's (API keys, proxy
// settings, ~/.claude) reaches the agents. PATH is kept for node (Codex's
// launcher is a node script).
func baseEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"LANG=C.UTF-8",
		"TERM=dumb",
		"NO_COLOR=1",
	}
}

// claudeRun runs `claude -p --output-format json` against baseURL (gantry's
// provider prefix or the mock) with token as the bearer credential.
func claudeRun(t *testing.T, bin, baseURL, token, prompt string) agentRun {
	t.Helper()
	return claudeRunWith(t, bin, baseURL, token, prompt, nil)
}

// claudeRunWith is claudeRun with extra environment and arguments.
func claudeRunWith(t *testing.T, bin, baseURL, token, prompt string, extraEnv []string, extraArgs ...string) agentRun {
	t.Helper()
	home := t.TempDir()
	env := append(baseEnv(home),
		"CLAUDE_CONFIG_DIR="+filepath.Join(home, ".claude"),
		"ANTHROPIC_BASE_URL="+baseURL,
		"ANTHROPIC_AUTH_TOKEN="+token,
		// No traffic besides the model calls: telemetry, error reports,
		// update checks and the start-up reachability probe are off.
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
		// A gateway error fails the run at once instead of a back-off loop.
		"CLAUDE_CODE_MAX_RETRIES=0",
	)
	env = append(env, extraEnv...)
	args := append([]string{"-p", "--output-format", "json", "--model", claudeModel}, extraArgs...)
	return runAgent(t, bin, append(args, prompt), env, t.TempDir())
}

// claudeCode runs Claude Code, requires a successful turn and returns its
// JSON result.
func claudeCode(t *testing.T, bin, baseURL, token, prompt string) claudeResult {
	t.Helper()
	run := claudeRun(t, bin, baseURL, token, prompt).mustSucceed(t, "claude")
	var res claudeResult
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(run.stdout)), &res),
		"claude -p --output-format json printed no JSON result\nstdout:\n%s\nstderr:\n%s", tail(run.stdout), tail(run.stderr))
	require.False(t, res.IsError, "claude reported an error: %s", run.stdout)
	return res
}

// claudeResult is the part of `claude -p --output-format json` the tests read.
type claudeResult struct {
	Result    string `json:"result"`
	IsError   bool   `json:"is_error"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`
	Usage     struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	} `json:"usage"`
}

// codexQuiet is the part of $CODEX_HOME/config.toml that stops Codex's
// traffic besides the model calls: the update check, analytics, feedback and
// the plugin and app sync (which clone from and call outside hosts).
const codexQuiet = `check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
`

// codexSetup is how Codex is pointed at its model.
type codexSetup int

const (
	// codexCustomProvider: a [model_providers] entry with wire_api
	// "responses" and the token in env_key (the documented setup). Codex
	// then posts to /responses straight away.
	codexCustomProvider codexSetup = iota
	// codexBuiltinProvider: the built-in OpenAI provider with
	// openai_base_url and the token stored by `codex login --with-api-key`
	// (the built-in provider ignores OPENAI_API_KEY in the environment).
	// Codex then first tries a WebSocket on GET /responses and falls back
	// to HTTP.
	codexBuiltinProvider
)

// codexRun runs `codex exec --json` against baseURL (ending in /v1) with
// token as the provider key.
func codexRun(t *testing.T, bin, baseURL, token, prompt string) agentRun {
	t.Helper()
	return codexRunSetup(t, bin, codexCustomProvider, baseURL, token, prompt)
}

func codexRunSetup(t *testing.T, bin string, setup codexSetup, baseURL, token, prompt string) agentRun {
	t.Helper()
	home := t.TempDir()
	codexHome := filepath.Join(home, ".codex")
	require.NoError(t, os.MkdirAll(codexHome, 0o700))
	env := append(baseEnv(home), "CODEX_HOME="+codexHome)
	var cfg string
	switch setup {
	case codexCustomProvider:
		cfg = fmt.Sprintf("model = %q\nmodel_provider = \"gantry\"\n%s\n", codexModel, codexQuiet) +
			fmt.Sprintf(`[model_providers.gantry]
name = "gantry"
base_url = %q
env_key = "GANTRY_TOKEN"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
`, baseURL)
		env = append(env, "GANTRY_TOKEN="+token)
	case codexBuiltinProvider:
		cfg = fmt.Sprintf("model = %q\nopenai_base_url = %q\n%s", codexModel, baseURL, codexQuiet)
	}
	require.NoError(t, os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(cfg), 0o600))
	if setup == codexBuiltinProvider {
		// Stores the key in $CODEX_HOME/auth.json; no network involved.
		ctx, cancel := context.WithTimeout(t.Context(), agentTimeout)
		defer cancel()
		login := exec.CommandContext(ctx, bin, "login", "--with-api-key")
		login.Env, login.Dir, login.Stdin = env, home, strings.NewReader(token)
		out, err := login.CombinedOutput()
		require.NoError(t, err, "codex login --with-api-key: %s", out)
	}
	return runAgent(t, bin, []string{"exec", "--json", "--skip-git-repo-check", prompt}, env, t.TempDir())
}

// codex runs Codex with a custom provider, requires a completed turn without
// any error event (not even a retried one) and returns what its event
// stream reported.
func codex(t *testing.T, bin, baseURL, token, prompt string) codexResult {
	t.Helper()
	res := codexSetupTurn(t, bin, codexCustomProvider, baseURL, token, prompt)
	require.Empty(t, res.errors, "codex reported errors")
	return res
}

// codexSetupTurn runs Codex and requires a completed turn; error events that
// Codex recovered from (reconnects) are returned in codexResult.errors.

func codexSetupTurn(t *testing.T, bin string, setup codexSetup, baseURL, token, prompt string) codexResult {
	t.Helper()
	run := codexRunSetup(t, bin, setup, baseURL, token, prompt).mustSucceed(t, "codex")
	var res codexResult
	sc := bufio.NewScanner(strings.NewReader(run.stdout))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev struct {
			Type     string `json:"type"`
			ThreadID string `json:"thread_id"`
			Item     struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"item"`
			Usage *codexUsage `json:"usage"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "thread.started":
			res.threadID = ev.ThreadID
		case ev.Type == "item.completed" && ev.Item.Type == "agent_message":
			res.messages = append(res.messages, ev.Item.Text)
		case ev.Type == "turn.completed" && ev.Usage != nil:
			res.usage = *ev.Usage
			res.completed = true
		case ev.Type == "turn.failed":
			t.Fatalf("codex turn failed: %s\nstderr:\n%s", sc.Text(), tail(run.stderr))
		case ev.Type == "error":
			res.errors = append(res.errors, sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	require.True(t, res.completed, "codex printed no turn.completed event\nstdout:\n%s\nstderr:\n%s", tail(run.stdout), tail(run.stderr))
	return res
}

type codexUsage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
}

type codexResult struct {
	threadID  string
	messages  []string
	usage     codexUsage
	completed bool
	errors    []string
}

// ---------------------------------------------------------------------------
// The mock upstream.

// startMock starts a mock LLM upstream that keeps request bodies and answers
// a short stream.
func startMock(t *testing.T) *mockupstream.Server {
	t.Helper()
	m := mockupstream.New(mockupstream.Options{
		Defaults: mockupstream.Knobs{
			Chunks:        mockChunks,
			ChunkBytes:    mockChunkBytes,
			ChunkInterval: 5 * time.Millisecond,
			BodyBytes:     256,
			Status:        http.StatusOK,
		},
		KeepBodies: true,
	})
	m.Start()
	t.Cleanup(m.Close)
	return m
}

// modelCalls are the requests the mock answered on the given model route.
func modelCalls(m *mockupstream.Server, path string) []mockupstream.Request {
	var out []mockupstream.Request
	for _, r := range m.Requests() {
		if r.Method == http.MethodPost && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func sumUsage(reqs []mockupstream.Request) mockupstream.Usage {
	var u mockupstream.Usage
	for _, r := range reqs {
		u.Input += r.Usage.Input
		u.Output += r.Usage.Output
		u.CacheRead += r.Usage.CacheRead
		u.CacheWrite += r.Usage.CacheWrite
	}
	return u
}

// ---------------------------------------------------------------------------
// gantry.

// provider is one AI Bridge provider instance, configured by name.
type provider struct {
	Type    string // anthropic | openai
	Name    string
	Key     string // the central key gantry sends upstream
	BaseURL string
}

type deployment struct {
	url     *url.URL
	owner   *sdk.Client
	ownerID uuid.UUID
	orgID   uuid.UUID
	logs    *apitest.LogBuffer
}

// startGantry runs a whole deployment in-process, configured from
// environment variables as `gantry server` is, with the given providers. It
// uses SQLite under a temporary cache directory, or a private PostgreSQL
// schema when GANTRY_TEST_POSTGRES_URL is set.
func startGantry(t *testing.T, providers ...provider) *deployment {
	t.Helper()
	env := []string{
		"CODER_HTTP_ADDRESS=127.0.0.1:0",
		"CODER_CACHE_DIRECTORY=" + t.TempDir(),
		"CODER_AIBRIDGE_ENABLED=true",
		"CODER_TELEMETRY_ENABLE=false",
		"CODER_UPDATE_CHECK=false",
	}
	for i, p := range providers {
		pre := fmt.Sprintf("CODER_AIBRIDGE_PROVIDER_%d_", i)
		env = append(env, pre+"TYPE="+p.Type, pre+"NAME="+p.Name, pre+"KEY="+p.Key, pre+"BASE_URL="+p.BaseURL)
	}
	loaded, err := config.Load(config.Inputs{Environ: env})
	require.NoError(t, err)

	cfg := app.Config{Values: loaded.Values, Options: loaded.Options, Environ: env}
	if dbtest.WillUsePostgres() {
		cfg.Store = dbtest.New(t)
	}
	logger, logs := apitest.NewCapturingLogger(nil)
	cfg.Logger = logger
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gantry shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("gantry did not shut down within 30s")
		}
		if t.Failed() {
			t.Logf("gantry log (tail):\n%s", tail(logs.String()))
		}
	})

	d := &deployment{url: srv.AccessURL(), logs: logs}
	d.owner = d.client("")
	rctx, rcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer rcancel()
	first, err := d.owner.CreateFirstUser(rctx, sdk.CreateFirstUserRequest{
		Email: "owner@example.com", Username: "owner", Name: "Owner", Password: "OwnerPassword!42",
	})
	require.NoError(t, err)
	d.ownerID, d.orgID = first.UserID, first.OrganizationID
	login, err := d.owner.LoginWithPassword(rctx, sdk.LoginWithPasswordRequest{Email: "owner@example.com", Password: "OwnerPassword!42"})
	require.NoError(t, err)
	d.owner.SessionToken = login.SessionToken
	return d
}

func (d *deployment) client(token string) *sdk.Client {
	c := sdk.New(d.url)
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	c.SessionToken = token
	return c
}

// bridgeURL is the base of a provider's routes.
func (d *deployment) bridgeURL(name string) string {
	return d.url.JoinPath("/api/v2/aibridge", name).String()
}

// member creates a member user and returns a client logged in as them.
func (d *deployment) member(t *testing.T, username string) (*sdk.Client, sdk.User) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const password = "MemberPassword!42"
	email := username + "@example.com"
	u, err := d.owner.CreateUser(ctx, sdk.CreateUserRequest{
		Email: email, Username: username, Name: username, Password: password,
		OrganizationIDs: []uuid.UUID{d.orgID},
	})
	require.NoError(t, err)
	c := d.client("")
	login, err := c.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: email, Password: password})
	require.NoError(t, err)
	c.SessionToken = login.SessionToken
	return c, u
}

// token creates a named API token for the client's user and returns it with
// its key id (the part before the first '-').
func token(t *testing.T, c *sdk.Client, name string) (key, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := c.CreateToken(ctx, "me", sdk.CreateTokenRequest{TokenName: name})
	require.NoError(t, err)
	id, _, ok := strings.Cut(res.Key, "-")
	require.True(t, ok, "token %q is not <id>-<secret>", res.Key)
	return res.Key, id
}

// interception is the JSON of one item of GET /api/v2/aibridge/interceptions.
type interception struct {
	ID        uuid.UUID `json:"id"`
	APIKeyID  *string   `json:"api_key_id"`
	Initiator struct {
		ID       uuid.UUID `json:"id"`
		Username string    `json:"username"`
	} `json:"initiator"`
	Provider     string     `json:"provider"`
	ProviderName string     `json:"provider_name"`
	Model        string     `json:"model"`
	Client       *string    `json:"client"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at"`
	TokenUsages  []struct {
		ProviderResponseID    string `json:"provider_response_id"`
		InputTokens           int64  `json:"input_tokens"`
		OutputTokens          int64  `json:"output_tokens"`
		CacheReadInputTokens  int64  `json:"cache_read_input_tokens"`
		CacheWriteInputTokens int64  `json:"cache_write_input_tokens"`
	} `json:"token_usages"`
	UserPrompts []struct {
		Prompt string `json:"prompt"`
	} `json:"user_prompts"`
	ToolUsages []struct {
		ProviderResponseID string `json:"provider_response_id"`
		Tool               string `json:"tool"`
		Input              string `json:"input"`
		Injected           bool   `json:"injected"`
	} `json:"tool_usages"`
}

type interceptionsPage struct {
	Count   int64          `json:"count"`
	Results []interception `json:"results"`
}

// interceptions lists interceptions matching the q filter.
func interceptions(t *testing.T, c *sdk.Client, q string) interceptionsPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := "/api/v2/aibridge/interceptions?" + url.Values{"q": {q}, "limit": {"100"}}.Encode()
	resp, err := c.Request(ctx, http.MethodGet, path, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, sdk.ReadBodyAsError(resp), "GET %s", path)
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	var page interceptionsPage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	return page
}

// waitInterceptions polls until q matches want ended interceptions (the
// gateway writes its records asynchronously) and returns them.
func waitInterceptions(t *testing.T, c *sdk.Client, q string, want int) []interception {
	t.Helper()
	deadline := time.Now().Add(recordTimeout)
	var page interceptionsPage
	for {
		page = interceptions(t, c, q)
		if page.Count >= int64(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.EqualValues(t, want, page.Count, "interceptions matching %q after %s", q, recordTimeout)
	require.Len(t, page.Results, want)
	return page.Results
}
