// Order as a consumer of shipping's events (a message pact): each message is published the way the
// outbox relay publishes it to a running order service, for an order the saga confirmed, and the order
// must follow the shipment (SHIPPED with the tracking number, then DELIVERED). The pact written here
// is compared with pacts/order-shipping.json; shipping's publishers are verified against it.
import type { DescMessage } from "@bufbuild/protobuf";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { checkPactFile, eventFromPact, type PactMessage, pactOutput, waitFor } from "@mercato/testing";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
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
import { SHIPPING_SUBJECTS } from "./consumers.js";

const { like, uuid } = MatchersV3;
const output = pactOutput("order", "shipping");
const pact = new PactV4({ consumer: "order", provider: "shipping", dir: output.dir, logLevel: "warn" });
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

/** An order the saga confirmed; returns its id. */
async function confirmedOrder(): Promise<string> {
  const product = await createProduct(upstreams, { priceMinor: 1200, stock: 5 });
  const userId = uuidv7();
  const { order: placed } = await order.client.placeOrder(
    {
      idempotencyKey: uuidv7(),
      lines: [{ productId: product.id, quantity: 1 }],
      paymentToken: "tok_visa",
      shippingAddress: address,
    },
    as(userId),
  );
  const settled = await settledOrder(order, placed!.id, userId);
  expect(settled.status).toBe(OrderStatus.CONFIRMED);
  return placed!.id;
}

function shipmentMessage(description: string, state: string, subject: string, schema: DescMessage) {
  return pact
    .addAsynchronousInteraction()
    .given(state)
    .expectsToReceive(description, (m) =>
      m
        .withJSONContent({
          shipmentId: uuid("0197a1b2-0000-7000-8000-0000000000c1"),
          orderId: uuid("0197a1b2-0000-7000-8000-0000000000d1"),
          trackingNumber: like("MC123456789DE"),
        })
        .withMetadata({ subject, "Mercato-Event-Type": schema.typeName }),
    );
}

async function publish(message: PactMessage, schema: DescMessage, orderId: string) {
  const { subject, event } = eventFromPact(message, schema, { orderId });
  await publishEvent(order.service.nats.jetstream(), subject, schema, event);
}

async function waitForStatus(orderId: string, status: OrderStatus) {
  await waitFor(async () => (await order.client.getOrder({ orderId }, admin)).order?.status === status, {
    timeoutMs: 30_000,
    message: `order ${orderId} to be ${OrderStatus[status]}`,
  });
  return (await order.client.getOrder({ orderId }, admin)).order!;
}

describe("order's expectations of shipping's events", () => {
  it("marks a confirmed order shipped, with the shipment's tracking number", async () => {
    await shipmentMessage(
      "a ShipmentShipped event",
      "a shipment was handed to the carrier",
      SHIPPING_SUBJECTS.shipped,
      ShipmentShippedSchema,
    ).executeTest(async (message) => {
      const orderId = await confirmedOrder();
      await publish(message, ShipmentShippedSchema, orderId);
      const shipped = await waitForStatus(orderId, OrderStatus.SHIPPED);
      expect(shipped.trackingNumber).toBe("MC123456789DE");
    });
  }, 150_000); // a saga to settle (≤ 45 s) and the event to apply (≤ 30 s) on a loaded machine

  it("marks a confirmed order delivered", async () => {
    await shipmentMessage(
      "a ShipmentDelivered event",
      "a shipment was delivered",
      SHIPPING_SUBJECTS.delivered,
      ShipmentDeliveredSchema,
    ).executeTest(async (message) => {
      const orderId = await confirmedOrder();
      await publish(message, ShipmentDeliveredSchema, orderId);
      await waitForStatus(orderId, OrderStatus.DELIVERED);
    });
  }, 150_000);

  it("wrote the pact that is committed as pacts/order-shipping.json", () => {
    checkPactFile(output);
  });
});
