/**
 * Kit overhead (issue 10 item 2): the same in-memory `GetStock` handler served by the full platform kit
 * (`createGrpcServer`: tracing, metrics, a log line per call, breaker) and by a bare grpc-js server,
 * loaded by ghz at several concurrencies, the two interleaved in each repetition. Target: kit
 * throughput ≥ 0.8 × bare at every concurrency.
 */
import { join } from "node:path";
import { freePort, repoRoot, type SpawnedProcess, spawnProcess } from "@mercato/testing/servers";
import type { BenchContext, Benchmark } from "../lib/context.js";
import { ghz, type LoadResult } from "../lib/load.js";
import { cpuSeconds } from "../lib/proc.js";
import { atLeast, type Section } from "../lib/report.js";
import { fmt, fmtSpread, spread } from "../lib/stats.js";
import { lineChart } from "../lib/svg.js";

const root = repoRoot();
const variants = ["kit", "bare"] as const;
type Variant = (typeof variants)[number];
const labels: Record<Variant, string> = { kit: "full kit (createGrpcServer)", bare: "bare grpc-js" };
const ratioTarget = 0.8;

interface KitSample {
  readonly variant: Variant;
  readonly concurrency: number;
  readonly rep: number;
  readonly result: LoadResult;
  /** Server CPU ms per successful call. */
  readonly cpuMsPerCall: number;
}

async function startServer(variant: Variant): Promise<{ process: SpawnedProcess; address: string }> {
  const port = await freePort();
  const child = spawnProcess(process.execPath, ["--import", "tsx", "bench/kit/server.ts"], {
    cwd: root,
    env: { MODE: variant, PORT: String(port), ADMIN_PORT: String(await freePort()) },
  });
  await child.waitForOutput(/listening \d+/, 60_000);
  return { process: child, address: `127.0.0.1:${port}` };
}

async function run(ctx: BenchContext): Promise<Section> {
  const plan = ctx.quick
    ? { concurrencies: [16], repetitions: 1, seconds: 2, warmupS: 1 }
    : { concurrencies: [1, 8, 32, 64], repetitions: 3, seconds: 6, warmupS: 3 };
  const tools = await ctx.tools();
  const servers = { kit: await startServer("kit"), bare: await startServer("bare") };
  try {
    const load = (variant: Variant, concurrency: number, durationS: number) =>
      ghz({
        bin: tools.ghz,
        address: servers[variant].address,
        protoFile: join(root, "proto/mercato/inventory/v1/inventory.proto"),
        importPath: join(root, "proto"),
        call: "mercato.inventory.v1.InventoryService.GetStock",
        data: JSON.stringify({ sku: "SKU-42" }),
        concurrency,
        durationS,
      });
    for (const variant of variants) await load(variant, 16, plan.warmupS);
    const samples: KitSample[] = [];
    for (let rep = 1; rep <= plan.repetitions; rep++) {
      for (const concurrency of plan.concurrencies) {
        const order = rep % 2 === 1 ? variants : [...variants].reverse();
        for (const variant of order) {
          const pid = servers[variant].process.pid;
          const before = await cpuSeconds([pid]);
          const result = await load(variant, concurrency, plan.seconds);
          const cpu = (await cpuSeconds([pid])) - before;
          samples.push({
            variant,
            concurrency,
            rep,
            result,
            cpuMsPerCall: (cpu * 1000) / Math.max(1, result.ok),
          });
          ctx.log(
            `rep ${rep} c=${concurrency} ${variant}: ${result.throughput.toFixed(0)} calls/s p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms errors ${result.errors}`,
          );
        }
      }
    }
    const stats = (variant: Variant, concurrency: number) => {
      const runs = samples.filter((s) => s.variant === variant && s.concurrency === concurrency);
      return {
        throughput: spread(runs.map((r) => r.result.throughput)),
        p50: spread(runs.map((r) => r.result.p50Ms)),
        p99: spread(runs.map((r) => r.result.p99Ms)),
        cpu: spread(runs.map((r) => r.cpuMsPerCall)),
        errors: runs.reduce((n, r) => n + r.result.errors, 0),
      };
    };
    const ratios = plan.concurrencies.map((concurrency) => ({
      concurrency,
      ratio: stats("kit", concurrency).throughput.median / stats("bare", concurrency).throughput.median,
    }));
    const plot = await ctx.plot(
      "throughput",
      lineChart({
        title: "GetStock throughput: full kit vs bare grpc-js",
        xLabel: "concurrency (ghz workers)",
        yLabel: "successful calls / s",
        categories: plan.concurrencies,
        series: variants.map((variant) => ({
          label: labels[variant],
          points: plan.concurrencies.map((c) => ({ x: c, y: stats(variant, c).throughput })),
        })),
        note: [`median of ${plan.repetitions}`, "whiskers: min–max"],
      }),
    );
    const markdown = [
      `${plan.repetitions} repetition(s) of ${plan.seconds} s per point with ghz (\`-c N\`, one HTTP/2 connection), the two servers interleaved (order alternating per repetition) after a ${plan.warmupS} s warm-up each. Median (min–max).`,
      "",
      `![kit vs bare throughput](${plot})`,
      "",
      "| concurrency | server | calls/s | p50 ms | p99 ms | server CPU ms/call | errors | kit / bare |",
      "|---:|---|---:|---:|---:|---:|---:|---:|",
      ...plan.concurrencies.flatMap((c) =>
        variants.map((variant) => {
          const s = stats(variant, c);
          const ratio = ratios.find((r) => r.concurrency === c)!.ratio;
          return `| ${c} | ${labels[variant]} | ${fmtSpread(s.throughput)} | ${fmtSpread(s.p50, 2)} | ${fmtSpread(s.p99, 2)} | ${fmtSpread(s.cpu, 3)} | ${s.errors} | ${variant === "kit" ? `${fmt(ratio, 2)} ×` : ""} |`;
        }),
      ),
      "",
      "Both servers are `bench/kit/server.ts`, one Node process each, answering `inventory.v1.InventoryService/GetStock` from an in-memory map (no database: only the serving stack differs). " +
        "**Full kit**: `createGrpcServer` from @mercato/platform — request id, call context and deadline, a server span continued from `traceparent` (tracer provider, W3C propagator and async-local context manager started by `startTelemetry`, nothing exported, as in local runs), " +
        "the RED histogram, one pino JSON log line per call at level info (to /dev/null), error mapping, health, reflection and the admin port — and the lookup runs through the kit's circuit breaker (opossum), as a service's upstream calls do. " +
        "**Bare**: `new grpc.Server()` with the SDK's grpc-js service definition and the same lookup.",
    ].join("\n");
    return {
      id: "kit",
      title: "2. Kit overhead: full platform kit against bare grpc-js",
      targets: ratios.map((r) =>
        atLeast(
          `kit throughput ≥ ${ratioTarget} × bare grpc-js at c=${r.concurrency}`,
          r.ratio,
          ratioTarget,
          " ×",
        ),
      ),
      markdown,
      data: { plan, samples },
    };
  } finally {
    await Promise.all(variants.map((v) => servers[v].process.stop(5_000)));
  }
}

/** The kit-overhead benchmark. */
export const kitBenchmark: Benchmark = { id: "kit", usesSystem: false, run };
