import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/** Delivery channels. */
export type ChannelName = "LOG" | "WEBHOOK";
/** Delivery statuses. */
export type DeliveryStatus = "PENDING" | "SENT" | "FAILED";

/** The JSON document a notification delivers (the webhook body). */
export interface NotificationPayload {
  /** Notification (delivery) id. */
  readonly id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly occurred_at: string;
  readonly user_id: string;
  readonly subject: string;
  readonly text: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Users' webhook endpoints. The secret signs deliveries, so it is kept as is; it is never logged or returned again. */
export const webhooks = pgTable(
  "webhooks",
  {
    id: uuid().primaryKey(),
    userId: text().notNull(),
    url: text().notNull(),
    secret: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique("webhooks_user_url_unique").on(t.userId, t.url)],
);

/**
 * The delivery log and the delivery work queue at once: one row per (event, channel, endpoint), written
 * in the consumer's inbox transaction and sent by the delivery worker.
 */
export const deliveries = pgTable(
  "deliveries",
  {
    /** Notification id (UUIDv7: time-ordered, the paging key). */
    id: uuid().primaryKey(),
    userId: text().notNull(),
    eventId: text().notNull(),
    /** Full protobuf name of the event. */
    eventType: text().notNull(),
    channel: text().$type<ChannelName>().notNull(),
    /** The webhook id for WEBHOOK, "" for LOG. */
    endpoint: text().notNull(),
    status: text().$type<DeliveryStatus>().notNull(),
    attempts: integer().notNull().default(0),
    lastError: text(),
    subject: text().notNull(),
    payload: jsonb().$type<NotificationPayload>().notNull(),
    nextAttemptAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    unique("deliveries_event_channel_endpoint_unique").on(t.eventId, t.channel, t.endpoint),
    index("deliveries_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'PENDING'`),
    index("deliveries_user_idx").on(t.userId, t.id),
  ],
);

/** Row types. */
export type DeliveryRow = typeof deliveries.$inferSelect;
export type WebhookRow = typeof webhooks.$inferSelect;

/** The drizzle schema of the notification database. */
export const schema = { webhooks, deliveries };
