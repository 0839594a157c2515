/**
 * Soak (issue 10 item 7): the whole system at 70 % of the maximum order rate for 30 minutes
 * (`pnpm bench --soak`; `--quick` runs a 1-minute smoke of the same). Targets: memory growth of the
 * services and the gateway < 10 %, no errors other than rate limiting (429), p99 of the last five
 * minutes within 20 % of the first five, outbox backlog (and unfinished sagas) back to 0 within 10 s
 * after the load stops.
 */
import type { BenchContext, Benchmark } from "../lib/context.js";
import { watchMemory } from "../lib/memory.js";
import { atMost, type Section } from "../lib/report.js";
import { distribution, fmt, mib, single, spread } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";

const MiB = 2 ** 20;

async function run(ctx: BenchContext): Promise<Section> {
  // Phases: memory is compared between the first and last `edgeS` seconds (after a warm-up), p99 too.
  const plan = ctx.quick
    ? { seconds: 60, edgeS: 20, warmupS: 10, windowS: 5, memoryEveryMs: 2000 }
    : { seconds: 30 * 60, edgeS: 5 * 60, warmupS: 60, windowS: 30, memoryEveryMs: 10_000 };
  const system = await ctx.system();
  let maxRate = ctx.shared.maxOrderRate;
  if (maxRate === undefined) {
    ctx.log("measuring the maximum order rate first (8 customers, closed loop, 20 s)");
    const calls = await system.closedLoop(8, 20);
    await system.drained(120_000);
    maxRate = calls.filter((c) => c.status === 200).length / 20;
  }
  const rate = Math.max(1, maxRate * 0.7);
  ctx.log(`${fmt(rate, 1)} orders/s (70 % of ${fmt(maxRate, 1)}) for ${plan.seconds} s`);
  const watch = watchMemory(
    async () => (await system.pids()).filter((p) => p.kind === "app"),
    plan.memoryEveryMs,
  );
  const calls = await system.openLoop(rate, plan.seconds);
  const memory = await watch.stop();
  const loadEnded = performance.now();
  let drainMs = Number.NaN;
  let drainError: string | undefined;
  try {
    await system.drained(60_000);
    drainMs = performance.now() - loadEnded;
  } catch (error) {
    drainError = (error as Error).message;
  }

  const errors = new Map<string, number>();
  let rateLimited = 0;
  for (const c of calls) {
    if (c.status === 200) continue;
    if (c.status === 429) rateLimited++;
    else errors.set(c.error ?? String(c.status), (errors.get(c.error ?? String(c.status)) ?? 0) + 1);
  }
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const okIn = (fromS: number, toS: number) =>
    calls.filter((c) => c.status === 200 && c.atMs >= fromS * 1000 && c.atMs < toS * 1000).map((c) => c.ms);
  const first = distribution(okIn(plan.warmupS, plan.warmupS + plan.edgeS));
  const last = distribution(okIn(plan.seconds - plan.edgeS, plan.seconds));
  const p99Change = (last.p99 / first.p99 - 1) * 100;
  const memIn = (fromS: number, toS: number) =>
    spread(memory.filter((s) => s.t >= fromS && s.t < toS).map((s) => s.apps)).median;
  const memFirst = memIn(plan.warmupS, plan.warmupS + plan.edgeS);
  const memLast = memIn(plan.seconds - plan.edgeS, plan.seconds + 1);
  const memGrowth = (memLast / memFirst - 1) * 100;

  const windows: { t: number; p99: number; n: number }[] = [];
  for (let t = 0; t < plan.seconds; t += plan.windowS) {
    const d = distribution(okIn(t, t + plan.windowS));
    windows.push({ t, p99: d.p99, n: d.n });
  }
  const latencyPlot = await ctx.plot(
    "p99",
    lineChart({
      title: "PlaceOrder p99 latency through the soak",
      xLabel: "seconds since the load started",
      yLabel: "p99 latency (ms)",
      series: [
        {
          label: `p99 per ${plan.windowS} s`,
          points: windows.filter((w) => w.n > 0).map((w) => ({ x: w.t, y: single(w.p99) })),
        },
      ],
    }),
  );
  const memoryPlot = await ctx.plot(
    "rss",
    lineChart({
      title: "RSS of the services and the gateway through the soak",
      xLabel: "seconds since the load started",
      yLabel: "MiB",
      series: [
        { label: "services + gateway", points: memory.map((s) => ({ x: s.t, y: single(s.apps / MiB) })) },
      ],
    }),
  );
  const ok = calls.filter((c) => c.status === 200).length;
  const markdown = [
    `${fmt(rate, 1)} orders/s (70 % of the maximum, ${fmt(maxRate, 1)}/s) started on schedule through the edge for ${fmt(plan.seconds)} s: ${fmt(calls.length)} calls, ${fmt(ok)} placed, ${rateLimited} rate-limited (429), ${errorCount} other errors` +
      (errors.size > 0 ? ` (${[...errors].map(([k, v]) => `${k}: ${v}`).join(", ")})` : "") +
      ". The first and last periods compared are " +
      `${plan.edgeS} s long; the first starts after ${plan.warmupS} s of warm-up.`,
    "",
    "| | first period | last period | change |",
    "|---|---:|---:|---:|",
    `| PlaceOrder p50 ms | ${fmt(first.p50, 1)} | ${fmt(last.p50, 1)} | ${fmt((last.p50 / first.p50 - 1) * 100)} % |`,
    `| PlaceOrder p99 ms | ${fmt(first.p99, 1)} | ${fmt(last.p99, 1)} | ${fmt(p99Change)} % |`,
    `| RSS of services + gateway MiB (median) | ${mib(memFirst)} | ${mib(memLast)} | ${fmt(memGrowth, 1)} % |`,
    "",
    drainError
      ? `After the load: **not drained within 60 s**: ${drainError}.`
      : `After the load: the outbox backlog of every service and the unfinished sagas were back to 0 after ${fmt(drainMs)} ms.`,
    "",
    `![p99 through the soak](${latencyPlot})`,
    "",
    `![RSS through the soak](${memoryPlot})`,
    ...(ctx.quick
      ? [
          "",
          "This is the 1-minute smoke of the soak: its figures check the machinery, not the system's endurance (`pnpm bench --soak` runs 30 minutes).",
        ]
      : []),
  ].join("\n");
  return {
    id: "soak",
    title: `7. Soak: ${ctx.quick ? "1-minute smoke" : "30 minutes"} at 70 % of the maximum order rate`,
    targets: [
      atMost("memory growth of services + gateway < 10 %", memGrowth, 10, " %", 1),
      atMost("errors other than rate limiting = 0", errorCount, 0, "", 0),
      atMost("p99 of the last period within 20 % of the first", p99Change, 20, " %", 0),
      atMost(
        "outbox backlog back to 0 within 10 s after the load",
        Number.isFinite(drainMs) ? drainMs / 1000 : 60,
        10,
        " s",
        1,
      ),
    ],
    markdown,
    data: {
      plan,
      rate,
      maxRate,
      first,
      last,
      memFirst,
      memLast,
      drainMs,
      rateLimited,
      errors: Object.fromEntries(errors),
      windows,
      memory,
    },
  };
}

/** The soak benchmark (`pnpm bench --soak`; a smoke in `--quick`). */
export const soakBenchmark: Benchmark = { id: "soak", usesSystem: true, run };
