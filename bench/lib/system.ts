/**
 * The whole system for the system-level benchmarks (saga, events, memory, soak): every service and
 * the gateway started by `startSystem` (the launcher `pnpm start` uses) on a throwaway PostgreSQL
 * (fsync off) and nats-server, with a product in stock and customers logged in, plus the order load
 * they all use (PlaceOrder through the edge, closed loop or at a fixed rate).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type PostgresServer,
  type RunningSystem,
  type ServiceName,
  type SystemOptions,
  serviceNames,
  startPostgres,
  startSystem,
} from "@mercato/testing/servers";
import postgres from "postgres";
import { descendants } from "./proc.js";

/** One PlaceOrder call through the edge. */
export interface OrderCall {
  /** When the call started, ms since the load started. */
  readonly atMs: number;
  readonly ms: number;
  /** HTTP status (0 when the request itself failed). */
  readonly status: number;
  /** Error code or message, when not 200. */
  readonly error?: string;
}

/** A process of the running system, for memory and CPU accounting. */
export interface SystemPid {
  readonly name: string;
  readonly pid: number;
  /** services and the gateway (what the memory target covers), or infrastructure. */
  readonly kind: "app" | "infra";
}

/** The running system and its order load. */
export interface BenchSystem {
  readonly gatewayUrl: string;
  readonly running: RunningSystem;
  readonly pg: PostgresServer;
  /** How many customers (and so how many orders in flight at most in a closed loop). */
  readonly customerCount: number;
  /** A client of one service's database (one connection, cached). */
  sql(service: ServiceName): postgres.Sql;
  /** Places one order as customer `i`. */
  placeOrder(i: number, startedAt?: number): Promise<OrderCall>;
  /** `concurrency` customers place orders back to back for `seconds`. */
  closedLoop(concurrency: number, seconds: number): Promise<OrderCall[]>;
  /**
   * Orders started on a schedule at `rate` per second for `seconds` (open loop: a slow answer does not
   * delay the next call; at most `maxInFlight` in flight, beyond that a call is counted as "skipped").
   */
  openLoop(rate: number, seconds: number, maxInFlight?: number): Promise<OrderCall[]>;
  /** Unpublished outbox rows across every service, and sagas not yet finished. */
  unfinished(): Promise<{ outbox: number; sagas: number }>;
  /** Waits until nothing is unfinished; resolves with the milliseconds it took (or rejects after `timeoutMs`). */
  drained(timeoutMs: number): Promise<number>;
  /** Every process: services, gateway, PostgreSQL (with its backends), nats-server. */
  pids(): Promise<SystemPid[]>;
  stop(): Promise<void>;
}

