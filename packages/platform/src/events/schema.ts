import { sql } from "drizzle-orm";
import {
  bigint,
  customType,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/** `bytea` as a Uint8Array on both drivers (postgres.js returns Buffers, a subclass). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  toDriver: (value) =>
    Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  fromDriver: (value) => value,
});

/**
 * The transactional outbox: one row per event, written in the producer's transaction and published to
 * JetStream by the relay. Column names are explicit so the table is the same whatever `casing` a
 * service's drizzle instance uses.
 */
export const outbox = pgTable(
  "outbox",
  {
    /** Insertion order; the relay publishes one aggregate's events in this order. */
    seq: bigint("seq", { mode: "number" }).generatedAlwaysAsIdentity().notNull(),
    /** The event id (UUIDv7), published as `Nats-Msg-Id`. */
    id: uuid("id").primaryKey(),
    aggregateType: text("aggregate_type").notNull(),
    aggregateId: text("aggregate_id").notNull(),
    subject: text("subject").notNull(),
    /** Full protobuf type name of the payload, e.g. `mercato.order.v1.OrderPlaced`. */
    type: text("type").notNull(),
    /** The event message in protobuf binary. */
    payload: bytea("payload").notNull(),
    /** Headers to publish with the event (traceparent, x-request-id, …). */
    headers: jsonb("headers").$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    publishedAt: timestamp("published_at", { withTimezone: true }),
  },
  (t) => [
    index("outbox_unpublished_idx")
      .on(t.aggregateType, t.aggregateId, t.seq)
      .where(sql`${t.publishedAt} is null`),
    index("outbox_unpublished_seq_idx").on(t.seq).where(sql`${t.publishedAt} is null`),
    index("outbox_published_at_idx").on(t.publishedAt),
  ],
);

/**
 * The inbox of idempotent consumers: a row per (consumer, event) already handled, written in the same
 * transaction as the handler's effects.
 */
export const inbox = pgTable(
  "inbox",
  {
    /** Durable consumer name. */
    consumer: text("consumer").notNull(),
    /** The event id (`Nats-Msg-Id`), or `<stream>:<sequence>` for a message published without one. */
    eventId: text("event_id").notNull(),
    processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.eventId] })],
);
