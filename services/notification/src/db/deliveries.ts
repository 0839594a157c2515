/** Delivery log queries: the consumer's inserts, the worker's queue, and the customer's list. */
import type { SqlExecutor } from "@mercato/platform/db";
import { and, desc, eq, lt, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import type { RenderedMessage } from "../domain/templates.js";
import { type ChannelName, type DeliveryRow, deliveries, type NotificationPayload } from "./schema.js";
import { webhooksOf } from "./webhooks.js";

/** The NOTIFY channel that wakes delivery workers. */
export const DELIVERY_CHANNEL = "mercato_notification_deliveries";

/**
 * Writes the deliveries of one event: one to the log (when enabled) and one per webhook of the user.
 * Idempotent on (event, channel, endpoint). Run in the consumer's inbox transaction.
 *
 * @returns how many deliveries were created
 */
export async function recordNotification(
  tx: SqlExecutor,
  input: {
    readonly eventId: string;
    readonly eventType: string;
    readonly message: RenderedMessage;
    readonly logChannel: boolean;
  },
): Promise<number> {
  const targets: { channel: ChannelName; endpoint: string }[] = [];
  if (input.logChannel) targets.push({ channel: "LOG", endpoint: "" });
  for (const webhook of await webhooksOf(tx, input.message.userId)) {
    targets.push({ channel: "WEBHOOK", endpoint: webhook.id });
  }
  if (targets.length === 0) return 0;
  const rows = targets.map((target) => {
    const id = uuidv7();
    const payload: NotificationPayload = {
      id,
      event_id: input.eventId,
      event_type: input.eventType,
      occurred_at: input.message.occurredAt,
      user_id: input.message.userId,
      subject: input.message.subject,
      text: input.message.text,
      data: input.message.data,
    };
    return {
      id,
      userId: input.message.userId,
      eventId: input.eventId,
      eventType: input.eventType,
      channel: target.channel,
      endpoint: target.endpoint,
      status: "PENDING" as const,
      subject: input.message.subject,
      payload,
    };
  });
  const inserted = await tx
    .insert(deliveries)
    .values(rows)
    .onConflictDoNothing()
    .returning({ id: deliveries.id });
  if (inserted.length > 0) await tx.execute(sql`select pg_notify(${DELIVERY_CHANNEL}, '')`);
  return inserted.length;
}

/** A claimed delivery with its webhook (when the channel is WEBHOOK and the webhook still exists). */
export interface ClaimedDelivery {
  readonly delivery: DeliveryRow;
  readonly webhook: { readonly url: string; readonly secret: string } | undefined;
}

interface ClaimRow extends Record<string, unknown> {
  id: string;
  user_id: string;
  event_id: string;
  event_type: string;
  channel: ChannelName;
  endpoint: string;
  status: DeliveryRow["status"];
  attempts: number;
  last_error: string | null;
  subject: string;
  payload: NotificationPayload | string;
  next_attempt_at: Date | string;
  created_at: Date | string;
  delivered_at: Date | string | null;
  url: string | null;
  secret: string | null;
}

const date = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));

/**
 * Locks up to `limit` due deliveries for this transaction (`FOR UPDATE SKIP LOCKED`: replicas never
 * claim the same row), oldest due first, each endpoint's in creation order.
 */
export async function claimDueDeliveries(tx: SqlExecutor, limit: number): Promise<ClaimedDelivery[]> {
  const result: unknown = await tx.execute(sql`
    select d.id, d.user_id, d.event_id, d.event_type, d.channel, d.endpoint, d.status, d.attempts,
           d.last_error, d.subject, d.payload, d.next_attempt_at, d.created_at, d.delivered_at,
           w.url, w.secret
    from deliveries d
    left join webhooks w on d.channel = 'WEBHOOK' and w.id::text = d.endpoint
    where d.status = 'PENDING' and d.next_attempt_at <= now()
    order by d.next_attempt_at, d.id
    limit ${limit}
    for update of d skip locked`);
  const rows = (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as ClaimRow[];
  return rows.map((r) => ({
    delivery: {
      id: r.id,
      userId: r.user_id,
      eventId: r.event_id,
      eventType: r.event_type,
      channel: r.channel,
      endpoint: r.endpoint,
      status: r.status,
      attempts: r.attempts,
      lastError: r.last_error,
      subject: r.subject,
      payload: typeof r.payload === "string" ? (JSON.parse(r.payload) as NotificationPayload) : r.payload,
      nextAttemptAt: date(r.next_attempt_at),
      createdAt: date(r.created_at),
      deliveredAt: r.delivered_at === null ? null : date(r.delivered_at),
    },
    webhook: r.url !== null && r.secret !== null ? { url: r.url, secret: r.secret } : undefined,
  }));
}

/** Records a successful delivery. */
export async function markSent(tx: SqlExecutor, id: string, attempts: number): Promise<void> {
  await tx
    .update(deliveries)
    .set({ status: "SENT", attempts, deliveredAt: new Date(), lastError: null })
    .where(eq(deliveries.id, id));
}

/** Records a failed attempt that will be retried at `nextAttemptAt`. */
export async function markRetry(
  tx: SqlExecutor,
  id: string,
  attempts: number,
  error: string,
  nextAttemptAt: Date,
): Promise<void> {
  await tx
    .update(deliveries)
    .set({ attempts, lastError: error.slice(0, 1000), nextAttemptAt })
    .where(eq(deliveries.id, id));
}

/** Records a delivery given up on. */
export async function markFailed(
  tx: SqlExecutor,
  id: string,
  attempts: number,
  error: string,
): Promise<void> {
  await tx
    .update(deliveries)
    .set({ status: "FAILED", attempts, lastError: error.slice(0, 1000) })
    .where(eq(deliveries.id, id));
}

/** One page of a user's notifications, newest first, after the notification `beforeId` when given. */
export function notificationsOf(
  db: SqlExecutor,
  userId: string,
  limit: number,
  beforeId: string | undefined,
): Promise<DeliveryRow[]> {
  return db
    .select()
    .from(deliveries)
    .where(
      beforeId === undefined
        ? eq(deliveries.userId, userId)
        : and(eq(deliveries.userId, userId), lt(deliveries.id, beforeId)),
    )
    .orderBy(desc(deliveries.id))
    .limit(limit);
}
