#!/usr/bin/env bash
# Builds the Go protoc plugins (protoc-gen-go, protoc-gen-go-grpc) into "$REPO/.tools/bin" with
# `go install`, pinned. `pnpm generate` uses them for sdk/go (buf.gen.go.yaml) and the edge benchmark for
# its grpc-gateway (bench/tools/edge-tools.sh calls this script). The versions must match the runtime in
# sdk/go/go.mod (google.golang.org/protobuf, google.golang.org/grpc). A stamp in .tools/versions records
# which package@version built each binary, so a changed pin rebuilds it. Idempotent, quick when current.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
STAMP_DIR="$REPO/.tools/versions"

# tool name | go package@version
PLUGINS=(
  "protoc-gen-go|google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
  "protoc-gen-go-grpc|google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)

say() { printf 'tools/protoc-plugins: %s\n' "$*"; }

gobin=""
for entry in "${PLUGINS[@]}"; do
  name="${entry%%|*}"
  pkg="${entry#*|}"
  if [ -x "$TOOLS_BIN/$name" ] && [ "$(cat "$STAMP_DIR/$name" 2>/dev/null)" = "$pkg" ]; then continue; fi
  if [ -z "$gobin" ]; then
    gobin="$(command -v go || true)"
    [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
    [ -n "$gobin" ] || { say "Go is needed to build $name (https://go.dev/dl)" >&2; exit 1; }
  fi
  mkdir -p "$TOOLS_BIN" "$STAMP_DIR"
  say "building $name (go install $pkg) ..."
  GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod "$gobin" install "$pkg"
  printf '%s\n' "$pkg" >"$STAMP_DIR/$name"
done
