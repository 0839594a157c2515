/**
 * `pnpm bench`: runs every benchmark, each with its comparison in the same run, and writes one report.
 *
 *   pnpm bench                 full run (≥ 3 repetitions; about 25 minutes on 2 cores)
 *   pnpm bench --quick         smoke run (1 repetition, short windows, a 1-minute soak; under 5 minutes)
 *   pnpm bench --soak          the 30-minute soak on its own
 *   pnpm bench --only scale    orders/s with 3 order replicas against 1
 *
 * Options: --out DIR (default bench/reports), --only id,id (e.g. --only edge,kit), --profile /
 * --no-profile (edge CPU profile: always / never; by default only when a full run misses an edge target).
 *
 * Writes <out>/<date>[-quick|-soak].md, its SVG plots and the raw figures as JSON. Exits 1 when a
 * benchmark failed to run (the report still lists what did run); missed targets do not fail the run.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "@mercato/testing/servers";
import { edgeBenchmark } from "./edge/bench.js";
import { eventsBenchmark } from "./events/bench.js";
import { kitBenchmark } from "./kit/bench.js";
import type { BenchContext, Benchmark, Mode } from "./lib/context.js";
import { environment } from "./lib/environment.js";
import { renderReport, type Section } from "./lib/report.js";
import { type BenchSystem, startBenchSystem } from "./lib/system.js";
import { ensureLoadTools, type LoadTools } from "./lib/tools.js";
import { memoryBenchmark } from "./memory/bench.js";
import { sagaBenchmark } from "./saga/bench.js";
import { scaleBenchmark } from "./scale/bench.js";
import { soakBenchmark } from "./soak/bench.js";
import { startupBenchmark } from "./startup/bench.js";

const root = repoRoot();
const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
};
const mode: Mode = argv.includes("--soak") ? "soak" : argv.includes("--quick") ? "quick" : "full";
const outDir = option("--out") ?? join(root, "bench/reports");
const only = option("--only")?.split(",");

/**
 * In the order they run: those with the machine to themselves first, then those sharing one running
 * system (memory first, while it is still idle; saga before events and soak, which use its maximum
 * rate), and start-up last, after that system has stopped.
 */
const all: readonly Benchmark[] = [
  edgeBenchmark,
  kitBenchmark,
  memoryBenchmark,
  sagaBenchmark,
  eventsBenchmark,
  soakBenchmark,
  startupBenchmark,
  scaleBenchmark,
];
/** Run only when named with --only: the soak has its own mode; scale-out has no target to check. */
const onRequest = new Set(["soak", "scale"]);
const selected = all.filter((b) =>
  only
    ? only.includes(b.id)
    : mode === "soak"
      ? b.id === "soak"
      : !onRequest.has(b.id) || (mode === "quick" && b.id === "soak"),
);
if (only && selected.length !== only.length) {
  process.stderr.write(`unknown benchmark in --only; known: ${all.map((b) => b.id).join(", ")}\n`);
  process.exit(2);
}

/** A hard limit on the whole run: everything started is killed (by @mercato/testing) on exit. */
const watchdogMin = { quick: 6, full: 40, soak: 45 }[mode];
setTimeout(() => {
  log("harness", `watchdog: still running after ${watchdogMin} min, giving up`);
  process.exit(2);
}, watchdogMin * 60_000).unref();

const started = Date.now();
function log(id: string, message: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${s}s ${id}] ${message}\n`);
}

async function main(): Promise<number> {
  const env = await environment();
  const base = `${env.date}${mode === "full" ? "" : `-${mode}`}`;
  await mkdir(outDir, { recursive: true });
  let tools: Promise<LoadTools> | undefined;
  let system: Promise<BenchSystem> | undefined;
  const shared: BenchContext["shared"] = {};
  const sections: Section[] = [];
  const failures: { id: string; error: string }[] = [];
  log("harness", `${mode} run: ${selected.map((b) => b.id).join(", ")} → ${join(outDir, `${base}.md`)}`);

  const stopSystem = async () => {
    const running = system;
    system = undefined;
    if (running) await (await running.catch(() => undefined))?.stop();
  };
  try {
    for (const benchmark of selected) {
      const ctx: BenchContext = {
        mode,
        quick: mode === "quick",
        env,
        log: (message) => log(benchmark.id, message),
        tools: () => {
          tools ??= ensureLoadTools((message) => log("tools", message));
          return tools;
        },
        system: () => {
          system ??= startBenchSystem(mode === "quick" ? 8 : 16, (message) => log("system", message));
          return system;
        },
        stopSystem,
        plot: async (name, svg) => {
          const file = `${base}-${benchmark.id}-${name}.svg`;
          await writeFile(join(outDir, file), svg);
          return file;
        },
        attach: async (name, content) => {
          const file = `${base}-${benchmark.id}-${name}`;
          await writeFile(join(outDir, file), content);
          return file;
        },
        shared,
      };
      if (!benchmark.usesSystem) await stopSystem();
      const t0 = Date.now();
      try {
        sections.push(await benchmark.run(ctx));
        log(benchmark.id, `done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push({ id: benchmark.id, error: message });
        log(benchmark.id, `FAILED: ${message}`);
      }
    }
  } finally {
    await stopSystem();
  }

  const rawFile = `${base}.json`;
  const elapsedS = (Date.now() - started) / 1000;
  const command = `pnpm bench${mode === "full" ? "" : ` --${mode}`}${only ? ` --only ${only.join(",")}` : ""}`;
  await writeFile(
    join(outDir, rawFile),
    `${JSON.stringify({ environment: env, mode, elapsedS, sections, failures }, null, 2)}\n`,
  );
  const report = join(outDir, `${base}.md`);
  await writeFile(report, renderReport(env, { mode, command, elapsedS, failures, rawFile }, sections));
  process.stdout.write(`\nreport: ${report}\n\n`);
  for (const section of sections) {
    for (const t of section.targets) {
      process.stdout.write(
        `${section.id.padEnd(8)} ${t.target}: ${t.measured} — ${t.met ? "met" : `MISSED ${t.miss ?? ""}`}\n`,
      );
    }
  }
  for (const failure of failures) process.stdout.write(`${failure.id.padEnd(8)} FAILED\n`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    log("harness", code === 0 ? "done" : "done, with failures");
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
