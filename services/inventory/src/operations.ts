/**
 * Inventory's state changes, each one transaction: levels, reservation and outbox events are
 * written together. Stock rows are locked in SKU order, always after the reservation row when there
 * is one, so concurrent calls never deadlock. On the hot paths (Reserve, Commit, Release, Restock)
 * the stock rows are the last thing a transaction touches, each with one statement that locks,
 * checks and changes the row (and writes its audit row): every other write happens before, so a
 * popular SKU's row is locked only for that statement and the commit, not while the reservation,
 * its lines and events are written. Handlers validate input and call these; the sweeper calls
 * {@link sweepExpired}.
 */
import type { Database, Tx } from "@mercato/platform/db";
import { aborted, failedPrecondition, notFound } from "@mercato/platform/errors";
import {
  claimExpired,
  ensureStock,
  findReservation,
  findStock,
  holdUnits,
  insertHeldReservation,
  insertLines,
  insertTombstone,
  lockStock,
  readLevels,
  recordMovement,
  type StoredReservation,
  setReservationStatus,
  shiftLevel,
  writeLevel,
} from "./db/queries.js";
import type { InventorySchema } from "./db/schema.js";
import {
  adjustOnHand,
  available,
  crossedLowStock,
  describeShortages,
  type Level,
  type LevelChange,
  type Line,
  sameLines,
  setOnHand,
  shortages,
  sortedLines,
} from "./domain/rules.js";
import { stockLow, stockReleased, stockReserved } from "./events/publish.js";

type InventoryDatabase = Database<InventorySchema>;

/** Stock levels of a SKU; zero for a SKU never stocked. */
export async function getStock(database: InventoryDatabase, sku: string): Promise<Level> {
  const row = await findStock(database.db, sku);
  return row ? { onHand: row.onHand, reserved: row.reserved } : { onHand: 0, reserved: 0 };
}

async function changeOnHand(
  database: InventoryDatabase,
  sku: string,
  lowStockThreshold: number,
  change: (level: Level) => LevelChange,
  movement: { kind: "set" | "adjust"; reason: string },
  createIfMissing: boolean,
): Promise<Level> {
  return database.transaction(async (tx) => {
    if (createIfMissing) await ensureStock(tx, [sku]);
    const before = (await lockStock(tx, [sku])).get(sku);
    if (!before) throw failedPrecondition(`SKU ${sku} has no stock to remove`);
    const outcome = change(before);
    if (!outcome.ok) throw failedPrecondition(outcome.reason);
    await writeLevel(tx, sku, outcome.level);
    await recordMovement(tx, {
      sku,
      kind: movement.kind,
      delta: outcome.level.onHand - before.onHand,
      onHandAfter: outcome.level.onHand,
      reason: movement.reason,
    });
    if (crossedLowStock(available(before), available(outcome.level), lowStockThreshold))
      await stockLow(tx, sku, available(outcome.level), lowStockThreshold);
    return outcome.level;
  });
}

/** Sets a SKU's units on hand (creating the SKU); FAILED_PRECONDITION below the reserved units. */
export function setStock(
  database: InventoryDatabase,
  lowStockThreshold: number,
  sku: string,
  onHand: number,
): Promise<Level> {
  return changeOnHand(
    database,
    sku,
    lowStockThreshold,
    (level) => setOnHand(level, onHand),
    { kind: "set", reason: "" },
    true,
  );
}

/** Adds `delta` to a SKU's units on hand; FAILED_PRECONDITION below zero or below the reserved units. */
export function adjustStock(
  database: InventoryDatabase,
  lowStockThreshold: number,
  sku: string,
  delta: number,
  reason: string,
): Promise<Level> {
  return changeOnHand(
    database,
    sku,
    lowStockThreshold,
    (level) => adjustOnHand(level, delta),
    { kind: "adjust", reason },
    delta > 0,
  );
}

/** What {@link reserve} needs. */
export interface ReserveInput {
  readonly id: string;
  readonly orderId: string;
  readonly lines: readonly Line[];
  readonly ttlSeconds: number;
}

/**
 * Holds stock for every line or none. The reservation row is inserted first: a concurrent Reserve
 * with the same id waits for it and then finds it. Repeating a call returns the existing reservation
 * whatever its status; the same id with other lines or another order is FAILED_PRECONDITION; an id
 * released before it was ever reserved is ABORTED.
 */
export async function reserve(
  database: InventoryDatabase,
  lowStockThreshold: number,
  input: ReserveInput,
): Promise<StoredReservation> {
  return database.transaction(async (tx) => {
    const inserted = await insertHeldReservation(tx, {
      id: input.id,
      orderId: input.orderId,
      ttlSeconds: input.ttlSeconds,
    });
    if (!inserted) {
      const existing = await findReservation(tx, input.id);
      if (!existing) throw aborted(`reservation ${input.id} changed concurrently; retry`);
      if (existing.tombstone)
        throw aborted(`reservation ${input.id} was released before it was made; use a new reservation id`);
      if (!sameLines(existing.lines, input.lines) || existing.orderId !== input.orderId)
        throw failedPrecondition(`reservation ${input.id} exists already with other lines or another order`);
      return existing;
    }
    const lines = sortedLines(input.lines);
    await insertLines(tx, input.id, lines);
    const reservation: StoredReservation = { ...inserted, lines };
    await stockReserved(tx, reservation);
    // The stock rows last, one conditional UPDATE each in SKU order (see the module comment). A short
    // line rolls everything back: nothing is held or remembered, and the id may be used again.
    for (const [index, line] of lines.entries()) {
      const after = await holdUnits(tx, line.sku, line.quantity);
      if (!after) {
        const rest = lines.slice(index);
        const levels = await readLevels(
          tx,
          rest.map((l) => l.sku),
        );
        const short = shortages(levels, rest);
        // Stock freed since the UPDATE looked would not show as short in this later read: name the line anyway.
        const free = available(levels.get(line.sku) ?? { onHand: 0, reserved: 0 });
        throw failedPrecondition(
          describeShortages(
            short.length > 0 ? short : [{ sku: line.sku, requested: line.quantity, available: free }],
          ),
        );
      }
      const before = { onHand: after.onHand, reserved: after.reserved - line.quantity };
      if (crossedLowStock(available(before), available(after), lowStockThreshold))
        await stockLow(tx, line.sku, available(after), lowStockThreshold);
    }
    return reservation;
  });
}

