/** Inventory queries. Each takes an executor so it joins the caller's transaction. */
import { queryRows, type SqlExecutor } from "@mercato/platform/db";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import type { Level, Line } from "../domain/rules.js";
import {
  type MovementKind,
  type ReservationRow,
  type ReservationStatusName,
  reservationLines,
  reservations,
  type StockRow,
  stock,
  stockMovements,
} from "./schema.js";

/** A reservation with its lines (sorted by SKU). */
export interface StoredReservation extends ReservationRow {
  readonly lines: Line[];
}

/** The stock row of a SKU, if any (no lock). */
export async function findStock(db: SqlExecutor, sku: string): Promise<StockRow | undefined> {
  const [row] = await db.select().from(stock).where(eq(stock.sku, sku));
  return row as StockRow | undefined;
}

/**
 * Locks the stock rows of `skus` FOR UPDATE in SKU order (every writer locks in this order, so two
 * transactions never wait for each other in a cycle) and returns their levels. SKUs without a row
 * are absent from the map.
 */
export async function lockStock(db: SqlExecutor, skus: readonly string[]): Promise<Map<string, Level>> {
  const levels = new Map<string, Level>();
  if (skus.length === 0) return levels;
  const rows = (await db
    .select()
    .from(stock)
    .where(inArray(stock.sku, [...skus]))
    .orderBy(asc(stock.sku))
    .for("update")) as StockRow[];
  for (const row of rows) levels.set(row.sku, { onHand: row.onHand, reserved: row.reserved });
  return levels;
}

/** Creates empty stock rows for SKUs that have none (no-op for the others). */
export async function ensureStock(db: SqlExecutor, skus: readonly string[]): Promise<void> {
  if (skus.length === 0) return;
  await db
    .insert(stock)
    .values(skus.map((sku) => ({ sku })))
    .onConflictDoNothing();
}

/** Writes a SKU's new levels. */
export async function writeLevel(db: SqlExecutor, sku: string, level: Level): Promise<void> {
  await db
    .update(stock)
    .set({ onHand: level.onHand, reserved: level.reserved, updatedAt: sql`now()` })
    .where(eq(stock.sku, sku));
}

/** Records a change to units on hand in the audit log. */
export async function recordMovement(
  db: SqlExecutor,
  movement: {
    sku: string;
    kind: MovementKind;
    delta: number;
    onHandAfter: number;
    reason?: string;
    reservationId?: string;
  },
): Promise<void> {
  await db.insert(stockMovements).values({ id: uuidv7(), ...movement });
}

/**
 * Inserts a held reservation expiring `ttlSeconds` from the database's clock, unless the id exists
 * (then undefined). A concurrent insert of the same id makes this wait for that transaction.
 */
export async function insertHeldReservation(
  db: SqlExecutor,
  row: { id: string; orderId: string; ttlSeconds: number },
): Promise<ReservationRow | undefined> {
  const [inserted] = await db
    .insert(reservations)
    .values({
      id: row.id,
      orderId: row.orderId,
      status: "held",
      expiresAt: sql`now() + make_interval(secs => ${row.ttlSeconds})`,
    })
    .onConflictDoNothing()
    .returning();
  return inserted as ReservationRow | undefined;
}

/** Inserts a tombstone for a released id never reserved, unless the id exists (then undefined). */
export async function insertTombstone(
  db: SqlExecutor,
  id: string,
  reason: string,
): Promise<ReservationRow | undefined> {
  const [inserted] = await db
    .insert(reservations)
    .values({ id, status: "released", tombstone: true, reason })
    .onConflictDoNothing()
    .returning();
  return inserted as ReservationRow | undefined;
}

/** Stores a reservation's lines. */
export async function insertLines(
  db: SqlExecutor,
  reservationId: string,
  lines: readonly Line[],
): Promise<void> {
  await db
    .insert(reservationLines)
    .values(lines.map((l) => ({ reservationId, sku: l.sku, quantity: l.quantity })));
}

async function linesOf(db: SqlExecutor, ids: readonly string[]): Promise<Map<string, Line[]>> {
  const byReservation = new Map<string, Line[]>();
  if (ids.length === 0) return byReservation;
  const rows = await db
    .select()
    .from(reservationLines)
    .where(inArray(reservationLines.reservationId, [...ids]))
    .orderBy(asc(reservationLines.reservationId), asc(reservationLines.sku));
  for (const row of rows) {
    const list = byReservation.get(row.reservationId) ?? [];
    list.push({ sku: row.sku, quantity: row.quantity });
    byReservation.set(row.reservationId, list);
  }
  return byReservation;
}

