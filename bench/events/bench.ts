/**
 * Events (issue 10 item 4): how long an event takes from the producer's transaction to a consumer's
 * handling, at half of the maximum order rate, and whether the outbox relay keeps up (its lag stays
 * flat over the run). Target: commit → consumer p99 ≤ 50 ms.
 *
 * Nothing in the services is there for the benchmark: the producer's `outbox` row carries the
 * transaction's time (`created_at`, `now()`) and when the relay published it (`published_at`); each
 * consumer's `inbox` row (written in the same transaction as its effect) carries when it handled the
 * event (`processed_at`), keyed by the event id. All databases live on one PostgreSQL server, so one
 * clock stamps both ends. `now()` is the start of each transaction, so the figure includes the rest of
 * the producer's transaction and leaves out the rest of the consumer's: both are short.
 */
import type { ServiceName } from "@mercato/testing/servers";
import type { BenchContext, Benchmark } from "../lib/context.js";
import { atMost, type Section } from "../lib/report.js";
import { distribution, fmt, single, slope } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";

const p99Target = 50;
/** "Flat": the fitted rise of the per-window p99 relay lag over the whole run, in ms. */
const lagRiseTarget = 10;

interface OutboxRow {
  readonly service: string;
  readonly id: string;
  readonly type: string;
  readonly created: number;
  readonly published: number;
}

