/**
 * A supervised system (`pnpm start`'s way): a service killed with SIGKILL comes back by itself and its
 * unfinished sagas resume, so every order placed before the crash ends terminal; while it is down the
 * edge answers its routes UNAVAILABLE and stays ready (the decided semantics: the edge's /readyz is
 * about the edge, not its upstreams); a service that keeps crashing is given up on and reported, and
 * the rest keeps working.
 */
import { withDatabase } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "./harness.js";
import { createProduct, newCustomer, paths, placeOrder, waitForStatus } from "./shop-helpers.js";

/** Short leases so a killed driver's sagas are taken over quickly. */
const SAGA_LEASE_MS = 2_000;
/** Long enough to look at the system while order is down. */
const FIRST_RESTART_DELAY_MS = 3_000;

let e2e: E2eSystem;
let adminToken: string;
const events: string[] = [];
const restarted = (name: string) => events.filter((e) => e === `restarted ${name}`).length;

beforeAll(async () => {
  e2e = await startE2eSystem({
    name: "supervised",
    serviceEnv: { order: { SAGA_LEASE_MS: String(SAGA_LEASE_MS) } },
    supervise: {
      initialDelayMs: FIRST_RESTART_DELAY_MS,
      maxDelayMs: FIRST_RESTART_DELAY_MS,
      maxCrashes: 3,
      windowMs: 120_000,
    },
    supervisorHooks: {
      onRestarting: (name) => events.push(`restarting ${name}`),
      onRestarted: (name) => events.push(`restarted ${name}`),
      onGiveUp: (name) => events.push(`gave up ${name}`),
    },
  });
  adminToken = await e2e.login(admin.email, admin.password);
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
});

async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${events.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const gatewayReady = async () =>
  (await fetch(`http://127.0.0.1:${e2e.system.replicasOf("gateway")[0]!.adminPort}/readyz`)).status;

describe("a supervised system", () => {
  it("restarts order after kill -9; its sagas left RUNNING resume and every order ends confirmed", async () => {
    const product = await createProduct(e2e, adminToken, 1500, 50);
    const customer = await newCustomer(e2e);
    // Payment frozen: every saga stops at its authorize step, RUNNING, when order is killed.
    const payment = e2e.system.processes.get("payment")!.process;
    payment.pause();
    const orderIds: string[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const placed = await placeOrder(
          e2e,
          customer.token,
          [{ productId: product.id, quantity: 1 }],
          "tok_visa",
        );
        expect(placed.status, JSON.stringify(placed.body)).toBe(200);
        orderIds.push(placed.body.order.id);
      }
      const running = async () =>
        withDatabase(e2e.databaseUrl("order"), async (sql) => {
          const [row] = await sql<{ n: number }[]>`select count(*)::int as n from sagas where state = 1`;
          return row!.n;
        });
      await until(async () => (await running()) === orderIds.length, 30_000, "sagas to be running");

      const order = e2e.system.processes.get("order")!;
      await order.process.kill("SIGKILL");
      expect(await running()).toBe(orderIds.length);

      // Down: the edge answers order's routes 503 and stays ready itself.
      const down = await e2e.call(`${paths.order}/GetOrder`, { orderId: orderIds[0] }, customer.token);
      expect(down.status).toBe(503);
      expect(down.body.code).toBe("unavailable");
      expect(await gatewayReady()).toBe(200);
      expect(events).toContain("restarting order");
    } finally {
      payment.resume();
    }

    await until(() => restarted("order") === 1, 90_000, "order to come back");
    expect(e2e.system.processes.get("order")!.process.running).toBe(true);
    for (const orderId of orderIds) {
      await waitForStatus(e2e, customer.token, orderId, ["ORDER_STATUS_CONFIRMED"], 90_000);
    }
  }, 240_000);

  it("gives up on a process that keeps crashing, reports it, and the rest keeps serving", async () => {
    const before = events.filter((e) => e === "gave up shipping").length;
    for (let crash = 1; crash <= 3; crash++) {
      const shipping = e2e.system.processes.get("shipping")!;
      await shipping.process.kill("SIGKILL");
      if (crash < 3) await until(() => restarted("shipping") === crash, 90_000, `shipping restart ${crash}`);
    }
    await until(
      () => events.filter((e) => e === "gave up shipping").length === before + 1,
      30_000,
      "give-up",
    );
    // Left stopped: no further restart comes.
    await new Promise((resolve) => setTimeout(resolve, FIRST_RESTART_DELAY_MS + 1_000));
    expect(e2e.system.processes.get("shipping")!.process.running).toBe(false);
    expect(restarted("shipping")).toBe(2);

    // Everything else works: the catalog answers, and an order still completes (shipping reacts to
    // events later; it is not on the order's path).
    const listed = await e2e.call(`${paths.catalog}/ListProducts`, { pageSize: 1 });
    expect(listed.status).toBe(200);
    const product = await createProduct(e2e, adminToken, 900, 5);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 1 }],
      "tok_visa",
    );
    expect(placed.status).toBe(200);
    await waitForStatus(e2e, customer.token, placed.body.order.id, ["ORDER_STATUS_CONFIRMED"], 60_000);
    expect(await gatewayReady()).toBe(200);
  }, 240_000);
});
