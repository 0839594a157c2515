import { Code, ServiceError } from "@mercato/platform/errors";
import { OrderStatus, SagaState, SagaStep } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { PaymentStatus } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  address,
  admin,
  as,
  createProduct,
  settledOrder,
  startOrder,
  startUpstreams,
  stepLog,
  type TestOrder,
  type Upstreams,
} from "../../test/helpers.js";

let upstreams: Upstreams;
let order: TestOrder;

beforeAll(async () => {
  upstreams = await startUpstreams();
  order = await startOrder(upstreams);
}, 60_000);
afterAll(async () => {
  await order?.stop();
  await upstreams?.stop();
});

const user = () => uuidv7();

async function place(userId: string, productId: string, quantity: number, token: string, key = uuidv7()) {
  const { order: placed } = await order.client.placeOrder(
    { idempotencyKey: key, lines: [{ productId, quantity }], paymentToken: token, shippingAddress: address },
    as(userId),
  );
  if (!placed) throw new Error("no order");
  return placed;
}

async function stock(sku: string) {
  return upstreams.inventoryClient.getStock({ sku });
}

async function paymentOf(orderId: string) {
  try {
    const { payment } = await upstreams.paymentClient.getPayment(
      { key: { case: "orderId", value: orderId } },
      admin,
    );
    return payment;
  } catch (error) {
    if (error instanceof ServiceError && error.code === Code.NOT_FOUND) return undefined;
    throw error;
  }
}

