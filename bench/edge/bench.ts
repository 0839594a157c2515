/**
 * The edge benchmark (issue 6 item 6, issue 10 item 1): the Mercato edge against a direct gRPC call to
 * the same service and against grpc-gateway (Go) in front of the same backend, same machine, same run.
 * Full: 4 concurrencies × 3 repetitions × 10 s, plus fixed-rate runs (~9 min); quick: 1 concurrency ×
 * 1 repetition × 2 s. `--profile` / `--no-profile` on the command line: always / never take a CPU
 * profile of the edge (by default only when a full run misses a target).
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { CatalogService } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import {
  freePort,
  type NatsServer,
  type PostgresServer,
  repoRoot,
  type SpawnedProcess,
  spawnProcess,
  startNats,
  startPostgres,
  waitFor,
} from "@mercato/testing/servers";
import postgres from "postgres";
import type { BenchContext, Benchmark } from "../lib/context.js";
import { packageVersion, stampedVersion } from "../lib/environment.js";
import { ghz, type LoadResult, vegeta, wrk } from "../lib/load.js";
import {
  cpuSeconds,
  descendants,
  machineBusyOver,
  machineCpuSeconds,
  selfAndReapedChildrenCpuSeconds,
} from "../lib/proc.js";
import type { Section } from "../lib/report.js";
import { spread } from "../lib/stats.js";
import { exec, goBinary, type LoadTools } from "../lib/tools.js";
import { summariseProfile } from "./profile.js";
import {
  type BenchData,
  charts,
  latencyRatio,
  markdown,
  type Plan,
  type RateSample,
  type SweepSample,
  type Target,
  targetChecks,
  targets,
  throughputRatios,
} from "./report.js";

const root = repoRoot();
const argv = process.argv.slice(2);
const profileMode = argv.includes("--profile")
  ? "always"
  : argv.includes("--no-profile")
    ? "never"
    : "on-miss";

function planFor(quick: boolean): Plan {
  return quick
    ? {
        quick,
        durationS: 2,
        repetitions: 1,
        concurrencies: [16],
        warmupS: 1,
        products: 50,
        pageSize: 10,
        rateWorkers: 64,
      }
    : {
        quick,
        durationS: 10,
        repetitions: 3,
        concurrencies: [1, 8, 32, 64],
        warmupS: 5,
        products: 50,
        pageSize: 10,
        rateWorkers: 64,
      };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- grpc-gateway ----------------------------------------------------------------------------------

async function buildGrpcGateway(tools: LoadTools, into: string): Promise<string> {
  const go = goBinary();
  const pluginDir = join(tools["protoc-gen-go"], "..");
  const env = { ...process.env, PATH: `${pluginDir}:${join(go, "..")}:${process.env.PATH ?? ""}` };
  await exec(
    join(root, "node_modules/.bin/buf"),
    [
      "generate",
      "--template",
      "bench/edge/buf.gen.yaml",
      "--path",
      "proto/mercato/catalog/v1",
      "--path",
      "proto/mercato/common/v1",
    ],
    { env },
  );
  const bin = join(into, "grpcgateway");
  await exec(go, ["build", "-o", bin, "."], {
    cwd: join(root, "bench/edge/grpc-gateway"),
    env: { ...env, GOFLAGS: "-mod=mod" },
  });
  return bin;
}

// --- Processes -----------------------------------------------------------------------------------

async function httpReady(url: string, init?: RequestInit): Promise<boolean> {
  try {
    const response = await fetch(url, init);
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function waitReady(name: string, proc: SpawnedProcess, check: () => Promise<boolean>): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`${name} exited`);
        return check();
      },
      { timeoutMs: 60_000, intervalMs: 100, failFast: true, message: name },
    );
  } catch (error) {
    throw new Error(
      `${name} did not become ready: ${(error as Error).message}\n${proc.output().slice(-3000)}`,
    );
  }
}

function startEdge(
  port: number,
  adminPort: number,
  catalogAddress: string,
  extraNodeArgs: readonly string[] = [],
): SpawnedProcess {
  const unused = "127.0.0.1:9"; // the discard port: nothing listens, calls fail fast (never made here)
  return spawnProcess(process.execPath, [...extraNodeArgs, "--import", "tsx", "gateway/src/main.ts"], {
    cwd: root,
    env: {
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      CATALOG_ADDRESS: catalogAddress,
      IDENTITY_ADDRESS: unused,
      INVENTORY_ADDRESS: unused,
      ORDER_ADDRESS: unused,
      PAYMENT_ADDRESS: unused,
      SHIPPING_ADDRESS: unused,
      NOTIFICATION_ADDRESS: unused,
      // The bucket code runs on every call, but a benchmark from one address must never be refused.
      RATE_LIMIT_LOOSE: "1000000000/1s",
      LOG_LEVEL: "warn",
    },
  });
}

/** The versions only this benchmark brings (grpc-gateway and its Go code), added to the report's table. */
async function edgeVersions(): Promise<Record<string, string>> {
  const goMod = await readFile(join(root, "bench/edge/grpc-gateway/go.mod"), "utf8");
  const goModVersion = (mod: string) =>
    new RegExp(`${mod.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} (v\\S+)`).exec(goMod)?.[1] ?? "unknown";
  return {
    "grpc-gateway runtime / plugin": `${goModVersion("github.com/grpc-ecosystem/grpc-gateway/v2")} / ${await stampedVersion("protoc-gen-grpc-gateway")}`,
    "grpc-go / protobuf-go": `${goModVersion("google.golang.org/grpc")} / ${goModVersion("google.golang.org/protobuf")}`,
    "protoc-gen-go / protoc-gen-go-grpc": `${await stampedVersion("protoc-gen-go")} / ${await stampedVersion("protoc-gen-go-grpc")}`,
    "@grpc/grpc-js (edge)": await packageVersion("gateway", "@grpc/grpc-js"),
  };
}

