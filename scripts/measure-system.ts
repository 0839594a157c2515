/**
 * Measures the whole local system the way a developer meets it (issue #10, memory and start-up):
 * runs `pnpm start`, times it to "up" and to the first confirmed order placed through the gateway,
 * samples the resident memory (RSS, and PSS, which splits shared pages among the processes sharing
 * them) of every process it started while idle and under a PlaceOrder load, then stops it with Ctrl-C
 * (SIGINT). Prints the start-up milestones and a Markdown table.
 *
 *   node --import tsx scripts/measure-system.ts [--load-seconds 20] [--concurrency 8]
 *
 * It uses the fixed local ports of `pnpm start` (8080, 4222, 50051–50057), so nothing else may be
 * running a local system at the same time.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { orderV1 } from "@mercato/sdk";
import { createMercatoClient, type MercatoClient } from "@mercato/sdk/connect";
import { repoRoot } from "@mercato/testing/servers";

const { values: args } = parseArgs({
  options: {
    "load-seconds": { type: "string", default: "20" },
    concurrency: { type: "string", default: "8" },
    "idle-seconds": { type: "string", default: "10" },
  },
});
const loadSeconds = Number(args["load-seconds"]);
const concurrency = Number(args.concurrency);
const idleSeconds = Number(args["idle-seconds"]);
const gatewayUrl = "http://127.0.0.1:8080";
const adminPassword = process.env.MERCATO_DEMO_ADMIN_PASSWORD || "mercato-admin";
const root = repoRoot();

interface Sample {
  readonly pid: number;
  readonly name: string;
  /** Resident set, anonymous part (heaps, native allocations) and file-backed part (code, mapped files), KiB. */
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  /** Proportional set size, KiB: shared pages (the node binary, PostgreSQL's buffers) split among their users. */
  readonly pss: number;
}

/** A short name for a process of the system, from its command line. */
function nameOf(cmdline: string): string {
  const service = /services\/([a-z]+)\//.exec(cmdline);
  if (service) return service[1]!;
  if (/gateway\//.test(cmdline)) return "gateway";
  if (cmdline.includes("nats-server")) return "nats-server";
  if (/(^|\/)postgres[: ]/.test(cmdline)) return "postgres";
  // The runner, and the watchdog shell (and its sleep) that @mercato/testing leaves beside it.
  if (cmdline.includes("scripts/start") || /^(sh|sleep) /.test(cmdline)) return "start (runner)";
  return cmdline.split(/\s/)[0] ?? "?";
}

function statusKiB(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
}

/** Every descendant of `rootPid` with its memory. */
function sampleTree(rootPid: number): Sample[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, depth = 0; p > 1 && depth < 20; p = parent.get(p) ?? 0, depth++)
      if (p === rootPid) return true;
    return false;
  };
  const samples: Sample[] = [];
  for (const pid of parent.keys()) {
    if (pid === rootPid || !inTree(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      if (cmdline.startsWith("bash") || cmdline.includes("/pnpm")) continue;
      samples.push({
        pid,
        name: nameOf(cmdline),
        rss: statusKiB(status, "VmRSS"),
        anon: statusKiB(status, "RssAnon"),
        file: statusKiB(status, "RssFile") + statusKiB(status, "RssShmem"),
        pss: statusKiB(rollup, "Pss"),
      });
    } catch {
      // The process ended while we looked.
    }
  }
  return samples;
}

/** The Node processes the targets count: every service and the gateway. */
const isApp = (s: Sample): boolean => !["nats-server", "postgres", "start (runner)"].includes(s.name);
const mib = (kib: number): string => (kib / 1024).toFixed(0);
const sum = (samples: readonly Sample[], pick: (s: Sample) => number): number =>
  samples.reduce((total, s) => total + pick(s), 0);

interface Group {
  rss: number;
  anon: number;
  file: number;
  pss: number;
  n: number;
}

function byName(samples: readonly Sample[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const s of samples) {
    const g = groups.get(s.name) ?? { rss: 0, anon: 0, file: 0, pss: 0, n: 0 };
    groups.set(s.name, {
      rss: g.rss + s.rss,
      anon: g.anon + s.anon,
      file: g.file + s.file,
      pss: g.pss + s.pss,
      n: g.n + 1,
    });
  }
  return groups;
}

