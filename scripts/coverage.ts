/**
 * Prints line and branch coverage per workspace package from vitest's `coverage/coverage-summary.json`
 * (written by `vitest run --coverage`, which `pnpm test` runs), and fails when a package is below its
 * floor: the platform kit and the edge 90 % of lines, each service 80 %.
 *
 * Usage: `node --import tsx scripts/coverage.ts [--report-only] [summary.json]`
 */
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";

interface Counts {
  total: number;
  covered: number;
}
interface FileSummary {
  lines: Counts;
  branches: Counts;
}

/** Minimum line coverage (percent) per package; packages not named here are reported only. */
const LINE_FLOORS: Readonly<Record<string, number>> = {
  "packages/platform": 90,
  gateway: 90,
  "services/identity": 80,
  "services/catalog": 80,
  "services/inventory": 80,
  "services/order": 80,
  "services/payment": 80,
  "services/shipping": 80,
  "services/notification": 80,
};

const root = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const reportOnly = args.includes("--report-only");
const summaryPath = resolve(
  root,
  args.find((arg) => !arg.startsWith("--")) ?? "coverage/coverage-summary.json",
);
const summary = JSON.parse(readFileSync(summaryPath, "utf8")) as Record<string, FileSummary>;

/** `services/order/src/x.ts` → `services/order`; `gateway/src/x.ts` → `gateway`. */
function packageOf(file: string): string {
  const parts = relative(root, file).split("/");
  return parts[0] === "packages" || parts[0] === "services" ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

const perPackage = new Map<string, { lines: Counts; branches: Counts }>();
for (const [file, counts] of Object.entries(summary)) {
  if (file === "total") continue;
  const name = packageOf(file);
  const entry = perPackage.get(name) ?? {
    lines: { total: 0, covered: 0 },
    branches: { total: 0, covered: 0 },
  };
  entry.lines.total += counts.lines.total;
  entry.lines.covered += counts.lines.covered;
  entry.branches.total += counts.branches.total;
  entry.branches.covered += counts.branches.covered;
  perPackage.set(name, entry);
}

const percent = (c: Counts) => (c.total === 0 ? 100 : (100 * c.covered) / c.total);
const rows = [...perPackage].sort(([a], [b]) => a.localeCompare(b));
const below: string[] = [];
const width = Math.max(...rows.map(([name]) => name.length), "package".length);
process.stdout.write(`\n${"package".padEnd(width)}   lines  branches  floor\n`);
for (const [name, { lines, branches }] of rows) {
  const floor = LINE_FLOORS[name];
  const linePercent = percent(lines);
  const mark = floor !== undefined && linePercent < floor ? "  ← below" : "";
  if (mark) below.push(`${name} ${linePercent.toFixed(1)} % < ${floor} %`);
  process.stdout.write(
    `${name.padEnd(width)}  ${linePercent.toFixed(1).padStart(5)} %  ${percent(branches).toFixed(1).padStart(6)} %  ${floor === undefined ? "    –" : `${String(floor).padStart(3)} %`}${mark}\n`,
  );
}
if (below.length > 0) {
  process.stderr.write(`\nline coverage below the floor: ${below.join("; ")}\n`);
  if (!reportOnly) process.exitCode = 1;
}
