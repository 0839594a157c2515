/** Shipment queries. Each takes the transaction (or database) to run in. */
import type { SqlExecutor } from "@mercato/platform/db";
import { and, eq, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { type AddressInput, CARRIER, newTrackingNumber, type ShipmentState } from "../domain/shipment.js";
import { enqueueShipmentCreated } from "../events/publish.js";
import { cancelledOrders, type ShipmentRow, shipments } from "./schema.js";

/** What a new shipment needs (validated). */
export interface NewShipment {
  readonly orderId: string;
  readonly userId: string;
  readonly address: AddressInput;
  readonly itemCount: number;
}

/** Serializes every change to one order's shipment (create, cancel) for the rest of the transaction. */
async function lockOrder(tx: SqlExecutor, orderId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`shipping:order:${orderId}`}))`);
}

/** The outcome of {@link createShipment}. */
export type CreateOutcome =
  | { readonly kind: "created" | "existing"; readonly shipment: ShipmentRow }
  | { readonly kind: "order_cancelled" };

/**
 * Creates the order's shipment with status LABEL_CREATED and enqueues ShipmentCreated, or returns the
 * one that exists (idempotent by order id). Creates nothing for an order already cancelled.
 * Must run in a transaction.
 */
export async function createShipment(tx: SqlExecutor, input: NewShipment): Promise<CreateOutcome> {
  await lockOrder(tx, input.orderId);
  const [existing] = await tx.select().from(shipments).where(eq(shipments.orderId, input.orderId));
  if (existing) return { kind: "existing", shipment: existing };
  const [cancelled] = await tx
    .select({ orderId: cancelledOrders.orderId })
    .from(cancelledOrders)
    .where(eq(cancelledOrders.orderId, input.orderId));
  if (cancelled) return { kind: "order_cancelled" };
  const [created] = await tx
    .insert(shipments)
    .values({
      id: uuidv7(),
      orderId: input.orderId,
      userId: input.userId,
      status: "LABEL_CREATED",
      trackingNumber: newTrackingNumber(),
      carrier: CARRIER,
      address: input.address,
      itemCount: input.itemCount,
    })
    .returning();
  if (!created) throw new Error("shipment insert returned no row");
  await enqueueShipmentCreated(tx, created);
  return { kind: "created", shipment: created };
}

/** The outcome of {@link cancelOrderShipment}. */
export type CancelOutcome =
  | { readonly kind: "cancelled"; readonly shipment: ShipmentRow }
  | { readonly kind: "no_shipment" | "already_cancelled" }
  | { readonly kind: "too_late"; readonly shipment: ShipmentRow };

/**
 * Records that the order is cancelled and cancels its shipment if it has not shipped yet. Idempotent.
 * Must run in a transaction.
 */
export async function cancelOrderShipment(
  tx: SqlExecutor,
  orderId: string,
  reason: string,
): Promise<CancelOutcome> {
  await lockOrder(tx, orderId);
  await tx.insert(cancelledOrders).values({ orderId, reason }).onConflictDoNothing();
  const [shipment] = await tx.select().from(shipments).where(eq(shipments.orderId, orderId));
  if (!shipment) return { kind: "no_shipment" };
  if (shipment.status === "CANCELLED") return { kind: "already_cancelled" };
  if (shipment.status !== "LABEL_CREATED") return { kind: "too_late", shipment };
  const now = new Date();
  const [updated] = await tx
    .update(shipments)
    .set({ status: "CANCELLED", cancelledAt: now, updatedAt: now })
    .where(and(eq(shipments.id, shipment.id), eq(shipments.status, "LABEL_CREATED")))
    .returning();
  if (!updated) throw new Error("shipment changed while locked");
  return { kind: "cancelled", shipment: updated };
}

/** The shipment of an order, if any. */
export async function shipmentByOrder(db: SqlExecutor, orderId: string): Promise<ShipmentRow | undefined> {
  const [row] = await db.select().from(shipments).where(eq(shipments.orderId, orderId));
  return row;
}

/** Locks a shipment row for update. */
export async function lockShipment(tx: SqlExecutor, id: string): Promise<ShipmentRow | undefined> {
  const [row] = await tx.select().from(shipments).where(eq(shipments.id, id)).for("update");
  return row;
}

/** Moves a (locked) shipment to `status`, stamping the time. */
export async function setShipmentStatus(
  tx: SqlExecutor,
  shipment: ShipmentRow,
  status: ShipmentState,
): Promise<ShipmentRow> {
  const now = new Date();
  const [updated] = await tx
    .update(shipments)
    .set({
      status,
      updatedAt: now,
      ...(status === "SHIPPED" ? { shippedAt: now } : {}),
      ...(status === "DELIVERED" ? { deliveredAt: now } : {}),
    })
    .where(eq(shipments.id, shipment.id))
    .returning();
  if (!updated) throw new Error("shipment vanished while locked");
  return updated;
}
