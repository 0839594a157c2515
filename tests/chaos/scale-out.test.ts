/**
 * Whole-system scale-out test (issue 11, item 4).
 *
 * Every service runs as several processes — order, payment and inventory 3 each, identity, catalog,
 * shipping, notification and the gateway 2 each (gateway replicas behind startSystem's local
 * balancer) — on the run's PostgreSQL with a nats-server of its own. Customers place at least
 * {@link MIN_ORDERS} orders through the edge while a chaos loop kill -9's one replica of a component
 * at random moments, every component in turn, and restarts it after a short random delay; never all
 * replicas of one component at once. A PlaceOrder that fails is retried with its idempotency key.
 *
 * After the chaos and the batch stop, within {@link RECOVERY_BUDGET_MS}:
 * - every order is terminal (order's database: CONFIRMED with its saga COMPLETED, or CANCELLED with
 *   it COMPENSATED);
 * - money (payment's database): at most one payment per order, each confirmed order's CAPTURED for its
 *   total, no capture key used twice, nothing captured or held for a cancelled order;
 * - stock: available + confirmed units = the starting stock for every SKU, nothing reserved, and
 *   inventory's committed reservations hold exactly the confirmed units;
 * - effects once, counted by event id: one OrderPlaced per order on the stream; one shipment per
 *   confirmed order (OrderConfirmed consumed by shipping's replicas) and none for a cancelled one;
 *   every notification delivery row's event reached the customer's webhook, and a repeat only where a
 *   notification replica was killed (a webhook can be re-sent only when its sender died mid-send);
 * - no saga was driven by two order replicas at once ({@link leaseViolations} over `saga_steps`).
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { protobufString, readStream, type SystemComponent, withDatabase } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { address, createProduct, newCustomer, paths } from "../e2e/shop-helpers.js";
import { retryableCodes, retryDelayMs } from "./retry.js";
import { leaseViolations, readStepLog, type StepRow } from "./saga-log.js";

const replicas: Record<SystemComponent, number> = {
  order: 3,
  payment: 3,
  inventory: 3,
  identity: 2,
  catalog: 2,
  shipping: 2,
  notification: 2,
  gateway: 2,
};
const components = Object.keys(replicas) as SystemComponent[];

const MIN_ORDERS = 500;
const CONCURRENCY = 10;
/** New orders per second, all clients together. */
const ORDER_RATE = 6;
/** kill -9's at least, spread over every component. */
const MIN_KILLS = 24;
/** Everything stops this long after the start whatever it reached (the test then fails on counts). */
const BATCH_LIMIT_MS = 4 * 60_000;
const SAGA_LEASE_MS = 5_000;
const RECOVERY_BUDGET_MS = 30_000;
const PLACE_ATTEMPTS = 40;

/** order.v1 enums as stored in order's tables. */
const ORDER_CONFIRMED = 2;
const ORDER_CANCELLED = 3;
const SAGA_COMPLETED = 2;
const SAGA_COMPENSATED = 4;

const between = (min: number, max: number) => min + Math.random() * (max - min);

interface Customer {
  readonly userId: string;
  readonly token: string;
}

let e2e: E2eSystem;
let receiver: Server;
let receiverUrl = "";
/** When each webhook delivery arrived (ms since the epoch), by Mercato-Event-Id. */
const webhookReceipts = new Map<string, number[]>();

/** PlaceOrder with one idempotency key, retried while it fails transiently; the order id or undefined. */
async function placeOrder(
  customer: Customer,
  lines: { productId: string; quantity: number }[],
  paymentToken: string,
  failures: Map<string, number>,
): Promise<string | undefined> {
  const body = { idempotencyKey: randomUUID(), lines, paymentToken, shippingAddress: address };
  for (let attempt = 1; attempt <= PLACE_ATTEMPTS; attempt++) {
    let reason: string;
    try {
      const response = await e2e.call(`${paths.order}/PlaceOrder`, body, customer.token);
      if (response.status === 200) return response.body.order.id as string;
      reason = `${response.status} ${response.body?.code}`;
      if (!retryableCodes.has(response.body?.code)) {
        failures.set(`rejected: ${reason}`, (failures.get(`rejected: ${reason}`) ?? 0) + 1);
        return undefined;
      }
    } catch (error) {
      reason = (error as Error).name;
    }
    failures.set(reason, (failures.get(reason) ?? 0) + 1);
    await sleep(retryDelayMs(attempt));
  }
  failures.set("gave up", (failures.get("gave up") ?? 0) + 1);
  return undefined;
}