/**
 * Turns a held reservation into a sale: its units leave on_hand and reserved. Committing a
 * committed one returns it; a released or expired one (or an id only ever released) is
 * FAILED_PRECONDITION; an unknown id NOT_FOUND. A held reservation past its expiry that the sweeper
 * has not reached yet can still be committed: its units are still held, so nothing is oversold.
 */
export async function commit(database: InventoryDatabase, id: string): Promise<StoredReservation> {
  return database.transaction(async (tx) => {
    const reservation = await findReservation(tx, id, { forUpdate: true });
    if (!reservation) throw notFound(`reservation ${id} not found`);
    if (reservation.status === "committed") return reservation;
    if (reservation.status !== "held")
      throw failedPrecondition(`reservation ${id} is ${reservation.status}; it cannot be committed`);
    const lines = sortedLines(reservation.lines);
    const row = await setReservationStatus(tx, id, "committed");
    // The stock rows last (see the module comment).
    for (const line of lines)
      await shiftLevel(
        tx,
        line.sku,
        { onHand: -line.quantity, reserved: -line.quantity },
        { kind: "commit", reservationId: id },
      );
    return { ...row, lines };
  });
}

/**
 * Gives a held, locked reservation's units back and marks it released or expired. The stock rows
 * come last (see the module comment); the sweeper has locked them all up front already.
 */
async function giveBack(
  tx: Tx<InventorySchema>,
  reservation: StoredReservation,
  status: "released" | "expired",
  reason: string,
): Promise<StoredReservation> {
  const lines = sortedLines(reservation.lines);
  const row = await setReservationStatus(tx, reservation.id, status, reason);
  const released = { ...row, lines };
  await stockReleased(tx, released, status, reason);
  for (const line of lines) await shiftLevel(tx, line.sku, { reserved: -line.quantity });
  return released;
}

/**
 * Gives a held reservation's units back. A released or expired one is returned as it is; an unknown
 * id is recorded as a tombstone (so a late Reserve with it is ABORTED) and answers undefined; a
 * committed one is FAILED_PRECONDITION.
 */
export async function release(
  database: InventoryDatabase,
  id: string,
  reason: string,
): Promise<StoredReservation | undefined> {
  return database.transaction(async (tx) => {
    let reservation = await findReservation(tx, id, { forUpdate: true });
    if (!reservation) {
      if (await insertTombstone(tx, id, reason)) return undefined;
      // A Reserve with this id committed meanwhile: release that.
      reservation = await findReservation(tx, id, { forUpdate: true });
      if (!reservation) throw aborted(`reservation ${id} changed concurrently; retry`);
    }
    if (reservation.tombstone) return undefined;
    if (reservation.status === "committed" || reservation.status === "restocked")
      throw failedPrecondition(`reservation ${id} is ${reservation.status}; it cannot be released`);
    if (reservation.status !== "held") return reservation;
    return giveBack(tx, reservation, "released", reason);
  });
}

/**
 * Undoes a sale: puts a committed reservation's units back on hand and marks it restocked, once
 * (audited in `stock_movements`, reported by StockReleased with status RESTOCKED). A restocked one
 * is returned as it is; a held, released or expired one (or an id only ever released) is
 * FAILED_PRECONDITION; an unknown id NOT_FOUND.
 */
export async function restock(
  database: InventoryDatabase,
  id: string,
  reason: string,
): Promise<StoredReservation> {
  return database.transaction(async (tx) => {
    const reservation = await findReservation(tx, id, { forUpdate: true });
    if (!reservation) throw notFound(`reservation ${id} not found`);
    if (reservation.status === "restocked") return reservation;
    if (reservation.status !== "committed")
      throw failedPrecondition(
        `reservation ${id} is ${reservation.status}; only a committed reservation can be restocked`,
      );
    const lines = sortedLines(reservation.lines);
    const row = await setReservationStatus(tx, id, "restocked", reason);
    const restocked = { ...row, lines };
    await stockReleased(tx, restocked, "restocked", reason);
    // The stock rows last (see the module comment).
    for (const line of lines)
      await shiftLevel(
        tx,
        line.sku,
        { onHand: line.quantity },
        { kind: "restock", reason, reservationId: id },
      );
    return restocked;
  });
}

/**
 * Releases up to `batchSize` expired held reservations in one transaction (status expired, a
 * StockReleased event each). Safe with several replicas: reservations are claimed with SKIP LOCKED.
 *
 * @returns how many were released
 */
export async function sweepExpired(database: InventoryDatabase, batchSize: number): Promise<number> {
  return database.transaction(async (tx) => {
    const expired = await claimExpired(tx, batchSize);
    if (expired.length === 0) return 0;
    // Lock every SKU of the batch up front, in order, before touching any.
    const skus = [...new Set(expired.flatMap((r) => r.lines.map((l) => l.sku)))].sort();
    await lockStock(tx, skus);
    for (const reservation of expired) await giveBack(tx, reservation, "expired", "reservation expired");
    return expired.length;
  });
}
