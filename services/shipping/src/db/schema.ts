import { integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import type { AddressInput, ShipmentState } from "../domain/shipment.js";

/** One shipment per order. */
export const shipments = pgTable("shipments", {
  id: uuid().primaryKey(),
  /** The order shipped; one shipment per order (CreateShipment is idempotent on it). */
  orderId: text().notNull().unique(),
  /** The user who placed the order: GetShipment's owner. */
  userId: text().notNull(),
  status: text().$type<ShipmentState>().notNull(),
  trackingNumber: text().notNull().unique(),
  carrier: text().notNull(),
  address: jsonb().$type<AddressInput>().notNull(),
  itemCount: integer().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  shippedAt: timestamp({ withTimezone: true }),
  deliveredAt: timestamp({ withTimezone: true }),
  cancelledAt: timestamp({ withTimezone: true }),
});

/**
 * Orders known to be cancelled. An OrderCancelled event may be handled before the OrderConfirmed of
 * the same order (they arrive through separate consumers): the marker stops a late confirmation from
 * creating a shipment for a cancelled order.
 */
export const cancelledOrders = pgTable("cancelled_orders", {
  orderId: text().primaryKey(),
  reason: text().notNull(),
  cancelledAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** Row types. */
export type ShipmentRow = typeof shipments.$inferSelect;

/** The drizzle schema of the shipping database. */
export const schema = { shipments, cancelledOrders };
