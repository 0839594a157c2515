/**
 * The edge benchmark's section of the report: its figures, targets, Markdown tables and charts.
 */
import type { LoadResult } from "../lib/load.js";
import { atLeast, atMost, type TargetCheck } from "../lib/report.js";
import { fmt, fmtSpread, type Spread, spread } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";
import type { ProfileSummary } from "./profile.js";

export const targets = ["direct", "edge", "grpc-gateway"] as const;
export type Target = (typeof targets)[number];

export const targetLabels: Record<Target, string> = {
  direct: "direct gRPC (ghz)",
  edge: "Mercato edge (wrk)",
  "grpc-gateway": "grpc-gateway (wrk)",
};

/** One closed-loop run at one concurrency. */
export interface SweepSample {
  readonly target: Target;
  readonly concurrency: number;
  readonly rep: number;
  readonly result: LoadResult;
  /** CPU ms per successful call in the proxy process (edge or grpc-gateway). */
  readonly proxyCpuMsPerCall: number | undefined;
  /** CPU ms per successful call in the catalog process plus PostgreSQL. */
  readonly backendCpuMsPerCall: number;
  /** Share of the machine's CPU time that was busy during the run, 0–1. */
  readonly machineBusy: number;
  /** Share of the machine's CPU time used by processes that are not part of the benchmark, 0–1. */
  readonly otherBusy: number;
}

/** One fixed-rate run. */
export interface RateSample {
  readonly target: Target;
  readonly rate: number;
  readonly rep: number;
  readonly result: LoadResult;
}

export interface Plan {
  readonly quick: boolean;
  readonly durationS: number;
  readonly repetitions: number;
  readonly concurrencies: readonly number[];
  readonly warmupS: number;
  readonly products: number;
  readonly pageSize: number;
  readonly rateWorkers: number;
}

export interface BenchData {
  readonly plan: Plan;
  readonly sanity: readonly string[];
  readonly sweep: readonly SweepSample[];
  readonly halfRate: number;
  readonly edgeMax: { readonly throughput: number; readonly concurrency: number };
  /** Machine CPU busy share measured over 3 s just before loading, and how long the run waited for it to drop. */
  readonly background: { readonly busyBeforeLoad: number; readonly waitedS: number };
  readonly rate: readonly RateSample[];
  readonly profile: ProfileSummary | undefined;
  readonly profileNote: string | undefined;
}

export const throughputTarget = 0.8;
export const latencyTarget = 1.5;

export function sweepStats(data: BenchData, target: Target, concurrency: number) {
  const runs = data.sweep.filter((s) => s.target === target && s.concurrency === concurrency);
  return {
    throughput: spread(runs.map((r) => r.result.throughput)),
    p50: spread(runs.map((r) => r.result.p50Ms)),
    p99: spread(runs.map((r) => r.result.p99Ms)),
    errors: runs.reduce((sum, r) => sum + r.result.errors, 0),
    calls: runs.reduce((sum, r) => sum + r.result.requests, 0),
    proxyCpu: spread(runs.map((r) => r.proxyCpuMsPerCall ?? Number.NaN)),
    backendCpu: spread(runs.map((r) => r.backendCpuMsPerCall)),
    busy: spread(runs.map((r) => r.machineBusy * 100)),
    other: spread(runs.map((r) => r.otherBusy * 100)),
  };
}

export function rateStats(data: BenchData, target: Target) {
  const runs = data.rate.filter((s) => s.target === target);
  return {
    achieved: spread(runs.map((r) => r.result.throughput)),
    p50: spread(runs.map((r) => r.result.p50Ms)),
    p90: spread(runs.map((r) => r.result.p90Ms)),
    p99: spread(runs.map((r) => r.result.p99Ms)),
    errors: runs.reduce((sum, r) => sum + r.result.errors, 0),
    calls: runs.reduce((sum, r) => sum + r.result.requests, 0),
  };
}