/** A reservation with its lines, optionally locked FOR UPDATE. */
export async function findReservation(
  db: SqlExecutor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<StoredReservation | undefined> {
  const query = db.select().from(reservations).where(eq(reservations.id, id));
  const [row] = (options.forUpdate ? await query.for("update") : await query) as ReservationRow[];
  if (!row) return undefined;
  return { ...row, lines: (await linesOf(db, [id])).get(id) ?? [] };
}

/**
 * Claims up to `limit` held reservations past their expiry, locked FOR UPDATE SKIP LOCKED: replicas
 * sweeping at once each get different ones, and a reservation being committed or released right now
 * is left to that call.
 */
export async function claimExpired(db: SqlExecutor, limit: number): Promise<StoredReservation[]> {
  const rows = (await db
    .select()
    .from(reservations)
    .where(and(eq(reservations.status, "held"), sql`${reservations.expiresAt} <= now()`))
    .orderBy(asc(reservations.expiresAt))
    .limit(limit)
    .for("update", { skipLocked: true })) as ReservationRow[];
  const lines = await linesOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => ({ ...r, lines: lines.get(r.id) ?? [] }));
}

/** Moves a reservation to `status`, with a reason, and returns it. */
export async function setReservationStatus(
  db: SqlExecutor,
  id: string,
  status: ReservationStatusName,
  reason?: string,
): Promise<ReservationRow> {
  const [row] = await db
    .update(reservations)
    .set({ status, updatedAt: sql`now()`, ...(reason !== undefined ? { reason } : {}) })
    .where(eq(reservations.id, id))
    .returning();
  return row as ReservationRow;
}

/** The levels of `skus` without locking them; SKUs without a row are absent from the map. */
export async function readLevels(db: SqlExecutor, skus: readonly string[]): Promise<Map<string, Level>> {
  const levels = new Map<string, Level>();
  if (skus.length === 0) return levels;
  const rows = (await db
    .select()
    .from(stock)
    .where(inArray(stock.sku, [...skus]))) as StockRow[];
  for (const row of rows) levels.set(row.sku, { onHand: row.onHand, reserved: row.reserved });
  return levels;
}

/**
 * Holds `quantity` more units of `sku` if that many are available, in one conditional UPDATE: the
 * row lock, the availability check and the change are a single statement, so the row stays locked
 * only from here to the caller's commit. Undefined (nothing changed) when the SKU is short or unknown.
 *
 * @returns the levels after the change
 */
export async function holdUnits(db: SqlExecutor, sku: string, quantity: number): Promise<Level | undefined> {
  const [row] = await db
    .update(stock)
    .set({ reserved: sql`${stock.reserved} + ${quantity}`, updatedAt: sql`now()` })
    .where(and(eq(stock.sku, sku), sql`${stock.onHand} - ${stock.reserved} >= ${quantity}`))
    .returning({ onHand: stock.onHand, reserved: stock.reserved });
  return row;
}

/**
 * Adds the deltas to a SKU's levels and returns the new levels; with `movement`, records the change
 * to units on hand in the audit log in the same statement (one round trip while the row is locked).
 * The CHECK constraints refuse a change that would make a level invalid.
 */
export async function shiftLevel(
  db: SqlExecutor,
  sku: string,
  delta: { onHand?: number; reserved?: number },
  movement?: { kind: MovementKind; reason?: string; reservationId?: string },
): Promise<Level> {
  const onHand = delta.onHand ?? 0;
  const reserved = delta.reserved ?? 0;
  const change = sql`update stock
       set on_hand = on_hand + ${onHand}::int, reserved = reserved + ${reserved}::int, updated_at = now()
     where sku = ${sku}
     returning on_hand, reserved`;
  const rows = await queryRows<{ on_hand: number; reserved: number }>(
    db,
    movement === undefined
      ? change
      : sql`with changed as (${change}),
          movement as (
            insert into stock_movements (id, sku, kind, delta, on_hand_after, reason, reservation_id)
            select ${uuidv7()}::uuid, ${sku}::text, ${movement.kind}::text, ${onHand}::int, on_hand,
                   ${movement.reason ?? ""}::text, ${movement.reservationId ?? null}::text
              from changed
          )
          select on_hand, reserved from changed`,
  );
  const [row] = rows;
  if (!row) throw new Error(`no stock row for ${sku}`);
  return { onHand: Number(row.on_hand), reserved: Number(row.reserved) };
}
