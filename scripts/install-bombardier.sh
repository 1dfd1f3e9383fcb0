#!/usr/bin/env bash
# Installs bombardier, the closed-loop load generator METHOD.md §4 names for
# the raw maximum RPS cross-check (`go run ./bench -bombardier PATH`, phase
# crosscheck), into .tools/bin (gitignored). It is built from source through
# the Go module proxy with `go install`; gantry's go.mod never requires it.
#
# Idempotent: a binary whose embedded module version (go version -m) is the
# pinned one is kept. Prints the path of the binary on stdout.
#
# Usage: scripts/install-bombardier.sh
set -euo pipefail

module=github.com/codesenberg/bombardier
version=v1.2.6
go="${GO:-go}"

root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$root/.tools/bin"
bin="$bin_dir/bombardier"

installed_version() {
	# `go version -m` lists "mod <path> <version> <sum>" for the main module.
	"$go" version -m "$bin" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}

if [ -x "$bin" ] && [ "$(installed_version)" = "$version" ]; then
	echo "$bin"
	exit 0
fi
echo "install-bombardier: installing $module@$version into .tools/bin" >&2
mkdir -p "$bin_dir"
# Outside gantry's module, so go.mod and go.sum stay untouched.
(cd "$bin_dir" && GOWORK=off GOBIN="$bin_dir" "$go" install "$module@$version")
got="$(installed_version)"
if [ "$got" != "$version" ]; then
	echo "install-bombardier: installed binary reports ${got:-no version}, want $version" >&2
	exit 1
fi
echo "$bin"
