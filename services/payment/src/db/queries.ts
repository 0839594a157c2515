import type { SqlExecutor, Tx } from "@mercato/platform/db";
import { desc, eq, sql } from "drizzle-orm";
import { type PaymentRow, type PaymentSchema, payments, refunds, voidTombstones } from "./schema.js";

export type PaymentTx = Tx<PaymentSchema>;
export type PaymentUpdate = Partial<Omit<typeof payments.$inferInsert, "id" | "createdAt">>;

/**
 * Serialises everything that concerns one Authorize key (Authorize's claim, a Void by that key) until
 * the transaction ends, so "is there a payment or a tombstone for this key?" and the write that
 * follows cannot interleave with another call's.
 */
export async function lockAuthorizeKey(tx: PaymentTx, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`payment-authorize:${key}`}, 0))`);
}

export async function hasTombstone(tx: PaymentTx, key: string): Promise<boolean> {
  const rows = await tx
    .select({ key: voidTombstones.authorizeKey })
    .from(voidTombstones)
    .where(eq(voidTombstones.authorizeKey, key));
  return rows.length > 0;
}

/** Records that `key`'s Authorize was voided before it arrived; returns when the tombstone was made. */
export async function insertTombstone(tx: PaymentTx, key: string): Promise<Date> {
  await tx.insert(voidTombstones).values({ authorizeKey: key }).onConflictDoNothing();
  const [row] = await tx.select().from(voidTombstones).where(eq(voidTombstones.authorizeKey, key));
  return row?.createdAt ?? new Date();
}

export async function paymentByKey(
  tx: PaymentTx,
  key: string,
  options: { forUpdate?: boolean } = {},
): Promise<PaymentRow | undefined> {
  const query = tx.select().from(payments).where(eq(payments.authorizeKey, key));
  const [row] = await (options.forUpdate ? query.for("update") : query);
  return row;
}

export async function paymentById(
  executor: SqlExecutor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<PaymentRow | undefined> {
  const query = executor.select().from(payments).where(eq(payments.id, id));
  const [row] = (await (options.forUpdate ? query.for("update") : query)) as PaymentRow[];
  return row;
}

/** The most recent payment of an order (an order may have had a declined one before). */
export async function latestPaymentOfOrder(
  executor: SqlExecutor,
  orderId: string,
): Promise<PaymentRow | undefined> {
  const [row] = (await executor
    .select()
    .from(payments)
    .where(eq(payments.orderId, orderId))
    .orderBy(desc(payments.createdAt), desc(payments.id))
    .limit(1)) as PaymentRow[];
  return row;
}

export async function insertPayment(
  tx: PaymentTx,
  values: typeof payments.$inferInsert,
): Promise<PaymentRow> {
  const [row] = await tx.insert(payments).values(values).returning();
  if (!row) throw new Error("insert returned no payment");
  return row;
}

export async function updatePayment(
  executor: SqlExecutor,
  id: string,
  patch: PaymentUpdate,
): Promise<PaymentRow> {
  const [row] = (await executor
    .update(payments)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(eq(payments.id, id))
    .returning()) as PaymentRow[];
  if (!row) throw new Error(`payment ${id} vanished`);
  return row;
}

export async function refundByKey(
  tx: PaymentTx,
  key: string,
): Promise<typeof refunds.$inferSelect | undefined> {
  const [row] = await tx.select().from(refunds).where(eq(refunds.idempotencyKey, key));
  return row;
}

export async function insertRefund(tx: PaymentTx, values: typeof refunds.$inferInsert): Promise<void> {
  await tx.insert(refunds).values(values);
}
