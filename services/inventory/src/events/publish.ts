/** Inventory event publishers: each writes its event to the outbox in the caller's transaction. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import type { SqlExecutor } from "@mercato/platform/db";
import { enqueueEvent, eventPayload } from "@mercato/platform/events";
import {
  StockLowSchema,
  StockReleasedSchema,
  StockReservedSchema,
} from "@mercato/sdk/gen/mercato/inventory/v1/events_pb";
import { ReservationStatus } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { uuidv7 } from "uuidv7";
import type { StoredReservation } from "../db/queries.js";

export const STOCK_RESERVED_SUBJECT = "mercato.inventory.stock_reserved";
export const STOCK_RELEASED_SUBJECT = "mercato.inventory.stock_released";
export const STOCK_LOW_SUBJECT = "mercato.inventory.stock_low";

/** Enqueues StockReserved for a newly held reservation (aggregate: the reservation). */
export async function stockReserved(tx: SqlExecutor, reservation: StoredReservation): Promise<void> {
  const eventId = uuidv7();
  const event = create(StockReservedSchema, {
    eventId,
    occurredAt: timestampNow(),
    reservationId: reservation.id,
    orderId: reservation.orderId,
    lines: reservation.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
    ...(reservation.expiresAt ? { expiresAt: timestampFromDate(reservation.expiresAt) } : {}),
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: STOCK_RESERVED_SUBJECT,
    aggregateId: reservation.id,
    aggregateType: "mercato.inventory.reservation",
    ...eventPayload(StockReservedSchema, event),
  });
}

const releasedStatuses = {
  released: ReservationStatus.RELEASED,
  expired: ReservationStatus.EXPIRED,
  restocked: ReservationStatus.RESTOCKED,
} as const;

/**
 * Enqueues StockReleased for a reservation that gave its stock back: a held one on request or by
 * expiry, or a committed one restocked.
 */
export async function stockReleased(
  tx: SqlExecutor,
  reservation: StoredReservation,
  status: keyof typeof releasedStatuses,
  reason: string,
): Promise<void> {
  const eventId = uuidv7();
  const event = create(StockReleasedSchema, {
    eventId,
    occurredAt: timestampNow(),
    reservationId: reservation.id,
    orderId: reservation.orderId,
    lines: reservation.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })),
    status: releasedStatuses[status],
    reason,
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: STOCK_RELEASED_SUBJECT,
    aggregateId: reservation.id,
    aggregateType: "mercato.inventory.reservation",
    ...eventPayload(StockReleasedSchema, event),
  });
}

/** Enqueues StockLow for a SKU whose available units fell to or below the threshold (aggregate: the SKU). */
export async function stockLow(
  tx: SqlExecutor,
  sku: string,
  available: number,
  threshold: number,
): Promise<void> {
  const eventId = uuidv7();
  const event = create(StockLowSchema, { eventId, occurredAt: timestampNow(), sku, available, threshold });
  await enqueueEvent(tx, {
    id: eventId,
    subject: STOCK_LOW_SUBJECT,
    aggregateId: sku,
    aggregateType: "mercato.inventory.stock",
    ...eventPayload(StockLowSchema, event),
  });
}
