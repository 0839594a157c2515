/**
 * The load generators the benchmarks share, each run as a child process with a hard time limit and
 * its output parsed into one {@link LoadResult}:
 *
 * - ghz (gRPC, closed loop with `-c` workers on one HTTP/2 connection, or paced with `--rps`);
 * - wrk (HTTP/1.1, closed loop: `-c` keep-alive connections, one request in flight on each);
 * - vegeta (HTTP/1.1, fixed rate: requests are started on a schedule whatever the latency).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "./tools.js";

/** One load run's outcome. Latencies in milliseconds; throughput counts successful calls only. */
export interface LoadResult {
  readonly tool: "ghz" | "wrk" | "vegeta";
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly durationS: number;
  /** Successful calls per second. */
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** A few error kinds with counts, when there were errors. */
  readonly errorKinds: Record<string, number>;
}

const ns = (value: number) => value / 1e6;

/** Options for {@link ghz}. */
export interface GhzOptions {
  readonly bin: string;
  readonly address: string;
  readonly protoFile: string;
  readonly importPath: string;
  readonly call: string;
  readonly data: string;
  /** Workers (calls in flight at most). */
  readonly concurrency: number;
  readonly durationS: number;
  /** Fixed rate in calls per second (undefined: as fast as the workers go). */
  readonly rps?: number;
}

/** Runs ghz on one HTTP/2 connection and parses its JSON report. */
export async function ghz(options: GhzOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "mercato-ghz-"));
  try {
    const out = join(dir, "report.json");
    const args = [
      "--insecure",
      "--proto",
      options.protoFile,
      "--import-paths",
      options.importPath,
      "--call",
      options.call,
      "-d",
      options.data,
      "-c",
      String(options.concurrency),
      "--connections",
      "1",
      "-z",
      `${options.durationS}s`,
      // Calls still in flight when the time is up are waited for, not counted as cancelled errors.
      "--duration-stop",
      "wait",
      "--timeout",
      "10s",
      "--format",
      "json",
      "-o",
      out,
      ...(options.rps !== undefined ? ["--rps", String(Math.round(options.rps))] : []),
      options.address,
    ];
    await exec(options.bin, args, { timeoutMs: (options.durationS + 30) * 1000 });
    const report = JSON.parse(await readFile(out, "utf8")) as {
      count: number;
      total: number;
      average: number;
      latencyDistribution: { percentage: number; latency: number }[] | null;
      statusCodeDistribution: Record<string, number> | null;
      errorDistribution: Record<string, number> | null;
    };
    const percentile = (p: number) =>
      ns(report.latencyDistribution?.find((entry) => entry.percentage === p)?.latency ?? Number.NaN);
    const statuses = report.statusCodeDistribution ?? {};
    const ok = statuses.OK ?? 0;
    const durationS = report.total / 1e9;
    const errorKinds: Record<string, number> = {};
    for (const [kind, count] of Object.entries(report.errorDistribution ?? {})) {
      if (Object.keys(errorKinds).length < 5) errorKinds[kind.slice(0, 120)] = count;
    }
    return {
      tool: "ghz",
      requests: report.count,
      ok,
      errors: report.count - ok,
      durationS,
      throughput: ok / durationS,
      p50Ms: percentile(50),
      p90Ms: percentile(90),
      p99Ms: percentile(99),
      meanMs: ns(report.average),
      errorKinds,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Options for {@link wrk}. */
export interface WrkOptions {
  readonly bin: string;
  readonly url: string;
  /** The request body (JSON). */
  readonly body: string;
  readonly script: string;
  readonly connections: number;
  readonly durationS: number;
}

/** Runs wrk with one thread (one load-generating core) and the summary script. */
export async function wrk(options: WrkOptions): Promise<LoadResult> {
  const args = [
    "-t1",
    `-c${options.connections}`,
    `-d${options.durationS}s`,
    "--timeout",
    "10s",
    "-s",
    options.script,
    options.url,
  ];
  const stdout = await exec(options.bin, args, {
    timeoutMs: (options.durationS + 30) * 1000,
    env: { ...process.env, WRK_BODY: options.body },
  });
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_RESULT "));
  if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout.slice(-2000)}`);
  const r = JSON.parse(line.slice("WRK_RESULT ".length)) as {
    requests: number;
    duration_us: number;
    connect: number;
    read: number;
    write: number;
    status: number;
    timeout: number;
    p50_us: number;
    p90_us: number;
    p99_us: number;
    mean_us: number;
  };
  const ok = r.requests - r.status;
  const durationS = r.duration_us / 1e6;
  const errorKinds: Record<string, number> = {};
  for (const kind of ["connect", "read", "write", "status", "timeout"] as const) {
    if (r[kind] > 0) errorKinds[kind] = r[kind];
  }
  return {
    tool: "wrk",
    requests: r.requests,
    ok,
    errors: r.status + r.connect + r.read + r.write + r.timeout,
    durationS,
    throughput: ok / durationS,
    p50Ms: r.p50_us / 1000,
    p90Ms: r.p90_us / 1000,
    p99Ms: r.p99_us / 1000,
    meanMs: r.mean_us / 1000,
    errorKinds,
  };
}

/** Options for {@link vegeta}. */
export interface VegetaOptions {
  readonly bin: string;
  readonly url: string;
  readonly body: string;
  /** Calls per second, started on schedule. */
  readonly rate: number;
  readonly durationS: number;
  /** Upper bound on workers (calls in flight). */
  readonly maxWorkers: number;
}

/** Runs `vegeta attack` at a constant rate, then `vegeta report -type json`. */
export async function vegeta(options: VegetaOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "mercato-vegeta-"));
  try {
    const bodyFile = join(dir, "body.json");
    const targets = join(dir, "targets.txt");
    const results = join(dir, "results.bin");
    await writeFile(bodyFile, options.body);
    await writeFile(targets, `POST ${options.url}\nContent-Type: application/json\n@${bodyFile}\n`);
    await exec(
      options.bin,
      [
        "attack",
        `-targets=${targets}`,
        `-rate=${Math.round(options.rate)}/1s`,
        `-duration=${options.durationS}s`,
        "-workers=8",
        `-max-workers=${options.maxWorkers}`,
        "-keepalive=true",
        "-timeout=10s",
        `-output=${results}`,
      ],
      { timeoutMs: (options.durationS + 30) * 1000 },
    );
    const stdout = await exec(options.bin, ["report", "-type=json", results], { timeoutMs: 30_000 });
    const r = JSON.parse(stdout) as {
      latencies: Record<string, number>;
      duration: number;
      wait: number;
      requests: number;
      throughput: number;
      success: number;
      status_codes: Record<string, number>;
      errors: string[] | null;
    };
    const ok = r.status_codes["200"] ?? 0;
    const durationS = (r.duration + r.wait) / 1e9;
    const errorKinds: Record<string, number> = {};
    for (const [code, count] of Object.entries(r.status_codes)) if (code !== "200") errorKinds[code] = count;
    for (const message of (r.errors ?? []).slice(0, 3)) errorKinds[message.slice(0, 120)] = 1;
    return {
      tool: "vegeta",
      requests: r.requests,
      ok,
      errors: r.requests - ok,
      durationS,
      throughput: ok / durationS,
      p50Ms: ns(r.latencies["50th"] ?? Number.NaN),
      p90Ms: ns(r.latencies["90th"] ?? Number.NaN),
      p99Ms: ns(r.latencies["99th"] ?? Number.NaN),
      meanMs: ns(r.latencies.mean ?? Number.NaN),
      errorKinds,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
