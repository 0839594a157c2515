/**
 * Saga throughput (issue 4, issue 10 item 3): confirmed orders per second through the edge at several
 * concurrencies (customers placing orders back to back), write transactions per order, and pgbench's
 * single-row-insert rate on the same PostgreSQL server at the same concurrency, interleaved in the
 * same run. Target: orders/s × commits per order ≥ 0.5 × pgbench TPS.
 *
 * The rate is confirmed orders over the time until the last saga of the window finished, read from the
 * order database (so polling adds no load). Commits per order counts the transactions that wrote
 * (PostgreSQL's transaction-id counter advances only for those) across every service database,
 * background work (outbox relays, consumers) included. The server runs with fsync off, for the saga
 * and pgbench alike.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresBinDir } from "@mercato/testing/servers";
import postgres from "postgres";
import type { BenchContext, Benchmark } from "../lib/context.js";
import { atLeast, type Section } from "../lib/report.js";
import { fmt, fmtSpread, spread } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";
import { exec } from "../lib/tools.js";

/** One repetition at one concurrency. */
interface SagaSample {
  readonly concurrency: number;
  readonly rep: number;
  readonly ordersPerS: number;
  readonly confirmed: number;
  readonly cancelled: number;
  readonly failedCalls: number;
  readonly commitsPerOrder: number;
  readonly pgbenchTps: number;
}

