import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ServiceError } from "@mercato/platform/errors";
import {
  OrderStatus,
  SagaState,
  SagaStep,
  SagaStepOutcome,
} from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { ShipmentShippedSchema } from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { uniqueName, waitFor } from "@mercato/testing";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  address,
  admin,
  as,
  createProduct,
  publishEvent,
  settledOrder,
  startOrder,
  startUpstreams,
  type TestOrder,
  type Upstreams,
} from "../../test/helpers.js";
import { DURABLES, SHIPPING_SUBJECTS } from "../events/consumers.js";

let upstreams: Upstreams;
let order: TestOrder;
/** Durable consumer names of this file's order service start with this. */
const consumerPrefix = `${uniqueName("console")}-`;

beforeAll(async () => {
  upstreams = await startUpstreams();
  order = await startOrder(upstreams, { env: { CONSUMER_PREFIX: consumerPrefix } });
}, 60_000);
afterAll(async () => {
  await order?.stop();
  await upstreams?.stop();
});

async function placeSettled(userId: string, productId: string, token: string) {
  const { order: placed } = await order.client.placeOrder(
    {
      idempotencyKey: uuidv7(),
      lines: [{ productId, quantity: 1 }],
      paymentToken: token,
      shippingAddress: address,
    },
    as(userId),
  );
  return settledOrder(order, placed!.id, userId);
}

async function codeOf(call: Promise<unknown>): Promise<Code | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    if (error instanceof ServiceError) return error.code;
    throw error;
  }
}

