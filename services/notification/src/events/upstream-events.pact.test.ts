// Notification as a consumer of identity's, order's and shipping's events (message pacts): each message
// is published the way the outbox relay publishes it to a running notification service, and the
// customer must get the notification rendered from the fields the templates read. The pacts written
// here are compared with pacts/notification-{identity,order,shipping}.json.
import type { DescMessage } from "@bufbuild/protobuf";
import { UserRegisteredSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { checkPactFile, eventFromPact, type PactMessage, pactOutput, waitFor } from "@mercato/testing";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shortId } from "../domain/templates.js";
import { publishEvent, startNotification, type TestNotification } from "../testing/harness.js";

const { like, integer, regex, uuid } = MatchersV3;
const timestamp = regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "2026-01-02T03:04:05.678Z");
const ids = { user: "0197a1b2-0000-7000-8000-0000000000b1", order: "0197a1b2-0000-7000-8000-0000000000d1" };

function pactWith(provider: string) {
  const output = pactOutput("notification", provider);
  return {
    output,
    pact: new PactV4({ consumer: "notification", provider, dir: output.dir, logLevel: "warn" }),
  };
}
const identity = pactWith("identity");
const order = pactWith("order");
const shipping = pactWith("shipping");

let app: TestNotification;
beforeAll(async () => {
  app = await startNotification();
});
afterAll(async () => {
  await app?.service.stop();
});

/** Publishes the pact's message for a fresh user (and order), then returns what the user was told. */
async function deliver(message: PactMessage, schema: DescMessage, ownIds: Record<string, string> = {}) {
  const userId = uuidv7();
  const { subject, event } = eventFromPact(message, schema, { userId, ...ownIds });
  await publishEvent(app.service.nats.jetstream(), subject, schema, event);
  let rows: { subject: string; text: string }[] = [];
  await waitFor(
    async () => {
      rows = await app.service.database.query<{ subject: string; text: string }>(
        sql`select payload->>'subject' as subject, payload->>'text' as text from deliveries where user_id = ${userId}`,
      );
      return rows.length > 0;
    },
    { timeoutMs: 30_000, message: `a notification for user ${userId} from ${subject}` },
  );
  return rows[0]!;
}

describe("notification's expectations of identity's events", () => {
  it("welcomes a user who registered, by name and email", async () => {
    await identity.pact
      .addAsynchronousInteraction()
      .given("a user registered")
      .expectsToReceive("a UserRegistered event", (m) =>
        m
          .withJSONContent({
            occurredAt: timestamp,
            userId: uuid(ids.user),
            email: like("ada@example.com"),
            name: like("Ada Lovelace"),
          })
          .withMetadata({
            subject: "mercato.identity.user_registered",
            "Mercato-Event-Type": UserRegisteredSchema.typeName,
          }),
      )
      .executeTest(async (message) => {
        const told = await deliver(message, UserRegisteredSchema);
        expect(told.subject).toBe("Welcome to Mercato");
        expect(told.text).toContain("Hi Ada Lovelace");
        expect(told.text).toContain("ada@example.com");
      });
  });

  it("wrote the pact that is committed as pacts/notification-identity.json", () => {
    checkPactFile(identity.output);
  });
});

describe("notification's expectations of order's events", () => {
  it("confirms an order with its item count and total", async () => {
    await order.pact
      .addAsynchronousInteraction()
      .given("an order was confirmed")
      .expectsToReceive("an OrderConfirmed event", (m) =>
        m
          .withJSONContent({
            occurredAt: timestamp,
            orderId: uuid(ids.order),
            userId: uuid(ids.user),
            itemCount: integer(2),
            total: { currencyCode: regex(/^[A-Z]{3}$/, "EUR"), amountMinor: regex(/^\d+$/, "2500") },
          })
          .withMetadata({
            subject: "mercato.order.order_confirmed",
            "Mercato-Event-Type": OrderConfirmedSchema.typeName,
          }),
      )
      .executeTest(async (message) => {
        const orderId = uuidv7();
        const told = await deliver(message, OrderConfirmedSchema, { orderId });
        expect(told.subject).toBe(`Your order ${shortId(orderId)} is confirmed`);
        expect(told.text).toContain("2 item(s) for 25.00 EUR");
      });
  });

  it("tells the customer an order was cancelled, and why", async () => {
    await order.pact
      .addAsynchronousInteraction()
      .given("an order was cancelled")
      .expectsToReceive("an OrderCancelled event", (m) =>
        m
          .withJSONContent({
            occurredAt: timestamp,
            orderId: uuid(ids.order),
            userId: uuid(ids.user),
            reason: like("payment declined: card_declined"),
          })
          .withMetadata({
            subject: "mercato.order.order_cancelled",
            "Mercato-Event-Type": OrderCancelledSchema.typeName,
          }),
      )
      .executeTest(async (message) => {
        const orderId = uuidv7();
        const told = await deliver(message, OrderCancelledSchema, { orderId });
        expect(told.subject).toBe(`Your order ${shortId(orderId)} was cancelled`);
        expect(told.text).toContain(": payment declined: card_declined.");
      });
  });

  it("wrote the pact that is committed as pacts/notification-order.json", () => {
    checkPactFile(order.output);
  });
});

describe("notification's expectations of shipping's events", () => {
  const shipment = (description: string, state: string, subject: string, schema: DescMessage) =>
    shipping.pact
      .addAsynchronousInteraction()
      .given(state)
      .expectsToReceive(description, (m) =>
        m
          .withJSONContent({
            occurredAt: timestamp,
            shipmentId: uuid("0197a1b2-0000-7000-8000-0000000000c1"),
            orderId: uuid(ids.order),
            userId: uuid(ids.user),
            trackingNumber: like("MC123456789DE"),
          })
          .withMetadata({ subject, "Mercato-Event-Type": schema.typeName }),
      );

  it("tells the customer an order has shipped, with its tracking number", async () => {
    await shipment(
      "a ShipmentShipped event",
      "a shipment was handed to the carrier",
      "mercato.shipping.shipment_shipped",
      ShipmentShippedSchema,
    ).executeTest(async (message) => {
      const orderId = uuidv7();
      const told = await deliver(message, ShipmentShippedSchema, { orderId });
      expect(told.subject).toBe(`Your order ${shortId(orderId)} has shipped`);
      expect(told.text).toContain("Tracking number: MC123456789DE.");
    });
  });

  it("tells the customer an order was delivered", async () => {
    await shipment(
      "a ShipmentDelivered event",
      "a shipment was delivered",
      "mercato.shipping.shipment_delivered",
      ShipmentDeliveredSchema,
    ).executeTest(async (message) => {
      const orderId = uuidv7();
      const told = await deliver(message, ShipmentDeliveredSchema, { orderId });
      expect(told.subject).toBe(`Your order ${shortId(orderId)} was delivered`);
    });
  });

  it("wrote the pact that is committed as pacts/notification-shipping.json", () => {
    checkPactFile(shipping.output);
  });
});
