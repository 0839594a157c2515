/**
 * Consumers of order events. Each handler runs inside the inbox transaction, so an event delivered
 * twice has one effect, and the effect and its ShipmentCreated commit together.
 */
import type { Database } from "@mercato/platform/db";
import { type EventConsumer, startConsumer } from "@mercato/platform/events";
import type { Logger } from "@mercato/platform/log";
import { domainStream } from "@mercato/platform/service";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import type { JetStreamClient } from "nats";
import type { schema } from "../db/schema.js";
import { cancelOrderShipment, createShipment } from "../db/shipments.js";
import { validateShipmentInput } from "../domain/shipment.js";

/** Subjects this service consumes. */
export const ORDER_SUBJECTS = {
  confirmed: "mercato.order.order_confirmed",
  cancelled: "mercato.order.order_cancelled",
} as const;

/** Durable consumer names (before the configured prefix). */
export const DURABLES = {
  orderConfirmed: "shipping-order-confirmed",
  orderCancelled: "shipping-order-cancelled",
} as const;

/** What the consumers need. */
export interface ConsumerDeps {
  readonly js: JetStreamClient;
  readonly database: Database<typeof schema>;
  readonly logger: Logger;
  readonly durablePrefix?: string | undefined;
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
}

/** Starts the OrderConfirmed and OrderCancelled consumers. */
export async function startOrderConsumers(deps: ConsumerDeps): Promise<EventConsumer[]> {
  const { js, database, logger } = deps;
  const stream = domainStream("order");
  const name = (durable: string) => `${deps.durablePrefix ?? ""}${durable}`;
  const common = { js, database, stream, logger, maxDeliver: deps.maxDeliver, backoffMs: deps.backoffMs };

  const confirmed = await startConsumer({
    ...common,
    durable: name(DURABLES.orderConfirmed),
    filterSubject: ORDER_SUBJECTS.confirmed,
    async handler(event, tx) {
      const order = event.decode(OrderConfirmedSchema);
      const address = order.shippingAddress;
      const violations = validateShipmentInput({
        orderId: order.orderId,
        userId: order.userId,
        address,
        itemCount: order.itemCount,
      });
      // A malformed event never becomes valid: it fails every attempt and ends in the dead-letter stream.
      if (violations.length > 0 || address === undefined) {
        throw new Error(
          `invalid OrderConfirmed: ${violations.map((v) => `${v.field} ${v.description}`).join("; ")}`,
        );
      }
      const outcome = await createShipment(tx, {
        orderId: order.orderId,
        userId: order.userId,
        address: {
          name: address.name,
          line1: address.line1,
          line2: address.line2,
          city: address.city,
          region: address.region,
          postalCode: address.postalCode,
          countryCode: address.countryCode,
        },
        itemCount: order.itemCount,
      });
      if (outcome.kind === "order_cancelled") {
        logger.info({ orderId: order.orderId }, "order already cancelled; no shipment created");
      } else {
        logger.info(
          { orderId: order.orderId, shipmentId: outcome.shipment.id, outcome: outcome.kind },
          "shipment for confirmed order",
        );
      }
    },
  });

  const cancelled = await startConsumer({
    ...common,
    durable: name(DURABLES.orderCancelled),
    filterSubject: ORDER_SUBJECTS.cancelled,
    async handler(event, tx) {
      const order = event.decode(OrderCancelledSchema);
      if (order.orderId === "") throw new Error("invalid OrderCancelled: order_id is empty");
      const outcome = await cancelOrderShipment(tx, order.orderId, order.reason || "order cancelled");
      if (outcome.kind === "too_late") {
        logger.warn(
          { orderId: order.orderId, shipmentId: outcome.shipment.id, status: outcome.shipment.status },
          "order cancelled after its shipment left; shipment kept",
        );
      } else {
        logger.info({ orderId: order.orderId, outcome: outcome.kind }, "order cancellation handled");
      }
    },
  });

  return [confirmed, cancelled];
}