describe("operations console RPCs", () => {
  it("ListAllOrders pages through every user's orders, newest first, for admins only", async () => {
    const product = await createProduct(upstreams, { priceMinor: 300, stock: 10 });
    const [alice, bob] = [uuidv7(), uuidv7()];
    const first = await placeSettled(alice, product.id, "tok_visa");
    const second = await placeSettled(bob, product.id, "tok_chargeDeclined");

    const page = await order.client.listAllOrders({ pageSize: 1 }, admin);
    expect(page.orders.map((o) => o.id)).toEqual([second.id]);
    const next = await order.client.listAllOrders({ pageSize: 1, pageToken: page.nextPageToken }, admin);
    expect(next.orders.map((o) => o.id)).toEqual([first.id]);
    const cancelled = await order.client.listAllOrders({ status: OrderStatus.CANCELLED }, admin);
    expect(cancelled.orders.map((o) => o.id)).toContain(second.id);
    expect(cancelled.orders.map((o) => o.id)).not.toContain(first.id);

    expect(await codeOf(order.client.listAllOrders({}, as(alice)))).toBe(Code.PERMISSION_DENIED);
    expect(await codeOf(order.client.listAllOrders({ pageSize: -1 }, admin))).toBe(Code.INVALID_ARGUMENT);
  });

  it("GetSagaTimeline shows each step's attempts and outcomes, compensations marked", async () => {
    const product = await createProduct(upstreams, { priceMinor: 400, stock: 5 });
    const userId = uuidv7();
    const confirmed = await placeSettled(userId, product.id, "tok_visa");
    const declined = await placeSettled(userId, product.id, "tok_chargeDeclined");

    const happy = await order.client.getSagaTimeline({ orderId: confirmed.id }, admin);
    expect(happy.saga).toMatchObject({ state: SagaState.COMPLETED, step: SagaStep.CAPTURE_PAYMENT });
    const succeeded = happy.entries.filter((e) => e.outcome === SagaStepOutcome.SUCCEEDED).map((e) => e.step);
    expect(succeeded).toEqual([
      SagaStep.RESERVE_STOCK,
      SagaStep.AUTHORIZE_PAYMENT,
      SagaStep.CONFIRM_ORDER,
      SagaStep.COMMIT_STOCK,
      SagaStep.CAPTURE_PAYMENT,
    ]);
    expect(happy.entries.some((e) => e.compensation)).toBe(false);

    const sad = await order.client.getSagaTimeline({ orderId: declined.id }, admin);
    expect(sad.saga?.state).toBe(SagaState.COMPENSATED);
    const failed = sad.entries.find((e) => e.outcome === SagaStepOutcome.FAILED);
    expect(failed).toMatchObject({ step: SagaStep.AUTHORIZE_PAYMENT, compensation: false, attempt: 1 });
    expect(failed?.detail).toMatch(/declined/);
    const compensations = sad.entries.filter((e) => e.compensation && e.outcome !== SagaStepOutcome.STARTED);
    expect(compensations.map((e) => e.step)).toContain(SagaStep.CANCEL_ORDER);
    expect(compensations.every((e) => e.step >= SagaStep.VOID_PAYMENT)).toBe(true);

    expect(await codeOf(order.client.getSagaTimeline({ orderId: confirmed.id }, as(userId)))).toBe(
      Code.PERMISSION_DENIED,
    );
    expect(await codeOf(order.client.getSagaTimeline({ orderId: uuidv7() }, admin))).toBe(Code.NOT_FOUND);
    expect(await codeOf(order.client.getSagaTimeline({ orderId: "nope" }, admin))).toBe(
      Code.INVALID_ARGUMENT,
    );
  });

  it("ListDeadLetters shows what a consumer gave up on, with its error, per consumer and paged", async () => {
    const product = await createProduct(upstreams, { priceMinor: 250, stock: 5 });
    const userId = uuidv7();
    const confirmed = await placeSettled(userId, product.id, "tok_visa");
    await order.client.cancelOrder({ orderId: confirmed.id }, as(userId));
    // A shipment of a cancelled order cannot be recorded: the consumer retries, then dead-letters it.
    const event = {
      eventId: uuidv7(),
      occurredAt: timestampFromDate(new Date()),
      shipmentId: uuidv7(),
      orderId: confirmed.id,
      userId,
      trackingNumber: "TRK-DEAD",
    };
    await publishEvent(
      order.service.nats.jetstream(),
      SHIPPING_SUBJECTS.shipped,
      ShipmentShippedSchema,
      event,
    );
    const consumer = `${consumerPrefix}${DURABLES.shipmentShipped}`;
    const mine = async () =>
      (await order.client.listDeadLetters({ consumer }, admin)).deadLetters.filter(
        (d) => d.eventId === event.eventId,
      );
    await waitFor(async () => (await mine()).length === 1, { timeoutMs: 15_000, message: "a dead letter" });
    const [letter] = await mine();
    expect(letter).toMatchObject({
      consumer,
      subject: SHIPPING_SUBJECTS.shipped,
      stream: "MERCATO_SHIPPING",
      deliveries: 3,
      eventType: "mercato.shipping.v1.ShipmentShipped",
    });
    expect(letter?.error).toMatch(/cannot ship/);

    const other = await order.client.listDeadLetters({ consumer: "no-such-consumer" }, admin);
    expect(other.deadLetters).toEqual([]);
    const first = await order.client.listDeadLetters({ pageSize: 1 }, admin);
    expect(first.deadLetters).toHaveLength(1);
    if (first.nextPageToken !== "") {
      const next = await order.client.listDeadLetters({ pageSize: 1, pageToken: first.nextPageToken }, admin);
      expect(next.deadLetters[0]?.sequence ?? Number.MAX_SAFE_INTEGER).toBeGreaterThan(
        first.deadLetters[0]!.sequence,
      );
    }

    expect(await codeOf(order.client.listDeadLetters({}, as(userId)))).toBe(Code.PERMISSION_DENIED);
    expect(await codeOf(order.client.listDeadLetters({ pageToken: "x" }, admin))).toBe(Code.INVALID_ARGUMENT);
    expect(await codeOf(order.client.listDeadLetters({ consumer: "a.b" }, admin))).toBe(
      Code.INVALID_ARGUMENT,
    );
  });
});
