import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "./harness.js";
import {
  createProduct,
  newCustomer,
  paths,
  paymentOf,
  placeOrder,
  stockOf,
  waitForStatus,
} from "./shop-helpers.js";

let e2e: E2eSystem;
let adminToken: string;
const terminal = ["ORDER_STATUS_CONFIRMED", "ORDER_STATUS_CANCELLED"];

beforeAll(async () => {
  e2e = await startE2eSystem();
  adminToken = await e2e.login(admin.email, admin.password);
}, 120_000);

afterAll(async () => {
  await e2e?.stop();
});

describe("checkout through the edge", () => {
  it("tok_visa: confirmed, stock committed, payment captured for the catalog price", async () => {
    const product = await createProduct(e2e, adminToken, 1250, 10);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 2 }],
      "tok_visa",
    );
    expect(placed.status).toBe(200);
    expect(placed.body.order.total).toEqual({ currencyCode: "EUR", amountMinor: "2500" });
    expect(placed.body.order.userId).toBe(customer.userId);

    const order = await waitForStatus(e2e, customer.token, placed.body.order.id, terminal);
    expect(order.status).toBe("ORDER_STATUS_CONFIRMED");
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 8, reserved: 0, available: 8 });
    await expect
      .poll(async () => (await paymentOf(e2e, adminToken, order.id))?.status)
      .toBe("PAYMENT_STATUS_CAPTURED");
    expect((await paymentOf(e2e, adminToken, order.id)).amount).toEqual({
      currencyCode: "EUR",
      amountMinor: "2500",
    });
  });

  it("a declined card cancels with a reason, restores stock and charges nothing", async () => {
    const product = await createProduct(e2e, adminToken, 900, 5);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 1 }],
      "tok_chargeDeclined",
    );
    const order = await waitForStatus(e2e, customer.token, placed.body.order.id, terminal);
    expect(order.status).toBe("ORDER_STATUS_CANCELLED");
    expect(order.cancelReason).toMatch(/declin/i);
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    expect((await paymentOf(e2e, adminToken, order.id))?.status).not.toBe("PAYMENT_STATUS_CAPTURED");
  });

  it("a transiently unavailable provider is retried and the order confirms", async () => {
    const product = await createProduct(e2e, adminToken, 700, 5);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 1 }],
      "tok_unavailable",
    );
    const order = await waitForStatus(e2e, customer.token, placed.body.order.id, terminal);
    expect(order.status).toBe("ORDER_STATUS_CONFIRMED");
  });

  it("a provider slower than the deadline ends cancelled with nothing captured", async () => {
    const product = await createProduct(e2e, adminToken, 700, 5);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 1 }],
      "tok_slow",
    );
    const order = await waitForStatus(e2e, customer.token, placed.body.order.id, terminal, 60_000);
    expect(order.status).toBe("ORDER_STATUS_CANCELLED");
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    const payment = await paymentOf(e2e, adminToken, order.id);
    expect(["PAYMENT_STATUS_VOIDED", "PAYMENT_STATUS_FAILED", undefined]).toContain(payment?.status);
  });

  it("out of stock cancels without any charge", async () => {
    const product = await createProduct(e2e, adminToken, 500, 1);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 2 }],
      "tok_visa",
    );
    const order = await waitForStatus(e2e, customer.token, placed.body.order.id, terminal);
    expect(order.status).toBe("ORDER_STATUS_CANCELLED");
    expect(await paymentOf(e2e, adminToken, order.id)).toBeUndefined();
    expect(await stockOf(e2e, product.sku)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it("the same idempotency key sent concurrently makes one order and one authorization", async () => {
    const product = await createProduct(e2e, adminToken, 300, 10);
    const customer = await newCustomer(e2e);
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 5 }, () =>
        placeOrder(e2e, customer.token, [{ productId: product.id, quantity: 1 }], "tok_visa", key),
      ),
    );
    const ids = new Set(responses.filter((r) => r.status === 200).map((r) => r.body.order.id));
    expect(ids.size).toBe(1);
    const [orderId] = [...ids];
    await waitForStatus(e2e, customer.token, orderId!, terminal);
    const list = await e2e.call(
      `${paths.order}/ListOrders`,
      { userId: customer.userId, pageSize: 50 },
      customer.token,
    );
    expect(list.body.orders).toHaveLength(1);
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 9, reserved: 0, available: 9 });

    const differentBody = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 2 }],
      "tok_visa",
      key,
    );
    expect(differentBody.body.code).toBe("failed_precondition");
  });

  it("N concurrent orders for M < N units: exactly M confirmed", async () => {
    const product = await createProduct(e2e, adminToken, 100, 3);
    const customers = await Promise.all(Array.from({ length: 6 }, () => newCustomer(e2e)));
    const placed = await Promise.all(
      customers.map((c) => placeOrder(e2e, c.token, [{ productId: product.id, quantity: 1 }], "tok_visa")),
    );
    const orders = await Promise.all(
      placed.map((p, i) => waitForStatus(e2e, customers[i]!.token, p.body.order.id, terminal)),
    );
    expect(orders.filter((o) => o.status === "ORDER_STATUS_CONFIRMED")).toHaveLength(3);
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 0, reserved: 0, available: 0 });
  });

  it("cancel after confirm refunds and restocks", async () => {
    const product = await createProduct(e2e, adminToken, 1000, 4);
    const customer = await newCustomer(e2e);
    const placed = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: 3 }],
      "tok_visa",
    );
    await waitForStatus(e2e, customer.token, placed.body.order.id, ["ORDER_STATUS_CONFIRMED"]);
    await expect
      .poll(async () => (await paymentOf(e2e, adminToken, placed.body.order.id))?.status)
      .toBe("PAYMENT_STATUS_CAPTURED");
    const cancelled = await e2e.call(
      `${paths.order}/CancelOrder`,
      { orderId: placed.body.order.id, reason: "changed my mind" },
      customer.token,
    );
    expect(cancelled.status).toBe(200);
    await waitForStatus(e2e, customer.token, placed.body.order.id, ["ORDER_STATUS_CANCELLED"]);
    await expect
      .poll(async () => (await paymentOf(e2e, adminToken, placed.body.order.id))?.status)
      .toBe("PAYMENT_STATUS_REFUNDED");
    await expect.poll(() => stockOf(e2e, product.sku)).toEqual({ onHand: 4, reserved: 0, available: 4 });
  });

  it("rejects bad orders with invalid_argument and writes nothing", async () => {
    const product = await createProduct(e2e, adminToken, 100, 3);
    const customer = await newCustomer(e2e);
    const zero = await placeOrder(e2e, customer.token, [{ productId: product.id, quantity: 0 }], "tok_visa");
    expect(zero.status).toBe(400);
    expect(zero.body.code).toBe("invalid_argument");
    const negative = await placeOrder(
      e2e,
      customer.token,
      [{ productId: product.id, quantity: -2 }],
      "tok_visa",
    );
    expect(negative.body.code).toBe("invalid_argument");
    const unknown = await placeOrder(
      e2e,
      customer.token,
      [{ productId: randomUUID(), quantity: 1 }],
      "tok_visa",
    );
    expect(unknown.body.code).toBe("invalid_argument");
    const list = await e2e.call(`${paths.order}/ListOrders`, { userId: customer.userId }, customer.token);
    expect(list.body.orders ?? []).toHaveLength(0);
    expect(await stockOf(e2e, product.sku)).toEqual({ onHand: 3, reserved: 0, available: 3 });
  });

  it("a customer sees only their own orders", async () => {
    const product = await createProduct(e2e, adminToken, 100, 3);
    const owner = await newCustomer(e2e);
    const other = await newCustomer(e2e);
    const placed = await placeOrder(e2e, owner.token, [{ productId: product.id, quantity: 1 }], "tok_visa");
    const peek = await e2e.call(`${paths.order}/GetOrder`, { orderId: placed.body.order.id }, other.token);
    expect([403, 404]).toContain(peek.status);
    const list = await e2e.call(`${paths.order}/ListOrders`, { userId: owner.userId }, other.token);
    expect(list.status).toBe(403);
    const stats = await e2e.call(`${paths.order}/GetOrderStatistics`, {}, owner.token);
    expect(stats.status).toBe(403);
  });
});
