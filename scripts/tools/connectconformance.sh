#!/usr/bin/env bash
# Builds the Connect conformance runner (connectconformance, the official suite of connectrpc.com/conformance)
# into "$REPO/.tools/bin" with `go install`, pinned, and copies the suite's .proto files from that same Go
# module into "$REPO/.tools/share/connectconformance/proto" (the edge's conformance server builds its
# descriptors from them). The edge's conformance test (gateway/src/conformance) runs the runner in server
# mode against a real gateway. A stamp in .tools/versions records the package@version that built both, so a
# changed pin rebuilds them. Idempotent, and quick when the pinned version is there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
STAMP_DIR="$REPO/.tools/versions"
VERSION=v1.0.7
PKG=connectrpc.com/conformance/cmd/connectconformance@$VERSION
PROTO_DIR="$REPO/.tools/share/connectconformance/proto"

say() { printf 'tools/connectconformance: %s\n' "$*"; }

if [ -x "$TOOLS_BIN/connectconformance" ] && [ -d "$PROTO_DIR/connectrpc" ] &&
  [ "$(cat "$STAMP_DIR/connectconformance" 2>/dev/null)" = "$PKG" ]; then
  exit 0
fi
gobin="$(command -v go || true)"
[ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
[ -n "$gobin" ] || { say "Go is needed to build connectconformance (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$TOOLS_BIN" "$STAMP_DIR"
say "building connectconformance (go install $PKG) ..."
GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod "$gobin" install "$PKG"
module_dir="$(GOFLAGS=-mod=mod "$gobin" mod download -json "connectrpc.com/conformance@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$module_dir/proto/connectrpc" ] || { say "no proto/ in $module_dir" >&2; exit 1; }
rm -rf "$PROTO_DIR"
mkdir -p "$PROTO_DIR"
cp -R "$module_dir/proto/connectrpc" "$PROTO_DIR/"
chmod -R u+w "$PROTO_DIR"
printf '%s\n' "$PKG" >"$STAMP_DIR/connectconformance"
say "installed connectconformance ${PKG##*@} at .tools/bin"
