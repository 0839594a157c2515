/**
 * Start-up (issue 10 item 6): the real `pnpm start` as a child process, timed from the spawn to the
 * first confirmed order (the demo customer logs in, places an order of a demo product, and polls it
 * until the saga confirms it), on a warm install. Target ≤ 20 s. While that system idles, the RSS of
 * its processes is recorded too (the memory figure of the default local run). Ctrl-C (SIGINT to the
 * process group) stops it, as a user would.
 *
 * `pnpm start` uses fixed ports (gRPC 50051–50057, admin 9101–9107 and 9080, NATS 4222) and `.data/`
 * in the repository: another `pnpm start` on the machine makes this benchmark fail.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort, repoRoot } from "@mercato/testing/servers";
import type { BenchContext, Benchmark } from "../lib/context.js";
import { type MemorySample, sampleMemory, type WatchedProcess } from "../lib/memory.js";
import { commandLine, descendants } from "../lib/proc.js";
import { atMost, type Section } from "../lib/report.js";
import { fmt, fmtSpread, mib, spread } from "../lib/stats.js";

const root = repoRoot();
const targetS = 20;
const idleTargetMiB = 600;
const demoCustomer = { email: "customer@mercato.local", password: "mercato-customer" };
/** An answer that retrying cannot change. */
class Fatal extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface StartupSample {
  readonly rep: number;
  /** Seconds from the spawn to: the demo customer's first successful login, "Mercato is up", the order confirmed. */
  readonly loginS: number;
  readonly upS: number;
  readonly confirmedS: number;
  readonly idleRss: Record<string, number>;
  readonly idleApps: number;
}

async function postJson(url: string, body: unknown, token?: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON responses of the edge
  return { status: response.status, json: (await response.json().catch(() => ({}))) as any };
}

/** Names a process of the `pnpm start` tree for the memory table; app = services and gateway. */
async function classify(pid: number): Promise<WatchedProcess | undefined> {
  const cmd = await commandLine(pid);
  const service = /services\/([a-z]+)\/(?:src|dist)\/main\.[jt]s/.exec(cmd)?.[1];
  if (service) return { name: service, pid, kind: "app" };
  if (/gateway\/(?:src|dist)\/main\.[jt]s/.test(cmd)) return { name: "gateway", pid, kind: "app" };
  if (cmd.includes("nats-server")) return { name: "nats-server", pid, kind: "infra" };
  if (cmd.includes("postgres")) return { name: "postgres", pid, kind: "infra" };
  if (cmd.includes("scripts/start.ts")) return { name: "launcher (scripts/start.ts)", pid, kind: "infra" };
  return cmd === "" ? undefined : { name: "pnpm and shell", pid, kind: "infra" };
}