interface Kill {
  readonly name: string;
  readonly component: SystemComponent;
  /** When the kill -9 was sent (ms since the epoch). */
  readonly at: number;
}

/**
 * Kills one replica of a component at random moments until `enough()`, each component in turn (in a
 * shuffled order per round), and restarts it in the background after a short delay. A component with
 * a replica still down is passed over, so one replica of each always serves.
 */
async function chaos(kills: Kill[], restarts: Promise<void>[], enough: () => boolean): Promise<void> {
  const down = new Set<SystemComponent>();
  while (!enough()) {
    const round = [...components].sort(() => Math.random() - 0.5);
    for (const component of round) {
      if (enough()) return;
      await sleep(between(1000, 3500));
      if (down.has(component)) continue;
      const replicasNow = e2e.system.replicasOf(component);
      const victim = replicasNow[Math.floor(Math.random() * replicasNow.length)];
      if (!victim) throw new Error(`no ${component} replica`);
      down.add(component);
      const at = Date.now();
      await victim.process.kill("SIGKILL");
      kills.push({ name: victim.name, component, at });
      restarts.push(
        (async () => {
          await sleep(between(300, 2000));
          for (let attempt = 1; ; attempt++) {
            try {
              await e2e.system.restart(victim.name);
              break;
            } catch (error) {
              if (attempt >= 5) throw error;
              await sleep(1000);
            }
          }
          down.delete(component);
        })(),
      );
    }
  }
}