// --- Main ----------------------------------------------------------------------------------------

async function run(ctx: BenchContext): Promise<Section> {
  const { quick, log } = ctx;
  const plan = planFor(quick);
  log(`concurrencies ${plan.concurrencies.join(", ")}, ${plan.repetitions} × ${plan.durationS} s each`);
  const tools = await ctx.tools();
  Object.assign(ctx.env.versions, await edgeVersions());
  const cleanup: (() => Promise<unknown>)[] = [];
  const buildDir = await mkdtemp(join(tmpdir(), "mercato-bench-edge-"));
  cleanup.push(() => rm(buildDir, { recursive: true, force: true }));

  try {
    log("starting PostgreSQL and nats-server; generating and building grpc-gateway ...");
    const [pg, nats, ggwBin] = await Promise.all([
      startPostgres(),
      startNats(),
      buildGrpcGateway(tools, buildDir),
    ] as const);
    cleanup.push(
      () => (pg as PostgresServer).stop(),
      () => (nats as NatsServer).stop(),
    );

    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe("create database bench_catalog");
    await admin.end();
    const databaseUrl = pg.url.replace(/\/postgres$/, "/bench_catalog");

    // The real catalog service, as its own process.
    const catalogPort = await freePort();
    const catalogAdmin = await freePort();
    const catalog = spawnProcess(process.execPath, ["--import", "tsx", "services/catalog/src/main.ts"], {
      cwd: root,
      env: {
        GRPC_PORT: String(catalogPort),
        ADMIN_PORT: String(catalogAdmin),
        DATABASE_URL: databaseUrl,
        NATS_URL: nats.url,
        LOG_LEVEL: "warn",
      },
    });
    cleanup.push(() => catalog.stop(10_000));
    await waitReady("catalog", catalog, () => httpReady(`http://127.0.0.1:${catalogAdmin}/readyz`));
    const catalogAddress = `127.0.0.1:${catalogPort}`;
    log(`catalog ready on ${catalogAddress}; seeding ${plan.products} products ...`);

    const client = createGrpcClient(CatalogService, catalogAddress);
    const asAdmin = {
      metadata: { "x-user-id": "0190a5b2-0000-7000-8000-000000000001", "x-user-role": "admin" },
    };
    const { category } = await client.createCategory({ name: "Coffee" }, asAdmin);
    for (let i = 1; i <= plan.products; i++) {
      await client.createProduct(
        {
          sku: `BENCH-${String(i).padStart(3, "0")}`,
          name: `Single origin coffee no. ${i}, 250 g`,
          description: `Washed process, notes of stone fruit and cocoa; roasted for filter. Lot ${i}.`,
          price: { currencyCode: "EUR", amountMinor: BigInt(990 + i * 37) },
          categoryId: category?.id ?? "",
        },
        asAdmin,
      );
    }
    const direct = await client.listProducts({ pageSize: plan.pageSize });
    client.$close();

    // grpc-gateway and the edge in front of it.
    const ggwPort = await freePort();
    const ggw = spawnProcess(ggwBin, ["-listen", `127.0.0.1:${ggwPort}`, "-upstream", catalogAddress]);
    cleanup.push(() => ggw.stop(5_000));
    const edgePort = await freePort();
    const edgeAdmin = await freePort();
    const edge = startEdge(edgePort, edgeAdmin, catalogAddress);
    cleanup.push(() => edge.stop(10_000));

    const path = "/mercato.catalog.v1.CatalogService/ListProducts";
    const body = JSON.stringify({ pageSize: plan.pageSize });
    const urls: Record<"edge" | "grpc-gateway", string> = {
      edge: `http://127.0.0.1:${edgePort}${path}`,
      "grpc-gateway": `http://127.0.0.1:${ggwPort}${path}`,
    };
    const post = { method: "POST", headers: { "content-type": "application/json" }, body };
    await waitReady("grpc-gateway", ggw, () => httpReady(urls["grpc-gateway"], post));
    await waitReady("edge", edge, () => httpReady(`http://127.0.0.1:${edgeAdmin}/readyz`));
    log(`edge on :${edgePort}, grpc-gateway on :${ggwPort}`);

    // Same answer three ways.
    const sanity: string[] = [];
    const fromEdge = (await (await fetch(urls.edge, post)).json()) as { products?: unknown[] };
    const fromGgw = (await (await fetch(urls["grpc-gateway"], post)).json()) as { products?: unknown[] };
    sanity.push(
      `direct gRPC returned ${direct.products.length} products, the edge ${fromEdge.products?.length ?? 0}, grpc-gateway ${fromGgw.products?.length ?? 0}.`,
    );
    if (direct.products.length !== plan.pageSize || fromEdge.products?.length !== plan.pageSize) {
      throw new Error(`unexpected page: ${JSON.stringify(fromEdge).slice(0, 500)}`);
    }
    sanity.push(
      isDeepStrictEqual(fromEdge, fromGgw)
        ? "The edge's and grpc-gateway's JSON responses are identical (same products, same fields)."
        : `**The edge's and grpc-gateway's JSON responses differ**: edge ${JSON.stringify(fromEdge).slice(0, 300)} … grpc-gateway ${JSON.stringify(fromGgw).slice(0, 300)} …`,
    );
    const edgeBytes = Buffer.byteLength(JSON.stringify(fromEdge));
    sanity.push(`Response body: about ${edgeBytes} bytes of JSON (${plan.pageSize} products).`);

    // --- Load ---------------------------------------------------------------------------------------
    const pgPid = Number((await readFile(join(pg.dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
    const proxyPid: Record<Target, number | undefined> = {
      direct: undefined,
      edge: edge.pid,
      "grpc-gateway": ggw.pid,
    };
    const protoFile = join(root, "proto/mercato/catalog/v1/catalog.proto");
    const grpcData = JSON.stringify({ page_size: plan.pageSize });

    const closedLoop = (target: Target, concurrency: number, durationS: number): Promise<LoadResult> =>
      target === "direct"
        ? ghz({
            bin: tools.ghz,
            address: catalogAddress,
            protoFile,
            importPath: join(root, "proto"),
            call: "mercato.catalog.v1.CatalogService.ListProducts",
            data: grpcData,
            concurrency,
            durationS,
          })
        : wrk({
            bin: tools.wrk,
            url: urls[target],
            body,
            script: join(root, "bench/edge/post.lua"),
            connections: concurrency,
            durationS,
          });

    const measured = async (target: Target, concurrency: number, rep: number): Promise<SweepSample> => {
      const backendPids = [catalog.pid, ...(await descendants(pgPid))];
      const proxy = proxyPid[target];
      const ours = async (pids: readonly number[]) => {
        const [proxyCpu, backendCpu, rest, machine] = await Promise.all([
          proxy !== undefined ? cpuSeconds([proxy]) : Promise.resolve(0),
          cpuSeconds(pids),
          // the bench process, the load generator once reaped, and the other processes of the set-up
          Promise.all([
            selfAndReapedChildrenCpuSeconds(),
            cpuSeconds([
              nats.pid,
              ...(target === "edge" ? [ggw.pid] : target === "direct" ? [ggw.pid, edge.pid] : [edge.pid]),
            ]),
          ]).then(([a, b]) => a + b),
          machineCpuSeconds(),
        ]);
        return { proxyCpu, backendCpu, rest, machine };
      };
      const before = await ours(backendPids);
      const result = await closedLoop(target, concurrency, plan.durationS);
      const after = await ours([...new Set([...backendPids, ...(await descendants(pgPid))])]);
      const ok = Math.max(1, result.ok);
      const total = after.machine.total - before.machine.total;
      const busy = after.machine.busy - before.machine.busy;
      const accounted =
        after.proxyCpu -
        before.proxyCpu +
        (after.backendCpu - before.backendCpu) +
        (after.rest - before.rest);
      return {
        target,
        concurrency,
        rep,
        result,
        proxyCpuMsPerCall: proxy !== undefined ? ((after.proxyCpu - before.proxyCpu) * 1000) / ok : undefined,
        backendCpuMsPerCall: ((after.backendCpu - before.backendCpu) * 1000) / ok,
        machineBusy: total > 0 ? busy / total : 0,
        otherBusy: total > 0 ? Math.max(0, busy - accounted) / total : 0,
      };
    };

    // Other work on the machine skews everything: wait a while for it to calm down, and record it.
    const waitLimitS = quick ? 0 : 90;
    let backgroundBusy = await machineBusyOver(3000);
    let waitedS = 0;
    while (backgroundBusy > 0.15 && waitedS < waitLimitS) {
      log(
        `the machine is ${(backgroundBusy * 100).toFixed(0)} % busy before any load (other processes); waiting ...`,
      );
      await sleep(7000);
      waitedS += 10;
      backgroundBusy = await machineBusyOver(3000);
    }
    log(
      `machine ${(backgroundBusy * 100).toFixed(0)} % busy before the load${waitedS > 0 ? ` (after waiting ${waitedS} s)` : ""}`,
    );

    log(`warm-up: ${plan.warmupS} s of each way in at concurrency 32`);
    for (const target of targets) await closedLoop(target, 32, plan.warmupS);

    const sweep: SweepSample[] = [];
    for (let rep = 1; rep <= plan.repetitions; rep++) {
      for (const concurrency of plan.concurrencies) {
        const order = targets.map((_, i) => targets[(i + rep - 1) % targets.length]!);
        for (const target of order) {
          await sleep(300);
          const sample = await measured(target, concurrency, rep);
          sweep.push(sample);
          const r = sample.result;
          log(
            `rep ${rep} c=${String(concurrency).padStart(2)} ${target.padEnd(12)} ${r.throughput.toFixed(0).padStart(6)} calls/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}` +
              (sample.proxyCpuMsPerCall !== undefined
                ? `  proxy ${sample.proxyCpuMsPerCall.toFixed(3)} ms CPU/call`
                : ""),
          );
        }
      }
    }

    // Half of the edge's maximum load, then the same fixed rate through each way in.
    let edgeMax = { throughput: 0, concurrency: 0 };
    for (const concurrency of plan.concurrencies) {
      const median = spread(
        sweep
          .filter((s) => s.target === "edge" && s.concurrency === concurrency)
          .map((s) => s.result.throughput),
      ).median;
      if (median > edgeMax.throughput) edgeMax = { throughput: median, concurrency };
    }
    const halfRate = Math.max(1, Math.round(edgeMax.throughput / 2));
    log(
      `edge maximum ${edgeMax.throughput.toFixed(0)} calls/s (c=${edgeMax.concurrency}); fixed-rate runs at ${halfRate} calls/s`,
    );
    const rate: RateSample[] = [];
    for (let rep = 1; rep <= plan.repetitions; rep++) {
      const order = targets.map((_, i) => targets[(i + rep - 1) % targets.length]!);
      for (const target of order) {
        await sleep(300);
        const result =
          target === "direct"
            ? await ghz({
                bin: tools.ghz,
                address: catalogAddress,
                protoFile,
                importPath: join(root, "proto"),
                call: "mercato.catalog.v1.CatalogService.ListProducts",
                data: grpcData,
                concurrency: plan.rateWorkers,
                durationS: plan.durationS,
                rps: halfRate,
              })
            : await vegeta({
                bin: tools.vegeta,
                url: urls[target],
                body,
                rate: halfRate,
                durationS: plan.durationS,
                maxWorkers: plan.rateWorkers,
              });
        rate.push({ target, rate: halfRate, rep, result });
        log(
          `rate rep ${rep} ${target.padEnd(12)} achieved ${result.throughput.toFixed(0)} calls/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  errors ${result.errors}`,
        );
      }
    }

    const partial: BenchData = {
      plan,
      sanity,
      sweep,
      halfRate,
      edgeMax,
      background: { busyBeforeLoad: backgroundBusy, waitedS },
      rate,
      profile: undefined,
      profileNote: undefined,
    };
    const missed = throughputRatios(partial).some((r) => !r.met) || !latencyRatio(partial).met;

    // A CPU profile of a second edge process under the same kind of load, when a target is missed.
    let profile: BenchData["profile"];
    let profileNote: string | undefined;
    const wantProfile = profileMode === "always" || (profileMode === "on-miss" && missed && !quick);
    if (wantProfile) {
      const profileDir = join(buildDir, "profile");
      await mkdir(profileDir, { recursive: true });
      const port = await freePort();
      const adminPort = await freePort();
      const profiled = startEdge(port, adminPort, catalogAddress, [
        "--cpu-prof",
        "--cpu-prof-dir",
        profileDir,
      ]);
      await waitReady("edge (profiled)", profiled, () => httpReady(`http://127.0.0.1:${adminPort}/readyz`));
      const profileS = quick ? 3 : 10;
      const url = `http://127.0.0.1:${port}${path}`;
      const script = join(root, "bench/edge/post.lua");
      await wrk({ bin: tools.wrk, url, body, script, connections: 32, durationS: 2 });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const result = await wrk({ bin: tools.wrk, url, body, script, connections: 32, durationS: profileS });
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await profiled.stop(15_000);
      const file = (await readdir(profileDir)).find((f) => f.endsWith(".cpuprofile"));
      if (file) {
        profile = await summariseProfile(join(profileDir, file), root, { fromUs, toUs });
        const keep = await ctx.attach("edge.cpuprofile", await readFile(join(profileDir, file)));
        profileNote =
          `A separate edge process started with \`node --cpu-prof\`, loaded by wrk with 32 connections for ${profileS} s ` +
          `(${result.throughput.toFixed(0)} calls/s under the profiler, after 2 s of warm-up). ` +
          `The profile is kept next to this report as \`${keep}\` (open it in Chrome DevTools or speedscope). ` +
          (profile.windowed
            ? "The tables count only the samples taken during the measured load (start-up, warm-up and shutdown left out)."
            : "The tables count every sample of the process's life, start-up included (the load window could not be located).") +
          (profileMode === "always" ? "" : " It was taken because a target was missed.");
      } else {
        profileNote = "The profiled edge wrote no .cpuprofile (it did not exit cleanly).";
      }
    }

    // --- Report -------------------------------------------------------------------------------------
    const data: BenchData = { ...partial, profile, profileNote };
    const plots = await charts(data, ctx.plot);
    return {
      id: "edge",
      title: "1. Edge: against direct gRPC and grpc-gateway",
      targets: targetChecks(data),
      markdown: markdown(data, plots),
      data,
    };
  } finally {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${(error as Error).message}`);
      }
    }
  }
}

/** The edge benchmark. */
export const edgeBenchmark: Benchmark = { id: "edge", usesSystem: false, run };
