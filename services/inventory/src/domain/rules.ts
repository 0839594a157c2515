/**
 * Inventory rules: request validation, stock arithmetic and reservation comparison. No I/O.
 */

/** A field problem found while validating a request. */
export interface Violation {
  readonly field: string;
  readonly description: string;
}

/** A quantity of one SKU. */
export interface Line {
  readonly sku: string;
  readonly quantity: number;
}

/** Stock levels of one SKU. */
export interface Level {
  readonly onHand: number;
  readonly reserved: number;
}

export const SKU_PATTERN = /^[A-Z0-9-]{1,64}$/;
const RESERVATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const INT32_MAX = 2_147_483_647;
export const MAX_LINES = 100;
const REASON_MAX = 500;

/** Units that can still be reserved. */
export function available(level: Level): number {
  return level.onHand - level.reserved;
}

/** Problems with a SKU: 1 to 64 characters of A-Z, 0-9 and "-" (the catalog's rule). */
export function checkSku(sku: string, field = "sku"): Violation[] {
  if (sku === "") return [{ field, description: "must not be empty" }];
  if (!SKU_PATTERN.test(sku))
    return [{ field, description: 'must be 1 to 64 characters of A-Z, 0-9 and "-"' }];
  return [];
}

/** Problems with a reservation id: 1 to 128 characters of letters, digits and `._:-` (a UUID fits). */
export function checkReservationId(id: string, field = "reservation_id"): Violation[] {
  if (id === "") return [{ field, description: "is required" }];
  if (!RESERVATION_ID_PATTERN.test(id))
    return [{ field, description: "must be 1 to 128 characters of letters, digits and ._:-" }];
  return [];
}

/** Problems with a free-text reason. */
export function checkReason(reason: string, field = "reason"): Violation[] {
  return [...reason].length > REASON_MAX
    ? [{ field, description: `must be at most ${REASON_MAX} characters` }]
    : [];
}

/** Problems with reservation lines: at least one, at most {@link MAX_LINES}, SKUs valid and unique, quantities ≥ 1. */
export function checkLines(lines: readonly Line[]): Violation[] {
  if (lines.length === 0) return [{ field: "lines", description: "must have at least one line" }];
  if (lines.length > MAX_LINES)
    return [{ field: "lines", description: `must have at most ${MAX_LINES} lines` }];
  const problems: Violation[] = [];
  const seen = new Set<string>();
  for (const [i, line] of lines.entries()) {
    problems.push(...checkSku(line.sku, `lines[${i}].sku`));
    if (seen.has(line.sku))
      problems.push({ field: `lines[${i}].sku`, description: "appears more than once" });
    seen.add(line.sku);
    if (!Number.isInteger(line.quantity) || line.quantity < 1)
      problems.push({ field: `lines[${i}].quantity`, description: "must be at least 1" });
  }
  return problems;
}

/** The TTL to use: 0 means `defaultSeconds`; negative or above `maxSeconds` is a problem. */
export function reservationTtl(
  requested: number,
  defaultSeconds: number,
  maxSeconds: number,
): { seconds: number; problems: Violation[] } {
  if (requested < 0)
    return { seconds: 0, problems: [{ field: "ttl_seconds", description: "must not be negative" }] };
  if (requested > maxSeconds)
    return { seconds: 0, problems: [{ field: "ttl_seconds", description: `must be at most ${maxSeconds}` }] };
  return { seconds: requested === 0 ? defaultSeconds : requested, problems: [] };
}

/** Lines sorted by SKU: the order rows are locked in (a consistent order rules out deadlocks). */
export function sortedLines<L extends Line>(lines: readonly L[]): L[] {
  return [...lines].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
}

/** Whether two sets of lines hold the same quantities of the same SKUs (in any order). */
export function sameLines(a: readonly Line[], b: readonly Line[]): boolean {
  if (a.length !== b.length) return false;
  const x = sortedLines(a);
  const y = sortedLines(b);
  return x.every((line, i) => line.sku === y[i]?.sku && line.quantity === y[i]?.quantity);
}

/** A line that cannot be reserved: what is asked and what is available. */
export interface Shortage {
  readonly sku: string;
  readonly requested: number;
  readonly available: number;
}

/** The lines that the levels cannot cover (a SKU without a level has nothing available). */
export function shortages(levels: ReadonlyMap<string, Level>, lines: readonly Line[]): Shortage[] {
  const short: Shortage[] = [];
  for (const line of lines) {
    const level = levels.get(line.sku);
    const free = level ? available(level) : 0;
    if (free < line.quantity) short.push({ sku: line.sku, requested: line.quantity, available: free });
  }
  return short;
}

/** Human-readable summary of shortages for a FAILED_PRECONDITION message. */
export function describeShortages(short: readonly Shortage[]): string {
  return `insufficient stock: ${short.map((s) => `${s.sku} (requested ${s.requested}, available ${s.available})`).join(", ")}`;
}

/** Outcome of a change to units on hand: the new level or why it is refused. */
export type LevelChange =
  | { readonly ok: true; readonly level: Level }
  | { readonly ok: false; readonly reason: string };

/** Sets units on hand; refused if that would drop below the reserved units. */
export function setOnHand(level: Level, onHand: number): LevelChange {
  if (onHand < level.reserved)
    return { ok: false, reason: `on_hand ${onHand} is below the ${level.reserved} reserved units` };
  return { ok: true, level: { onHand, reserved: level.reserved } };
}

/** Adds `delta` to units on hand; refused below zero, below the reserved units, or above int32. */
export function adjustOnHand(level: Level, delta: number): LevelChange {
  const onHand = level.onHand + delta;
  if (onHand < 0) return { ok: false, reason: `on_hand would drop below zero (${onHand})` };
  if (onHand > INT32_MAX) return { ok: false, reason: "on_hand would exceed the maximum" };
  return setOnHand(level, onHand);
}

/**
 * Whether available stock fell to or below `threshold` with this change (it was above before):
 * StockLow is reported once per crossing, not on every change while low.
 */
export function crossedLowStock(before: number, after: number, threshold: number): boolean {
  return before > threshold && after <= threshold;
}
