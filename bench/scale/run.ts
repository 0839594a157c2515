/**
 * Scale-out benchmark (issue 11): orders per second with 1 order replica and with 3, everything else
 * the same (one replica of every other service and of the gateway), on a throwaway PostgreSQL and
 * nats-server started for each run.
 *
 *   node --import tsx bench/scale/run.ts [--seconds 20] [--concurrency 16]
 *
 * Each configuration: customers place orders back to back through the edge (closed loop) for the
 * window; the rate is the sagas that finished inside the window, counted in order's own database
 * (so it measures orders carried all the way through reserve, authorize, confirm, commit and
 * capture, not just accepted). Writes bench/reports/scale-<date>.md. On a 2-core machine the CPU is
 * shared by every process, so the point is that 3 replicas do not collapse, not that they triple it.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { databaseUrlOn, repoRoot, startPostgres, startSystem, withDatabase } from "@mercato/testing/servers";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "20" }, concurrency: { type: "string", default: "16" } },
});
const windowSeconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const admin = { email: "admin@bench.local", password: "bench-admin-password" };
const say = (text: string) => process.stdout.write(`${text}\n`);

interface RunResult {
  readonly orderReplicas: number;
  readonly ordersPerSecond: number;
  /** Sagas that compensated (order cancelled) during the window. */
  readonly compensated: number;
  /** Why they compensated, with counts. */
  readonly reasons: string;
  readonly accepted: number;
  readonly failedCalls: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function post(url: string, body: unknown, token?: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** {@link post}, failing the run unless the answer is 200. */
async function must(url: string, body: unknown, token?: string) {
  const answer = await post(url, body, token);
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function measure(orderReplicas: number): Promise<RunResult> {
  const pg = await startPostgres();
  const dataDir = mkdtempSync(join(tmpdir(), "mercato-bench-scale-"));
  const prefix = `scale${orderReplicas}`;
  const system = await startSystem({
    databaseUrl: pg.url,
    databasePrefix: prefix,
    dataDir,
    replicas: { order: orderReplicas },
    readyTimeoutMs: 120_000,
    env: { LOG_LEVEL: "warn", IDENTITY_ADMIN_EMAIL: admin.email, IDENTITY_ADMIN_PASSWORD: admin.password },
    serviceEnv: {
      gateway: { RATE_LIMIT_ENABLED: "false" },
    },
  });
  try {
    const edge = (path: string) => `${system.gatewayUrl}/mercato.${path}`;
    const adminToken = (await must(edge("identity.v1.IdentityService/Login"), admin)).body.accessToken;
    const sku = `SCALE-${randomUUID().slice(0, 8).toUpperCase()}`;
    const product = await must(
      edge("catalog.v1.CatalogService/CreateProduct"),
      { sku, name: "Scale beans", price: { currencyCode: "EUR", amountMinor: "990" } },
      adminToken,
    );
    await must(edge("inventory.v1.InventoryService/SetStock"), { sku, onHand: 1_000_000 }, adminToken);
    const tokens: string[] = [];
    for (let i = 0; i < concurrency; i++) {
      const email = `scale-${i}-${randomUUID().slice(0, 8)}@bench.local`;
      const password = "a long enough secret";
      await must(edge("identity.v1.IdentityService/Register"), { email, password, name: `Bench ${i}` });
      tokens.push(
        (await must(edge("identity.v1.IdentityService/Login"), { email, password })).body.accessToken,
      );
    }
    const order = (token: string) =>
      post(
        edge("order.v1.OrderService/PlaceOrder"),
        {
          idempotencyKey: randomUUID(),
          lines: [{ productId: product.body.product.id, quantity: 1 }],
          paymentToken: "tok_visa",
          shippingAddress: {
            name: "B",
            line1: "1 Way",
            city: "Porto",
            postalCode: "4000",
            countryCode: "PT",
          },
        },
        token,
      );
    // Warm-up: every replica's channels and JIT.
    await Promise.all(tokens.map((token) => order(token)));

    const orderDb = databaseUrlOn(pg.url, `${prefix}_order`);
    /** Sagas completed (state 2) and compensated (state 4) so far. */
    const finished = () =>
      withDatabase(orderDb, async (sql) => {
        const [row] = await sql<{ done: number; undone: number }[]>`
          select count(*) filter (where state = 2)::int as done,
                 count(*) filter (where state = 4)::int as undone from sagas`;
        return { done: row?.done ?? 0, undone: row?.undone ?? 0 };
      });
    const latencies: number[] = [];
    let failedCalls = 0;
    const before = await finished();
    const end = Date.now() + windowSeconds * 1000;
    await Promise.all(
      tokens.map(async (token) => {
        while (Date.now() < end) {
          const started = performance.now();
          const answer = await order(token).catch(() => ({ status: 0 }));
          if (answer.status === 200) latencies.push(performance.now() - started);
          else failedCalls++;
        }
      }),
    );
    const after = await finished();
    const states = await withDatabase(
      orderDb,
      (sql) => sql<{ state: number; step: number; n: number }[]>`
        select state, step, count(*)::int as n from sagas group by 1, 2 order by 1, 2`,
    );
    say(`  sagas by state/step at the end of the window: ${JSON.stringify(states)}`);
    const reasons = await withDatabase(
      orderDb,
      (sql) => sql<{ reason: string; n: number }[]>`
        select left(reason, 160) as reason, count(*)::int as n from sagas where reason <> '' group by 1`,
    );
    const reasonText = reasons.map((r) => `${r.n} × ${r.reason}`).join("; ");
    if (reasons.length > 0) say(`  compensation reasons: ${reasonText}`);
    latencies.sort((a, b) => a - b);
    return {
      orderReplicas,
      ordersPerSecond: (after.done - before.done) / windowSeconds,
      compensated: after.undone - before.undone,
      reasons: reasonText,
      accepted: latencies.length,
      failedCalls,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
    };
  } finally {
    await system.stop();
    await pg.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const loadAtStart = loadavg()[0] ?? 0;
const results: RunResult[] = [];
for (const replicas of [1, 3]) {
  say(`order ×${replicas}: ${windowSeconds} s closed loop at ${concurrency} customers …`);
  const result = await measure(replicas);
  say(`  ${result.ordersPerSecond.toFixed(1)} orders/s completed, p50 ${result.p50Ms.toFixed(0)} ms`);
  results.push(result);
}

const date = new Date().toISOString().slice(0, 10);
const [one, three] = results as [RunResult, RunResult];
const report = `# Scale-out: orders/s with 1 vs 3 order replicas (${date})

Machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, load average
${loadAtStart.toFixed(1)} when the run started (other work shares the machine). Every other
service and the gateway run once; PostgreSQL and nats-server are local. Closed loop: ${concurrency}
customers place orders back to back through the edge for ${windowSeconds} s; the rate counts sagas
completed (reserve → authorize → confirm → commit → capture) in order's database during the window.
Command: \`node --import tsx bench/scale/run.ts --seconds ${windowSeconds} --concurrency ${concurrency}\`.

| order replicas | orders/s completed | compensated in the window | PlaceOrder answered | failed calls | PlaceOrder p50 | p99 |
| --- | --- | --- | --- | --- | --- | --- |
${results
  .map(
    (r) =>
      `| ${r.orderReplicas} | ${r.ordersPerSecond.toFixed(1)} | ${r.compensated} | ${r.accepted} | ${r.failedCalls} | ` +
      `${r.p50Ms.toFixed(0)} ms | ${r.p99Ms.toFixed(0)} ms |`,
  )
  .join("\n")}
${results
  .filter((r) => r.reasons !== "")
  .map((r) => `\nWhy sagas compensated with ${r.orderReplicas} order replica(s): ${r.reasons}.`)
  .join("")}

3 replicas vs 1: ×${(three.ordersPerSecond / Math.max(one.ordersPerSecond, 1e-9)).toFixed(2)}. All processes
share the same ${cpus().length} cores, so extra replicas add scheduling and connection overhead and
cannot add CPU; the result shows whether the saga's leases and the shared claims cost throughput (they
should not collapse it). On separate nodes each replica brings its own CPU.
`;
const reports = join(repoRoot(), "bench/reports");
mkdirSync(reports, { recursive: true });
writeFileSync(join(reports, `scale-${date}.md`), report);
say(report);
