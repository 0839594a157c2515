#!/usr/bin/env bash
# Builds the Connect conformance runner (connectconformance, the official suite of connectrpc.com/conformance)
# into "$REPO/.tools/bin" with `go install`, pinned. The edge's conformance test (gateway/src/conformance)
# runs it in server mode against a real gateway. A stamp in .tools/versions records the package@version that
# built the binary, so a changed pin rebuilds it. Idempotent, and quick when the pinned version is there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
STAMP_DIR="$REPO/.tools/versions"
PKG=connectrpc.com/conformance/cmd/connectconformance@v1.0.7

say() { printf 'tools/connectconformance: %s\n' "$*"; }

if [ -x "$TOOLS_BIN/connectconformance" ] && [ "$(cat "$STAMP_DIR/connectconformance" 2>/dev/null)" = "$PKG" ]; then
  exit 0
fi
gobin="$(command -v go || true)"
[ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
[ -n "$gobin" ] || { say "Go is needed to build connectconformance (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$TOOLS_BIN" "$STAMP_DIR"
say "building connectconformance (go install $PKG) ..."
GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod "$gobin" install "$PKG"
printf '%s\n' "$PKG" >"$STAMP_DIR/connectconformance"
say "installed connectconformance ${PKG##*@} at .tools/bin"