async function placeAndConfirm(client: MercatoClient, productId: string, key: string): Promise<string> {
  const { order } = await client.order.placeOrder({
    idempotencyKey: key,
    paymentToken: "tok_visa",
    lines: [{ productId, quantity: 1 }],
    shippingAddress: {
      name: "Ada",
      line1: "1 Main St",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  });
  let status = order!.status;
  for (let i = 0; i < 600 && status === orderV1.OrderStatus.PENDING; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    status = (await client.order.getOrder({ orderId: order!.id })).order!.status;
  }
  return orderV1.OrderStatus[status];
}

async function login(email: string, password: string): Promise<MercatoClient> {
  const anonymous = createMercatoClient(gatewayUrl);
  const { accessToken } = await anonymous.identity.login({ email, password });
  return createMercatoClient(gatewayUrl, { token: accessToken });
}

const startedAt = performance.now();
const child = spawn("pnpm", ["start"], { cwd: root, stdio: ["ignore", "pipe", "inherit"], detached: true });
/** When each start-up milestone of `pnpm start`'s console appeared, in seconds since the command. */
const milestones: string[] = [];
const upAfter = await new Promise<number>((resolve, reject) => {
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    for (const line of chunk.toString().split("\n")) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the console's colours
      const plain = line.replace(/\x1b\[[0-9;]*m/g, "").trim();
      if (/^(✓|bootstrap|web|database|Mercato)/.test(plain))
        milestones.push(`${seconds.padStart(5)} s  ${plain}`);
    }
    output += chunk.toString();
    if (output.includes("Mercato is up")) resolve(performance.now() - startedAt);
  });
  child.once("exit", (code) => reject(new Error(`pnpm start exited with ${code}:\n${output.slice(-3000)}`)));
});
child.stdout.resume();

const customer = await login("customer@mercato.local", "mercato-customer");
const { products } = await customer.catalog.listProducts({ pageSize: 10 });
const firstStatus = await placeAndConfirm(customer, products[0]!.id, `measure-first-${Date.now()}`);
const firstOrderAfter = performance.now() - startedAt;

// Plenty of stock so the load confirms orders instead of running out.
const admin = await login("admin@mercato.local", adminPassword);
for (const product of products) await admin.inventory.setStock({ sku: product.sku, onHand: 1_000_000 });

await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
const idle = sampleTree(child.pid!);

const customers: MercatoClient[] = [];
for (let i = 0; i < concurrency; i++) {
  const email = `measure-${i}@mercato.local`;
  try {
    await createMercatoClient(gatewayUrl).identity.register({
      email,
      password: "measure-password",
      name: "M",
    });
  } catch (error) {
    if (!(error instanceof ConnectError && error.code === Code.AlreadyExists)) throw error;
  }
  customers.push(await login(email, "measure-password"));
}
const outcomes = new Map<string, number>();
const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
let peak: Sample[] = [];
const sampler = setInterval(() => {
  const now = sampleTree(child.pid!);
  if (sum(now.filter(isApp), (s) => s.rss) > sum(peak.filter(isApp), (s) => s.rss)) peak = now;
}, 500);
const loadEnds = performance.now() + loadSeconds * 1000;
await Promise.all(
  customers.map(async (client, worker) => {
    for (let n = 0; performance.now() < loadEnds; n++) {
      try {
        const product = products[n % products.length]!;
        count(await placeAndConfirm(client, product.id, `measure-${Date.now()}-${worker}-${n}`));
        await client.catalog.listProducts({ pageSize: 10 });
      } catch (error) {
        count(error instanceof ConnectError ? Code[error.code] : String(error));
      }
    }
  }),
);
clearInterval(sampler);
const afterLoad = sampleTree(child.pid!);

process.kill(-child.pid!, "SIGINT");
await new Promise((resolve) => child.once("exit", resolve));

const rows: string[] = [];
rows.push("| process | idle RSS MiB (anon / file) | idle PSS MiB | peak-load RSS MiB | after load MiB |");
rows.push("|---|---|---|---|---|");
const idleGroups = byName(idle);
const peakGroups = byName(peak);
const afterGroups = byName(afterLoad);
for (const [name, g] of [...idleGroups].sort((a, b) => a[0].localeCompare(b[0]))) {
  const label = g.n > 1 ? `${name} (${g.n} processes)` : name;
  rows.push(
    `| ${label} | ${mib(g.rss)} (${mib(g.anon)} / ${mib(g.file)}) | ${mib(g.pss)} | ${mib(peakGroups.get(name)?.rss ?? 0)} | ${mib(afterGroups.get(name)?.rss ?? 0)} |`,
  );
}
const total = (samples: readonly Sample[], pick: (s: Sample) => number = (s) => s.rss) =>
  mib(sum(samples.filter(isApp), pick));
const pss = (s: Sample) => s.pss;
rows.push(
  `| **services + gateway** | **${total(idle)}** | **${total(idle, pss)}** | **${total(peak)}** | **${total(afterLoad)}** |`,
);
rows.push(
  `| everything started | ${mib(sum(idle, (s) => s.rss))} | ${mib(sum(idle, pss))} | ${mib(sum(peak, (s) => s.rss))} | ${mib(sum(afterLoad, (s) => s.rss))} |`,
);
console.log(`
${milestones.join("\n")}

pnpm start → "Mercato is up": ${(upAfter / 1000).toFixed(1)} s
pnpm start → first order ${firstStatus}: ${(firstOrderAfter / 1000).toFixed(1)} s
load: ${concurrency} customers placing orders for ${loadSeconds} s: ${JSON.stringify(Object.fromEntries(outcomes))}

${rows.join("\n")}
`);
process.exit(0);