async function startOnce(ctx: BenchContext, rep: number): Promise<StartupSample> {
  const port = await freePort();
  const gateway = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  const child: ChildProcess = spawn("pnpm", ["start"], {
    cwd: root,
    env: { ...process.env, GATEWAY_PORT: String(port) },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let upS = Number.NaN;
  const onData = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-200_000);
    if (Number.isNaN(upS) && output.includes("Mercato is up")) upS = seconds();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  void exit.then(() => {
    exited = true;
  });
  const pid = child.pid!;
  let tree: number[] = [];
  try {
    const deadline = t0 + 180_000;
    const until = async <T>(
      what: string,
      attempt: () => Promise<T | undefined>,
      everyMs: number,
    ): Promise<T> => {
      for (;;) {
        if (exited) throw new Error(`pnpm start exited while waiting for ${what}:\n${output.slice(-3000)}`);
        if (performance.now() > deadline)
          throw new Error(`timed out waiting for ${what}:\n${output.slice(-3000)}`);
        // Connection errors while the system comes up mean "not yet"; a Fatal answer ends the wait.
        const value = await attempt().catch((error: unknown) => {
          if (error instanceof Fatal) throw error;
          return undefined;
        });
        if (value !== undefined) return value;
        await sleep(everyMs);
      }
    };
    const token = await until(
      "the demo customer's login",
      async () => {
        const r = await postJson(`${gateway}/mercato.identity.v1.IdentityService/Login`, demoCustomer);
        return r.status === 200 ? (r.json.accessToken as string) : undefined;
      },
      100,
    );
    const loginS = seconds();
    const product = await until(
      "the demo catalog",
      async () => {
        const r = await postJson(`${gateway}/mercato.catalog.v1.CatalogService/ListProducts`, {
          pageSize: 50,
        });
        return r.json.products?.[0]?.id as string | undefined;
      },
      100,
    );
    // "Unavailable, try again later" while an upstream is still coming up: retried as a client would,
    // with the same idempotency key, so at most one order results.
    const order = {
      idempotencyKey: randomUUID(),
      lines: [{ productId: product, quantity: 1 }],
      paymentToken: "tok_visa",
      shippingAddress: {
        name: "B",
        line1: "1 Main St",
        city: "Berlin",
        postalCode: "10115",
        countryCode: "DE",
      },
    };
    let lastAnswer = "";
    const placed = await until(
      "PlaceOrder to be accepted",
      async () => {
        const r = await postJson(`${gateway}/mercato.order.v1.OrderService/PlaceOrder`, order, token);
        lastAnswer = `${r.status} ${JSON.stringify(r.json)}`;
        if (r.status === 503) return undefined;
        if (r.status !== 200) throw new Fatal(`PlaceOrder answered ${lastAnswer}`);
        return r;
      },
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last answer: ${lastAnswer})`);
    });
    const orderId = placed.json.order.id as string;
    await until(
      "the order's confirmation",
      async () => {
        const r = await postJson(`${gateway}/mercato.order.v1.OrderService/GetOrder`, { orderId }, token);
        const status = r.json.order?.status as string | undefined;
        if (status === "ORDER_STATUS_CANCELLED") {
          throw new Fatal(`the first order was cancelled: ${r.json.order.cancelReason}`);
        }
        return status === "ORDER_STATUS_CONFIRMED" || status === "ORDER_STATUS_SHIPPED" ? true : undefined;
      },
      50,
    );
    const confirmedS = seconds();
    ctx.log(
      `rep ${rep}: login after ${loginS.toFixed(1)} s, first order confirmed after ${confirmedS.toFixed(1)} s`,
    );

    // The demo customer exists before the rest of the demo data: idle means after seeding too.
    await until('"Mercato is up"', async () => (Number.isNaN(upS) ? undefined : true), 100);
    await sleep(ctx.quick ? 1000 : 3000);
    tree = await descendants(pid);
    const processes = (await Promise.all(tree.map(classify))).filter(
      (p): p is WatchedProcess => p !== undefined,
    );
    const samples: MemorySample[] = [];
    for (let i = 0; i < 3; i++) {
      samples.push(await sampleMemory(processes, i));
      await sleep(ctx.quick ? 300 : 1000);
    }
    if (samples[0]!.apps === 0) {
      throw new Error(
        `no service or gateway process found under pnpm start (pid ${pid}): ${processes.map((p) => p.name).join(", ")}`,
      );
    }
    const names = Object.keys(samples[0]!.byName);
    const idleRss = Object.fromEntries(
      names.map((n) => [n, spread(samples.map((s) => s.byName[n] ?? 0)).median]),
    );
    return { rep, loginS, upS, confirmedS, idleRss, idleApps: spread(samples.map((s) => s.apps)).median };
  } finally {
    if (tree.length === 0) tree = await descendants(pid);
    // Ctrl-C: SIGINT to the foreground process group, then make sure nothing is left.
    try {
      process.kill(-pid, "SIGINT");
    } catch {
      // already gone
    }
    await Promise.race([exit, sleep(30_000)]);
    await sleep(500);
    for (const p of tree) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
  }
}

async function run(ctx: BenchContext): Promise<Section> {
  const repetitions = ctx.quick ? 1 : 3;
  const hadData = existsSync(join(root, ".data"));
  const samples: StartupSample[] = [];
  for (let rep = 1; rep <= repetitions; rep++) samples.push(await startOnce(ctx, rep));
  const confirmed = spread(samples.map((s) => s.confirmedS));
  const idleApps = spread(samples.map((s) => s.idleApps));
  const names = Object.keys(samples[0]!.idleRss);
  const MiB = 2 ** 20;
  const markdown = [
    `${repetitions} start(s) of \`pnpm start\` (scripts/start.sh: \`bootstrap.sh --local-run\`, then every service, the gateway and nats-server, demo data) as a child process; ` +
      `the clock runs from the spawn. ${hadData ? "`.data/` existed before the first start (a restart of an existing local run)" : "`.data/` did not exist before the first start (a first run)"}; later starts reuse it. Median (min–max).`,
    "",
    "| milestone | seconds after spawn |",
    "|---|---:|",
    `| demo customer can log in | ${fmtSpread(spread(samples.map((s) => s.loginS)), 1)} |`,
    `| "Mercato is up" printed | ${fmtSpread(spread(samples.map((s) => s.upS)), 1)} |`,
    `| **first order confirmed** | **${fmtSpread(confirmed, 1)}** |`,
    "",
    "RSS of the `pnpm start` system idle, once it printed that it is up (after seeding) and the first order is through (median of 3 samples; with the database `pnpm start` uses by default):",
    "",
    "| process | idle MiB |",
    "|---|---:|",
    ...names.map((n) => `| ${n} | ${mib(spread(samples.map((s) => s.idleRss[n] ?? 0)).median)} |`),
    `| **services + gateway** | **${mib(idleApps.median)}** |`,
  ].join("\n");
  return {
    id: "startup",
    title: "6. Start-up: `pnpm start` to the first confirmed order",
    targets: [
      atMost(
        `\`pnpm start\` → first confirmed order ≤ ${targetS} s (warm install)`,
        confirmed.median,
        targetS,
        " s",
        1,
      ),
      atMost(
        `\`pnpm start\` system idle, services + gateway ≤ ${idleTargetMiB} MiB`,
        idleApps.median / MiB,
        idleTargetMiB,
        " MiB",
        0,
      ),
    ],
    markdown: `${markdown}\n\nFigures: ${fmt(samples.length)} start(s).`,
    data: { samples, hadData },
  };
}

/** The start-up benchmark. */
export const startupBenchmark: Benchmark = { id: "startup", usesSystem: false, run };
