// Shipping as a consumer of order's events (a message pact): each message is published the way the
// outbox relay publishes it (subject, type header, protobuf binary decoded from the pact's protobuf
// JSON) to a running shipping service, and its consumer must act on it. The pact written here is
// compared with pacts/shipping-order.json; order's publishers are verified against it.

import type { RunningService } from "@mercato/platform/service";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { checkPactFile, eventFromPact, pactOutput, waitFor } from "@mercato/testing";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { schema } from "../db/schema.js";
import { shipmentByOrder } from "../db/shipments.js";
import { orderConfirmed, publishEvent, publishOrderConfirmed, startShipping } from "../testing/harness.js";
import { ORDER_SUBJECTS } from "./consumers.js";

const { like, integer, regex, uuid } = MatchersV3;
const output = pactOutput("shipping", "order");
const pact = new PactV4({ consumer: "shipping", provider: "order", dir: output.dir, logLevel: "warn" });
let service: RunningService<typeof schema>;

beforeAll(async () => {
  service = await startShipping();
});
afterAll(async () => {
  await service?.stop();
});

const shipmentOf = (orderId: string) => shipmentByOrder(service.database.db, orderId);

describe("shipping's expectations of order's events", () => {
  it("creates a shipment to the order's address when an order is confirmed", async () => {
    await pact
      .addAsynchronousInteraction()
      .given("an order was confirmed")
      .expectsToReceive("an OrderConfirmed event", (message) =>
        message
          .withJSONContent({
            orderId: uuid("0197a1b2-0000-7000-8000-0000000000d1"),
            userId: uuid("0197a1b2-0000-7000-8000-0000000000b1"),
            itemCount: integer(2),
            shippingAddress: {
              name: like("Ada Lovelace"),
              line1: like("1 Analytical Way"),
              city: like("Berlin"),
              postalCode: like("10115"),
              countryCode: regex(/^[A-Z]{2}$/, "DE"),
            },
          })
          .withMetadata({
            subject: ORDER_SUBJECTS.confirmed,
            "Mercato-Event-Type": OrderConfirmedSchema.typeName,
          }),
      )
      .executeTest(async (message) => {
        const orderId = uuidv7();
        const { subject, event } = eventFromPact(message, OrderConfirmedSchema, { orderId });
        await publishEvent(service.nats.jetstream(), subject, OrderConfirmedSchema, event);
        await waitFor(async () => (await shipmentOf(orderId)) !== undefined, {
          timeoutMs: 30_000,
          message: `a shipment for order ${orderId}`,
        });
        const shipment = await shipmentOf(orderId);
        expect(shipment).toMatchObject({ status: "LABEL_CREATED", userId: event.userId });
      });
  });

  it("cancels the shipment of an order that is cancelled before it left", async () => {
    await pact
      .addAsynchronousInteraction()
      .given("an order was cancelled")
      .expectsToReceive("an OrderCancelled event", (message) =>
        message
          .withJSONContent({
            orderId: uuid("0197a1b2-0000-7000-8000-0000000000d1"),
            reason: like("payment declined: card_declined"),
          })
          .withMetadata({
            subject: ORDER_SUBJECTS.cancelled,
            "Mercato-Event-Type": OrderCancelledSchema.typeName,
          }),
      )
      .executeTest(async (message) => {
        const confirmed = orderConfirmed();
        await publishOrderConfirmed(service.nats.jetstream(), confirmed);
        await waitFor(async () => (await shipmentOf(confirmed.orderId)) !== undefined, {
          timeoutMs: 30_000,
          message: `a shipment for order ${confirmed.orderId}`,
        });
        const { subject, event } = eventFromPact(message, OrderCancelledSchema, {
          orderId: confirmed.orderId,
        });
        await publishEvent(service.nats.jetstream(), subject, OrderCancelledSchema, event);
        await waitFor(async () => (await shipmentOf(confirmed.orderId))?.status === "CANCELLED", {
          timeoutMs: 30_000,
          message: `order ${confirmed.orderId}'s shipment to be cancelled`,
        });
      });
  }, 120_000); // two consumer round trips of up to 30 s each on a loaded machine

  it("wrote the pact that is committed as pacts/shipping-order.json", () => {
    checkPactFile(output);
  });
});
