/**
 * Order's saga step log as the whole-system fault tests read it, and the check that no saga was
 * driven by two drivers at once.
 */
import type { withDatabase } from "@mercato/testing";

/** A postgres.js client, as {@link withDatabase} hands it out. */
type Sql = Parameters<Parameters<typeof withDatabase>[1]>[0];

/** One row of order's saga_steps log. */
export interface StepRow {
  readonly sagaId: string;
  readonly id: number;
  readonly step: number;
  readonly state: string;
  readonly attempt: number;
  readonly driverId: string;
  /** Microseconds since the epoch, from the database clock. */
  readonly atUs: number;
  readonly detail?: string | null;
}

const SAGA_STEP_CAPTURE_PAYMENT = 5;
const SAGA_STEP_CANCEL_ORDER = 9;

/**
 * The lease check over order's `saga_steps` log. Per saga, rows are taken in insertion order (`id`)
 * and cut into runs of consecutive rows by the same driver. Every process of the order service has
 * its own driver id, so:
 *
 * 1. No comeback (unless `allowComeback`): a driver that another driver has followed never writes for
 *    that saga again (A … B … A means A and B both held the saga). This holds when at most one order
 *    process is alive at a time; with replicas, a live driver may legally claim a saga again after
 *    another released it, so the replica test allows it and relies on the rules below.
 * 2. No early takeover: when driver B follows driver A and A's last row leaves A holding the lease
 *    (`started`, or `succeeded`/`skipped`/`redirected` of a non-final step), B's first row is at least
 *    the lease time after A's last row. Both timestamps come from the database clock, and every row
 *    that leaves a lease held sets it to expire exactly `now() + lease` of its own transaction, so a
 *    legal takeover can only be later. (`retry` and `failed` may free the lease for a backoff, so a
 *    takeover after them is not timed: the check is conservative there.)
 * 3. Every `started` row is followed directly by the same driver's outcome row for the same step
 *    and attempt, unless that driver never writes for the saga again (it died mid-step).
 * 4. Nothing follows the final row of a finished saga (capture succeeded, or cancel order done).
 *
 * @returns one line per violation
 */
export function leaseViolations(
  rows: readonly StepRow[],
  leaseMs: number,
  options: { readonly allowComeback?: boolean } = {},
): string[] {
  const bySaga = new Map<string, StepRow[]>();
  for (const row of rows) {
    const list = bySaga.get(row.sagaId);
    if (list) list.push(row);
    else bySaga.set(row.sagaId, [row]);
  }
  const violations: string[] = [];
  const holding = (row: StepRow) =>
    row.state === "started" ||
    ((row.state === "succeeded" || row.state === "skipped" || row.state === "redirected") && !isFinal(row));
  const isFinal = (row: StepRow) =>
    (row.step === SAGA_STEP_CAPTURE_PAYMENT && row.state === "succeeded") ||
    (row.step === SAGA_STEP_CANCEL_ORDER && (row.state === "succeeded" || row.state === "skipped"));
  for (const [sagaId, list] of bySaga) {
    list.sort((a, b) => a.id - b.id);
    const runs: StepRow[][] = [];
    for (const row of list) {
      const last = runs.at(-1);
      if (last && last[0]?.driverId === row.driverId) last.push(row);
      else runs.push([row]);
    }
    const seen = new Set<string>();
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as StepRow[];
      const driver = (run[0] as StepRow).driverId;
      if (seen.has(driver) && !options.allowComeback)
        violations.push(`saga ${sagaId}: driver ${driver} wrote again after another driver`);
      seen.add(driver);
      const next = runs[i + 1];
      if (next === undefined) continue;
      const a = run.at(-1) as StepRow;
      const b = next[0] as StepRow;
      if (holding(a) && b.atUs - a.atUs < leaseMs * 1000) {
        violations.push(
          `saga ${sagaId}: driver ${b.driverId} took over ${((b.atUs - a.atUs) / 1000).toFixed(1)} ms after ` +
            `driver ${driver}'s ${a.state} of step ${a.step} (lease ${leaseMs} ms)`,
        );
      }
    }
    for (let i = 0; i < list.length; i++) {
      const row = list[i] as StepRow;
      const next = list[i + 1];
      if (row.state === "started") {
        const outcome =
          next !== undefined &&
          next.driverId === row.driverId &&
          next.step === row.step &&
          next.attempt === row.attempt &&
          next.state !== "started";
        const diedHere = !list.slice(i + 1).some((later) => later.driverId === row.driverId);
        if (!outcome && !diedHere) {
          violations.push(
            `saga ${sagaId}: step ${row.step} attempt ${row.attempt} started by ${row.driverId} is followed by ` +
              `${next ? `${next.state} of step ${next.step} by ${next.driverId}` : "nothing"}`,
          );
        }
      }
      if (isFinal(row) && next !== undefined) {
        violations.push(`saga ${sagaId}: ${next.state} of step ${next.step} after the saga finished`);
      }
    }
  }
  return violations;
}

/** Every row of order's `saga_steps` log, read with `sql` (a client of order's database). */
export async function readStepLog(sql: Sql): Promise<StepRow[]> {
  const rows = await sql<
    {
      saga_id: string;
      id: string;
      step: number;
      state: string;
      attempt: number;
      driver_id: string;
      at_us: string;
      detail: string | null;
    }[]
  >`select saga_id, id::text, step, state, attempt, driver_id, detail,
           (extract(epoch from at) * 1000000)::bigint::text as at_us
      from saga_steps`;
  return rows.map((row) => ({
    sagaId: row.saga_id,
    id: Number(row.id),
    step: row.step,
    state: row.state,
    attempt: row.attempt,
    driverId: row.driver_id,
    atUs: Number(row.at_us),
    detail: row.detail,
  }));
}