const ratioTarget = 0.5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(ctx: BenchContext): Promise<Section> {
  const plan = ctx.quick
    ? { concurrencies: [8], repetitions: 1, seconds: 5 }
    : { concurrencies: [4, 8, 16], repetitions: 3, seconds: 10 };
  const system = await ctx.system();
  const server = postgres(system.pg.url, { max: 1, onnotice: () => {} });
  const orders = system.sql("order");
  const scratch = await mkdtemp(join(tmpdir(), "mercato-bench-saga-"));
  try {
    const xid = async () => BigInt((await server`select txid_current()::text as id`)[0]!.id as string);
    const count = async (where: string) =>
      Number((await orders.unsafe(`select count(*)::int as n from ${where}`))[0]!.n);
    await server.unsafe(
      "create table if not exists bench_insert (id bigserial primary key, v text not null)",
    );
    const script = join(scratch, "insert.sql");
    await writeFile(script, "insert into bench_insert (v) values ('x');\n");
    const port = new URL(system.pg.url).port;

    const samples: SagaSample[] = [];
    await system.closedLoop(4, ctx.quick ? 1 : 5); // warm-up
    await system.drained(60_000);
    for (let rep = 1; rep <= plan.repetitions; rep++) {
      for (const concurrency of plan.concurrencies) {
        const confirmedBefore = await count("order_views where status = 2");
        const cancelledBefore = await count("order_views where status = 3");
        const before = await xid();
        const started = performance.now();
        const calls = await system.closedLoop(concurrency, plan.seconds);
        await system.drained(120_000);
        const elapsedS = (performance.now() - started) / 1000;
        // Let relays and consumers finish the work these orders caused before counting commits.
        await sleep(ctx.quick ? 1500 : 3000);
        const commits = Number((await xid()) - before - 1n);
        const confirmed = (await count("order_views where status = 2")) - confirmedBefore;
        const cancelled = (await count("order_views where status = 3")) - cancelledBefore;
        const output = await exec(
          join(postgresBinDir(), "pgbench"),
          [
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-n",
            "-f",
            script,
            "-c",
            String(concurrency),
            "-j",
            "2",
            "-T",
            String(plan.seconds),
            "postgres",
          ],
          { timeoutMs: (plan.seconds + 60) * 1000 },
        );
        const sample: SagaSample = {
          concurrency,
          rep,
          ordersPerS: confirmed / elapsedS,
          confirmed,
          cancelled,
          failedCalls: calls.filter((c) => c.status !== 200).length,
          commitsPerOrder: commits / Math.max(1, confirmed + cancelled),
          pgbenchTps: Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? Number.NaN),
        };
        samples.push(sample);
        ctx.log(
          `rep ${rep} c=${concurrency}: ${sample.ordersPerS.toFixed(1)} orders/s, ${sample.commitsPerOrder.toFixed(1)} commits/order, pgbench ${sample.pgbenchTps.toFixed(0)} TPS (${confirmed} confirmed, ${cancelled} cancelled, ${sample.failedCalls} failed calls)`,
        );
      }
    }

    const rows = plan.concurrencies.map((concurrency) => {
      const runs = samples.filter((s) => s.concurrency === concurrency);
      const ratios = runs.map((s) => (s.ordersPerS * s.commitsPerOrder) / s.pgbenchTps);
      return {
        concurrency,
        orders: spread(runs.map((s) => s.ordersPerS)),
        commits: spread(runs.map((s) => s.commitsPerOrder)),
        writes: spread(runs.map((s) => s.ordersPerS * s.commitsPerOrder)),
        pgbench: spread(runs.map((s) => s.pgbenchTps)),
        ratio: spread(ratios),
        confirmed: runs.reduce((n, s) => n + s.confirmed, 0),
        cancelled: runs.reduce((n, s) => n + s.cancelled, 0),
        failed: runs.reduce((n, s) => n + s.failedCalls, 0),
      };
    });
    const best = rows.reduce((a, b) => (b.orders.median > a.orders.median ? b : a));
    ctx.shared.maxOrderRate = best.orders.median;

    const plot = await ctx.plot(
      "throughput",
      lineChart({
        title: "Saga: transactions per second vs concurrency",
        xLabel: "concurrency (customers placing orders / pgbench clients)",
        yLabel: "transactions / s",
        categories: plan.concurrencies,
        series: [
          {
            label: "pgbench single-row inserts",
            points: rows.map((r) => ({ x: r.concurrency, y: r.pgbench })),
          },
          { label: "orders/s × commits/order", points: rows.map((r) => ({ x: r.concurrency, y: r.writes })) },
          { label: "confirmed orders/s", points: rows.map((r) => ({ x: r.concurrency, y: r.orders })) },
        ],
        note: [`median of ${plan.repetitions}`, "whiskers: min–max"],
      }),
    );
    const markdown = [
      `${plan.repetitions} repetition(s) of ${plan.seconds} s per concurrency; in each, the orders first, then pgbench at the same concurrency on the same server. Median (min–max).`,
      "",
      `![saga throughput](${plot})`,
      "",
      "| concurrency | confirmed orders/s | commits/order | orders/s × commits/order | pgbench TPS | ratio (≥ 0.5) | confirmed / cancelled / failed calls |",
      "|---:|---:|---:|---:|---:|---:|---:|",
      ...rows.map(
        (r) =>
          `| ${r.concurrency} | ${fmtSpread(r.orders, 1)} | ${fmtSpread(r.commits, 1)} | ${fmtSpread(r.writes)} | ${fmtSpread(r.pgbench)} | ${fmtSpread(r.ratio, 2)} | ${r.confirmed} / ${r.cancelled} / ${r.failed} |`,
      ),
      "",
      `Maximum order rate (the highest median): **${fmt(best.orders.median, 1)} orders/s** at concurrency ${best.concurrency}; the events and soak benchmarks load the system at fractions of it.`,
      "",
      "Each order is placed through the edge (`PlaceOrder`, `tok_visa`, one line of a product with plenty of stock) by customers logged in beforehand; the saga (reserve → authorize → confirm → commit and capture) runs asynchronously and the window ends when the last of its sagas finished. pgbench runs `insert into bench_insert (v) values ('x')` with `-c N -j 2` for the same time.",
    ].join("\n");
    return {
      id: "saga",
      title: "3. Saga: orders per second against pgbench",
      targets: rows.map((r) =>
        atLeast(
          `orders/s × commits/order ≥ ${ratioTarget} × pgbench TPS at c=${r.concurrency}`,
          r.ratio.median,
          ratioTarget,
          " ×",
        ),
      ),
      markdown,
      data: { plan, samples },
    };
  } finally {
    await server.end();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The saga benchmark. */
export const sagaBenchmark: Benchmark = { id: "saga", usesSystem: true, run };
