import { fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ServiceError } from "@mercato/platform/errors";
import { DLQ_HEADERS } from "@mercato/platform/events";
import { OrderDeliveredSchema, OrderShippedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { PaymentStatus } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { uniqueName, waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
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
  streamMessages,
  type TestOrder,
  type Upstreams,
} from "../../test/helpers.js";
import { orderStream } from "../server.js";
import { DURABLES, SHIPPING_SUBJECTS } from "./consumers.js";

const prefix = `${uniqueName("ship")}-`;
let upstreams: Upstreams;
let order: TestOrder;

beforeAll(async () => {
  upstreams = await startUpstreams();
  order = await startOrder(upstreams, { env: { CONSUMER_PREFIX: prefix } });
}, 60_000);
afterAll(async () => {
  await order?.stop();
  await upstreams?.stop();
});

/** A confirmed order of 2 units of a product stocked with 5. */
async function confirmedOrder() {
  const product = await createProduct(upstreams, { priceMinor: 1200, stock: 5 });
  const userId = uuidv7();
  const { order: placed } = await order.client.placeOrder(
    {
      idempotencyKey: uuidv7(),
      lines: [{ productId: product.id, quantity: 2 }],
      paymentToken: "tok_visa",
      shippingAddress: address,
    },
    as(userId),
  );
  if (!placed) throw new Error("no order");
  const done = await settledOrder(order, placed.id, userId);
  expect(done.status).toBe(OrderStatus.CONFIRMED);
  return { orderId: placed.id, userId, sku: product.sku };
}

/** ShipmentShipped / ShipmentDelivered as shipping's outbox writes them. */
function shipmentEvent(orderId: string, userId: string, shipmentId: string, trackingNumber: string) {
  return {
    eventId: uuidv7(),
    occurredAt: timestampFromDate(new Date()),
    shipmentId,
    orderId,
    userId,
    trackingNumber,
  };
}

const js = () => order.service.nats.jetstream();

async function statusOf(orderId: string): Promise<OrderStatus | undefined> {
  return (await order.client.getOrder({ orderId }, admin)).order?.status;
}

async function history(orderId: string): Promise<string[]> {
  const { events } = await order.client.getOrderHistory({ orderId }, admin);
  return events.map((e) => e.event.case ?? "");
}

/** Lets redeliveries and duplicates that are still in flight be processed. */
async function settle(): Promise<void> {
  await waitFor(
    async () => {
      const manager = await js().jetstreamManager();
      const infos = await Promise.all(
        [DURABLES.shipmentShipped, DURABLES.shipmentDelivered].map((d) =>
          manager.consumers.info("MERCATO_SHIPPING", `${prefix}${d}`),
        ),
      );
      return infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0);
    },
    { timeoutMs: 10_000, message: "shipment consumers to drain" },
  );
}

