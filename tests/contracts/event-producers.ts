/**
 * Producing the events of the message pacts through the real publishing code: each provider state
 * does what makes the event happen on a whole running system (through the edge), and the event is
 * read back from its JetStream stream as the outbox relay published it. The message Pact compares is
 * the event's protobuf JSON, with its subject and `Mercato-Event-Type` header as metadata.
 */
import { type DescMessage, fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import { UserRegisteredSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { streamMessages, waitFor } from "@mercato/testing";
import type { NatsConnection } from "nats";
import { admin, type E2eSystem } from "../e2e/harness.js";
import { createProduct, newCustomer, paths, placeOrder, waitForStatus } from "../e2e/shop-helpers.js";

/** What a message provider hands Pact: the body, and the metadata to compare. */
export interface ProducedMessage {
  readonly __pactMessageMetadata: Record<string, string>;
  readonly message: JsonValue;
}

/** The events of the message pacts: which stream and subject they are published on. */
const events = {
  userRegistered: {
    schema: UserRegisteredSchema,
    stream: "MERCATO_IDENTITY",
    subject: "mercato.identity.user_registered",
  },
  orderConfirmed: {
    schema: OrderConfirmedSchema,
    stream: "MERCATO_ORDER",
    subject: "mercato.order.order_confirmed",
  },
  orderCancelled: {
    schema: OrderCancelledSchema,
    stream: "MERCATO_ORDER",
    subject: "mercato.order.order_cancelled",
  },
  shipmentShipped: {
    schema: ShipmentShippedSchema,
    stream: "MERCATO_SHIPPING",
    subject: "mercato.shipping.shipment_shipped",
  },
  shipmentDelivered: {
    schema: ShipmentDeliveredSchema,
    stream: "MERCATO_SHIPPING",
    subject: "mercato.shipping.shipment_delivered",
  },
} as const;
type EventName = keyof typeof events;

/**
 * Provider states and message providers for Pact's Verifier. One closure on purpose (longer than a
 * function should be): a state keeps the event it produced for the message provider Pact asks next.
 */
export function eventProducers(e2e: E2eSystem, nats: NatsConnection) {
  const produced = new Map<EventName, ProducedMessage>();
  let adminToken: Promise<string> | undefined;
  const asAdmin = () => {
    adminToken ??= e2e.login(admin.email, admin.password);
    return adminToken;
  };

  /** Waits until the relay published `name` with `field` = `value`, and keeps it as the pact's message. */
  async function capture(name: EventName, field: string, value: string): Promise<void> {
    const { schema, stream, subject } = events[name];
    await waitFor(
      async () => {
        for (const msg of await streamMessages(nats, stream, subject)) {
          const event = fromBinary(schema as DescMessage, msg.data) as unknown as Record<string, unknown>;
          if (event[field] !== value) continue;
          produced.set(name, {
            __pactMessageMetadata: {
              subject: msg.subject,
              "Mercato-Event-Type": msg.headers?.get("Mercato-Event-Type") ?? "",
            },
            message: toJson(schema as DescMessage, event as never),
          });
          return true;
        }
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `${subject} with ${field} ${value}` },
    );
  }

  async function order(card: string, status: string) {
    const customer = await newCustomer(e2e);
    const product = await createProduct(e2e, await asAdmin(), 1250, 10);
    const placed = await placeOrder(e2e, customer.token, [{ productId: product.id, quantity: 2 }], card);
    const orderId = placed.body.order.id as string;
    await waitForStatus(e2e, customer.token, orderId, [status], 60_000);
    return { orderId, token: customer.token };
  }

  /** Advances a confirmed order's shipment `times` times (to SHIPPED, then DELIVERED). */
  async function advancedShipment(times: number): Promise<string> {
    const { orderId, token } = await order("tok_visa", "ORDER_STATUS_CONFIRMED");
    let shipmentId = "";
    await waitFor(
      async () => {
        const got = await e2e.call(`${paths.shipping}/GetShipment`, { orderId }, token);
        shipmentId = got.body?.shipment?.id ?? "";
        return got.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `a shipment for order ${orderId}` },
    );
    for (let i = 0; i < times; i++) {
      const advanced = await e2e.call(`${paths.shipping}/AdvanceShipment`, { shipmentId }, await asAdmin());
      if (advanced.status !== 200) throw new Error(`AdvanceShipment: ${JSON.stringify(advanced.body)}`);
    }
    return orderId;
  }

  const stateHandlers = {
    "a user registered": async () => {
      const { userId } = await newCustomer(e2e);
      await capture("userRegistered", "userId", userId);
    },
    "an order was confirmed": async () => {
      await capture("orderConfirmed", "orderId", (await order("tok_visa", "ORDER_STATUS_CONFIRMED")).orderId);
    },
    "an order was cancelled": async () => {
      await capture(
        "orderCancelled",
        "orderId",
        (await order("tok_chargeDeclined", "ORDER_STATUS_CANCELLED")).orderId,
      );
    },
    "a shipment was handed to the carrier": async () => {
      await capture("shipmentShipped", "orderId", await advancedShipment(1));
    },
    "a shipment was delivered": async () => {
      await capture("shipmentDelivered", "orderId", await advancedShipment(2));
    },
  };

  const message = (name: EventName) => async (): Promise<ProducedMessage> => {
    const found = produced.get(name);
    if (found === undefined)
      throw new Error(`no ${events[name].subject} was produced: its provider state did not run`);
    return found;
  };
  const messageProviders = {
    "a UserRegistered event": message("userRegistered"),
    "an OrderConfirmed event": message("orderConfirmed"),
    "an OrderCancelled event": message("orderCancelled"),
    "a ShipmentShipped event": message("shipmentShipped"),
    "a ShipmentDelivered event": message("shipmentDelivered"),
  };
  return { stateHandlers, messageProviders };
}
