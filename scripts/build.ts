/**
 * `pnpm build`: bundles every service and the gateway into `<package>/dist/main.js` (esbuild, with
 * source maps), skipping bundles that are newer than all their inputs. `pnpm start` and the
 * whole-system tests build stale bundles by themselves; this is for building ahead (or checking that
 * everything bundles).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureBundle, repoRoot, serviceNames } from "@mercato/testing/servers";

const root = repoRoot();
const entries = [
  ...serviceNames.map((name) => join(root, "services", name, "src/main.ts")),
  join(root, "gateway/src/main.ts"),
].filter((entry) => existsSync(entry));

const startedAt = performance.now();
for (const entry of entries) {
  const bundle = await ensureBundle(entry);
  process.stdout.write(`${bundle.slice(root.length + 1)}\n`);
}
process.stdout.write(
  `${entries.length} bundles up to date in ${((performance.now() - startedAt) / 1000).toFixed(1)} s\n`,
);
