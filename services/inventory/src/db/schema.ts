import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * Stock levels per SKU. `available` is `on_hand - reserved`; the checks make a negative level (or
 * more reserved than on hand) impossible whatever the code does.
 */
export const stock = pgTable(
  "stock",
  {
    sku: text().primaryKey(),
    onHand: integer().notNull().default(0),
    reserved: integer().notNull().default(0),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("stock_on_hand_non_negative", sql`${t.onHand} >= 0`),
    check("stock_reserved_non_negative", sql`${t.reserved} >= 0`),
    check("stock_reserved_within_on_hand", sql`${t.reserved} <= ${t.onHand}`),
  ],
);

/** The statuses a reservation row can have (the contract's ReservationStatus, lower case). */
export const reservationStatuses = ["held", "committed", "released", "expired", "restocked"] as const;
export type ReservationStatusName = (typeof reservationStatuses)[number];

/**
 * Reservations, keyed by the caller's reservation id (the idempotency key). A Release for an id
 * never reserved leaves a tombstone (status released, no lines) so a late Reserve with that id is
 * refused instead of holding stock nobody will release.
 */
export const reservations = pgTable(
  "reservations",
  {
    id: text().primaryKey(),
    orderId: text().notNull().default(""),
    status: text().$type<ReservationStatusName>().notNull(),
    tombstone: boolean().notNull().default(false),
    reason: text().notNull().default(""),
    expiresAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      "reservations_status",
      sql`${t.status} in ('held', 'committed', 'released', 'expired', 'restocked')`,
    ),
    index("reservations_held_expiry_idx").on(t.expiresAt).where(sql`${t.status} = 'held'`),
  ],
);

/** What a reservation holds, one row per SKU. */
export const reservationLines = pgTable(
  "reservation_lines",
  {
    reservationId: text()
      .notNull()
      .references(() => reservations.id),
    sku: text().notNull(),
    quantity: integer().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.reservationId, t.sku] }),
    check("reservation_lines_quantity_positive", sql`${t.quantity} > 0`),
  ],
);

/** Kinds of change to units on hand. */
export type MovementKind = "set" | "adjust" | "commit" | "restock";

/** Audit log of changes to units on hand (SetStock, AdjustStock, Commit, Restock). */
export const stockMovements = pgTable(
  "stock_movements",
  {
    id: uuid().primaryKey(),
    sku: text().notNull(),
    kind: text().$type<MovementKind>().notNull(),
    delta: integer().notNull(),
    onHandAfter: integer().notNull(),
    reason: text().notNull().default(""),
    reservationId: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("stock_movements_sku_idx").on(t.sku, t.createdAt)],
);

export const schema = { stock, reservations, reservationLines, stockMovements };
export type InventorySchema = typeof schema;
export type StockRow = typeof stock.$inferSelect;
export type ReservationRow = typeof reservations.$inferSelect;
