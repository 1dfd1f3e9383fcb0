#!/usr/bin/env bash
# Runs golangci-lint (configuration: .golangci.yml) on the gantry module.
#
# The linter is pinned to one version and built from source through the Go
# module proxy into .tools/bin (gitignored), so every machine and CI run the
# same linter without a global install. The first run builds it (a few
# minutes on two cores); later runs reuse the binary.
#
# Usage: scripts/lint.sh [golangci-lint run flags] [packages]
#   scripts/lint.sh                       # lint ./...
#   scripts/lint.sh ./internal/store/...  # lint part of the tree
#   scripts/lint.sh --fix                 # apply the fixes linters offer
set -euo pipefail

version=v2.15.0
cd "$(dirname "$0")/.."
root=$PWD
bin_dir=$root/.tools/bin
lint=$bin_dir/golangci-lint

installed_version() {
  # `version --short` prints e.g. "2.15.0"; anything else means reinstall.
  "$lint" version --short 2>/dev/null || true
}

if [ ! -x "$lint" ] || [ "v$(installed_version)" != "$version" ]; then
  echo "lint: installing golangci-lint $version into .tools/bin" >&2
  mkdir -p "$bin_dir"
  GOBIN=$bin_dir "${GO:-go}" install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi

if [ "$#" -eq 0 ]; then
  set -- ./...
fi
exec "$lint" run "$@"
