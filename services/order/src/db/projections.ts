/**
 * Read models projected from the order events: the order view (one row per order) and the statistics
 * ledger. Live projection runs in the append's transaction ({@link projectChange}); the same functions
 * rebuild everything from the event store ({@link rebuildProjections}).
 */
import type { Database, SqlExecutor } from "@mercato/platform/db";
import { and, asc, eq, gt, or, sql } from "drizzle-orm";
import { apply, type OrderEvent, type OrderState, statisticsDelta } from "../domain/order.js";
import { decodeEvent } from "./event-store.js";
import { orderEvents, orderStatistics, orderViews } from "./schema.js";

function eventTime(event: OrderEvent): Date {
  const at = event.data.occurredAt;
  return at ? new Date(Number(at.seconds) * 1000 + at.nanos / 1e6) : new Date(0);
}

/** The order view row of a state. */
export function viewRow(state: OrderState): typeof orderViews.$inferInsert {
  const address = state.shippingAddress;
  return {
    orderId: state.id,
    userId: state.userId,
    status: state.status,
    lines: state.lines.map((line) => ({
      productId: line.productId,
      sku: line.sku,
      name: line.name,
      quantity: line.quantity,
      unitPriceMinor: line.unitPriceMinor.toString(),
    })),
    currencyCode: state.currencyCode,
    totalMinor: state.totalMinor,
    shippingAddress: address
      ? {
          name: address.name,
          line1: address.line1,
          line2: address.line2,
          city: address.city,
          region: address.region,
          postalCode: address.postalCode,
          countryCode: address.countryCode,
        }
      : null,
    paymentId: state.paymentId,
    shipmentId: state.shipmentId,
    trackingNumber: state.trackingNumber,
    cancelReason: state.cancelReason,
    version: state.version,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
  };
}

async function upsertView(tx: SqlExecutor, state: OrderState): Promise<void> {
  const row = viewRow(state);
  const { orderId: _id, ...changes } = row;
  await tx.insert(orderViews).values(row).onConflictDoUpdate({ target: orderViews.orderId, set: changes });
}

/** Projects one appended change (`before` → `after` by `events`) into every read model. */
export async function projectChange(
  tx: SqlExecutor,
  before: OrderState | undefined,
  after: OrderState,
  events: readonly OrderEvent[],
): Promise<void> {
  await upsertView(tx, after);
  const delta = statisticsDelta(before, after);
  const last = events.at(-1);
  if (delta.size > 0 && last) {
    const at = eventTime(last);
    await tx.insert(orderStatistics).values([...delta].map(([key, value]) => ({ key, delta: value, at })));
  }
}

/** Shop-wide figures read from the statistics ledger: counter key → sum, and the last update. */
export async function readStatistics(
  executor: SqlExecutor,
): Promise<{ counters: Map<string, bigint>; updatedAt: Date | undefined }> {
  const rows = await executor
    .select({
      key: orderStatistics.key,
      total: sql<string>`sum(${orderStatistics.delta})::text`,
      at: sql<string>`max(${orderStatistics.at})::text`,
    })
    .from(orderStatistics)
    .groupBy(orderStatistics.key);
  const counters = new Map<string, bigint>();
  let updatedAt: Date | undefined;
  for (const row of rows) {
    const total = BigInt(row.total);
    if (total !== 0n) counters.set(row.key, total);
    const at = new Date(row.at);
    if (updatedAt === undefined || at > updatedAt) updatedAt = at;
  }
  return { counters, updatedAt };
}

const PAGE = 2000;

/**
 * Throws the read models away and projects them again from every stored event. Runs in one
 * transaction holding an exclusive lock on the read-model tables, so live appends wait and then
 * project on top of the rebuilt state.
 *
 * @returns how many orders and events were replayed
 */
export async function rebuildProjections<S extends Record<string, unknown>>(
  database: Database<S>,
): Promise<{ orders: number; events: number }> {
  return database.transaction(async (tx) => {
    await tx.execute(sql`lock table order_views, order_statistics in exclusive mode`);
    await tx.delete(orderViews);
    await tx.delete(orderStatistics);
    const totals = new Map<string, bigint>();
    let lastAt: Date | undefined;
    let orders = 0;
    let events = 0;
    let current: OrderState | undefined;
    const finish = async () => {
      if (current === undefined) return;
      await upsertView(tx, current);
      for (const [key, value] of statisticsDelta(undefined, current)) {
        totals.set(key, (totals.get(key) ?? 0n) + value);
      }
      orders++;
      current = undefined;
    };
    let cursor: { orderId: string; version: number } | undefined;
    for (;;) {
      const rows = await tx
        .select({
          orderId: orderEvents.orderId,
          version: orderEvents.version,
          type: orderEvents.type,
          payload: orderEvents.payload,
        })
        .from(orderEvents)
        .where(
          cursor
            ? or(
                gt(orderEvents.orderId, cursor.orderId),
                and(eq(orderEvents.orderId, cursor.orderId), gt(orderEvents.version, cursor.version)),
              )
            : undefined,
        )
        .orderBy(asc(orderEvents.orderId), asc(orderEvents.version))
        .limit(PAGE);
      for (const row of rows) {
        const event = decodeEvent(row);
        if (current !== undefined && current.id !== row.orderId) await finish();
        current = apply(current, event);
        const at = eventTime(event);
        if (lastAt === undefined || at > lastAt) lastAt = at;
        events++;
      }
      const last = rows.at(-1);
      if (rows.length < PAGE || last === undefined) break;
      cursor = { orderId: last.orderId, version: last.version };
    }
    await finish();
    const entries = [...totals].filter(([, value]) => value !== 0n);
    if (entries.length > 0 && lastAt) {
      const at = lastAt;
      await tx.insert(orderStatistics).values(entries.map(([key, delta]) => ({ key, delta, at })));
    }
    return { orders, events };
  });
}
