/** Webhook queries. */
import type { SqlExecutor } from "@mercato/platform/db";
import { and, asc, count, eq, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { deliveries, type WebhookRow, webhooks } from "./schema.js";

/** The outcome of {@link insertWebhook}. */
export type InsertWebhookOutcome =
  | { readonly kind: "created"; readonly webhook: WebhookRow }
  | { readonly kind: "duplicate" | "limit" };

/** Registers a webhook unless the user has this URL already or reached `limit`. Run in a transaction. */
export async function insertWebhook(
  tx: SqlExecutor,
  input: { userId: string; url: string; secret: string },
  limit: number,
): Promise<InsertWebhookOutcome> {
  // Serializes registrations per user so the limit holds under concurrency.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`notification:webhooks:${input.userId}`}))`);
  const [existing] = await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.userId, input.userId));
  if ((existing?.n ?? 0) >= limit) return { kind: "limit" };
  const [row] = await tx
    .insert(webhooks)
    .values({ id: uuidv7(), ...input })
    .onConflictDoNothing()
    .returning();
  return row ? { kind: "created", webhook: row } : { kind: "duplicate" };
}

/** Deletes a user's webhook and abandons its pending deliveries. Returns false when there is none. */
export async function deleteWebhook(tx: SqlExecutor, userId: string, webhookId: string): Promise<boolean> {
  const deleted = await tx
    .delete(webhooks)
    .where(and(eq(webhooks.id, webhookId), eq(webhooks.userId, userId)))
    .returning({ id: webhooks.id });
  if (deleted.length === 0) return false;
  await tx
    .update(deliveries)
    .set({ status: "FAILED", lastError: "webhook deleted" })
    .where(
      and(
        eq(deliveries.channel, "WEBHOOK"),
        eq(deliveries.endpoint, webhookId),
        eq(deliveries.status, "PENDING"),
      ),
    );
  return true;
}

/** A user's webhooks, oldest first. */
export function webhooksOf(db: SqlExecutor, userId: string): Promise<WebhookRow[]> {
  return db.select().from(webhooks).where(eq(webhooks.userId, userId)).orderBy(asc(webhooks.id));
}