describe("shipment events", () => {
  it("records SHIPPED then DELIVERED once each, even when the events are delivered twice", async () => {
    const { orderId, userId, sku } = await confirmedOrder();
    const shipmentId = uuidv7();
    const tracking = `TRK${Date.now()}`;

    const shipped = shipmentEvent(orderId, userId, shipmentId, tracking);
    await publishEvent(js(), SHIPPING_SUBJECTS.shipped, ShipmentShippedSchema, shipped);
    // The same event again under another message id (NATS would drop a repeated one): the inbox must.
    await publishEvent(
      js(),
      SHIPPING_SUBJECTS.shipped,
      ShipmentShippedSchema,
      shipped,
      `${shipped.eventId}-again`,
    );
    await waitFor(async () => (await statusOf(orderId)) === OrderStatus.SHIPPED, {
      message: "order to ship",
    });
    const { order: view } = await order.client.getOrder({ orderId }, as(userId));
    expect(view?.shipmentId).toBe(shipmentId);
    await settle();
    const [inbox] = await order.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from inbox where event_id = ${shipped.eventId}`,
    );
    expect(inbox?.n).toBe(1);
    expect(view?.trackingNumber).toBe(tracking);

    // Shipped orders can no longer be cancelled; nothing changes.
    const refused = await order.client
      .cancelOrder({ orderId, reason: "too late" }, as(userId))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServiceError);
    expect((refused as ServiceError).code).toBe(Code.FAILED_PRECONDITION);
    expect(await statusOf(orderId)).toBe(OrderStatus.SHIPPED);
    const { payment } = await upstreams.paymentClient.getPayment(
      { key: { case: "orderId", value: orderId } },
      admin,
    );
    expect(payment?.status).toBe(PaymentStatus.CAPTURED);
    const levels = await upstreams.inventoryClient.getStock({ sku });
    expect([levels.onHand, levels.reserved, levels.available]).toEqual([3, 0, 3]);

    const delivered = shipmentEvent(orderId, userId, shipmentId, tracking);
    await publishEvent(js(), SHIPPING_SUBJECTS.delivered, ShipmentDeliveredSchema, delivered);
    await publishEvent(
      js(),
      SHIPPING_SUBJECTS.delivered,
      ShipmentDeliveredSchema,
      delivered,
      `${delivered.eventId}-again`,
    );
    // A late, second ShipmentShipped (another event id) changes nothing either.
    await publishEvent(
      js(),
      SHIPPING_SUBJECTS.shipped,
      ShipmentShippedSchema,
      shipmentEvent(orderId, userId, shipmentId, tracking),
    );
    await waitFor(async () => (await statusOf(orderId)) === OrderStatus.DELIVERED, {
      message: "order to be delivered",
    });
    await settle();
    expect(await statusOf(orderId)).toBe(OrderStatus.DELIVERED);
    expect(await history(orderId)).toEqual(["placed", "confirmed", "shipped", "delivered"]);
    const cancelAfterDelivery = await order.client
      .cancelOrder({ orderId }, as(userId))
      .catch((e: unknown) => e);
    expect((cancelAfterDelivery as ServiceError).code).toBe(Code.FAILED_PRECONDITION);

    // Published through the outbox, once each.
    const published = async (subject: string) =>
      (await streamMessages(order.service.nats, orderStream.name, subject)).filter(
        (m) =>
          (subject.endsWith("shipped")
            ? fromBinary(OrderShippedSchema, m.data).orderId
            : fromBinary(OrderDeliveredSchema, m.data).orderId) === orderId,
      );
    await waitFor(async () => (await published("mercato.order.order_delivered")).length > 0, {
      message: "OrderDelivered on the order stream",
    });
    const shippedMessages = await published("mercato.order.order_shipped");
    expect(shippedMessages).toHaveLength(1);
    expect(fromBinary(OrderShippedSchema, shippedMessages[0]?.data ?? new Uint8Array())).toMatchObject({
      orderId,
      userId,
      shipmentId,
      trackingNumber: tracking,
      version: 3n,
    });
    const deliveredMessages = await published("mercato.order.order_delivered");
    expect(deliveredMessages).toHaveLength(1);
    expect(fromBinary(OrderDeliveredSchema, deliveredMessages[0]?.data ?? new Uint8Array())).toMatchObject({
      orderId,
      shipmentId,
      version: 4n,
    });

    // The order view (a projection) shows it.
    const [view2] = await order.service.database.query<{ status: number }>(
      sql`select status from order_views where order_id = ${orderId}`,
    );
    expect(view2?.status).toBe(OrderStatus.DELIVERED);
  });

  it("a delivery reported before the hand-over records shipped, then delivered", async () => {
    const { orderId, userId } = await confirmedOrder();
    const shipmentId = uuidv7();
    await publishEvent(
      js(),
      SHIPPING_SUBJECTS.delivered,
      ShipmentDeliveredSchema,
      shipmentEvent(orderId, userId, shipmentId, "TRK-EARLY"),
    );
    await waitFor(async () => (await statusOf(orderId)) === OrderStatus.DELIVERED, {
      message: "order to be delivered",
    });
    await publishEvent(
      js(),
      SHIPPING_SUBJECTS.shipped,
      ShipmentShippedSchema,
      shipmentEvent(orderId, userId, shipmentId, "TRK-EARLY"),
    );
    await settle();
    expect(await history(orderId)).toEqual(["placed", "confirmed", "shipped", "delivered"]);
    const { order: view } = await order.client.getOrder({ orderId }, admin);
    expect(view?.status).toBe(OrderStatus.DELIVERED);
    expect(view?.trackingNumber).toBe("TRK-EARLY");
  });

  it("a shipment of a cancelled order changes nothing and goes to the dead-letter stream", async () => {
    const { orderId, userId } = await confirmedOrder();
    const { order: cancelled } = await order.client.cancelOrder({ orderId }, as(userId));
    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    const event = shipmentEvent(orderId, userId, uuidv7(), "TRK-LATE");
    await publishEvent(js(), SHIPPING_SUBJECTS.shipped, ShipmentShippedSchema, event);
    const deadLetters = async () =>
      (
        await streamMessages(
          order.service.nats,
          "MERCATO_DLQ",
          `mercato.dlq.${prefix}${DURABLES.shipmentShipped}`,
        )
      ).filter((m) => m.headers?.get("Mercato-Event-Id") === event.eventId);
    await waitFor(async () => (await deadLetters()).length === 1, {
      timeoutMs: 10_000,
      message: "the shipment event to be dead-lettered",
    });
    const [letter] = await deadLetters();
    expect(letter?.headers?.get(DLQ_HEADERS.error)).toMatch(/cannot ship/);
    expect(await statusOf(orderId)).toBe(OrderStatus.CANCELLED);
    expect(await history(orderId)).toEqual(["placed", "confirmed", "cancelled"]);
  });
});