/** Edge / grpc-gateway throughput per concurrency (ratio of medians, and the range over pairs of the same repetition). */
export function throughputRatios(data: BenchData) {
  return data.plan.concurrencies.map((concurrency) => {
    const edge = sweepStats(data, "edge", concurrency).throughput;
    const ggw = sweepStats(data, "grpc-gateway", concurrency).throughput;
    const perRep = data.sweep
      .filter((s) => s.target === "edge" && s.concurrency === concurrency)
      .map((e) => {
        const g = data.sweep.find(
          (s) => s.target === "grpc-gateway" && s.concurrency === concurrency && s.rep === e.rep,
        );
        return g ? e.result.throughput / g.result.throughput : Number.NaN;
      });
    const ratio = edge.median / ggw.median;
    return { concurrency, ratio, perRep: spread(perRep), met: ratio >= throughputTarget };
  });
}

export function latencyRatio(data: BenchData) {
  const edge = rateStats(data, "edge").p50;
  const direct = rateStats(data, "direct").p50;
  const ratio = edge.median / direct.median;
  return { ratio, edge, direct, met: ratio <= latencyTarget };
}

/** The edge's targets with verdicts. */
export function targetChecks(data: BenchData): TargetCheck[] {
  const lat = latencyRatio(data);
  return [
    ...throughputRatios(data).map((r) =>
      atLeast(
        `edge throughput ≥ ${throughputTarget} × grpc-gateway at c=${r.concurrency}`,
        r.ratio,
        throughputTarget,
        " ×",
      ),
    ),
    atMost(
      `edge p50 at half its max load (${fmt(data.halfRate)}/s) ≤ ${latencyTarget} × direct gRPC p50`,
      lat.ratio,
      latencyTarget,
      " ×",
    ),
  ];
}

/** Writes the three charts (throughput, p50, p99 over concurrency) with `plot`; returns their file names. */
export async function charts(
  data: BenchData,
  plot: (name: string, svg: string) => Promise<string>,
): Promise<{ throughput: string; p50: string; p99: string }> {
  const chart = (title: string, yLabel: string, pick: (s: ReturnType<typeof sweepStats>) => Spread) =>
    lineChart({
      title,
      xLabel: "concurrency (connections / calls in flight)",
      yLabel,
      categories: data.plan.concurrencies,
      series: targets.map((target) => ({
        label: targetLabels[target],
        points: data.plan.concurrencies.map((c) => ({ x: c, y: pick(sweepStats(data, target, c)) })),
      })),
      note: [`dots: median of ${data.plan.repetitions}`, "whiskers: min–max"],
    });
  return {
    throughput: await plot(
      "throughput",
      chart("ListProducts throughput vs concurrency", "successful calls / s", (s) => s.throughput),
    ),
    p50: await plot(
      "p50",
      chart("p50 latency vs concurrency", "p50 latency (ms)", (s) => s.p50),
    ),
    p99: await plot(
      "p99",
      chart("p99 latency vs concurrency", "p99 latency (ms)", (s) => s.p99),
    ),
  };
}

// --- Markdown --------------------------------------------------------------------------------------

function pct(value: number): string {
  return `${fmt(value * 100, 0)} %`;
}

