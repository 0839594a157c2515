/**
 * Saga throughput: confirmed orders per second through the edge at several concurrencies (clients
 * place orders in a closed loop for the window; the rate is confirmed orders over the time until the
 * last saga of the window finished, read from the order database, so polling never adds load), write transactions
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

  async function placeOne(token: string): Promise<void> {
    await call(
      "/mercato.order.v1.OrderService/PlaceOrder",
      {
        idempotencyKey: randomUUID(),
        lines: [{ productId: product.product.id, quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: address,
      },
      token,
    );
  }
  const orderUrl = new URL(pg.url);
  orderUrl.pathname = "/bench_order";
  const orders = postgres(orderUrl.toString(), { max: 1, onnotice: () => {} });
  const count = async (where: string): Promise<number> =>
    Number((await orders.unsafe(`select count(*)::int as n from ${where}`))[0]!.n);
  async function drained(): Promise<void> {
    while ((await count("sagas where state in (1, 3)")) > 0) await new Promise((r) => setTimeout(r, 25));
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
    await placeOne(customers[0]!); // warm
    await drained();
    const confirmedBefore = await count("order_views where status = 2");
    const cancelledBefore = await count("order_views where status = 3");
    const before = await xid();
    const started = Date.now();
    await Promise.all(
      customers.slice(0, concurrency).map(async (token) => {
        while (Date.now() - started < seconds * 1000) await placeOne(token);
      }),
    );
    await drained();
    const elapsed = (Date.now() - started) / 1000;
    // Let relays and consumers finish the work these orders caused before counting commits.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const commits = Number((await xid()) - before - 1n);
    const confirmed = (await count("order_views where status = 2")) - confirmedBefore;
    const cancelled = (await count("order_views where status = 3")) - cancelledBefore;
    const rate = confirmed / elapsed;
    const perOrder = commits / (confirmed + cancelled);
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
  await orders.end();
} finally {
  await sql.end();
  await system.stop();
  await pg.stop();
}
console.log(`\nSaga benchmark (${seconds} s per step, ${new Date().toISOString()})\n`);
console.log(results.join("\n"));