async function run(ctx: BenchContext): Promise<Section> {
  const plan = ctx.quick ? { seconds: 10, windowS: 2 } : { seconds: 150, windowS: 10 };
  const system = await ctx.system();
  let maxRate = ctx.shared.maxOrderRate;
  if (maxRate === undefined) {
    ctx.log("no maximum order rate from the saga benchmark: measuring it (8 customers, closed loop)");
    const seconds = ctx.quick ? 4 : 15;
    const calls = await system.closedLoop(8, seconds);
    await system.drained(120_000);
    maxRate = calls.filter((c) => c.status === 200).length / seconds;
  }
  const rate = Math.max(1, maxRate / 2);
  const clock = async () =>
    Number(
      (await system.sql("order")`select extract(epoch from clock_timestamp())::float8 * 1000 as ms`)[0]!.ms,
    );
  ctx.log(`${fmt(rate, 1)} orders/s (half of ${fmt(maxRate, 1)}) for ${plan.seconds} s`);
  const from = await clock();
  const calls = await system.openLoop(rate, plan.seconds);
  const to = await clock();
  await system.drained(120_000);
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const services = [...system.running.processes.keys()].filter((n) => n !== "gateway") as ServiceName[];
  const outbox: OutboxRow[] = [];
  const handled: { consumer: string; eventId: string; at: number }[] = [];
  for (const service of services) {
    const sql = system.sql(service);
    const rows = await sql`
      select id::text as id, type, extract(epoch from created_at)::float8 * 1000 as created,
             extract(epoch from published_at)::float8 * 1000 as published
      from outbox where created_at >= to_timestamp(${from / 1000}) and created_at <= to_timestamp(${to / 1000})`;
    for (const r of rows) {
      outbox.push({
        service,
        id: r.id,
        type: r.type,
        created: Number(r.created),
        published: Number(r.published),
      });
    }
    const inbox = await sql`
      select consumer, event_id, extract(epoch from processed_at)::float8 * 1000 as at
      from inbox where processed_at >= to_timestamp(${from / 1000})`;
    for (const r of inbox) handled.push({ consumer: r.consumer, eventId: r.event_id, at: Number(r.at) });
  }
  const byId = new Map(outbox.map((row) => [row.id, row]));
  const latencies = new Map<string, number[]>();
  const all: number[] = [];
  for (const h of handled) {
    const event = byId.get(h.eventId);
    if (!event) continue;
    const key = `${event.type.replace(/^mercato\./, "")} → ${h.consumer}`;
    const ms = h.at - event.created;
    latencies.set(key, [...(latencies.get(key) ?? []), ms]);
    all.push(ms);
  }
  const overall = distribution(all);

  // Relay lag over time: published_at − created_at of each outbox row, per window of creation time.
  const windows: { t: number; p50: number; p99: number; max: number; n: number }[] = [];
  for (let start = from; start < to; start += plan.windowS * 1000) {
    const lags = outbox
      .filter((r) => r.created >= start && r.created < start + plan.windowS * 1000)
      .map((r) => r.published - r.created);
    const d = distribution(lags);
    windows.push({ t: (start - from) / 1000, p50: d.p50, p99: d.p99, max: d.max, n: d.n });
  }
  const perSecond = slope(windows.filter((w) => w.n > 0).map((w) => ({ x: w.t, y: w.p99 })));
  const rise = Number.isFinite(perSecond) ? perSecond * plan.seconds : 0;
  const lagOverall = distribution(outbox.map((r) => r.published - r.created));

  const lagPlot = await ctx.plot(
    "relay-lag",
    lineChart({
      title: "Outbox relay lag over the run (published_at − created_at)",
      xLabel: "seconds since the load started",
      yLabel: "ms",
      series: [
        {
          label: "p99 per window",
          points: windows.filter((w) => w.n > 0).map((w) => ({ x: w.t, y: single(w.p99) })),
        },
        {
          label: "p50 per window",
          points: windows.filter((w) => w.n > 0).map((w) => ({ x: w.t, y: single(w.p50) })),
        },
      ],
      note: [`windows of ${plan.windowS} s`],
    }),
  );
  const ok = calls.filter((c) => c.status === 200).length;
  const markdown = [
    `Orders at a fixed rate of ${fmt(rate, 1)}/s (half the maximum of ${fmt(maxRate, 1)}/s) for ${plan.seconds} s: ${fmt(ok)} placed, ${calls.length - ok} failed calls; ` +
      `${fmt(outbox.length)} events written to outboxes, ${fmt(all.length)} handlings by consumers matched to their event.`,
    "",
    "#### Commit → consumer latency (ms)",
    "",
    "| event → consumer | n | p50 | p90 | p99 | max |",
    "|---|---:|---:|---:|---:|---:|",
    ...[...latencies.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([key, values]) => {
        const d = distribution(values);
        return `| ${key} | ${d.n} | ${fmt(d.p50, 1)} | ${fmt(d.p90, 1)} | ${fmt(d.p99, 1)} | ${fmt(d.max, 1)} |`;
      }),
    `| **all** | ${overall.n} | ${fmt(overall.p50, 1)} | ${fmt(overall.p90, 1)} | **${fmt(overall.p99, 1)}** | ${fmt(overall.max, 1)} |`,
    "",
    "#### Outbox relay lag",
    "",
    `Every outbox row of the run: p50 ${fmt(lagOverall.p50, 1)} ms, p99 ${fmt(lagOverall.p99, 1)} ms, max ${fmt(lagOverall.max, 1)} ms. ` +
      `The per-window p99 has a least-squares slope of ${fmt(perSecond * 60, 2)} ms per minute: a rise of ${fmt(rise, 1)} ms over the run.`,
    "",
    `![relay lag over time](${lagPlot})`,
    "",
    "How it is measured: see the file comment of `bench/events/bench.ts` and bench/README.md. " +
      (ctx.quick
        ? "A quick run is too short to say anything about the lag staying flat; the full run loads for 2.5 minutes and the soak for 30."
        : ""),
  ].join("\n");
  return {
    id: "events",
    title: "4. Events: commit → consumer latency and relay lag",
    targets: [
      atMost(
        `commit → consumer p99 at half the max order rate ≤ ${p99Target} ms`,
        overall.p99,
        p99Target,
        " ms",
        1,
      ),
      atMost(
        `relay lag stays flat: p99 rises < ${lagRiseTarget} ms over the run`,
        rise,
        lagRiseTarget,
        " ms",
        1,
      ),
    ],
    markdown,
    data: {
      plan,
      rate,
      maxRate,
      overall,
      lagOverall,
      windows,
      perConsumer: Object.fromEntries([...latencies].map(([k, v]) => [k, distribution(v)])),
    },
  };
}

/** The events benchmark. */
export const eventsBenchmark: Benchmark = { id: "events", usesSystem: true, run };
