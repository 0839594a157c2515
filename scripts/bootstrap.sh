#!/usr/bin/env bash
# Installs, when missing, the tools the tests and local runs need: a PostgreSQL server, nats-server
# (>= 2.10.23, JetStream crash-safety fixes), grpcurl and pnpm. Idempotent, and quick when all is there.
# Go tools go to "$REPO/.tools/bin"; code finds them with findTool() from @mercato/testing, which searches
# "$REPO/.tools/bin", then $GOBIN / $GOPATH/bin / ~/go/bin, then $PATH — the same order as find_tool below.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
NATS_SERVER_VERSION=v2.12.2
NATS_SERVER_MIN=2.10.23
GRPCURL_VERSION=v1.9.4
PNPM_VERSION=10.34.9

say() { printf 'bootstrap: %s\n' "$*"; }
die() {
  printf 'bootstrap: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $*"
  fi
}

find_tool() {
  local name=$1 dir p
  local -a dirs=("$TOOLS_BIN")
  [ -n "${GOBIN:-}" ] && dirs+=("$GOBIN")
  IFS=: read -ra p <<<"${GOPATH:-}"
  for dir in "${p[@]}"; do [ -n "$dir" ] && dirs+=("$dir/bin"); done
  dirs+=("$HOME/go/bin" /root/go/bin)
  IFS=: read -ra p <<<"${PATH:-}"
  dirs+=("${p[@]}")
  for dir in "${dirs[@]}"; do
    if [ -n "$dir" ] && [ -x "$dir/$name" ]; then
      printf '%s\n' "$dir/$name"
      return 0
    fi
  done
  return 1
}

version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

go_install() {
  local what=$1 pkg=$2 gobin
  gobin="$(command -v go || true)"
  [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
  [ -n "$gobin" ] || die "Go is needed to build $what (https://go.dev/dl, Go >= 1.21); install it and re-run"
  mkdir -p "$TOOLS_BIN"
  say "building $what into .tools/bin (go install $pkg) ..."
  GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod "$gobin" install "$pkg"
}

# `--local-run` (what `pnpm start` runs) skips what only the tests need: the deploy-validation tools.
local_run=""
[ "${1:-}" = "--local-run" ] && local_run=1

# PostgreSQL server: tests start throwaway clusters with its initdb/postgres binaries, `pnpm start` keeps
# one cluster in .data/postgres.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  say "installing PostgreSQL (apt-get install postgresql) ..."
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  say "installed PostgreSQL $(compgen -G "/usr/lib/postgresql/*/bin/initdb" | head -n1)"
fi

# nats-server with JetStream, recent enough for `sync_interval` and crash safety.
nats_ok=""
if nats="$(find_tool nats-server)"; then
  have="$("$nats" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)"
  if [ -n "$have" ] && version_at_least "$have" "$NATS_SERVER_MIN"; then
    nats_ok=1
  else
    say "$nats is version ${have:-unknown}, need >= $NATS_SERVER_MIN"
  fi
fi
if [ -z "$nats_ok" ]; then
  go_install "nats-server $NATS_SERVER_VERSION" "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
  say "installed $("$TOOLS_BIN/nats-server" --version) at .tools/bin/nats-server"
fi

# grpcurl, for debugging the services through server reflection.
if ! find_tool grpcurl >/dev/null; then
  go_install "grpcurl $GRPCURL_VERSION" "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  say "installed grpcurl $GRPCURL_VERSION at .tools/bin/grpcurl"
fi

# pnpm (corepack cannot fetch it on these machines; npm can).
if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm $PNPM_VERSION (npm install -g) ..."
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
  say "installed pnpm $(pnpm --version)"
fi
# Test-only tools (helm + kubectl, actionlint, the Connect conformance runner, ...); a local run needs none of them.
if [ -z "$local_run" ]; then for tool in "$REPO"/scripts/tools/*.sh; do bash "$tool"; done; fi
