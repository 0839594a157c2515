/**
 * Queries of the order read models and the PlaceOrder idempotency keys.
 */
import type { SqlExecutor } from "@mercato/platform/db";
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import { orderRequests, orderViews, sagas } from "./schema.js";

/** An order view with its saga's position (null before the saga row exists). */
export interface OrderRecord {
  readonly view: typeof orderViews.$inferSelect;
  readonly saga: { readonly step: number; readonly state: number } | null;
}

const selection = {
  view: orderViews,
  sagaStep: sagas.step,
  sagaState: sagas.state,
};

function toRecord(row: {
  view: typeof orderViews.$inferSelect;
  sagaStep: number | null;
  sagaState: number | null;
}) {
  return {
    view: row.view,
    saga:
      row.sagaStep === null || row.sagaState === null ? null : { step: row.sagaStep, state: row.sagaState },
  };
}

/** One order's view, or undefined. */
export async function findOrder(executor: SqlExecutor, orderId: string): Promise<OrderRecord | undefined> {
  const [row] = await executor
    .select(selection)
    .from(orderViews)
    .leftJoin(sagas, eq(sagas.orderId, orderViews.orderId))
    .where(eq(orderViews.orderId, orderId));
  return row ? toRecord(row) : undefined;
}

/** Keyset position in a user's order list (newest first). */
export interface ListCursor {
  readonly createdAt: Date;
  readonly orderId: string;
}

/** One page of a user's orders (every user's without `userId`), newest first, optionally in one status. */
export async function listOrders(
  executor: SqlExecutor,
  query: {
    readonly userId?: string;
    readonly status?: number;
    readonly limit: number;
    readonly after?: ListCursor;
  },
): Promise<OrderRecord[]> {
  const conditions: SQL[] = [];
  if (query.userId !== undefined) conditions.push(eq(orderViews.userId, query.userId));
  if (query.status !== undefined) conditions.push(eq(orderViews.status, query.status));
  if (query.after) {
    const after = query.after;
    const older = or(
      lt(orderViews.createdAt, after.createdAt),
      and(eq(orderViews.createdAt, after.createdAt), lt(orderViews.orderId, after.orderId)),
    );
    if (older) conditions.push(older);
  }
  const rows = await executor
    .select(selection)
    .from(orderViews)
    .leftJoin(sagas, eq(sagas.orderId, orderViews.orderId))
    .where(and(...conditions))
    .orderBy(desc(orderViews.createdAt), desc(orderViews.orderId))
    .limit(query.limit);
  return rows.map(toRecord);
}

/** The order placed under a user's idempotency key, with the hash of its request. */
export async function findRequest(
  executor: SqlExecutor,
  userId: string,
  idempotencyKey: string,
): Promise<{ orderId: string; requestHash: string } | undefined> {
  const [row] = await executor
    .select({ orderId: orderRequests.orderId, requestHash: orderRequests.requestHash })
    .from(orderRequests)
    .where(and(eq(orderRequests.userId, userId), eq(orderRequests.idempotencyKey, idempotencyKey)));
  return row;
}

/**
 * Claims a user's idempotency key for an order. A concurrent claim of the same key waits for the
 * first transaction and then loses.
 *
 * @returns false when the key was taken
 */
export async function claimRequest(
  executor: SqlExecutor,
  request: { userId: string; idempotencyKey: string; requestHash: string; orderId: string },
): Promise<boolean> {
  const inserted = await executor
    .insert(orderRequests)
    .values(request)
    .onConflictDoNothing()
    .returning({ orderId: orderRequests.orderId });
  return inserted.length === 1;
}
