import { fromBinary } from "@bufbuild/protobuf";
import { Code as status } from "@mercato/platform/errors";
import type { RunningService } from "@mercato/platform/service";
import {
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { ShipmentStatus, ShippingService } from "@mercato/sdk/gen/mercato/shipping/v1/shipping_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { schema } from "./db/schema.js";
import { shipmentByOrder } from "./db/shipments.js";
import {
  orderConfirmed,
  publishOrderCancelled,
  publishOrderConfirmed,
  readSubject,
  startShipping,
} from "./testing/harness.js";

let service: RunningService<typeof schema>;
let client: GrpcClient<typeof ShippingService>;
const admin = { "x-user-id": uuidv7(), "x-user-role": "admin" };
const as = (userId: string) => ({ metadata: { "x-user-id": userId, "x-user-role": "customer" } });

beforeAll(async () => {
  service = await startShipping();
  client = createGrpcClient(ShippingService, `127.0.0.1:${service.port}`);
});
afterAll(async () => {
  client?.$close();
  await service?.stop();
});

async function shipmentOf(orderId: string) {
  return shipmentByOrder(service.database.db, orderId);
}

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

describe("QuoteShipping", () => {
  it("prices by weight and zone, deterministically", async () => {
    const de = await client.quoteShipping({ address: { countryCode: "DE" }, itemCount: 1 });
    expect(de.price).toMatchObject({ currencyCode: "EUR", amountMinor: 499n });
    expect(de.estimatedDays).toBe(2);
    const again = await client.quoteShipping({ address: { countryCode: "DE" }, itemCount: 1 });
    expect(again.price?.amountMinor).toBe(499n);
    const heavy = await client.quoteShipping({ address: { countryCode: "DE" }, itemCount: 9 });
    expect(heavy.price?.amountMinor).toBe(799n);
    const us = await client.quoteShipping({
      address: { countryCode: "US" },
      itemCount: 1,
      currencyCode: "USD",
    });
    expect(us.price).toMatchObject({ currencyCode: "USD", amountMinor: 2749n });
  });

  it("rejects bad input with field violations", async () => {
    for (const request of [
      { itemCount: 1 },
      { address: { countryCode: "de" }, itemCount: 1 },
      { address: { countryCode: "DE" }, itemCount: 0 },
      { address: { countryCode: "DE" }, itemCount: 1, currencyCode: "XYZ" },
    ]) {
      expect(await codeOf(client.quoteShipping(request))).toBe(status.INVALID_ARGUMENT);
    }
  });
});

describe("OrderConfirmed consumer", () => {
  it("creates one shipment even when the event is delivered twice, and emits ShipmentCreated once", async () => {
    const js = service.nats.jetstream();
    const event = orderConfirmed();
    await publishOrderConfirmed(js, event);
    await publishOrderConfirmed(js, event, uuidv7()); // same event id, new message id: NATS keeps both
    await waitFor(async () => (await shipmentOf(event.orderId)) !== undefined, { timeoutMs: 15_000 });
    const shipment = (await shipmentOf(event.orderId))!;
    expect(shipment).toMatchObject({ status: "LABEL_CREATED", userId: event.userId, itemCount: 2 });
    expect(shipment.trackingNumber).toMatch(/^MP[A-Z0-9]{12}DE$/);

    // Both deliveries reached the consumer (the duplicate was skipped by the inbox).
    await waitFor(async () => {
      const [row] = await service.database.query<{ n: number }>(
        sql`select count(*)::int as n from inbox where event_id = ${event.eventId}`,
      );
      return row?.n === 1;
    });
    await new Promise((r) => setTimeout(r, 500));
    const [count] = await service.database.query<{ n: number }>(
      sql`select count(*)::int as n from shipments where order_id = ${event.orderId}`,
    );
    expect(count?.n).toBe(1);

    await waitFor(
      async () => {
        const created = (await readSubject(js, "MERCATO_SHIPPING", "mercato.shipping.shipment_created"))
          .map((m) => fromBinary(ShipmentCreatedSchema, m.data))
          .filter((e) => e.orderId === event.orderId);
        return created.length === 1 && created[0]?.shipmentId === shipment.id;
      },
      { timeoutMs: 10_000, message: "one ShipmentCreated" },
    );

    // CreateShipment for the same order returns the same shipment.
    const again = await client.createShipment({
      orderId: event.orderId,
      userId: event.userId,
      address: event.shippingAddress,
      itemCount: 2,
    });
    expect(again.shipment?.id).toBe(shipment.id);
  });

  it("dead-letters a malformed OrderConfirmed without blocking good ones", async () => {
    const js = service.nats.jetstream();
    const bad = orderConfirmed();
    bad.shippingAddress.countryCode = "";
    await publishOrderConfirmed(js, bad);
    const good = orderConfirmed();
    await publishOrderConfirmed(js, good);
    await waitFor(async () => (await shipmentOf(good.orderId)) !== undefined, { timeoutMs: 15_000 });
    expect(await shipmentOf(bad.orderId)).toBeUndefined();
  });
});

describe("CreateShipment", () => {
  it("is idempotent by order id and validates input", async () => {
    const orderId = uuidv7();
    const userId = uuidv7();
    const request = { orderId, userId, address: { countryCode: "FR", name: "A", line1: "x" }, itemCount: 1 };
    const first = await client.createShipment(request);
    const second = await client.createShipment(request);
    expect(second.shipment?.id).toBe(first.shipment?.id);
    expect(first.shipment?.status).toBe(ShipmentStatus.LABEL_CREATED);
    expect(await codeOf(client.createShipment({ ...request, orderId: "nope" }))).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(await codeOf(client.createShipment({ ...request, itemCount: 0 }))).toBe(status.INVALID_ARGUMENT);
  });
});

describe("AdvanceShipment and GetShipment", () => {
  it("moves LABEL_CREATED → SHIPPED → DELIVERED, emits each event once, and refuses other steps", async () => {
    const js = service.nats.jetstream();
    const event = orderConfirmed();
    await publishOrderConfirmed(js, event);
    await waitFor(async () => (await shipmentOf(event.orderId)) !== undefined, { timeoutMs: 15_000 });
    const { shipment } = await client.getShipment({ orderId: event.orderId }, as(event.userId));
    expect(shipment?.status).toBe(ShipmentStatus.LABEL_CREATED);
    const id = shipment!.id;

    // Customers may not advance, not even their own shipment.
    expect(await codeOf(client.advanceShipment({ shipmentId: id }, as(event.userId)))).toBe(
      status.PERMISSION_DENIED,
    );

    const shipped = await client.advanceShipment({ shipmentId: id }, { metadata: admin });
    expect(shipped.shipment?.status).toBe(ShipmentStatus.SHIPPED);
    expect(shipped.shipment?.shippedAt).toBeDefined();
    const delivered = await client.advanceShipment({ shipmentId: id }, { metadata: admin });
    expect(delivered.shipment?.status).toBe(ShipmentStatus.DELIVERED);
    expect(await codeOf(client.advanceShipment({ shipmentId: id }, { metadata: admin }))).toBe(
      status.FAILED_PRECONDITION,
    );
    expect(await codeOf(client.advanceShipment({ shipmentId: uuidv7() }, { metadata: admin }))).toBe(
      status.NOT_FOUND,
    );

    await waitFor(
      async () => {
        const shippedEvents = (await readSubject(js, "MERCATO_SHIPPING", "mercato.shipping.shipment_shipped"))
          .map((m) => fromBinary(ShipmentShippedSchema, m.data))
          .filter((e) => e.shipmentId === id);
        const deliveredEvents = (
          await readSubject(js, "MERCATO_SHIPPING", "mercato.shipping.shipment_delivered")
        )
          .map((m) => fromBinary(ShipmentDeliveredSchema, m.data))
          .filter((e) => e.shipmentId === id);
        return (
          shippedEvents.length === 1 &&
          deliveredEvents.length === 1 &&
          shippedEvents[0]?.userId === event.userId &&
          deliveredEvents[0]?.trackingNumber === shipment?.trackingNumber
        );
      },
      { timeoutMs: 10_000, message: "one ShipmentShipped and one ShipmentDelivered" },
    );
  });

  it("shows a shipment to its owner and admins only", async () => {
    const js = service.nats.jetstream();
    const event = orderConfirmed();
    await publishOrderConfirmed(js, event);
    await waitFor(async () => (await shipmentOf(event.orderId)) !== undefined, { timeoutMs: 15_000 });
    expect((await client.getShipment({ orderId: event.orderId }, { metadata: admin })).shipment?.userId).toBe(
      event.userId,
    );
    expect(await codeOf(client.getShipment({ orderId: event.orderId }, as(uuidv7())))).toBe(status.NOT_FOUND);
    expect(await codeOf(client.getShipment({ orderId: uuidv7() }, as(event.userId)))).toBe(status.NOT_FOUND);
    expect(await codeOf(client.getShipment({ orderId: "x" }, as(event.userId)))).toBe(
      status.INVALID_ARGUMENT,
    );
  });
});

describe("OrderCancelled consumer", () => {
  it("cancels a label-created shipment, which then cannot advance", async () => {
    const js = service.nats.jetstream();
    const event = orderConfirmed();
    await publishOrderConfirmed(js, event);
    await waitFor(async () => (await shipmentOf(event.orderId)) !== undefined, { timeoutMs: 15_000 });
    await publishOrderCancelled(js, event.orderId, event.userId);
    await waitFor(async () => (await shipmentOf(event.orderId))?.status === "CANCELLED", {
      timeoutMs: 15_000,
    });
    const { shipment } = await client.getShipment({ orderId: event.orderId }, as(event.userId));
    expect(shipment?.status).toBe(ShipmentStatus.CANCELLED);
    expect(await codeOf(client.advanceShipment({ shipmentId: shipment!.id }, { metadata: admin }))).toBe(
      status.FAILED_PRECONDITION,
    );
  });

  it("leaves a shipped shipment alone, and stops a late confirmation from creating one", async () => {
    const js = service.nats.jetstream();
    const shippedOrder = orderConfirmed();
    await publishOrderConfirmed(js, shippedOrder);
    await waitFor(async () => (await shipmentOf(shippedOrder.orderId)) !== undefined, { timeoutMs: 15_000 });
    const id = (await shipmentOf(shippedOrder.orderId))!.id;
    await client.advanceShipment({ shipmentId: id }, { metadata: admin });
    await publishOrderCancelled(js, shippedOrder.orderId, shippedOrder.userId);

    const late = orderConfirmed();
    await publishOrderCancelled(js, late.orderId, late.userId);
    await waitFor(async () => {
      const [row] = await service.database.query<{ n: number }>(
        sql`select count(*)::int as n from cancelled_orders where order_id in (${late.orderId}, ${shippedOrder.orderId})`,
      );
      return row?.n === 2;
    });
    await publishOrderConfirmed(js, late);
    await waitFor(async () => {
      const [row] = await service.database.query<{ n: number }>(
        sql`select count(*)::int as n from inbox where event_id = ${late.eventId}`,
      );
      return row?.n === 1;
    });
    expect(await shipmentOf(late.orderId)).toBeUndefined();
    expect((await shipmentOf(shippedOrder.orderId))?.status).toBe("SHIPPED");
  });
});