describe("place-order saga", () => {
  it("tok_visa: confirmed, stock committed, payment captured", async () => {
    const product = await createProduct(upstreams, { priceMinor: 1250, stock: 10 });
    const userId = user();
    await settledOrder(order, (await place(userId, product.id, 1, "tok_visa")).id, userId);
    const placed = await place(userId, product.id, 3, "tok_visa");
    expect(placed.status).toBe(OrderStatus.PENDING);
    expect(placed.total?.amountMinor).toBe(3750n);
    const done = await settledOrder(order, placed.id, userId);
    expect(done.status).toBe(OrderStatus.CONFIRMED);
    expect(done.saga?.state).toBe(SagaState.COMPLETED);
    expect(done.saga?.step).toBe(SagaStep.CAPTURE_PAYMENT);
    const levels = await stock(product.sku);
    expect([levels.onHand, levels.reserved, levels.available]).toEqual([6, 0, 6]);
    const payment = await paymentOf(placed.id);
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    expect(payment?.amount?.amountMinor).toBe(3750n);
    const [token] = await order.service.database.query<{ payment_token: string | null }>(
      sql`select payment_token from sagas where order_id = ${placed.id}`,
    );
    expect(token?.payment_token).toBeNull();
  });

  it("tok_chargeDeclined: cancelled with a reason, stock released, nothing captured", async () => {
    const product = await createProduct(upstreams, { priceMinor: 500, stock: 5 });
    const userId = user();
    const placed = await place(userId, product.id, 2, "tok_chargeDeclined");
    const done = await settledOrder(order, placed.id, userId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.cancelReason).toMatch(/declined/);
    expect(done.saga?.state).toBe(SagaState.COMPENSATED);
    expect(done.saga?.step).toBe(SagaStep.CANCEL_ORDER);
    const levels = await stock(product.sku);
    expect([levels.onHand, levels.reserved, levels.available]).toEqual([5, 0, 5]);
    const payment = await paymentOf(placed.id);
    expect(payment?.status).toBe(PaymentStatus.FAILED);
  });

  it("tok_unavailable: retried, then confirmed", async () => {
    const product = await createProduct(upstreams, { priceMinor: 700, stock: 5 });
    const userId = user();
    const placed = await place(userId, product.id, 1, "tok_unavailable");
    const done = await settledOrder(order, placed.id, userId);
    expect(done.status).toBe(OrderStatus.CONFIRMED);
    expect((await paymentOf(placed.id))?.status).toBe(PaymentStatus.CAPTURED);
    expect((await stock(product.sku)).onHand).toBe(4);
  });

  it("tok_slow: the ambiguous authorize is voided, the order cancelled, nothing left authorized", async () => {
    const product = await createProduct(upstreams, { priceMinor: 900, stock: 5 });
    const userId = user();
    const placed = await place(userId, product.id, 1, "tok_slow");
    const done = await settledOrder(order, placed.id, userId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.cancelReason).toMatch(/timed out/);
    const levels = await stock(product.sku);
    expect([levels.onHand, levels.reserved]).toEqual([5, 0]);
    // The provider answers a little after the deadline: whatever arrives late must not stay authorized.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const payment = await paymentOf(placed.id);
    expect([undefined, PaymentStatus.VOIDED, PaymentStatus.FAILED]).toContain(payment?.status);
  });

  it("out of stock: cancelled without any charge", async () => {
    const product = await createProduct(upstreams, { priceMinor: 300, stock: 1 });
    const userId = user();
    const placed = await place(userId, product.id, 2, "tok_visa");
    const done = await settledOrder(order, placed.id, userId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.cancelReason).toMatch(/out of stock/);
    expect(await paymentOf(placed.id)).toBeUndefined();
    expect((await stock(product.sku)).available).toBe(1);
  });

  it("the same idempotency key sent concurrently: one order, one authorization", async () => {
    const product = await createProduct(upstreams, { priceMinor: 100, stock: 10 });
    const userId = user();
    const key = uuidv7();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => place(userId, product.id, 1, "tok_visa", key)),
    );
    const ids = new Set(results.map((result) => result.id));
    expect(ids.size).toBe(1);
    const [orderId] = [...ids];
    if (!orderId) throw new Error("no order");
    await settledOrder(order, orderId, userId);
    const { orders } = await order.client.listOrders({}, as(userId));
    expect(orders.map((o) => o.id)).toEqual([orderId]);
    expect((await stock(product.sku)).onHand).toBe(9);
    const payments = await upstreams.payment.database.query<{ count: number }>(
      sql`select count(*)::int as count from payments where order_id = ${orderId}`,
    );
    expect(payments[0]?.count).toBe(1);
    // Same key, different body: refused.
    const error = await place(userId, product.id, 2, "tok_visa", key).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).code).toBe(Code.FAILED_PRECONDITION);
  });

  it("N concurrent orders for M < N units: exactly M confirmed, the rest cancelled", async () => {
    const units = 3;
    const buyers = 8;
    const product = await createProduct(upstreams, { priceMinor: 250, stock: units });
    const placed = await Promise.all(
      Array.from({ length: buyers }, async () => {
        const userId = user();
        return { userId, order: await place(userId, product.id, 1, "tok_visa") };
      }),
    );
    const done = await Promise.all(placed.map((p) => settledOrder(order, p.order.id, p.userId)));
    const confirmed = done.filter((o) => o.status === OrderStatus.CONFIRMED);
    const cancelled = done.filter((o) => o.status === OrderStatus.CANCELLED);
    expect(confirmed).toHaveLength(units);
    expect(cancelled).toHaveLength(buyers - units);
    const levels = await stock(product.sku);
    expect([levels.onHand, levels.reserved, levels.available]).toEqual([0, 0, 0]);
    for (const o of cancelled) expect(await paymentOf(o.id)).toBeUndefined();
  });

  it("cancel after confirm: refunded and restocked", async () => {
    const product = await createProduct(upstreams, { priceMinor: 1999, stock: 4 });
    const userId = user();
    const placed = await place(userId, product.id, 2, "tok_visa");
    const confirmed = await settledOrder(order, placed.id, userId);
    expect(confirmed.status).toBe(OrderStatus.CONFIRMED);
    const sold = await stock(product.sku);
    expect([sold.onHand, sold.reserved, sold.available]).toEqual([2, 0, 2]);
    const { order: cancelled } = await order.client.cancelOrder(
      { orderId: placed.id, reason: "changed my mind" },
      as(userId),
    );
    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect(cancelled?.cancelReason).toBe("changed my mind");
    expect(cancelled?.saga?.state).toBe(SagaState.COMPENSATED);
    const payment = await paymentOf(placed.id);
    expect(payment?.status).toBe(PaymentStatus.REFUNDED);
    expect(payment?.refunded?.amountMinor).toBe(3998n);
    const levels = await stock(product.sku);
    expect([levels.onHand, levels.reserved, levels.available]).toEqual([4, 0, 4]);
    // Restocked through inventory's Restock, by reservation id (the saga id), exactly once.
    const [saga] = await order.service.database.query<{ saga_id: string }>(
      sql`select saga_id from sagas where order_id = ${placed.id}`,
    );
    const sagaId = saga?.saga_id ?? "";
    const movements = await upstreams.inventory.database.query<{ kind: string; delta: number }>(
      sql`select kind, delta from stock_movements where sku = ${product.sku} order by created_at, id`,
    );
    expect(movements.map((m) => [m.kind, m.delta])).toEqual([
      ["set", 4],
      ["commit", -2],
      ["restock", 2],
    ]);
    const [reservation] = await upstreams.inventory.database.query<{ status: string }>(
      sql`select status from reservations where id = ${sagaId}`,
    );
    expect(reservation?.status).toBe("restocked");
    const released = (await stepLog(order, sagaId)).filter(
      (entry) => entry.step === SagaStep.RELEASE_STOCK && entry.state === "succeeded",
    );
    expect(released).toHaveLength(1);
    // Cancelling again changes nothing; another customer cannot see it at all.
    const again = await order.client.cancelOrder({ orderId: placed.id }, as(userId));
    expect(again.order?.version).toBe(cancelled?.version);
    const unchanged = await stock(product.sku);
    expect([unchanged.onHand, unchanged.reserved, unchanged.available]).toEqual([4, 0, 4]);
    const stranger = await order.client
      .cancelOrder({ orderId: placed.id }, as(user()))
      .catch((e: unknown) => e);
    expect((stranger as ServiceError).code).toBe(Code.NOT_FOUND);
    const history = await order.client.getOrderHistory({ orderId: placed.id }, as(userId));
    expect(history.events.map((e) => e.event.case)).toEqual(["placed", "confirmed", "cancelled"]);
  });

  it("a saga left behind by a crashed driver resumes on restart and ends terminal", async () => {
    const product = await createProduct(upstreams, { priceMinor: 400, stock: 3 });
    const userId = user();
    let crashed!: () => void;
    const crash = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    const first = await startOrder(upstreams, {
      beforeStep: (row) => {
        if (row.step !== SagaStep.COMMIT_STOCK) return true;
        crashed();
        return false;
      },
    });
    const { order: placed } = await first.client.placeOrder(
      {
        idempotencyKey: uuidv7(),
        lines: [{ productId: product.id, quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: address,
      },
      as(userId),
    );
    if (!placed) throw new Error("no order");
    await crash;
    await first.stop();
    const sagaId = (
      await first.service.database
        .query<{ saga_id: string }>(sql`select saga_id from sagas where order_id = ${placed.id}`)
        .catch(() => [])
    )[0]?.saga_id;
    const second = await startOrder(upstreams, { databaseUrl: first.databaseUrl });
    try {
      const done = await settledOrder(second, placed.id, userId);
      expect(done.status).toBe(OrderStatus.CONFIRMED);
      expect((await paymentOf(placed.id))?.status).toBe(PaymentStatus.CAPTURED);
      expect((await stock(product.sku)).onHand).toBe(2);
      const id =
        sagaId ??
        (
          await second.service.database.query<{ saga_id: string }>(
            sql`select saga_id from sagas where order_id = ${placed.id}`,
          )
        )[0]?.saga_id;
      const log = await stepLog(second, id ?? "");
      const drivers = [...new Set(log.map((entry) => entry.driver_id))];
      expect(drivers).toHaveLength(2);
      expect(
        log.filter((entry) => entry.step === SagaStep.COMMIT_STOCK && entry.state === "succeeded"),
      ).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });

  it("rejects bad input with invalid_argument and writes nothing", async () => {
    const product = await createProduct(upstreams, { priceMinor: 100, stock: 5 });
    const inactive = await createProduct(upstreams, { priceMinor: 100, stock: 5, active: false });
    const userId = user();
    const count = async () =>
      (
        await order.service.database.query<{ events: number; sagas: number; requests: number }>(
          sql`select (select count(*)::int from order_events) as events,
                     (select count(*)::int from sagas) as sagas,
                     (select count(*)::int from order_requests) as requests`,
        )
      )[0];
    const before = await count();
    const cases: [string, Record<string, unknown>, string][] = [
      ["zero quantity", { lines: [{ productId: product.id, quantity: 0 }] }, "lines[0].quantity"],
      ["negative quantity", { lines: [{ productId: product.id, quantity: -2 }] }, "lines[0].quantity"],
      ["too many", { lines: [{ productId: product.id, quantity: 101 }] }, "lines[0].quantity"],
      ["no lines", { lines: [] }, "lines"],
      [
        "duplicate product",
        {
          lines: [
            { productId: product.id, quantity: 1 },
            { productId: product.id, quantity: 1 },
          ],
        },
        "lines[1].product_id",
      ],
      ["unknown product", { lines: [{ productId: uuidv7(), quantity: 1 }] }, "lines[0].product_id"],
      ["inactive product", { lines: [{ productId: inactive.id, quantity: 1 }] }, "lines[0].product_id"],
      [
        "no address",
        { lines: [{ productId: product.id, quantity: 1 }], shippingAddress: undefined },
        "shipping_address",
      ],
      ["no token", { lines: [{ productId: product.id, quantity: 1 }], paymentToken: "" }, "payment_token"],
      ["no key", { lines: [{ productId: product.id, quantity: 1 }], idempotencyKey: "" }, "idempotency_key"],
    ];
    for (const [name, fields, field] of cases) {
      const request: Record<string, unknown> = {
        idempotencyKey: uuidv7(),
        paymentToken: "tok_visa",
        shippingAddress: address,
        ...fields,
      };
      if (request.shippingAddress === undefined) delete request.shippingAddress;
      const error = await order.client
        .placeOrder(request as Parameters<typeof order.client.placeOrder>[0], as(userId))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, name).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code, name).toBe(Code.INVALID_ARGUMENT);
      expect(
        (error as ServiceError).violations.map((v) => v.field),
        name,
      ).toContain(field);
    }
    expect(await count()).toEqual(before);
    const anonymous = await order.client
      .placeOrder({
        idempotencyKey: uuidv7(),
        lines: [{ productId: product.id, quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: address,
      })
      .catch((e: unknown) => e);
    expect((anonymous as ServiceError).code).toBe(Code.UNAUTHENTICATED);
  });
});

describe("queries", () => {
  it("shows customers only their own orders, pages lists, and keeps statistics for admins", async () => {
    const product = await createProduct(upstreams, { priceMinor: 150, stock: 20 });
    const owner = user();
    const placed = [];
    for (let i = 0; i < 5; i++) placed.push(await place(owner, product.id, 1, "tok_visa"));
    await Promise.all(placed.map((p) => settledOrder(order, p.id, owner)));
    const first = placed[0]!;

    const own = await order.client.getOrder({ orderId: first.id }, as(owner));
    expect(own.order?.userId).toBe(owner);
    expect(own.order?.lines[0]?.lineTotal?.amountMinor).toBe(150n);
    const stranger = await order.client.getOrder({ orderId: first.id }, as(user())).catch((e: unknown) => e);
    expect((stranger as ServiceError).code).toBe(Code.NOT_FOUND);
    expect((await order.client.getOrder({ orderId: first.id }, admin)).order?.id).toBe(first.id);
    const history = await order.client
      .getOrderHistory({ orderId: first.id }, as(user()))
      .catch((e: unknown) => e);
    expect((history as ServiceError).code).toBe(Code.NOT_FOUND);

    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await order.client.listOrders({ pageSize: 2, pageToken }, as(owner));
      expect(page.orders.length).toBeLessThanOrEqual(2);
      seen.push(...page.orders.map((o) => o.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(placed.map((p) => p.id).reverse());
    const others = await order.client.listOrders({ userId: owner }, as(user())).catch((e: unknown) => e);
    expect((others as ServiceError).code).toBe(Code.PERMISSION_DENIED);
    const confirmedOnly = await order.client.listOrders(
      { userId: owner, status: OrderStatus.CANCELLED },
      admin,
    );
    expect(confirmedOnly.orders).toEqual([]);

    const denied = await order.client.getOrderStatistics({}, as(owner)).catch((e: unknown) => e);
    expect((denied as ServiceError).code).toBe(Code.PERMISSION_DENIED);
    const stats = await order.client.getOrderStatistics({}, admin);
    expect(stats.totalOrders).toBeGreaterThanOrEqual(5n);
    const confirmed = stats.byStatus.find((s) => s.status === OrderStatus.CONFIRMED)?.count ?? 0n;
    expect(confirmed).toBeGreaterThanOrEqual(5n);
    expect(stats.revenue.find((m) => m.currencyCode === "EUR")?.amountMinor).toBeGreaterThan(0n);
    expect(stats.updatedAt).toBeDefined();
  });
});
