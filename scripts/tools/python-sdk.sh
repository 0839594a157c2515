#!/usr/bin/env bash
# Makes the Python virtualenv "$REPO/.tools/python" with the pinned packages of sdk/python/requirements.txt
# (grpcio, grpcio-tools, protobuf). `pnpm generate` runs grpcio-tools' bundled protoc from it to generate
# sdk/python (buf.gen.python.yaml), and the Python SDK smoke test runs its example with it. Installs
# python3 and python3-venv from Debian when missing. Idempotent: a copy of the requirements it was built
# from is kept inside the venv, so a changed pin rebuilds it and an unchanged one returns at once.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.tools/python"
REQUIREMENTS="$REPO/sdk/python/requirements.txt"

say() { printf 'tools/python-sdk: %s\n' "$*"; }

if [ -x "$VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
# Debian ships venv (ensurepip) separately from python3.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  say "installing python3 and python3-venv (apt-get) ..."
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi

say "creating .tools/python with $(python3 --version) and the packages of sdk/python/requirements.txt ..."
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
cp "$REQUIREMENTS" "$VENV/requirements.txt"
say "installed $("$VENV/bin/python" -m grpc_tools.protoc --version) (grpcio-tools) in .tools/python"
