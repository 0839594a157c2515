import { sql } from "drizzle-orm";
import { bigint, check, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * One payment for one order, created by Authorize. `authorizeKey` is the Authorize idempotency key:
 * unique, so two Authorize calls with one key can never make two payments. Amounts are bigint minor
 * units. Payment tokens are never stored: `tokenFingerprint` (a salted hash prefix) tells two apart.
 */
export const payments = pgTable(
  "payments",
  {
    id: uuid().primaryKey(),
    authorizeKey: text().notNull().unique(),
    /** Hash of the Authorize body; the same key with another body is refused. */
    requestHash: text().notNull(),
    orderId: text().notNull(),
    userId: text().notNull(),
    currencyCode: text().notNull(),
    amountMinor: bigint({ mode: "bigint" }).notNull(),
    capturedMinor: bigint({ mode: "bigint" }).notNull().default(sql`0`),
    refundedMinor: bigint({ mode: "bigint" }).notNull().default(sql`0`),
    /** PENDING | AUTHORIZED | CAPTURED | VOIDED | PARTIALLY_REFUNDED | REFUNDED | FAILED. */
    status: text().notNull(),
    tokenFingerprint: text().notNull(),
    providerReference: text().notNull().default(""),
    failureReason: text().notNull().default(""),
    /**
     * While PENDING: until when the Authorize call that drives the provider owns the payment. Another
     * Authorize with the same key waits for it; once it passes (the owner died), it takes over.
     */
    leaseUntil: timestamp({ withTimezone: true }),
    authorizedAt: timestamp({ withTimezone: true }),
    captureKey: text(),
    voidKey: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("payments_order_id_idx").on(t.orderId, t.createdAt),
    check("payments_amount_positive", sql`${t.amountMinor} > 0`),
    check(
      "payments_amounts_consistent",
      sql`${t.capturedMinor} >= 0 and ${t.capturedMinor} <= ${t.amountMinor} and ${t.refundedMinor} >= 0 and ${t.refundedMinor} <= ${t.capturedMinor}`,
    ),
  ],
);

/**
 * A Void that arrived before its Authorize: the Authorize key it cancelled. An Authorize with that
 * key is refused (ABORTED) and never reaches the provider.
 */
export const voidTombstones = pgTable("void_tombstones", {
  authorizeKey: text().primaryKey(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** One refund of a payment, unique by its idempotency key. */
export const refunds = pgTable(
  "refunds",
  {
    id: uuid().primaryKey(),
    paymentId: uuid()
      .notNull()
      .references(() => payments.id),
    idempotencyKey: text().notNull().unique(),
    requestHash: text().notNull(),
    amountMinor: bigint({ mode: "bigint" }).notNull(),
    reason: text().notNull().default(""),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("refunds_payment_id_idx").on(t.paymentId),
    check("refunds_amount_positive", sql`${t.amountMinor} > 0`),
  ],
);

/**
 * The deterministic test provider's own books, kept in this database so its behaviour survives
 * restarts: one row per provider idempotency key (attempts made, the outcome once decided).
 */
export const testProviderAuthorizations = pgTable("test_provider_authorizations", {
  idempotencyKey: text().primaryKey(),
  attempts: integer().notNull().default(0),
  /** null until decided; then "approved" or "declined". */
  outcome: text(),
  reference: text().notNull().default(""),
  declineReason: text().notNull().default(""),
  /** "authorized" | "captured" | "voided" | "refunded" as the provider sees it. */
  state: text().notNull().default("new"),
  capturedMinor: bigint({ mode: "bigint" }).notNull().default(sql`0`),
  refundedMinor: bigint({ mode: "bigint" }).notNull().default(sql`0`),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** The test provider's refunds, one per refund key, so a repeated refund call is not paid twice. */
export const testProviderRefunds = pgTable("test_provider_refunds", {
  refundKey: text().primaryKey(),
  authorizeKey: text().notNull(),
  amountMinor: bigint({ mode: "bigint" }).notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** Everything drizzle needs to know about this service's tables. */
export const schema = { payments, voidTombstones, refunds, testProviderAuthorizations, testProviderRefunds };
export type PaymentSchema = typeof schema;
export type PaymentRow = typeof payments.$inferSelect;
