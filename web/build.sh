#!/usr/bin/env bash
# Builds the storefront into web/dist when it is missing or older than its sources (the app, or the
# SDK it bundles). `pnpm start` and the browser tests run it; `pnpm --filter @mercato/web build`
# always builds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
if [ -f web/dist/index.html ] &&
  [ -z "$(find web/src web/index.html web/vite.config.ts packages/sdk/src -newer web/dist/index.html -print -quit)" ]; then
  exit 0
fi
echo "web: building the storefront ..."
pnpm --filter @mercato/web build >/dev/null
