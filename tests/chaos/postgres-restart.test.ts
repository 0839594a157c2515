/**
 * Transient database failures are UNAVAILABLE, never INTERNAL, at every service: the whole system runs
 * on a PostgreSQL server of its own, which is restarted (fast shutdown, then started again on the same
 * data) while customers place orders and read through the edge. No client sees `internal`, no service
 * answers any call (the edge's or another service's) with INTERNAL, clients that retry with the same
 * idempotency key get every order placed, and every order ends terminal.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  type PostgresServer,
  type RunningSystem,
  startPostgres,
  startSystem,
} from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin } from "../e2e/harness.js";
import { address, paths } from "../e2e/shop-helpers.js";

/** Orders each customer places, one after the other. */
const ORDERS_PER_CUSTOMER = 12;
const CUSTOMERS = 4;
/** How long PostgreSQL stays down. */
const DOWN_MS = 3_000;

let dir: string;
let pgPort: number;
let postgres: PostgresServer;
let system: RunningSystem;
let url: string;

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
type Json = any;
const codes = new Map<string, number>();

async function call(path: string, body: unknown, token?: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : undefined;
  const code = response.status === 200 ? "ok" : String(parsed?.code ?? response.status);
  codes.set(code, (codes.get(code) ?? 0) + 1);
  return { status: response.status, body: parsed };
}

/** Calls until 200, retrying (same body: same idempotency key) after any retryable answer. */
async function untilOk(path: string, body: unknown, token?: string): Promise<Json> {
  const deadline = Date.now() + 90_000;
  for (let attempt = 0; ; attempt++) {
    const answer = await call(path, body, token).catch(() => ({ status: 0, body: undefined }));
    if (answer.status === 200) return answer.body;
    if (![0, 409, 429, 503, 504].includes(answer.status) || Date.now() > deadline) {
      throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
  }
}

/** Sum of `mercato_rpc_server_duration_seconds_count` with code INTERNAL over every process. */
async function internalAnswers(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, process] of system.processes) {
    const text = await (await fetch(`http://127.0.0.1:${process.adminPort}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (
        line.startsWith("mercato_rpc_server_duration_seconds_count{") &&
        /code="(INTERNAL|UNKNOWN)"/.test(line)
      ) {
        sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    out[name] = sum;
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mercato-pg-restart-"));
  // PostgreSQL runs as its own user when the tests run as root: it must reach the data folder inside.
  chmodSync(dir, 0o755);
  pgPort = await freePort();
  postgres = await startPostgres({ dataDir: join(dir, "postgres"), port: pgPort });
  system = await startSystem({
    databaseUrl: postgres.url,
    databasePrefix: "pgrestart",
    dataDir: dir,
    env: { LOG_LEVEL: "warn", IDENTITY_ADMIN_EMAIL: admin.email, IDENTITY_ADMIN_PASSWORD: admin.password },
    serviceEnv: {
      gateway: {
        RATE_LIMIT_STRICT: "10000/1m",
        RATE_LIMIT_DEFAULT: "100000/1m",
        RATE_LIMIT_LOOSE: "100000/1m",
      },
    },
    readyTimeoutMs: 60_000,
  });
  url = system.gatewayUrl!;
}, 180_000);

afterAll(async () => {
  if (process.env.DEBUG_PG) {
    for (const [name, p] of system?.processes ?? []) {
      const lines = p.process
        .output()
        .split("\n")
        .map((l) => l.slice(0, 400));
      console.log(`== ${name} running=${p.process.running}\n${lines.slice(-40).join("\n")}`);
    }
  }
  await system?.stop();
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a PostgreSQL restart under load", () => {
  it("answers unavailable (never internal) meanwhile, and every order is placed and ends terminal", async () => {
    const adminToken = (await untilOk(`${paths.identity}/Login`, admin)).accessToken as string;
    const sku = `PG-${randomUUID().slice(0, 8).toUpperCase()}`;
    const product = await untilOk(
      `${paths.catalog}/CreateProduct`,
      { sku, name: "Restart mug", price: { currencyCode: "EUR", amountMinor: "1200" } },
      adminToken,
    );
    await untilOk(`${paths.inventory}/SetStock`, { sku, onHand: 10_000 }, adminToken);
    const customers: string[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const email = `pg-${randomUUID()}@example.com`;
      await untilOk(`${paths.identity}/Register`, { email, password: "a long enough secret", name: "PG" });
      customers.push(
        (await untilOk(`${paths.identity}/Login`, { email, password: "a long enough secret" })).accessToken,
      );
    }
    const baseline = await internalAnswers();
    codes.clear();

    const orders: { id: string; token: string }[] = [];
    const shopper = async (token: string) => {
      for (let i = 0; i < ORDERS_PER_CUSTOMER; i++) {
        const placed = await untilOk(
          `${paths.order}/PlaceOrder`,
          {
            idempotencyKey: randomUUID(),
            paymentToken: "tok_visa",
            lines: [{ productId: product.product.id, quantity: 1 }],
            shippingAddress: address,
          },
          token,
        );
        orders.push({ id: placed.order.id, token });
        await call(`${paths.order}/GetOrder`, { orderId: placed.order.id }, token).catch(() => undefined);
        await call(`${paths.catalog}/ListProducts`, { pageSize: 5 }).catch(() => undefined);
      }
    };
    const restart = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await postgres.stop();
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      postgres = await startPostgres({ dataDir: join(dir, "postgres"), port: pgPort });
    };
    await Promise.all([...customers.map(shopper), restart()]);

    // Every order reaches a terminal state.
    const deadline = Date.now() + 120_000;
    for (const order of orders) {
      for (;;) {
        const answer = await call(`${paths.order}/GetOrder`, { orderId: order.id }, order.token).catch(
          () => undefined,
        );
        const status = answer?.body?.order?.status;
        if (status === "ORDER_STATUS_CONFIRMED" || status === "ORDER_STATUS_CANCELLED") break;
        if (Date.now() > deadline) throw new Error(`order ${order.id} stuck at ${status}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }

    const summary = Object.fromEntries(codes);
    console.log(`answers during the run: ${JSON.stringify(summary)}`);
    expect(orders).toHaveLength(CUSTOMERS * ORDERS_PER_CUSTOMER);
    // The restart was felt (some calls failed), and none of them as internal or unknown.
    expect((codes.get("unavailable") ?? 0) + (codes.get("deadline_exceeded") ?? 0)).toBeGreaterThan(0);
    expect(codes.get("internal") ?? 0).toBe(0);
    expect(codes.get("unknown") ?? 0).toBe(0);
    // Every failure is one a client retries: no crash (canceled), no bug (internal).
    const failures = [...codes.keys()].filter((code) => code !== "ok");
    expect(
      failures.filter((code) => !["unavailable", "deadline_exceeded", "aborted"].includes(code)),
    ).toEqual([]);
    // Nothing crashed on the way (a service that dies answers nothing, not even internal).
    const down = [...system.processes].filter(([, p]) => !p.process.running);
    expect(
      down.map(([name, p]) => `${name}: ${p.process.output().slice(-1500)}`),
      "processes that exited",
    ).toEqual([]);
    const after = await internalAnswers();
    const added = Object.fromEntries(
      Object.entries(after).map(([name, n]) => [name, n - (baseline[name] ?? 0)]),
    );
    expect(added).toEqual(Object.fromEntries(Object.keys(after).map((name) => [name, 0])));
  }, 360_000);
});
