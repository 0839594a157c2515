#!/usr/bin/env bash
# `pnpm start`: installs what a local run needs (nats-server), then runs the whole system.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source scripts/lib/node.sh
use_project_node "$REPO"
bash scripts/bootstrap.sh --local-run
bash web/build.sh # the storefront the gateway serves, when its build is missing or stale
exec node --enable-source-maps --import tsx scripts/start.ts "$@"
