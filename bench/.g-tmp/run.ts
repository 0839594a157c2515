/**
 * The edge benchmark (issue 6 item 6): the Mercato edge against a direct gRPC call to the same service
 * and against grpc-gateway (Go) in front of the same backend, same machine, same run.
 *
 *   pnpm bench:edge            full run: 4 concurrencies × 3 repetitions × 10 s, plus fixed-rate runs (~9 min)
 *   pnpm bench:edge --quick    smoke run: 2 concurrencies × 1 repetition × 2 s (~1 min)
 *
 * Options: --out DIR (default bench/reports), --profile (always profile the edge; otherwise only when
 * a target is missed in a full run), --no-profile, --serve (start everything, print the addresses and
 * wait up to 10 minutes for Ctrl-C without loading: for poking at the set-up by hand).
 *
 * Writes bench/reports/edge-<date>[-quick].md with SVG plots and the raw figures as JSON.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { CatalogService } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import {
  findTool,
  freePort,
  type NatsServer,
  type PostgresServer,
  postgresBinDir,
  repoRoot,
  type SpawnedProcess,
  spawnProcess,
  startNats,
  startPostgres,
  waitFor,
} from "@mercato/testing/servers";
import postgres from "postgres";
import {
  commandOutput,
  cpuSeconds,
  ghz,
  type LoadResult,
  machineBusyOver,
  machineCpuSeconds,
  processTree,
  selfAndReapedChildrenCpuSeconds,
  vegeta,
  wrk,
} from "./load.js";
import { summariseProfile } from "./profile.js";
import {
  type BenchData,
  type Environment,
  latencyRatio,
  lineChart,
  markdown,
  type Plan,
  type RateSample,
  type SweepSample,
  spread,
  sweepStats,
  type Target,
  targets,
  throughputRatios,
} from "./report.js";

const root = repoRoot();
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const outIndex = argv.indexOf("--out");
const outDir = outIndex >= 0 && argv[outIndex + 1] ? argv[outIndex + 1]! : join(root, "bench/reports");
const serve = argv.includes("--serve");
const profileMode = argv.includes("--profile")
  ? "always"
  : argv.includes("--no-profile")
    ? "never"
    : "on-miss";

const plan: Plan = quick
  ? {
      quick,
      durationS: 2,
      repetitions: 1,
      concurrencies: [8, 32],
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

/** A hard limit on the whole run: everything started is killed (by @mercato/testing) on exit. */
const watchdogMs = (quick ? 4 : 15) * 60_000;
const watchdog = setTimeout(() => {
  log(`watchdog: still running after ${watchdogMs / 60_000} min, giving up`);
  process.exit(2);
}, watchdogMs);
watchdog.unref();

