// Package e2e proves that real coding agents work through gantry's AI Bridge.
//
// The tests start a whole gantry deployment in-process (the composition root
// internal/app, configured from environment variables exactly as
// `gantry server` is), point AI Bridge providers at the repository's mock
// LLM upstream (internal/aibridge/mockupstream), create a user and API
// tokens, and then run the real command-line agents as child processes:
//
//   - Claude Code (`claude -p`, npm @anthropic-ai/claude-code) with
//     ANTHROPIC_BASE_URL=<gantry>/api/v2/aibridge/<name> and the gantry token
//     as ANTHROPIC_AUTH_TOKEN;
//   - Codex (`codex exec`, npm @openai/codex) with a custom model provider in
//     $CODEX_HOME/config.toml (wire_api "responses", base_url
//     <gantry>/api/v2/aibridge/<name>/v1) and the gantry token in env_key.
//
// Each agent must complete a turn with the mock's text, the mock must see only
// the provider key, and the turn must appear in
// GET /api/v2/aibridge/interceptions with its client, prompt and token usage.
// A control test runs the same agents straight against the mock, so that a
// failure can be pinned on gantry or on the mock.
//
// The agents come from scripts/install-agents.sh, which installs pinned
// versions into e2e/.tools (gitignored). When they are missing the tests skip,
// except under CI (CI set), where they install them first. GANTRY_AGENT_TOOLS
// overrides the install directory. The agents run with a throwaway HOME and
// every setting that stops outbound traffic (telemetry, update checks,
// plugins); what they send is described in docs/clients-wire-notes.md.
package e2e
