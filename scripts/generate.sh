#!/usr/bin/env bash
# `pnpm generate`: every SDK from proto/ with buf and local plugins only — TypeScript into
# packages/sdk/src/gen (buf.gen.yaml, protoc-gen-es from node_modules), Go into sdk/go/mercato
# (buf.gen.go.yaml) and Python into sdk/python/src (buf.gen.python.yaml). Installs the Go plugins and the
# Python generator first when missing (quick when present). Commit the output with the .proto change:
# scripts/test.sh fails when it drifts.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/tools/protoc-plugins.sh
bash scripts/tools/python-sdk.sh
pnpm exec buf generate
pnpm exec buf generate --template buf.gen.go.yaml
pnpm exec buf generate --template buf.gen.python.yaml