const started = Date.now();
function log(message: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench:edge ${s}s] ${message}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function exec(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<string>((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd ?? root,
        env: options.env ?? process.env,
        timeout: 10 * 60_000,
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stderr.slice(-3000)}`));
        else resolve(stdout);
      },
    );
  });
}

// --- Tools ---------------------------------------------------------------------------------------

const goTools = ["ghz", "vegeta", "protoc-gen-go", "protoc-gen-go-grpc", "protoc-gen-grpc-gateway"] as const;

function goBinary(): string {
  const onPath = findTool("go");
  if (onPath) return onPath;
  if (existsSync("/usr/local/go/bin/go")) return "/usr/local/go/bin/go";
  throw new Error("Go is needed for the edge benchmark (ghz, vegeta, grpc-gateway): https://go.dev/dl");
}

async function ensureTools(): Promise<Record<string, string>> {
  const missing = [...goTools, "wrk"].filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) {
    log(`installing ${missing.join(", ")} (bench/tools/edge-tools.sh) ...`);
    await exec("bash", [join(root, "bench/tools/edge-tools.sh")]);
  }
  const found: Record<string, string> = {};
  for (const tool of [...goTools, "wrk"]) {
    const path = findTool(tool);
    if (!path) throw new Error(`${tool} not found after bench/tools/edge-tools.sh`);
    found[tool] = path;
  }
  return found;
}

// --- grpc-gateway ----------------------------------------------------------------------------------

async function buildGrpcGateway(tools: Record<string, string>, into: string): Promise<string> {
  const go = goBinary();
  const pluginDir = join(tools["protoc-gen-go"]!, "..");
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

// --- Environment ---------------------------------------------------------------------------------

/** `wrk -v` prints its version and exits 1. */
function wrkVersion(bin: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, ["-v"], { timeout: 10_000 }, (_error, stdout, stderr) => {
      resolve(
        `${stdout}${stderr}`
          .split("\n")[0]
          ?.replace(/ Copyright.*$/, "")
          .trim() || "unknown",
      );
    });
  });
}

async function packageVersion(from: string, name: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(root, from, "node_modules", name, "package.json"), "utf8"));
    return String(pkg.version);
  } catch {
    return "unknown";
  }
}

async function environment(tools: Record<string, string>): Promise<Environment> {
  const commit = (await exec("git", ["rev-parse", "HEAD"]).catch(() => "unknown")).trim();
  const dirty = (await exec("git", ["status", "--porcelain"]).catch(() => "")).trim() !== "";
  const cpuModel =
    (await readFile("/proc/cpuinfo", "utf8").catch(() => ""))
      .split("\n")
      .find((l) => l.startsWith("model name"))
      ?.split(":")[1]
      ?.trim() ??
    cpus()[0]?.model ??
    "unknown";
  const goMod = await readFile(join(root, "bench/edge/grpc-gateway/go.mod"), "utf8");
  const goModVersion = (mod: string) =>
    new RegExp(`${mod.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} (v\\S+)`).exec(goMod)?.[1] ?? "unknown";
  const stamp = async (tool: string) =>
    (await readFile(join(root, ".tools/versions", tool), "utf8").catch(() => "")).trim().split("@")[1] ??
    "unknown";
  const now = new Date();
  const date = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
  return {
    date,
    commit,
    dirty,
    machine: {
      "CPUs (nproc)": String(availableParallelism()),
      "CPU model": cpuModel,
      memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      kernel: `Linux ${release()}`,
    },
    versions: {
      node: process.version,
      go: (await commandOutput(goBinary(), ["version"])).replace(/^go version /, ""),
      "nats-server": await commandOutput(findTool("nats-server") ?? "nats-server", ["--version"]),
      PostgreSQL: await commandOutput(join(postgresBinDir(), "postgres"), ["--version"]),
      "@grpc/grpc-js (edge, catalog)": await packageVersion("gateway", "@grpc/grpc-js"),
      "@bufbuild/protobuf": await packageVersion("gateway", "@bufbuild/protobuf"),
      "@connectrpc/connect-node": await packageVersion("gateway", "@connectrpc/connect-node"),
      "grpc-gateway runtime / plugin": `${goModVersion("github.com/grpc-ecosystem/grpc-gateway/v2")} / ${await stamp("protoc-gen-grpc-gateway")}`,
      "grpc-go / protobuf-go": `${goModVersion("google.golang.org/grpc")} / ${goModVersion("google.golang.org/protobuf")}`,
      "protoc-gen-go / protoc-gen-go-grpc": `${await stamp("protoc-gen-go")} / ${await stamp("protoc-gen-go-grpc")}`,
      ghz: await stamp("ghz"),
      vegeta: await stamp("vegeta"),
      wrk: await wrkVersion(tools.wrk!),
      buf: await commandOutput(join(root, "node_modules/.bin/buf"), ["--version"]),
    },
  };
}

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(
    `${quick ? "quick" : "full"} run: concurrencies ${plan.concurrencies.join(", ")}, ${plan.repetitions} × ${plan.durationS} s each`,
  );
  const tools = await ensureTools();
  const env = await environment(tools);
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

    if (serve) {
      process.stdout.write(
        `catalog (gRPC): ${catalogAddress}\nedge: ${urls.edge}\ngrpc-gateway: ${urls["grpc-gateway"]}\n` +
          `edge pid ${edge.pid}, grpc-gateway pid ${ggw.pid}, catalog pid ${catalog.pid}\nCtrl-C to stop (10 min at most)\n`,
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10 * 60_000);
        const stop = () => {
          clearTimeout(timer);
          resolve();
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      return;
    }

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
            bin: tools.ghz!,
            address: catalogAddress,
            protoFile,
            importPath: join(root, "proto"),
            call: "mercato.catalog.v1.CatalogService.ListProducts",
            data: grpcData,
            concurrency,
            durationS,
          })
        : wrk({
            bin: tools.wrk!,
            url: urls[target],
            body,
            script: join(root, "bench/edge/post.lua"),
            connections: concurrency,
            durationS,
          });

    const measured = async (target: Target, concurrency: number, rep: number): Promise<SweepSample> => {
      const backendPids = [catalog.pid, ...(await processTree(pgPid))];
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
      const after = await ours([...new Set([...backendPids, ...(await processTree(pgPid))])]);
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
                bin: tools.ghz!,
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
                bin: tools.vegeta!,
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
      environment: env,
      plan,
      sanity,
      sweep,
      halfRate,
      edgeMax,
      background: { busyBeforeLoad: backgroundBusy, waitedS },
      rate,
      profile: undefined,
      profileNote: undefined,
      elapsedS: 0,
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
      await wrk({ bin: tools.wrk!, url, body, script, connections: 32, durationS: 2 });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const result = await wrk({ bin: tools.wrk!, url, body, script, connections: 32, durationS: profileS });
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await profiled.stop(15_000);
      const file = (await readdir(profileDir)).find((f) => f.endsWith(".cpuprofile"));
      if (file) {
        profile = await summariseProfile(join(profileDir, file), root, { fromUs, toUs });
        const keep = join(outDir, `edge-${env.date}${quick ? "-quick" : ""}.cpuprofile`);
        await mkdir(outDir, { recursive: true });
        await writeFile(keep, await readFile(join(profileDir, file)));
        profileNote =
          `A separate edge process started with \`node --cpu-prof\`, loaded by wrk with 32 connections for ${profileS} s ` +
          `(${result.throughput.toFixed(0)} calls/s under the profiler, after 2 s of warm-up). ` +
          `The profile is kept next to this report as \`${keep.split("/").pop()}\` (open it in Chrome DevTools or speedscope). ` +
          (profile.windowed
            ? "The tables count only the samples taken during the measured load (start-up, warm-up and shutdown left out)."
            : "The tables count every sample of the process's life, start-up included (the load window could not be located).") +
          (profileMode === "always" ? "" : " It was taken because a target was missed.");
      } else {
        profileNote = "The profiled edge wrote no .cpuprofile (it did not exit cleanly).";
      }
    }

    // --- Report -------------------------------------------------------------------------------------
    const data: BenchData = { ...partial, profile, profileNote, elapsedS: (Date.now() - started) / 1000 };
    await mkdir(outDir, { recursive: true });
    const base = `edge-${env.date}${quick ? "-quick" : ""}`;
    const plots = { throughput: `${base}-throughput.svg`, p50: `${base}-p50.svg`, p99: `${base}-p99.svg` };
    await writeFile(
      join(outDir, plots.throughput),
      lineChart(data, "ListProducts throughput vs concurrency", "successful calls / s", (s) => s.throughput),
    );
    await writeFile(
      join(outDir, plots.p50),
      lineChart(data, "p50 latency vs concurrency", "p50 latency (ms)", (s) => s.p50),
    );
    await writeFile(
      join(outDir, plots.p99),
      lineChart(data, "p99 latency vs concurrency", "p99 latency (ms)", (s) => s.p99),
    );
    await writeFile(join(outDir, `${base}.json`), `${JSON.stringify(data, null, 2)}\n`);
    await writeFile(join(outDir, `${base}.md`), markdown(data, plots));

    // Console summary.
    process.stdout.write(`\nreport: ${join(outDir, `${base}.md`)}\n\n`);
    for (const c of plan.concurrencies) {
      const row = targets
        .map((t) => `${t} ${sweepStats(data, t, c).throughput.median.toFixed(0)}/s`)
        .join("  ");
      process.stdout.write(`c=${c}: ${row}\n`);
    }
    for (const r of throughputRatios(data)) {
      process.stdout.write(
        `edge/grpc-gateway throughput at c=${r.concurrency}: ${r.ratio.toFixed(2)} (target >= 0.8: ${r.met ? "met" : "MISSED"})\n`,
      );
    }
    const lat = latencyRatio(data);
    process.stdout.write(
      `edge p50 at ${halfRate}/s: ${lat.edge.median.toFixed(2)} ms vs direct ${lat.direct.median.toFixed(2)} ms = ${lat.ratio.toFixed(2)} (target <= 1.5: ${lat.met ? "met" : "MISSED"})\n`,
    );
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

main().then(
  () => {
    log("done");
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:edge failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
