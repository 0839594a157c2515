/**
 * The event store: append-only `order_events` with optimistic concurrency on (order_id, version).
 * Appending also projects the read models and writes the events to the outbox, in the caller's
 * transaction, so the event, its projections and its publication commit (or roll back) together.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Database, SqlExecutor } from "@mercato/platform/db";
import { aborted, Code, ServiceError } from "@mercato/platform/errors";
import { enqueueEvent } from "@mercato/platform/events";
import { asc, eq } from "drizzle-orm";
import {
  apply,
  eventSchemas,
  kindOfType,
  type OrderEvent,
  type OrderState,
  replay,
  subjectOf,
} from "../domain/order.js";
import { projectChange } from "./projections.js";
import { orderEvents } from "./schema.js";

/** The stored form of an event. */
export interface StoredEvent {
  readonly type: string;
  readonly payload: Uint8Array;
}

/** Encodes an event for the store and the outbox. */
export function encodeEvent(event: OrderEvent): StoredEvent {
  const schema = eventSchemas[event.kind];
  // biome-ignore lint/suspicious/noExplicitAny: the kind selects the schema matching data
  return { type: schema.typeName, payload: toBinary(schema as any, event.data) };
}

/** Decodes a stored event. */
export function decodeEvent(stored: StoredEvent): OrderEvent {
  const kind = kindOfType(stored.type);
  if (kind === undefined) throw new Error(`unknown order event type ${stored.type}`);
  const data = fromBinary(eventSchemas[kind], stored.payload);
  return { kind, data } as OrderEvent;
}

/** An order's events, oldest first. */
export async function loadEvents(executor: SqlExecutor, orderId: string): Promise<OrderEvent[]> {
  const rows = await executor
    .select({ type: orderEvents.type, payload: orderEvents.payload })
    .from(orderEvents)
    .where(eq(orderEvents.orderId, orderId))
    .orderBy(asc(orderEvents.version));
  return rows.map(decodeEvent);
}

/** An order's current state by replay; undefined when it has no events. */
export async function loadOrder(executor: SqlExecutor, orderId: string): Promise<OrderState | undefined> {
  return replay(await loadEvents(executor, orderId));
}

/**
 * Appends `events` to an order whose state (as the caller read it) is `before`, projects them and
 * enqueues them to the outbox. The versions come from the events themselves and must follow
 * `before.version`; if another writer appended that version first, nothing is written and this
 * throws ABORTED (the transaction must be retried from a fresh read).
 *
 * @returns the state after the events
 */
export async function appendEvents(
  tx: SqlExecutor,
  before: OrderState | undefined,
  events: readonly OrderEvent[],
): Promise<OrderState> {
  if (events.length === 0) {
    if (before === undefined) throw new Error("appendEvents: nothing to append to an empty order");
    return before;
  }
  let state = before;
  for (const event of events) {
    const expected = (state?.version ?? 0) + 1;
    if (Number(event.data.version) !== expected) {
      throw new Error(`appendEvents: event version ${event.data.version} does not follow ${expected - 1}`);
    }
    state = apply(state, event);
  }
  const after = state as OrderState;
  const rows = events.map((event) => ({
    orderId: event.data.orderId,
    version: Number(event.data.version),
    eventId: event.data.eventId,
    occurredAt: event.data.occurredAt
      ? new Date(Number(event.data.occurredAt.seconds) * 1000 + event.data.occurredAt.nanos / 1e6)
      : new Date(),
    ...encodeEvent(event),
  }));
  // ON CONFLICT DO NOTHING waits for a concurrent writer of the same version and then skips the row,
  // so a lost race shows up as fewer rows rather than as an error that would poison the transaction.
  const inserted = await tx
    .insert(orderEvents)
    .values(rows)
    .onConflictDoNothing({ target: [orderEvents.orderId, orderEvents.version] })
    .returning({ version: orderEvents.version });
  if (inserted.length !== rows.length) {
    throw aborted(`order ${after.id} changed concurrently (version ${(before?.version ?? 0) + 1} taken)`);
  }
  await projectChange(tx, before, after, events);
  for (const [index, event] of events.entries()) {
    const row = rows[index];
    if (row === undefined) continue;
    await enqueueEvent(tx, {
      subject: subjectOf(event),
      aggregateId: after.id,
      id: event.data.eventId,
      type: row.type,
      payload: row.payload,
    });
  }
  return after;
}

/** True for the error {@link appendEvents} throws when it lost a race. */
export function isConcurrencyConflict(error: unknown): boolean {
  return error instanceof ServiceError && error.code === Code.ABORTED;
}

/** Options of {@link executeCommand}. */
export interface ExecuteOptions {
  /** Attempts before the ABORTED is given to the caller (default 5). */
  readonly attempts?: number;
}

/**
 * Runs a command against an order: in one transaction, replays the order, asks `decide` for new
 * events, appends them (with projections and outbox) and lets `after` write anything else that must
 * commit with them. A concurrent append (ABORTED) reruns the whole thing from a fresh read, a few
 * times, so no change is ever lost or applied on a stale state.
 *
 * @returns the state after the command (unchanged when `decide` returned no events)
 * @throws NOT_FOUND when the order does not exist; ABORTED when every attempt lost a race
 */
export async function executeCommand<S extends Record<string, unknown>, T = OrderState>(
  database: Database<S>,
  orderId: string,
  decide: (state: OrderState, tx: SqlExecutor) => OrderEvent[] | Promise<OrderEvent[]>,
  after?: (tx: SqlExecutor, state: OrderState, appended: readonly OrderEvent[]) => Promise<T>,
  options: ExecuteOptions = {},
): Promise<{ state: OrderState; appended: readonly OrderEvent[]; result: T | undefined }> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await database.transaction(async (tx) => {
        const state = await loadOrder(tx, orderId);
        if (state === undefined) throw new ServiceError(Code.NOT_FOUND, `order ${orderId} not found`);
        const events = await decide(state, tx);
        const next = await appendEvents(tx, state, events);
        const result = after ? await after(tx, next, events) : undefined;
        return { state: next, appended: events, result };
      });
    } catch (error) {
      if (!isConcurrencyConflict(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/**
 * Runs a command like {@link executeCommand}, but inside the caller's transaction `tx` (an event
 * consumer's inbox transaction, so the event's record and its effect commit together): each attempt
 * runs in a savepoint, and a concurrent append (ABORTED) rolls back to it and reruns from a fresh
 * read, a few times.
 *
 * @throws NOT_FOUND when the order does not exist; ABORTED when every attempt lost a race
 */
export async function executeCommandIn(
  tx: SqlExecutor,
  orderId: string,
  decide: (state: OrderState, tx: SqlExecutor) => OrderEvent[] | Promise<OrderEvent[]>,
  options: ExecuteOptions = {},
): Promise<{ state: OrderState; appended: readonly OrderEvent[] }> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await tx.transaction(async (savepoint) => {
        const state = await loadOrder(savepoint, orderId);
        if (state === undefined) throw new ServiceError(Code.NOT_FOUND, `order ${orderId} not found`);
        const events = await decide(state, savepoint);
        return { state: await appendEvents(savepoint, state, events), appended: events };
      });
    } catch (error) {
      if (!isConcurrencyConflict(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
