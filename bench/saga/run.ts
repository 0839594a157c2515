/**
 * Saga throughput: orders per second through the edge at several concurrencies, write transactions
 * per order, and pgbench's single-row-insert rate on the same PostgreSQL server at the same
 * concurrency, in the same run. Target (issue 4): orders/s × commits per order ≥ 0.5 × pgbench TPS.
 *
 *   pnpm bench:saga            # concurrencies 4, 8, 16; 20 s each
 *   pnpm bench:saga --quick    # concurrency 8; 5 s
 *
 * Commits per order counts transactions that wrote (PostgreSQL's transaction-id counter advances only
 * for those) across every service database, background work (outbox relays, consumers) included.
 * The throwaway server runs with fsync off, for the saga and for pgbench alike.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresBinDir, startPostgres, startSystem } from "@mercato/testing/servers";
import postgres from "postgres";

const quick = process.argv.includes("--quick");
const concurrencies = quick ? [8] : [4, 8, 16];
const seconds = quick ? 5 : 20;
const admin = { email: "admin@bench.local", password: "bench-admin-password" };

const pg = await startPostgres();
const dataDir = mkdtempSync(join(tmpdir(), "mercato-bench-"));
const system = await startSystem({
  databaseUrl: pg.url,
  databasePrefix: "bench",
  dataDir,
  env: {
    LOG_LEVEL: "warn",
    IDENTITY_ADMIN_EMAIL: admin.email,
    IDENTITY_ADMIN_PASSWORD: admin.password,
    RATE_LIMIT_STRICT: "100000/1m",
    RATE_LIMIT_DEFAULT: "1000000/1m",
    RATE_LIMIT_LOOSE: "1000000/1m",
  },
  readyTimeoutMs: 120_000,
});
const url = system.gatewayUrl!;

// biome-ignore lint/suspicious/noExplicitAny: JSON responses
async function call(path: string, body: unknown, token?: string): Promise<any> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${JSON.stringify(json)}`);
  return json;
}

async function login(email: string, password: string): Promise<string> {
  return (await call("/mercato.identity.v1.IdentityService/Login", { email, password })).accessToken;
}

const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
async function xid(): Promise<bigint> {
  const [row] = await sql`select txid_current()::text as id`;
  return BigInt(row!.id as string);
}

const results: string[] = [];
try {
  const adminToken = await login(admin.email, admin.password);
  const sku = "BENCH-1";
  const product = await call(
    "/mercato.catalog.v1.CatalogService/CreateProduct",
    { sku, name: "Bench item", price: { currencyCode: "EUR", amountMinor: "100" } },
    adminToken,
  );
  await call("/mercato.inventory.v1.InventoryService/SetStock", { sku, onHand: 10_000_000 }, adminToken);
  const customers: string[] = [];
  for (let i = 0; i < Math.max(...concurrencies); i++) {
    const email = `bench-${i}-${randomUUID()}@example.com`;
    await call("/mercato.identity.v1.IdentityService/Register", {
      email,
      password: "a long enough secret",
      name: "B",
    });
    customers.push(await login(email, "a long enough secret"));
  }
  const address = { name: "B", line1: "1 Main St", city: "Berlin", postalCode: "10115", countryCode: "DE" };

  async function orderOnce(token: string): Promise<boolean> {
    const placed = await call(
      "/mercato.order.v1.OrderService/PlaceOrder",
      {
        idempotencyKey: randomUUID(),
        lines: [{ productId: product.product.id, quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: address,
      },
      token,
    );
    for (;;) {
      const { order } = await call(
        "/mercato.order.v1.OrderService/GetOrder",
        { orderId: placed.order.id },
        token,
      );
      if (order.status === "ORDER_STATUS_CONFIRMED") return true;
      if (order.status === "ORDER_STATUS_CANCELLED") return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // pgbench's table and script, on the same server.
  const bin = postgresBinDir();
  await sql.unsafe("create table if not exists bench_insert (id bigserial primary key, v text not null)");
  const script = join(dataDir, "insert.sql");
  writeFileSync(script, "insert into bench_insert (v) values ('x');\n");
  const pgUrl = new URL(pg.url);

  results.push(
    "| concurrency | orders/s | commits/order | orders/s × commits/order | pgbench TPS | ratio (target ≥ 0.5) |",
  );
  results.push("| --- | --- | --- | --- | --- | --- |");
  for (const concurrency of concurrencies) {
    await orderOnce(customers[0]!); // warm
    const before = await xid();
    const started = Date.now();
    let confirmed = 0;
    let cancelled = 0;
    await Promise.all(
      customers.slice(0, concurrency).map(async (token) => {
        while (Date.now() - started < seconds * 1000) {
          if (await orderOnce(token)) confirmed++;
          else cancelled++;
        }
      }),
    );
    const elapsed = (Date.now() - started) / 1000;
    // Let relays and consumers finish the work these orders caused before counting.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const commits = Number((await xid()) - before - 1n);
    const orders = confirmed + cancelled;
    const rate = confirmed / elapsed;
    const perOrder = commits / orders;
    const output = execFileSync(
      join(bin, "pgbench"),
      [
        "-h",
        "127.0.0.1",
        "-p",
        pgUrl.port,
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
        String(seconds),
        "postgres",
      ],
      { encoding: "utf8" },
    );
    const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
    const product = rate * perOrder;
    results.push(
      `| ${concurrency} | ${rate.toFixed(1)} | ${perOrder.toFixed(1)} | ${product.toFixed(0)} | ${tps.toFixed(0)} | ${(product / tps).toFixed(2)} |`,
    );
    console.log(results.at(-1), `(${confirmed} confirmed, ${cancelled} cancelled)`);
  }
} finally {
  await sql.end();
  await system.stop();
  await pg.stop();
}
console.log(`\nSaga benchmark (${seconds} s per step, ${new Date().toISOString()})\n`);
console.log(results.join("\n"));
