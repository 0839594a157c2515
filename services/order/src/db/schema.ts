/**
 * The order database: the append-only event store (the source of truth), the read models projected
 * from it, the idempotency keys of PlaceOrder, and the durable saga state with its step log.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/** `bytea` as a Uint8Array on both drivers. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  toDriver: (value) =>
    Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  fromDriver: (value) => value,
});

/**
 * The event store. Rows are only ever inserted; (order_id, version) is the primary key, so two
 * writers appending the same version cannot both commit (the loser gets ABORTED and retries).
 */
export const orderEvents = pgTable(
  "order_events",
  {
    orderId: uuid().notNull(),
    /** 1 for OrderPlaced, then +1 per event. */
    version: integer().notNull(),
    /** The event id (also the outbox / `Nats-Msg-Id` id). */
    eventId: uuid().notNull().unique(),
    /** Full protobuf type name, e.g. `mercato.order.v1.OrderPlaced`. */
    type: text().notNull(),
    /** The event message in protobuf binary. */
    payload: bytea().notNull(),
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    /** Global insertion order, for rebuilding projections in order. */
    seq: bigserial({ mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.version] }), index("order_events_seq_idx").on(t.seq)],
);

/** A PlaceOrder idempotency key: one order per (user, key), with a hash of the body it was placed with. */
export const orderRequests = pgTable(
  "order_requests",
  {
    userId: text().notNull(),
    idempotencyKey: text().notNull(),
    requestHash: text().notNull(),
    orderId: uuid().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.idempotencyKey] })],
);

/** One priced line as the order view stores it. */
export interface ViewLine {
  readonly productId: string;
  readonly sku: string;
  readonly name: string;
  readonly quantity: number;
  /** Unit price in minor units, as a decimal string (bigint-safe). */
  readonly unitPriceMinor: string;
}

/** The shipping address as the order view stores it. */
export interface ViewAddress {
  readonly name: string;
  readonly line1: string;
  readonly line2: string;
  readonly city: string;
  readonly region: string;
  readonly postalCode: string;
  readonly countryCode: string;
}

/** Read model: one row per order, the order as its events made it. */
export const orderViews = pgTable(
  "order_views",
  {
    orderId: uuid().primaryKey(),
    userId: text().notNull(),
    /** OrderStatus enum number. */
    status: integer().notNull(),
    lines: jsonb().$type<ViewLine[]>().notNull(),
    currencyCode: text().notNull(),
    totalMinor: bigint({ mode: "bigint" }).notNull(),
    shippingAddress: jsonb().$type<ViewAddress | null>(),
    paymentId: text().notNull().default(""),
    shipmentId: text().notNull().default(""),
    trackingNumber: text().notNull().default(""),
    cancelReason: text().notNull().default(""),
    version: integer().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    index("order_views_user_idx").on(t.userId, t.createdAt.desc(), t.orderId.desc()),
    index("order_views_status_idx").on(t.status),
  ],
);

/**
 * Read model: shop-wide statistics as an insert-only ledger of counter deltas (no hot rows under
 * concurrent orders); a read sums per key. Keys: `orders`, `status:<NAME>`, `revenue:<CUR>`, `units`.
 */
export const orderStatistics = pgTable(
  "order_statistics",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    key: text().notNull(),
    delta: bigint({ mode: "bigint" }).notNull(),
    /** occurred_at of the event that caused the delta. */
    at: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [index("order_statistics_key_idx").on(t.key)],
);

/** One SKU of the saga's reservation. */
export interface SagaLine {
  readonly sku: string;
  readonly quantity: number;
}

/**
 * Durable saga state: one row per order. The driver leases due rows (`FOR UPDATE SKIP LOCKED`, then
 * lease_owner/lease_until), so one replica drives a saga at a time; every write of a transition checks
 * the lease (a fence). The payment token lives here only until authorization.
 */
export const sagas = pgTable(
  "sagas",
  {
    sagaId: uuid().primaryKey(),
    orderId: uuid().notNull().unique(),
    userId: text().notNull(),
    /** SagaState enum number. */
    state: integer().notNull(),
    /** SagaStep enum number. */
    step: integer().notNull(),
    /** Attempts made of the current step. */
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    leaseOwner: text(),
    leaseUntil: timestamp({ withTimezone: true }),
    /** Needed until AUTHORIZE_PAYMENT succeeds; null afterwards. Never logged or published. */
    paymentToken: text(),
    currencyCode: text().notNull(),
    amountMinor: bigint({ mode: "bigint" }).notNull(),
    lines: jsonb().$type<SagaLine[]>().notNull(),
    reserveAttempted: boolean().notNull().default(false),
    authorizeAttempted: boolean().notNull().default(false),
    paymentId: text().notNull().default(""),
    committed: boolean().notNull().default(false),
    /**
     * Unused: the restock progress of the old line-by-line AdjustStock compensation, replaced by
     * inventory's Restock (by reservation id). Kept so replicas of the previous release keep working
     * during a rollout; drop it in a later migration.
     */
    restockedLines: integer().notNull().default(0),
    captured: boolean().notNull().default(false),
    cancelRequested: boolean().notNull().default(false),
    /** Why the saga compensates: the order's cancel reason. */
    reason: text().notNull().default(""),
    /**
     * The request id and W3C trace context of the PlaceOrder call that started the saga, so its
     * steps, wherever and whenever they run, log and trace as part of that request. Null in rows
     * written before it existed.
     */
    origin: jsonb().$type<Record<string, string>>(),
    lastError: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [index("sagas_due_idx").on(t.nextAttemptAt).where(sql`${t.state} in (1, 3)`)],
);

/**
 * Every step transition of every saga, with the driver that made it: `started` before an upstream
 * call, then `succeeded`, `skipped`, `retry` or `failed`. Fault tests use it to prove no saga was
 * driven by two drivers at once.
 */
export const sagaSteps = pgTable(
  "saga_steps",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    sagaId: uuid().notNull(),
    /** SagaStep enum number. */
    step: integer().notNull(),
    /** started | succeeded | skipped | retry | failed */
    state: text().notNull(),
    attempt: integer().notNull(),
    driverId: text().notNull(),
    detail: text(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("saga_steps_saga_idx").on(t.sagaId, t.id)],
);
