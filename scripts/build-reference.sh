#!/usr/bin/env bash
# build-reference.sh: build the reference server for the benchmarks (METHOD
# §11), a stock coder v2 binary with the server, into compat/.cache/.
#
# The coder module is AGPL. It is only ever required by the compat module
# (its own go.mod) and the binary built here is only run as a separate process
# by bench/; nothing of it is linked into gantry.
#
# The build uses a copy of compat's go.mod/go.sum (-modfile) so that the
# extra go.sum lines the server's packages need never touch compat itself.
# Without the "embed" tag the site (the web UI) is not embedded; the API does
# not need it.
#
# Prints the path of the binary on stdout. Reuses an existing binary.
# Usage: scripts/build-reference.sh [-f]   (-f: rebuild)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
compat="$root/compat"
module=github.com/coder/coder/v2
go="${GO:-go}"

force=0
[ "${1:-}" = "-f" ] && force=1

cd "$compat"
export GOWORK=off CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod"
version="$("$go" list -m -f '{{.Version}}' "$module")"
if [ -z "$version" ]; then
	echo "build-reference: $module not found in compat/go.mod" >&2
	exit 1
fi
platform="$("$go" env GOOS)-$("$go" env GOARCH)"
cache="$compat/.cache"
bin="$cache/coder-$version-$platform-server"
if [ "$force" = 0 ] && [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache/reference-mod"
cp go.mod "$cache/reference-mod/go.mod"
cp go.sum "$cache/reference-mod/go.sum"

tmp="$bin.tmp-$$"
trap 'rm -f "$tmp"' EXIT
start=$(date +%s)
# The buildinfo tag makes the binary report the release version, as the
# published binary does (and as compat's slim CLI does).
nice -n 10 "$go" build -trimpath -modfile "$cache/reference-mod/go.mod" \
	-ldflags "-s -w -X $module/buildinfo.tag=${version#v}" \
	-o "$tmp" "$module/cmd/coder" >&2
mv "$tmp" "$bin"
echo "build-reference: built coder $version (server) in $(($(date +%s) - start))s" >&2
echo "$bin"
