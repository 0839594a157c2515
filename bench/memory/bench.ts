/**
 * Memory (issue 10 item 5): resident memory (RSS from /proc) of every process of the whole system,
 * started by `startSystem` as `pnpm start` starts it, first idle, then under order load. Targets, for
 * the services and the gateway together: ≤ 600 MiB idle, ≤ 1 GiB under load.
 */
import type { BenchContext, Benchmark } from "../lib/context.js";
import { type MemorySample, sampleMemory, watchMemory } from "../lib/memory.js";
import { atMost, type Section } from "../lib/report.js";
import { fmt, mib, single, spread } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";

const idleTargetMiB = 600;
const loadTargetMiB = 1024;
const MiB = 2 ** 20;

async function run(ctx: BenchContext): Promise<Section> {
  const plan = ctx.quick
    ? { settleS: 2, idleSamples: 3, loadS: 5, concurrency: 8 }
    : { settleS: 20, idleSamples: 5, loadS: 60, concurrency: 16 };
  const system = await ctx.system();
  const pids = () => system.pids();
  ctx.log(`idle: settling ${plan.settleS} s, then ${plan.idleSamples} samples 1 s apart`);
  await new Promise((resolve) => setTimeout(resolve, plan.settleS * 1000));
  const idle: MemorySample[] = [];
  for (let i = 0; i < plan.idleSamples; i++) {
    idle.push(await sampleMemory(await pids(), i));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  ctx.log(`load: ${plan.concurrency} customers placing orders for ${plan.loadS} s`);
  const watch = watchMemory(pids, 1000);
  const calls = await system.closedLoop(plan.concurrency, plan.loadS);
  const loaded = await watch.stop();
  await system.drained(120_000);
  const names = Object.keys(idle[0]?.byName ?? {});
  const idleOf = (pick: (s: MemorySample) => number) => spread(idle.map(pick)).median;
  const peakOf = (pick: (s: MemorySample) => number) => Math.max(...loaded.map(pick));
  const idleApps = idleOf((s) => s.apps);
  const peakApps = peakOf((s) => s.apps);
  const ok = calls.filter((c) => c.status === 200).length;
  const plot = await ctx.plot(
    "rss",
    lineChart({
      title: "RSS of the services and the gateway under order load",
      xLabel: "seconds since the load started",
      yLabel: "MiB",
      series: [
        { label: "services + gateway", points: loaded.map((s) => ({ x: s.t, y: single(s.apps / MiB) })) },
        {
          label: "PostgreSQL + nats-server",
          points: loaded.map((s) => ({ x: s.t, y: single(s.infra / MiB) })),
        },
      ],
      reference: { y: loadTargetMiB, label: "target under load (1 GiB)" },
    }),
  );
  const markdown = [
    `Idle: the median of ${plan.idleSamples} samples, 1 s apart, ${plan.settleS} s after the system was up and seeded (one product, ${system.customerCount} customers) with nothing to do. ` +
      `Under load: ${plan.concurrency} customers placing orders back to back through the edge for ${plan.loadS} s (${fmt(ok)} orders placed, ${calls.length - ok} failed calls), sampled every second; the peak is reported.`,
    "",
    `![RSS under load](${plot})`,
    "",
    "| process | idle MiB | peak under load MiB |",
    "|---|---:|---:|",
    ...names.map(
      (name) =>
        `| ${name} | ${mib(idleOf((s) => s.byName[name] ?? 0))} | ${mib(peakOf((s) => s.byName[name] ?? 0))} |`,
    ),
    `| **services + gateway** | **${mib(idleApps)}** | **${mib(peakApps)}** |`,
    `| PostgreSQL (all processes) + nats-server | ${mib(idleOf((s) => s.infra))} | ${mib(peakOf((s) => s.infra))} |`,
    "",
    "The system is started by `startSystem` from @mercato/testing, the launcher `pnpm start` uses (each service and the gateway its own Node process), on a throwaway PostgreSQL server (`DATABASE_URL`, as in Kubernetes) and nats-server. " +
      "RSS counts shared pages (Node's binary, shared libraries) in every process, so the sum overstates what the processes cost together; PostgreSQL's shared buffers appear in each backend. " +
      "The start-up benchmark also records the RSS of the system `pnpm start` runs with its defaults.",
  ].join("\n");
  return {
    id: "memory",
    title: "5. Memory: RSS of the whole system, idle and under load",
    targets: [
      atMost(`services + gateway idle ≤ ${idleTargetMiB} MiB`, idleApps / MiB, idleTargetMiB, " MiB", 0),
      atMost(
        `services + gateway under load ≤ ${loadTargetMiB} MiB`,
        peakApps / MiB,
        loadTargetMiB,
        " MiB",
        0,
      ),
    ],
    markdown,
    data: { plan, idle, loaded, ordersPlaced: ok, failedCalls: calls.length - ok },
  };
}

/** The memory benchmark. */
export const memoryBenchmark: Benchmark = { id: "memory", usesSystem: true, run };