const admin = { email: "admin@bench.local", password: "bench-admin-password" };
const customerPassword = "a long enough secret";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the system and prepares a product with plenty of stock and `customers` logged-in customers. */
export async function startBenchSystem(
  customers: number,
  log: (message: string) => void,
  options: { readonly replicas?: SystemOptions["replicas"] } = {},
): Promise<BenchSystem> {
  const pg = await startPostgres();
  const dataDir = await mkdtemp(join(tmpdir(), "mercato-bench-system-"));
  let running: RunningSystem;
  try {
    running = await startSystem({
      databaseUrl: pg.url,
      databasePrefix: "bench",
      dataDir,
      ...(options.replicas ? { replicas: options.replicas } : {}),
      env: {
        LOG_LEVEL: "warn",
        IDENTITY_ADMIN_EMAIL: admin.email,
        IDENTITY_ADMIN_PASSWORD: admin.password,
        // Loose budgets: the load comes from one address and a few users and must not be refused.
        RATE_LIMIT_STRICT: "100000/1m",
        RATE_LIMIT_DEFAULT: "10000000/1m",
        RATE_LIMIT_LOOSE: "10000000/1m",
      },
      readyTimeoutMs: 120_000,
    });
  } catch (error) {
    await pg.stop();
    throw error;
  }
  const gatewayUrl = running.gatewayUrl!;
  log(`system up at ${gatewayUrl}`);

  // biome-ignore lint/suspicious/noExplicitAny: JSON responses of the edge
  async function call(path: string, body: unknown, token?: string): Promise<any> {
    const response = await fetch(`${gatewayUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }
  const login = async (email: string, password: string): Promise<string> =>
    (await call("/mercato.identity.v1.IdentityService/Login", { email, password })).accessToken;

  const adminToken = await login(admin.email, admin.password);
  const sku = "BENCH-1";
  const created = await call(
    "/mercato.catalog.v1.CatalogService/CreateProduct",
    { sku, name: "Bench item", price: { currencyCode: "EUR", amountMinor: "100" } },
    adminToken,
  );
  const productId: string = created.product.id;
  await call("/mercato.inventory.v1.InventoryService/SetStock", { sku, onHand: 100_000_000 }, adminToken);
  const accounts: { email: string; token: string }[] = [];
  for (let i = 0; i < customers; i++) {
    const email = `bench-${i}-${randomUUID()}@example.com`;
    await call("/mercato.identity.v1.IdentityService/Register", {
      email,
      password: customerPassword,
      name: "B",
    });
    accounts.push({ email, token: await login(email, customerPassword) });
  }
  const address = { name: "B", line1: "1 Main St", city: "Berlin", postalCode: "10115", countryCode: "DE" };

  const clients = new Map<ServiceName, postgres.Sql>();
  const sql = (service: ServiceName): postgres.Sql => {
    let client = clients.get(service);
    if (!client) {
      const url = new URL(pg.url);
      url.pathname = `/bench_${service}`;
      client = postgres(url.toString(), { max: 1, onnotice: () => {} });
      clients.set(service, client);
    }
    return client;
  };

  const placeOrder = async (i: number, startedAt = performance.now()): Promise<OrderCall> => {
    const account = accounts[i % accounts.length]!;
    const t0 = performance.now();
    const attempt = () =>
      fetch(`${gatewayUrl}/mercato.order.v1.OrderService/PlaceOrder`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${account.token}` },
        body: JSON.stringify({
          idempotencyKey: randomUUID(),
          lines: [{ productId, quantity: 1 }],
          paymentToken: "tok_visa",
          shippingAddress: address,
        }),
      });
    try {
      let response = await attempt();
      if (response.status === 401) {
        // An access token expired during a long run: log in again, as a client would.
        await response.arrayBuffer();
        account.token = await login(account.email, customerPassword);
        response = await attempt();
      }
      const body = (await response.json()) as { code?: string; message?: string };
      return {
        atMs: t0 - startedAt,
        ms: performance.now() - t0,
        status: response.status,
        ...(response.ok ? {} : { error: `${response.status} ${body.code ?? ""}`.trim() }),
      };
    } catch (error) {
      return { atMs: t0 - startedAt, ms: performance.now() - t0, status: 0, error: (error as Error).message };
    }
  };

  const unfinished = async () => {
    let outbox = 0;
    for (const service of serviceNames) {
      const [row] = await sql(service)
        .unsafe("select count(*)::int as n from outbox where published_at is null")
        .catch(() => [{ n: 0 }]);
      outbox += Number(row?.n ?? 0);
    }
    const [sagas] = await sql("order").unsafe("select count(*)::int as n from sagas where state in (1, 3)");
    return { outbox, sagas: Number(sagas?.n ?? 0) };
  };

  return {
    gatewayUrl,
    running,
    pg,
    customerCount: customers,
    sql,
    placeOrder,
    async closedLoop(concurrency, seconds) {
      const started = performance.now();
      const calls: OrderCall[] = [];
      await Promise.all(
        Array.from({ length: concurrency }, async (_, i) => {
          while (performance.now() - started < seconds * 1000) calls.push(await placeOrder(i, started));
        }),
      );
      return calls;
    },
    async openLoop(rate, seconds, maxInFlight = 256) {
      const started = performance.now();
      const calls: OrderCall[] = [];
      const pending = new Set<Promise<void>>();
      const total = Math.round(rate * seconds);
      for (let n = 0; n < total; n++) {
        const due = started + (n * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        if (pending.size >= maxInFlight) {
          calls.push({
            atMs: performance.now() - started,
            ms: 0,
            status: 0,
            error: "skipped (too many in flight)",
          });
          continue;
        }
        const p: Promise<void> = placeOrder(n, started).then((c) => {
          calls.push(c);
          pending.delete(p);
        });
        pending.add(p);
      }
      await Promise.all(pending);
      return calls;
    },
    unfinished,
    async drained(timeoutMs) {
      const started = performance.now();
      for (;;) {
        const left = await unfinished();
        if (left.outbox === 0 && left.sagas === 0) return performance.now() - started;
        if (performance.now() - started > timeoutMs) {
          throw new Error(`still unfinished after ${timeoutMs} ms: ${JSON.stringify(left)}`);
        }
        await sleep(50);
      }
    },
    async pids() {
      const out: SystemPid[] = [];
      for (const [name, p] of running.processes) out.push({ name, pid: p.process.pid, kind: "app" });
      const postmaster = Number((await readFile(join(pg.dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
      for (const pid of await descendants(postmaster)) out.push({ name: "postgres", pid, kind: "infra" });
      if (running.nats) out.push({ name: "nats-server", pid: running.nats.pid, kind: "infra" });
      return out;
    },
    async stop() {
      for (const client of clients.values()) await client.end().catch(() => {});
      await running.stop();
      await pg.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
