#!/usr/bin/env bash
# Builds actionlint (the GitHub Actions workflow linter the deploy tests run) into "$REPO/.tools/bin"
# with `go install`, pinned. Idempotent, and quick when the pinned version is already there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
ACTIONLINT_VERSION=v1.7.12

say() { printf 'tools/actionlint: %s\n' "$*"; }

if [ -x "$TOOLS_BIN/actionlint" ] &&
  [ "$("$TOOLS_BIN/actionlint" -version 2>/dev/null | head -n1)" = "${ACTIONLINT_VERSION#v}" ]; then
  exit 0
fi
gobin="$(command -v go || true)"
[ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
[ -n "$gobin" ] || { say "Go is needed to build actionlint (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$TOOLS_BIN"
say "building actionlint $ACTIONLINT_VERSION (go install) ..."
GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod "$gobin" install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
say "installed actionlint $("$TOOLS_BIN/actionlint" -version | head -n1) at .tools/bin"
