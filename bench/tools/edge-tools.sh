#!/usr/bin/env bash
# Builds the edge benchmark's Go tools into "$REPO/.tools/bin" with `go install`, pinned: ghz (gRPC load),
# vegeta (fixed-rate HTTP load) and the protoc plugins that generate grpc-gateway (protoc-gen-go,
# protoc-gen-go-grpc, protoc-gen-grpc-gateway). Also installs wrk (closed-loop HTTP load, a Debian
# package) when missing. Idempotent, and quick when the pinned versions are already there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
STAMP_DIR="$REPO/.tools/versions"

# tool name | go package@version (keep the plugin versions equal to bench/edge/grpc-gateway/go.mod's;
# protoc-gen-go and protoc-gen-go-grpc come from scripts/tools/protoc-plugins.sh, shared with sdk/go)
TOOLS=(
  "ghz|github.com/bojand/ghz/cmd/ghz@v0.120.0"
  "vegeta|github.com/tsenart/vegeta/v12@v12.13.0"
  "protoc-gen-grpc-gateway|github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0"
)

say() { printf 'tools/bench-edge: %s\n' "$*"; }

gobin=""
go_cmd() {
  if [ -z "$gobin" ]; then
    gobin="$(command -v go || true)"
    [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
    [ -n "$gobin" ] || {
      say "Go is needed to build the benchmark tools (https://go.dev/dl)" >&2
      exit 1
    }
  fi
  "$gobin" "$@"
}

bash "$REPO/scripts/tools/protoc-plugins.sh"
mkdir -p "$TOOLS_BIN" "$STAMP_DIR"
for entry in "${TOOLS[@]}"; do
  name="${entry%%|*}"
  pkg="${entry#*|}"
  # A stamp file records which package@version built the binary: a changed pin rebuilds it.
  if [ -x "$TOOLS_BIN/$name" ] && [ "$(cat "$STAMP_DIR/$name" 2>/dev/null)" = "$pkg" ]; then continue; fi
  say "building $name (go install $pkg) ..."
  GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go_cmd install "$pkg"
  printf '%s\n' "$pkg" >"$STAMP_DIR/$name"
done

if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk (apt-get install wrk) ..."
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  else
    sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
fi
