/**
 * Saga persistence: leasing due sagas to one driver at a time, the fenced step log, and the
 * transition writes.
 */
import type { SqlExecutor } from "@mercato/platform/db";
import { queryRows } from "@mercato/platform/db";
import { and, eq, inArray, sql } from "drizzle-orm";
import {
  firstCompensation,
  type SagaFacts,
  type SagaPosition,
  SagaState,
  SagaStep,
  type Transition,
} from "../domain/saga.js";
import { sagaSteps, sagas } from "./schema.js";

/** A saga row. */
export type SagaRow = typeof sagas.$inferSelect;

/** The driver lost its lease on a saga (another driver owns it now): stop driving it. */
export class LeaseLostError extends Error {
  constructor(readonly sagaId: string) {
    super(`lease on saga ${sagaId} lost`);
    this.name = "LeaseLostError";
  }
}

/** The facts of a saga row. */
export function factsOf(row: SagaRow): SagaFacts {
  return {
    reserveAttempted: row.reserveAttempted,
    authorizeAttempted: row.authorizeAttempted,
    paymentId: row.paymentId,
    committed: row.committed,
    captured: row.captured,
    cancelRequested: row.cancelRequested,
    reason: row.reason,
  };
}

/** The position of a saga row. */
export function positionOf(row: SagaRow): SagaPosition {
  return { state: row.state as SagaState, step: row.step as SagaStep };
}

/**
 * Leases up to `limit` due sagas (active, due, lease free or expired) to `driverId` for `leaseMs`.
 * `FOR UPDATE SKIP LOCKED` lets several drivers claim at once without waiting for or taking each
 * other's rows.
 */
export async function claimDueSagas(
  executor: SqlExecutor,
  driverId: string,
  limit: number,
  leaseMs: number,
): Promise<SagaRow[]> {
  const rows = await queryRows<Record<string, unknown>>(
    executor,
    sql`with due as (
          select saga_id from sagas
          where state in (${SagaState.RUNNING}, ${SagaState.COMPENSATING})
            and next_attempt_at <= now()
            and (lease_until is null or lease_until < now())
          order by next_attempt_at
          limit ${limit}
          for update skip locked
        )
        update sagas s
           set lease_owner = ${driverId},
               lease_until = now() + ${leaseMs} * interval '1 millisecond'
          from due
         where s.saga_id = due.saga_id
     returning s.saga_id`,
  );
  const ids = rows.map((row) => String(row.saga_id));
  if (ids.length === 0) return [];
  return executor
    .select()
    .from(sagas)
    .where(and(inArray(sagas.sagaId, ids), eq(sagas.leaseOwner, driverId)));
}

