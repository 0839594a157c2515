/**
 * Shipment events, written to the outbox in the caller's transaction and published on
 * `domainStream("shipping")` by the relay.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { SqlExecutor } from "@mercato/platform/db";
import { enqueueEvent, eventPayload } from "@mercato/platform/events";
import {
  ShipmentCreatedSchema,
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { uuidv7 } from "uuidv7";
import type { ShipmentRow } from "../db/schema.js";

/** Subjects of the shipping domain's events. */
export const SHIPPING_SUBJECTS = {
  created: "mercato.shipping.shipment_created",
  shipped: "mercato.shipping.shipment_shipped",
  delivered: "mercato.shipping.shipment_delivered",
} as const;

function common(shipment: ShipmentRow, at: Date) {
  return {
    eventId: uuidv7(),
    occurredAt: timestampFromDate(at),
    shipmentId: shipment.id,
    orderId: shipment.orderId,
    userId: shipment.userId,
    trackingNumber: shipment.trackingNumber,
  };
}

/** Enqueues ShipmentCreated for a new shipment. */
export async function enqueueShipmentCreated(tx: SqlExecutor, shipment: ShipmentRow): Promise<string> {
  const event = create(ShipmentCreatedSchema, common(shipment, shipment.createdAt));
  return enqueueEvent(tx, {
    id: event.eventId,
    subject: SHIPPING_SUBJECTS.created,
    aggregateId: shipment.id,
    ...eventPayload(ShipmentCreatedSchema, event),
  });
}

/** Enqueues ShipmentShipped or ShipmentDelivered after AdvanceShipment moved `shipment`. */
export async function enqueueShipmentAdvanced(tx: SqlExecutor, shipment: ShipmentRow): Promise<string> {
  if (shipment.status === "SHIPPED") {
    const event = create(ShipmentShippedSchema, common(shipment, shipment.shippedAt ?? new Date()));
    return enqueueEvent(tx, {
      id: event.eventId,
      subject: SHIPPING_SUBJECTS.shipped,
      aggregateId: shipment.id,
      ...eventPayload(ShipmentShippedSchema, event),
    });
  }
  if (shipment.status === "DELIVERED") {
    const event = create(ShipmentDeliveredSchema, common(shipment, shipment.deliveredAt ?? new Date()));
    return enqueueEvent(tx, {
      id: event.eventId,
      subject: SHIPPING_SUBJECTS.delivered,
      aggregateId: shipment.id,
      ...eventPayload(ShipmentDeliveredSchema, event),
    });
  }
  throw new Error(`no event for a shipment advanced to ${shipment.status}`);
}
