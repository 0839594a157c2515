#!/usr/bin/env bash
# Everything `pnpm test` (and .ci/run) checks, in order: contracts, generated-code drift, breaking changes,
# lint/format, types, then every vitest test (unit, integration against real Postgres/NATS, e2e, faults).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
source scripts/lib/node.sh
use_project_node "$REPO"

step() { printf '\n== %s\n' "$*"; }

bash scripts/bootstrap.sh

step "buf lint"
pnpm exec buf lint

step "generated code is up to date (TypeScript, Go and Python SDKs)"
generated=(packages/sdk/src/gen sdk/go/mercato sdk/python/src)
bash scripts/generate.sh
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  untracked="$(git ls-files --others --exclude-standard -- "${generated[@]}")"
  if ! git diff --exit-code --stat -- "${generated[@]}" || [ -n "$untracked" ]; then
    [ -n "$untracked" ] && printf 'untracked generated files:\n%s\n' "$untracked"
    echo "error: ${generated[*]} differ from what \`pnpm generate\` produces from proto/." >&2
    echo "Run \`pnpm generate\` and commit the result together with the .proto change." >&2
    exit 1
  fi
else
  echo "note: not a git checkout; drift check skipped"
fi

step "buf breaking (against main)"
if git rev-parse --verify --quiet main >/dev/null 2>&1 && git cat-file -e main:proto 2>/dev/null; then
  pnpm exec buf breaking proto --against ".git#branch=main,subdir=proto"
else
  echo "note: no main branch with a proto/ directory; breaking-change check skipped"
fi

step "biome"
pnpm exec biome check --error-on-warnings .

step "typecheck"
pnpm typecheck

step "vitest (with coverage)"
pnpm exec vitest run --coverage

step "coverage per package"
pnpm exec node --import tsx scripts/coverage.ts --report-only
