#!/usr/bin/env bash
# Installs Debian's chromium (the browser the storefront's browser tests drive with playwright-core)
# with apt-get when /usr/bin/chromium is missing. playwright's own browser download needs a CDN these
# machines cannot reach; Debian's package comes from the apt mirror. Idempotent, and quick when present.
set -euo pipefail

say() { printf 'tools/chromium: %s\n' "$*"; }

[ -x /usr/bin/chromium ] && exit 0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "need root to run: $*" >&2
    exit 1
  fi
}

say "installing chromium (apt-get install chromium) ..."
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
say "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