describe("scale-out", () => {
  beforeAll(async () => {
    receiver = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        const eventId = String(request.headers["mercato-event-id"]);
        webhookReceipts.set(eventId, [...(webhookReceipts.get(eventId) ?? []), Date.now()]);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    e2e = await startE2eSystem({
      name: "scale",
      replicas,
      requestTimeoutMs: 15_000,
      serviceEnv: {
        order: { SAGA_LEASE_MS: String(SAGA_LEASE_MS) },
        // Its webhook receiver runs on this machine over plain http: allowed here explicitly.
        notification: { WEBHOOK_ALLOW_HTTP: "true", WEBHOOK_ALLOW_PRIVATE: "true" },
      },
    });
  }, 240_000);

  afterAll(async () => {
    await e2e?.stop();
    receiver?.close();
  }, 60_000);

  it(
    `keeps every invariant over ${MIN_ORDERS} orders while replicas of every service are killed`,
    async () => {
      // ---- shop set-up: two plentiful SKUs and a scarce one, customers with webhooks ----
      const adminToken = await e2e.login(admin.email, admin.password);
      const stockPlan = [5000, 5000, 12];
      const products: { id: string; sku: string; stock: number }[] = [];
      for (const stock of stockPlan) {
        products.push({
          ...(await createProduct(e2e, adminToken, 500 + products.length * 700, stock)),
          stock,
        });
      }
      const customers: Customer[] = [];
      for (let i = 0; i < CONCURRENCY; i++) {
        const customer = await newCustomer(e2e);
        const hook = await e2e.call(
          `${paths.notification}/RegisterWebhook`,
          { userId: customer.userId, url: receiverUrl },
          customer.token,
        );
        expect(hook.status).toBe(200);
        customers.push(customer);
      }

      // ---- the batch and the chaos side by side ----
      const kills: Kill[] = [];
      const restarts: Promise<void>[] = [];
      const placed: string[] = [];
      const failures = new Map<string, number>();
      const startedAt = Date.now();
      const overtime = () => Date.now() - startedAt > BATCH_LIMIT_MS;
      let started = 0;
      let nextSlot = Date.now();
      const killedEach = (component: SystemComponent) =>
        kills.filter((k) => k.component === component).length;
      const chaosRun = chaos(
        kills,
        restarts,
        () =>
          overtime() ||
          (started >= MIN_ORDERS && kills.length >= MIN_KILLS && components.every((c) => killedEach(c) >= 2)),
      );
      const progress = setInterval(() => {
        console.log(
          `[${((Date.now() - startedAt) / 1000).toFixed(0)} s] started ${started}, placed ${placed.length}, ` +
            `kills ${kills.length}, failures ${JSON.stringify(Object.fromEntries(failures))}`,
        );
      }, 15_000);
      await Promise.all(
        customers.map(async (customer) => {
          while (started < MIN_ORDERS && !overtime()) {
            started++;
            const slot = Math.max(Date.now(), nextSlot);
            nextSlot = slot + 1000 / ORDER_RATE;
            await sleep(slot - Date.now());
            const first = products[Math.random() < 0.1 ? 2 : Math.floor(Math.random() * 2)]!;
            const lines = [{ productId: first.id, quantity: 1 + Math.floor(Math.random() * 2) }];
            const roll = Math.random();
            const token = roll < 0.85 ? "tok_visa" : roll < 0.95 ? "tok_chargeDeclined" : "tok_unavailable";
            const orderId = await placeOrder(customer, lines, token, failures);
            if (orderId) placed.push(orderId);
          }
        }),
      );
      await chaosRun;
      await Promise.all(restarts);
      clearInterval(progress);
      const batchEnd = Date.now();
      console.log(
        `batch: ${placed.length} orders in ${((batchEnd - startedAt) / 1000).toFixed(0)} s; ` +
          `${kills.length} kills: ${components.map((c) => `${c} ${killedEach(c)}`).join(", ")}; ` +
          `failed attempts: ${JSON.stringify(Object.fromEntries(failures))}`,
      );

      // ---- every order terminal within the budget ----
      type OrderRow = { order_id: string; status: number; saga_state: number; total_minor: string };
      let orders: OrderRow[] = [];
      for (;;) {
        orders = await withDatabase(
          e2e.databaseUrl("order"),
          (sql) => sql<OrderRow[]>`
            select v.order_id::text, v.status, s.state as saga_state, v.total_minor::text
              from order_views v join sagas s on s.order_id = v.order_id`,
        );
        const settled = orders.every(
          (o) =>
            (o.status === ORDER_CONFIRMED && o.saga_state === SAGA_COMPLETED) ||
            (o.status === ORDER_CANCELLED && o.saga_state === SAGA_COMPENSATED),
        );
        if ((settled && orders.length >= placed.length) || Date.now() - batchEnd > RECOVERY_BUDGET_MS) break;
        await sleep(500);
      }
      console.log(`settled ${((Date.now() - batchEnd) / 1000).toFixed(1)} s after the batch`);
      const confirmed = orders.filter((o) => o.status === ORDER_CONFIRMED);
      const cancelled = orders.filter((o) => o.status === ORDER_CANCELLED);
      const pending = orders.filter((o) => !confirmed.includes(o) && !cancelled.includes(o));
      expect
        .soft(
          pending.map((o) => `${o.order_id} ${o.status}/${o.saga_state}`),
          "non-terminal",
        )
        .toEqual([]);
      expect.soft(placed.length).toBeGreaterThanOrEqual(MIN_ORDERS);
      expect.soft(new Set(placed).size).toBe(placed.length);
      expect.soft(orders.map((o) => o.order_id).sort()).toEqual([...placed].sort());
      expect.soft(kills.length).toBeGreaterThanOrEqual(MIN_KILLS);
      for (const component of components)
        expect.soft(killedEach(component), component).toBeGreaterThanOrEqual(2);
      expect.soft(confirmed.length).toBeGreaterThan(0);
      expect.soft(cancelled.length).toBeGreaterThan(0);

      // ---- money ----
      const payments = await withDatabase(
        e2e.databaseUrl("payment"),
        (sql) => sql<{ order_id: string; status: string; capture_key: string | null; captured: string }[]>`
          select order_id, status, capture_key, (captured_minor - refunded_minor)::text as captured
            from payments`,
      );
      const moneyProblems: string[] = [];
      type Payment = (typeof payments)[number];
      const paymentsOf = new Map<string, Payment[]>();
      for (const p of payments) paymentsOf.set(p.order_id, [...(paymentsOf.get(p.order_id) ?? []), p]);
      for (const [orderId, list] of paymentsOf) {
        if (list.length > 1) moneyProblems.push(`order ${orderId}: ${list.length} payments`);
      }
      for (const order of confirmed) {
        const [payment, ...more] = paymentsOf.get(order.order_id) ?? [];
        if (
          !payment ||
          more.length > 0 ||
          payment.status !== "CAPTURED" ||
          payment.captured !== order.total_minor
        )
          moneyProblems.push(
            `confirmed ${order.order_id} (${order.total_minor}): ${JSON.stringify(payment)}`,
          );
      }
      for (const order of cancelled) {
        for (const payment of paymentsOf.get(order.order_id) ?? []) {
          if (payment.captured !== "0" || payment.status === "AUTHORIZED" || payment.status === "CAPTURED")
            moneyProblems.push(`cancelled ${order.order_id}: ${JSON.stringify(payment)}`);
        }
      }
      const captureKeys = payments.map((p) => p.capture_key).filter((k) => k !== null);
      if (new Set(captureKeys).size !== captureKeys.length)
        moneyProblems.push("a capture key was used twice");
      expect.soft(moneyProblems, "double or missing captures").toEqual([]);

      // ---- stock ----
      const units = new Map<string, number>();
      for (const line of await withDatabase(
        e2e.databaseUrl("order"),
        (sql) => sql<{ sku: string; quantity: number }[]>`
          select l->>'sku' as sku, (l->>'quantity')::int as quantity
            from order_views, jsonb_array_elements(lines) l where status = ${ORDER_CONFIRMED}`,
      ))
        units.set(line.sku, (units.get(line.sku) ?? 0) + line.quantity);
      const committed = await withDatabase(
        e2e.databaseUrl("inventory"),
        (sql) => sql<{ sku: string; units: number }[]>`
          select l.sku, sum(l.quantity)::int as units from reservation_lines l
            join reservations r on r.id = l.reservation_id where r.status = 'committed' group by l.sku`,
      );
      const stockProblems: string[] = [];
      for (const product of products) {
        const level = await e2e.call(`${paths.inventory}/GetStock`, { sku: product.sku });
        const sold = units.get(product.sku) ?? 0;
        const { available = 0, reserved = 0 } = level.body;
        if (available + sold !== product.stock)
          stockProblems.push(`${product.sku}: available ${available} + sold ${sold} ≠ ${product.stock}`);
        if (reserved !== 0) stockProblems.push(`${product.sku}: ${reserved} still reserved`);
        const inInventory = committed.find((c) => c.sku === product.sku)?.units ?? 0;
        if (inInventory !== sold)
          stockProblems.push(`${product.sku}: committed ${inInventory} ≠ sold ${sold}`);
      }
      expect.soft(stockProblems, "stock balances").toEqual([]);

      // ---- effects once, by event id ----
      const placedEvents = new Map<string, number>();
      for (const message of await readStream(e2e.system.natsUrl, "MERCATO_ORDER", {
        filterSubjects: ["mercato.order.order_placed"],
      })) {
        const orderId = protobufString(message.data, 3) ?? "";
        placedEvents.set(orderId, (placedEvents.get(orderId) ?? 0) + 1);
      }
      expect
        .soft(placed.filter((id) => placedEvents.get(id) !== 1).map((id) => `${id}: ${placedEvents.get(id)}`))
        .toEqual([]);
      // A killed consumer's unacknowledged events come back after its ack wait (30 s): allow for that.
      const consumerAckWaitMs = 30_000;
      let shipments: { order_id: string; n: number }[] = [];
      for (const deadline = Date.now() + consumerAckWaitMs + 15_000; ; ) {
        shipments = await withDatabase(
          e2e.databaseUrl("shipping"),
          (sql) => sql<{ order_id: string; n: number }[]>`
            select order_id, count(*)::int as n from shipments group by order_id`,
        );
        const shipped = new Set(shipments.map((s) => s.order_id));
        if (confirmed.every((o) => shipped.has(o.order_id)) || Date.now() > deadline) break;
        await sleep(1000);
      }
      const shipmentsOf = new Map(shipments.map((s) => [s.order_id, s.n]));
      expect
        .soft(
          [
            ...confirmed
              .filter((o) => shipmentsOf.get(o.order_id) !== 1)
              .map((o) => `confirmed ${o.order_id}`),
            ...cancelled.filter((o) => shipmentsOf.has(o.order_id)).map((o) => `cancelled ${o.order_id}`),
          ],
          "one shipment per confirmed order, none for a cancelled one",
        )
        .toEqual([]);
      let deliveries: { event_id: string; status: string }[] = [];
      for (const deadline = Date.now() + consumerAckWaitMs + 15_000; Date.now() < deadline; ) {
        deliveries = await withDatabase(
          e2e.databaseUrl("notification"),
          (sql) => sql<{ event_id: string; status: string }[]>`
            select event_id, status from deliveries where channel = 'WEBHOOK'`,
        );
        // One webhook per order (its OrderConfirmed or OrderCancelled), each sent and received.
        const done = deliveries.every((d) => d.status === "SENT" && webhookReceipts.has(d.event_id));
        if (done && deliveries.length >= orders.length) break;
        await sleep(500);
      }
      // A webhook is sent again only when its sender died after sending and before recording it: a
      // notification replica must have been killed between the first receipt and the repeat.
      const notificationKills = kills.filter((k) => k.component === "notification").map((k) => k.at);
      const repeated = [...webhookReceipts].filter(([, times]) => times.length > 1);
      console.log(
        `webhooks: ${deliveries.length} delivery rows, ${webhookReceipts.size} events received, ` +
          `${repeated.length} received more than once`,
      );
      expect.soft(deliveries.length).toBeGreaterThanOrEqual(orders.length);
      expect
        .soft(deliveries.filter((d) => d.status !== "SENT" || !webhookReceipts.has(d.event_id)))
        .toEqual([]);
      expect.soft(new Set(deliveries.map((d) => d.event_id)).size).toBe(deliveries.length);
      expect
        .soft(
          repeated
            .filter(([, times]) =>
              times
                .slice(1)
                .some(
                  (time, i) =>
                    !notificationKills.some((at) => at >= (times[i] as number) - 1000 && at <= time),
                ),
            )
            .map(([eventId, times]) => `${eventId} at ${times.join(", ")}`),
          "webhooks repeated without a sender killed in between",
        )
        .toEqual([]);

      // ---- no saga driven by two order replicas at once ----
      const steps = await withDatabase(e2e.databaseUrl("order"), readStepLog);
      const drivers = new Set(steps.map((s) => s.driverId));
      expect.soft(drivers.size, "order replicas that drove sagas").toBeGreaterThanOrEqual(3);
      expect
        .soft(leaseViolations(steps, SAGA_LEASE_MS, { allowComeback: true }), "sagas driven twice at once")
        .toEqual([]);
    },
    9 * 60_000,
  );
});

describe("the lease check with replicas", () => {
  const row = (id: number, driverId: string, step: number, state: string, atS: number): StepRow => ({
    sagaId: "s",
    id,
    step,
    state,
    attempt: 1,
    driverId,
    atUs: atS * 1_000_000,
  });

  it("lets a live driver claim a saga again after another released it, but not take it early", () => {
    const comeback = [
      row(1, "a", 2, "started", 0),
      row(2, "a", 2, "retry", 0.1),
      row(3, "b", 2, "started", 0.5),
      row(4, "b", 2, "retry", 0.6),
      row(5, "a", 2, "started", 1),
      row(6, "a", 2, "succeeded", 1.1),
    ];
    expect(leaseViolations(comeback, 5_000, { allowComeback: true })).toEqual([]);
    expect(leaseViolations(comeback, 5_000)).toHaveLength(1);
    const early = [
      row(1, "a", 2, "started", 0),
      row(2, "b", 2, "started", 1),
      row(3, "b", 2, "succeeded", 1.1),
    ];
    expect(leaseViolations(early, 5_000, { allowComeback: true })).toHaveLength(1);
  });
});
