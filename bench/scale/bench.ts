/**
 * Scale-out (issue 11): orders per second with 1 order replica and with 3, everything else the same
 * (one replica of every other service and of the gateway), each on a system of its own. Customers
 * place orders back to back through the edge; the rate counts the sagas that finished inside the
 * window in order's own database, so it measures orders carried through reserve, authorize, confirm,
 * commit and capture, not just accepted. On a 2-core machine every process shares the same CPU: the
 * point is that 3 replicas do not collapse, not that they triple the rate. No target; run it with
 * `pnpm bench --only scale`.
 */
import type { BenchContext, Benchmark } from "../lib/context.js";
import type { Section } from "../lib/report.js";
import { fmt, percentile } from "../lib/stats.js";
import { startBenchSystem } from "../lib/system.js";

/** order.v1 saga states as stored in order's `sagas` table. */
const SAGA_COMPLETED = 2;
const SAGA_COMPENSATED = 4;

interface ScaleRun {
  readonly orderReplicas: number;
  readonly ordersPerSecond: number;
  /** Sagas that compensated (order cancelled) during the window, and why. */
  readonly compensated: number;
  readonly reasons: readonly { readonly reason: string; readonly n: number }[];
  readonly accepted: number;
  readonly failedCalls: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function measure(
  ctx: BenchContext,
  orderReplicas: number,
  customers: number,
  seconds: number,
): Promise<ScaleRun> {
  const system = await startBenchSystem(customers, ctx.log, { replicas: { order: orderReplicas } });
  try {
    const sagas = system.sql("order");
    const finished = async () => {
      const [row] = await sagas<{ done: number; undone: number }[]>`
        select count(*) filter (where state = ${SAGA_COMPLETED})::int as done,
               count(*) filter (where state = ${SAGA_COMPENSATED})::int as undone from sagas`;
      return { done: row?.done ?? 0, undone: row?.undone ?? 0 };
    };
    // Warm-up: every replica's channels and JIT.
    await system.closedLoop(customers, 2);
    ctx.log(`order ×${orderReplicas}: ${seconds} s closed loop at ${customers} customers`);
    const before = await finished();
    const calls = await system.closedLoop(customers, seconds);
    const after = await finished();
    const reasons = await sagas<{ reason: string; n: number }[]>`
      select left(reason, 160) as reason, count(*)::int as n from sagas where reason <> ''
      group by 1 order by 2 desc`;
    const latencies = calls.filter((c) => c.status === 200).map((c) => c.ms);
    const result: ScaleRun = {
      orderReplicas,
      ordersPerSecond: (after.done - before.done) / seconds,
      compensated: after.undone - before.undone,
      reasons: [...reasons],
      accepted: latencies.length,
      failedCalls: calls.length - latencies.length,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
    };
    ctx.log(`order ×${orderReplicas}: ${fmt(result.ordersPerSecond, 1)} orders/s completed`);
    return result;
  } finally {
    await system.stop();
  }
}

async function run(ctx: BenchContext): Promise<Section> {
  const plan = ctx.quick ? { customers: 8, seconds: 5 } : { customers: 16, seconds: 20 };
  const runs: ScaleRun[] = [];
  for (const replicas of [1, 3]) runs.push(await measure(ctx, replicas, plan.customers, plan.seconds));
  const [one, three] = runs as [ScaleRun, ScaleRun];
  const ratio = three.ordersPerSecond / Math.max(one.ordersPerSecond, 1e-9);
  const markdown = [
    `Closed loop: ${plan.customers} customers place orders back to back through the edge for ${plan.seconds} s ` +
      "(after a 2 s warm-up), on a fresh system per configuration; every other service and the gateway run once.",
    "",
    "| order replicas | orders/s completed | compensated in the window | PlaceOrder answered | failed calls | PlaceOrder p50 ms | p99 ms |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map(
      (r) =>
        `| ${r.orderReplicas} | ${fmt(r.ordersPerSecond, 1)} | ${r.compensated} | ${fmt(r.accepted)} | ` +
        `${r.failedCalls} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} |`,
    ),
    "",
    `3 replicas against 1: **×${fmt(ratio, 2)}**.`,
    ...runs
      .filter((r) => r.reasons.length > 0)
      .map(
        (r) =>
          `\nWhy sagas compensated with ${r.orderReplicas} order replica(s): ` +
          `${r.reasons.map((x) => `${x.n} × ${x.reason}`).join("; ")}.`,
      ),
    "",
    "All processes share the same cores, so extra replicas add scheduling and connection overhead and cannot " +
      "add CPU; on separate nodes each replica brings its own. Each order replica drives up to `SAGA_CONCURRENCY` " +
      "sagas at once, so scaling order alone multiplies the concurrent calls on payment and inventory: past the " +
      'saga\'s step deadline those orders are cancelled as "payment timed out" (nothing is charged).',
  ].join("\n");
  return {
    id: "scale",
    title: "8. Scale-out: 3 order replicas against 1",
    targets: [],
    markdown,
    data: { plan, runs },
  };
}

/** The scale-out benchmark (not in the default runs: `pnpm bench --only scale`). */
export const scaleBenchmark: Benchmark = { id: "scale", usesSystem: false, run };