/** Extends the leases `driverId` holds on `sagaIds`. */
export async function renewLeases(
  executor: SqlExecutor,
  driverId: string,
  sagaIds: readonly string[],
  leaseMs: number,
): Promise<void> {
  if (sagaIds.length === 0) return;
  // Rows locked right now belong to a transition in flight, which renews the lease itself: skip them
  // rather than queue behind them (and make the next transitions queue behind this update).
  const owned = executor
    .select({ sagaId: sagas.sagaId })
    .from(sagas)
    .where(and(inArray(sagas.sagaId, [...sagaIds]), eq(sagas.leaseOwner, driverId)))
    .for("update", { skipLocked: true });
  await executor
    .update(sagas)
    .set({ leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where(inArray(sagas.sagaId, owned));
}

/** Gives up `driverId`'s leases on `sagaIds` so another driver may take them at once. */
export async function releaseLeases(
  executor: SqlExecutor,
  driverId: string,
  sagaIds: readonly string[],
): Promise<void> {
  if (sagaIds.length === 0) return;
  await executor
    .update(sagas)
    .set({ leaseOwner: null, leaseUntil: null })
    .where(and(inArray(sagas.sagaId, [...sagaIds]), eq(sagas.leaseOwner, driverId)));
}

/**
 * Records that `driverId` starts a step, in one statement that also checks and extends its lease
 * (and marks the Reserve or Authorize as attempted before it is sent).
 *
 * @returns whether a cancellation was requested meanwhile, and its reason
 * @throws LeaseLostError when the lease is gone
 */
export async function logStepStart(
  executor: SqlExecutor,
  row: SagaRow,
  driverId: string,
  leaseMs: number,
): Promise<{ cancelRequested: boolean; reason: string }> {
  const attempt = row.attempts + 1;
  const reserve = row.step === SagaStep.RESERVE_STOCK;
  const authorize = row.step === SagaStep.AUTHORIZE_PAYMENT;
  const started = await queryRows(
    executor,
    sql`with lease as (
          update sagas
             set lease_until = now() + ${leaseMs} * interval '1 millisecond',
                 reserve_attempted = reserve_attempted or ${reserve},
                 authorize_attempted = authorize_attempted or ${authorize}
           where saga_id = ${row.sagaId} and lease_owner = ${driverId} and lease_until > now()
          returning saga_id
        )
        insert into saga_steps (saga_id, step, state, attempt, driver_id)
        select saga_id, ${row.step}, 'started', ${attempt}, ${driverId} from lease
        returning id`,
  );
  if (started.length === 0) throw new LeaseLostError(row.sagaId);
  const [flags] = await executor
    .select({ cancelRequested: sagas.cancelRequested, reason: sagas.reason })
    .from(sagas)
    .where(eq(sagas.sagaId, row.sagaId));
  return flags ?? { cancelRequested: row.cancelRequested, reason: row.reason };
}

/** The log state of a step outcome. */
export type StepLogState = "succeeded" | "skipped" | "retry" | "failed" | "redirected";

/**
 * Locks the saga row and checks `driverId` still holds it; returns the row as stored (with any
 * cancellation request that arrived meanwhile).
 *
 * @throws LeaseLostError when another driver holds it
 */
export async function lockOwnedSaga(tx: SqlExecutor, sagaId: string, driverId: string): Promise<SagaRow> {
  const [locked] = await tx.select().from(sagas).where(eq(sagas.sagaId, sagaId)).for("update");
  if (locked === undefined || locked.leaseOwner !== driverId) throw new LeaseLostError(sagaId);
  return locked;
}

/**
 * Writes a transition computed under the row lock: position, facts, retry schedule and lease (kept
 * when the next step runs at once, freed when it waits or the saga finished), plus the step log row.
 *
 * @returns the row as written
 */
export async function writeTransition(
  tx: SqlExecutor,
  row: SagaRow,
  next: Transition,
  log: {
    readonly state: StepLogState;
    readonly detail?: string;
    readonly driverId: string;
    readonly leaseMs: number;
  },
): Promise<SagaRow> {
  const keepsToken =
    next.state === SagaState.RUNNING &&
    (next.step === SagaStep.RESERVE_STOCK || next.step === SagaStep.AUTHORIZE_PAYMENT);
  const holdLease = !next.finished && next.delayMs === 0;
  const [written] = await tx
    .update(sagas)
    .set({
      state: next.state,
      step: next.step,
      attempts: next.attempts,
      nextAttemptAt: sql`now() + ${next.delayMs} * interval '1 millisecond'`,
      ...next.facts,
      paymentToken: keepsToken ? row.paymentToken : null,
      lastError: log.state === "retry" || log.state === "failed" ? (log.detail ?? null) : row.lastError,
      leaseOwner: holdLease ? log.driverId : null,
      leaseUntil: holdLease ? sql`now() + ${log.leaseMs} * interval '1 millisecond'` : null,
      updatedAt: new Date(),
      finishedAt: next.finished ? new Date() : null,
    })
    .where(eq(sagas.sagaId, row.sagaId))
    .returning();
  await tx.insert(sagaSteps).values({
    sagaId: row.sagaId,
    step: row.step,
    state: log.state,
    attempt: row.attempts + 1,
    driverId: log.driverId,
    detail: log.detail ?? null,
  });
  if (written === undefined) throw new LeaseLostError(row.sagaId);
  return written;
}

/** A saga by its order id. */
export async function sagaOfOrder(executor: SqlExecutor, orderId: string): Promise<SagaRow | undefined> {
  const [row] = await executor.select().from(sagas).where(eq(sagas.orderId, orderId));
  return row;
}

/** What {@link requestCancellation} did. */
export type CancellationRequest = "requested" | "compensating" | "finished" | "missing";

/**
 * Asks a saga to compensate, under its row lock: a running saga compensates at its next step
 * boundary; a completed one (a confirmed order) starts compensating now (refund, restock, cancel);
 * a compensating or compensated one is left alone.
 */
export async function requestCancellation(
  tx: SqlExecutor,
  orderId: string,
  reason: string,
): Promise<{ outcome: CancellationRequest; saga: SagaRow | undefined }> {
  const [row] = await tx.select().from(sagas).where(eq(sagas.orderId, orderId)).for("update");
  if (row === undefined) return { outcome: "missing", saga: undefined };
  switch (row.state as SagaState) {
    case SagaState.RUNNING: {
      const [updated] = await tx
        .update(sagas)
        .set({
          cancelRequested: true,
          reason: row.reason || reason,
          nextAttemptAt: sql`least(${sagas.nextAttemptAt}, now())`,
          updatedAt: new Date(),
        })
        .where(eq(sagas.sagaId, row.sagaId))
        .returning();
      return { outcome: "requested", saga: updated };
    }
    case SagaState.COMPLETED: {
      const facts = { ...factsOf(row), cancelRequested: true, reason };
      const [updated] = await tx
        .update(sagas)
        .set({
          state: SagaState.COMPENSATING,
          step: firstCompensation(facts),
          attempts: 0,
          cancelRequested: true,
          reason,
          nextAttemptAt: sql`now()`,
          leaseOwner: null,
          leaseUntil: null,
          finishedAt: null,
          updatedAt: new Date(),
        })
        .where(eq(sagas.sagaId, row.sagaId))
        .returning();
      return { outcome: "requested", saga: updated };
    }
    case SagaState.COMPENSATING:
      return { outcome: "compensating", saga: row };
    default:
      return { outcome: "finished", saga: row };
  }
}

/** A saga's recorded step transitions, oldest first (the console's timeline). */
export async function sagaTimeline(
  executor: SqlExecutor,
  sagaId: string,
): Promise<(typeof sagaSteps.$inferSelect)[]> {
  return executor.select().from(sagaSteps).where(eq(sagaSteps.sagaId, sagaId)).orderBy(sagaSteps.id);
}

/** How many sagas are not terminal yet, and the age in seconds of the oldest (0 when none). */
export async function unfinishedSagas(
  executor: SqlExecutor,
): Promise<{ count: number; oldestAgeSeconds: number }> {
  const [row] = await queryRows<{ n: number; age: number | string | null }>(
    executor,
    sql`select count(*)::int as n, extract(epoch from now() - min(created_at))::float8 as age
          from sagas where state in (${SagaState.RUNNING}, ${SagaState.COMPENSATING})`,
  );
  return { count: Number(row?.n ?? 0), oldestAgeSeconds: Math.max(0, Number(row?.age ?? 0)) };
}
