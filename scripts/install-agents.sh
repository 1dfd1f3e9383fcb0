#!/usr/bin/env bash
# Installs the coding-agent CLIs that the end-to-end tests drive (Claude Code
# and Codex) from npm into a project-local, gitignored directory.
#
# Idempotent: when the pinned versions are already installed and run, it
# only checks them and exits. Needs node and npm (the npm registry is the only
# network it uses). The tests find the CLIs at e2e/.tools/node_modules/.bin.
#
# Usage: scripts/install-agents.sh [--check]
#   --check  exit 1 instead of installing when the pinned versions are missing.
set -euo pipefail

CLAUDE_CODE_VERSION=2.1.332
CODEX_VERSION=0.171.0

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${GANTRY_AGENT_TOOLS:-$root/e2e/.tools}
bin=$dir/node_modules/.bin

# The version lines the CLIs print; comparing them proves both the pin and that
# the native binary (not an npm placeholder) is in place.
want_claude="$CLAUDE_CODE_VERSION (Claude Code)"
want_codex="codex-cli $CODEX_VERSION"

installed() {
	[ -x "$bin/claude" ] && [ -x "$bin/codex" ] || return 1
	# A throwaway HOME keeps the version probes from touching the caller's
	# ~/.claude or ~/.codex.
	local home
	home=$(mktemp -d)
	local got_claude got_codex
	got_claude=$(HOME=$home CODEX_HOME=$home timeout 30 "$bin/claude" --version 2>/dev/null || true)
	got_codex=$(HOME=$home CODEX_HOME=$home timeout 30 "$bin/codex" --version 2>/dev/null || true)
	rm -rf "$home"
	[ "$got_claude" = "$want_claude" ] && [ "$got_codex" = "$want_codex" ]
}

# shellcheck source=lib/install-gate.sh
. "$root/scripts/lib/install-gate.sh"
install_gate install-agents "$dir" "claude-code $CLAUDE_CODE_VERSION and codex $CODEX_VERSION" "${1:-}"

# A package.json of its own stops npm from walking up into another project and
# makes the exact pins the whole dependency set.
cat >"$dir/package.json" <<JSON
{
  "name": "gantry-e2e-agents",
  "private": true,
  "description": "Coding-agent CLIs for gantry's end-to-end tests (installed by scripts/install-agents.sh)",
  "dependencies": {
    "@anthropic-ai/claude-code": "$CLAUDE_CODE_VERSION",
    "@openai/codex": "$CODEX_VERSION"
  }
}
JSON
echo "install-agents: installing claude-code $CLAUDE_CODE_VERSION and codex $CODEX_VERSION into $dir"
# Claude Code declares node >=22 but ships a native binary, so node 20 runs it.
npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error \
	--engine-strict=false

# Claude Code's postinstall copies the platform's native binary over a
# placeholder. npm versions that skip install scripts leave the placeholder,
# so run the postinstall here when the version probe still fails.
if ! installed && [ -f "$dir/node_modules/@anthropic-ai/claude-code/install.cjs" ]; then
	(cd "$dir/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi
if ! installed; then
	echo "install-agents: installed CLIs do not report the pinned versions" >&2
	exit 1
fi
echo "install-agents: done"
