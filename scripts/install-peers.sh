#!/usr/bin/env bash
# Installs the peer gateways the benchmark measures beside gantry (METHOD.md
# §7) from npm into a project-local, gitignored directory: the Portkey OSS
# gateway 1.15.2. `go run ./bench -peers portkey` finds it there
# (-peer-dir, default bench/.peers).
#
# Idempotent: when the pinned versions are already installed it only checks
# them and exits. Needs node and npm (the npm registry is the only network it
# uses).
#
# The dependency tree is resolved as of the day after Portkey 1.15.2 was
# published (npm --before), except @hono/node-server, pinned to 1.13.5: the
# version Portkey's own repository locks. The published package asks for
# ^1.3.3, and from 1.19 on node-server's Response hands the upstream fetch
# response's immutable headers to Portkey, which then fails every streamed
# answer with a 500 ("TypeError: immutable").
#
# Usage: scripts/install-peers.sh [--check]
#   --check  exit 1 instead of installing when the pinned versions are missing.
set -euo pipefail

PORTKEY_VERSION=1.15.2
HONO_NODE_SERVER_VERSION=1.13.5
RESOLVE_BEFORE=2026-08-24T00:00:00Z

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${GANTRY_BENCH_PEERS:-$root/bench/.peers}

version_of() {
	node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
		"$dir/node_modules/$1/package.json"
}

installed() {
	command -v node >/dev/null || return 1
	[ "$(version_of @portkey-ai/gateway)" = "$PORTKEY_VERSION" ] &&
		[ "$(version_of @hono/node-server)" = "$HONO_NODE_SERVER_VERSION" ]
}

# shellcheck source=lib/install-gate.sh
. "$root/scripts/lib/install-gate.sh"
install_gate install-peers "$dir" "portkey $PORTKEY_VERSION" "${1:-}"

# A package.json of its own stops npm from walking up into another project and
# makes the pins the whole dependency set.
cat >"$dir/package.json" <<JSON
{
  "name": "gantry-bench-peers",
  "private": true,
  "description": "Peer gateways for gantry's benchmark (installed by scripts/install-peers.sh)",
  "dependencies": {
    "@portkey-ai/gateway": "$PORTKEY_VERSION"
  },
  "overrides": {
    "@hono/node-server": "$HONO_NODE_SERVER_VERSION"
  }
}
JSON
echo "install-peers: installing portkey $PORTKEY_VERSION into $dir"
npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error \
	--before="$RESOLVE_BEFORE"
if ! installed; then
	echo "install-peers: installed peers do not report the pinned versions" >&2
	exit 1
fi
echo "install-peers: done"
