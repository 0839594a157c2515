/**
 * Consumers of shipping's events (choreography): ShipmentShipped and ShipmentDelivered on
 * `MERCATO_SHIPPING` become OrderShipped and OrderDelivered. Each is a durable, inbox-idempotent
 * consumer: the handler runs in the transaction that records the event id, so an event delivered
 * twice has one effect. An event that cannot apply (unknown order, a cancelled order) fails every
 * attempt and ends in the dead-letter stream with its error.
 */
import type { Database, DbSchema } from "@mercato/platform/db";
import { type EventConsumer, startConsumer } from "@mercato/platform/events";
import type { Logger } from "@mercato/platform/log";
import { type BaseConfig, domainStream, type ServiceDeps } from "@mercato/platform/service";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { recordDelivered, recordShipped, type ShipmentFacts } from "./shipments.js";

/** The stream shipping publishes to: `MERCATO_SHIPPING` on `mercato.shipping.>`. */
export const shippingStream = domainStream("shipping");

/** Subjects this service consumes. */
export const SHIPPING_SUBJECTS = {
  shipped: "mercato.shipping.shipment_shipped",
  delivered: "mercato.shipping.shipment_delivered",
} as const;

/** Durable consumer names (before the configured prefix). */
export const DURABLES = {
  shipmentShipped: "order-shipment-shipped",
  shipmentDelivered: "order-shipment-delivered",
} as const;

/** What the consumers need. */
export interface ShipmentConsumerDeps {
  readonly js: ServiceDeps<DbSchema, BaseConfig>["js"];
  // biome-ignore lint/suspicious/noExplicitAny: uses the order tables through SqlExecutor
  readonly database: Database<any>;
  readonly logger: Logger;
  /** Prefix of the durable names (tests give each run its own; empty in deployments). */
  readonly durablePrefix?: string | undefined;
  readonly maxDeliver: number;
  readonly backoffMs: readonly number[];
}

function shipmentFacts(
  kind: string,
  event: { orderId: string; shipmentId: string; trackingNumber: string },
): ShipmentFacts {
  // A malformed event never becomes valid: it fails every attempt and ends in the dead-letter stream.
  if (event.orderId === "" || event.shipmentId === "") {
    throw new Error(`invalid ${kind}: order_id and shipment_id are required`);
  }
  return { orderId: event.orderId, shipmentId: event.shipmentId, trackingNumber: event.trackingNumber };
}

/** Starts the ShipmentShipped and ShipmentDelivered consumers. */
export async function startShipmentConsumers(deps: ShipmentConsumerDeps): Promise<EventConsumer[]> {
  const { js, database, logger } = deps;
  const name = (durable: string) => `${deps.durablePrefix ?? ""}${durable}`;
  const common = {
    js,
    database,
    stream: shippingStream,
    logger,
    maxDeliver: deps.maxDeliver,
    backoffMs: deps.backoffMs,
  };

  const shipped = await startConsumer({
    ...common,
    durable: name(DURABLES.shipmentShipped),
    filterSubject: SHIPPING_SUBJECTS.shipped,
    async handler(event, tx) {
      const facts = shipmentFacts("ShipmentShipped", event.decode(ShipmentShippedSchema));
      const state = await recordShipped(tx, facts);
      logger.info(
        { orderId: facts.orderId, shipmentId: facts.shipmentId, status: OrderStatus[state.status] },
        "shipment shipped",
      );
    },
  });

  const delivered = await startConsumer({
    ...common,
    durable: name(DURABLES.shipmentDelivered),
    filterSubject: SHIPPING_SUBJECTS.delivered,
    async handler(event, tx) {
      const facts = shipmentFacts("ShipmentDelivered", event.decode(ShipmentDeliveredSchema));
      const state = await recordDelivered(tx, facts);
      logger.info(
        { orderId: facts.orderId, shipmentId: facts.shipmentId, status: OrderStatus[state.status] },
        "shipment delivered",
      );
    },
  });

  return [shipped, delivered];
}