/** The report as Markdown; `plots` are the file names of the SVGs next to it. */
export function markdown(data: BenchData, plots: { throughput: string; p50: string; p99: string }): string {
  const { plan } = data;
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  const ratios = throughputRatios(data);
  const lat = latencyRatio(data);

  push("### Ratios against the targets", "", "| target | measured | verdict |", "|---|---|---|");
  for (const r of ratios) {
    const verdict = r.met
      ? "met"
      : `**missed** by ${fmt((throughputTarget - r.ratio) * 100, 0)} points (${fmt((1 - r.ratio / throughputTarget) * 100, 0)} % short)`;
    const range = r.perRep.n > 1 ? ` (per repetition ${fmt(r.perRep.min, 2)}–${fmt(r.perRep.max, 2)})` : "";
    push(
      `| edge throughput ≥ ${throughputTarget} × grpc-gateway, concurrency ${r.concurrency} | ${fmt(r.ratio, 2)} ×${range} | ${verdict} |`,
    );
  }
  push(
    `| edge p50 at half its max load ≤ ${latencyTarget} × direct gRPC p50 at the same rate (${fmt(data.halfRate)} calls/s) | ` +
      `${fmt(lat.ratio, 2)} × (edge ${fmt(lat.edge.median, 2)} ms, direct ${fmt(lat.direct.median, 2)} ms) | ` +
      `${lat.met ? "met" : `**missed**: ${fmt(lat.ratio / latencyTarget, 2)} × the allowed p50 (${fmt(lat.edge.median - latencyTarget * lat.direct.median, 2)} ms over)`} |`,
    "",
    `The edge's maximum load is the highest median throughput of its closed-loop runs: ${fmt(data.edgeMax.throughput)} calls/s at concurrency ${data.edgeMax.concurrency}; half of it is the fixed rate above.`,
    "",
  );
  const other = spread(data.sweep.map((r) => r.otherBusy * 100));
  const noisy = data.background.busyBeforeLoad > 0.15 || other.max > 10;
  push(
    `${noisy ? "**Warning — the machine was not quiet**: " : "Machine load: "}${fmt(data.background.busyBeforeLoad * 100)} % of the CPU was busy just before the load` +
      `${data.background.waitedS > 0 ? ` (after waiting ${data.background.waitedS} s for other work to finish)` : ""}; ` +
      `processes outside the benchmark used ${fmt(other.median)} % (at most ${fmt(other.max)} %) of the machine during the runs` +
      `${noisy ? ". Figures from runs with a large _other processes_ share below are skewed; ratios between the three ways in are less affected than absolute figures because the runs are interleaved, but not immune." : "."}`,
    "",
  );
  if (data.sanity.length > 0) {
    push("Checks before loading:", "", ...data.sanity.map((s) => `- ${s}`), "");
  }

  push(
    "### Throughput and latency over concurrency (closed loop)",
    "",
    `${plan.repetitions} repetition(s) of ${plan.durationS} s per point, the three ways in interleaved within each repetition; ` +
      "cells are the median with (min–max) over the repetitions. Throughput counts successful calls only.",
    "",
    `![throughput vs concurrency](${plots.throughput})`,
    "",
    "| concurrency | way in | calls/s | p50 ms | p99 ms | errors / calls | proxy CPU ms/call | backend CPU ms/call | machine busy | other processes |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const c of plan.concurrencies) {
    for (const target of targets) {
      const s = sweepStats(data, target, c);
      push(
        `| ${c} | ${targetLabels[target]} | ${fmtSpread(s.throughput)} | ${fmtSpread(s.p50, 2)} | ${fmtSpread(s.p99, 2)} | ${fmt(s.errors)} / ${fmt(s.calls)} | ${target === "direct" ? "–" : fmtSpread(s.proxyCpu, 3)} | ${fmtSpread(s.backendCpu, 3)} | ${fmtSpread(s.busy)} % | ${fmtSpread(s.other)} % |`,
      );
    }
  }
  push(
    "",
    "_proxy CPU_: user + system CPU time of the edge or grpc-gateway process divided by the successful calls " +
      "(from /proc). _backend CPU_: the same for the catalog process plus every PostgreSQL process. " +
      "_machine busy_: the share of all cores' time not idle during the run (the load generator included). " +
      "_other processes_: the busy share not accounted for by the benchmark's own processes (proxy, catalog, PostgreSQL, " +
      "nats-server, load generator, harness) — work by something else on the machine, which skews that run.",
    "",
    `![p50 latency vs concurrency](${plots.p50})`,
    "",
    `![p99 latency vs concurrency](${plots.p99})`,
    "",
    `### Latency at a fixed rate: ${fmt(data.halfRate)} calls/s (half the edge's maximum)`,
    "",
    `${plan.repetitions} repetition(s) of ${plan.durationS} s; direct gRPC with \`ghz --rps\`, the two HTTP edges with \`vegeta attack -rate\` ` +
      `(open loop, at most ${plan.rateWorkers} calls in flight). Median (min–max).`,
    "",
    "| way in | achieved calls/s | p50 ms | p90 ms | p99 ms | errors / calls | p50 vs direct |",
    "|---|---:|---:|---:|---:|---:|---:|",
  );
  const directP50 = rateStats(data, "direct").p50.median;
  for (const target of targets) {
    const s = rateStats(data, target);
    push(
      `| ${target === "direct" ? "direct gRPC (ghz --rps)" : target === "edge" ? "Mercato edge (vegeta)" : "grpc-gateway (vegeta)"} | ${fmtSpread(s.achieved)} | ${fmtSpread(s.p50, 2)} | ${fmtSpread(s.p90, 2)} | ${fmtSpread(s.p99, 2)} | ${fmt(s.errors)} / ${fmt(s.calls)} | ${fmt(s.p50.median / directP50, 2)} × |`,
    );
  }
  push("");

  if (data.profile || data.profileNote) {
    push("### CPU profile of the edge under load", "");
    if (data.profileNote) push(data.profileNote, "");
    if (data.profile) {
      const p = data.profile;
      push(
        `Busy ${fmt(p.busyMs)} ms of ${fmt(p.totalMs)} ms sampled. Self time by area (share of busy time):`,
        "",
        "| area | self ms | share |",
        "|---|---:|---:|",
        ...p.areas.map((r) => `| ${r.name} | ${fmt(r.selfMs)} | ${pct(r.share)} |`),
        "",
        "Top functions by self time:",
        "",
        "| function | self ms | share |",
        "|---|---:|---:|",
        ...p.functions.map(
          (r) => `| \`${r.name.replace(/\|/g, "\\|")}\` | ${fmt(r.selfMs)} | ${pct(r.share)} |`,
        ),
        "",
      );
    }
  }

  push(
    "### Set-up",
    "",
    `- **Backend**: the real catalog service (\`services/catalog/src/main.ts\`, the full platform kit: tracing context, metrics, logs, breaker) ` +
      `as its own Node process on a throwaway PostgreSQL (fsync off) and nats-server, seeded with ${plan.products} products in one category. ` +
      `Every call is \`mercato.catalog.v1.CatalogService/ListProducts\` with \`page_size: ${plan.pageSize}\` (newest first: one keyset query per call).`,
    "- **Direct gRPC**: ghz to the catalog's port, `-c N` workers on one HTTP/2 connection, proto files from `proto/`.",
    "- **Mercato edge**: `node --import tsx gateway/src/main.ts` (default settings; rate limiting on with a loose budget of 10⁹/s so the bucket code runs but never refuses), " +
      'its lean gRPC unary client (gateway/src/grpc-unary.ts, one HTTP/2 session) to the catalog. Load: Connect unary JSON, `POST /mercato.catalog.v1.CatalogService/ListProducts` with `{"pageSize":10}`.',
    "- **grpc-gateway**: generated by `buf generate --template bench/edge/buf.gen.yaml` with `protoc-gen-go`, `protoc-gen-go-grpc` and `protoc-gen-grpc-gateway` " +
      "(`generate_unbound_methods=true`, so the same `POST /<package.Service>/<Method>` path and JSON body), built with `go build`, one gRPC connection to the catalog, " +
      "protojson without unpopulated fields (the same bytes as the edge's canonical JSON; checked below).",
    "- **HTTP load**: wrk with one thread and N keep-alive HTTP/1.1 connections (closed loop: one call in flight per connection).",
    `- **Order**: a ${plan.warmupS} s warm-up of each way in, then for each repetition, for each concurrency, the three ways in one after the other ` +
      "(the order rotated per repetition), then the fixed-rate runs, interleaved the same way.",
    "- Everything (load generators, proxies, catalog, PostgreSQL, NATS) shares the same machine; traffic is loopback only.",
    "",
  );
  return lines.join("\n");
}
