/**
 * The saga driver: a background task that leases due sagas from the order database and runs them
 * step by step until they finish or must wait for a retry. Every replica runs one; leases (taken
 * with `FOR UPDATE SKIP LOCKED`, checked by every write) keep a saga on one driver at a time, and a
 * crashed driver's sagas are taken over once its leases expire, so every unfinished saga resumes.
 */
import { hostname } from "node:os";
import type { Database, SqlExecutor } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import {
  reasonLabel,
  sagaOldestUnfinishedAge,
  sagaOutcomes,
  sagasUnfinished,
} from "@mercato/platform/metrics";
import { runInOrigin, withSpan } from "@mercato/platform/telemetry";
import { uuidv7 } from "uuidv7";
import type { InventoryClient } from "../clients/inventory.js";
import type { PaymentClient } from "../clients/payment.js";
import { executeCommand } from "../db/event-store.js";
import {
  claimDueSagas,
  factsOf,
  LeaseLostError,
  lockOwnedSaga,
  logStepStart,
  positionOf,
  releaseLeases,
  renewLeases,
  type SagaRow,
  type StepLogState,
  unfinishedSagas,
  writeTransition,
} from "../db/sagas.js";
import { decideCancel, decideConfirm, OrderRuleError } from "../domain/order.js";
import {
  type RetryPolicy,
  SagaState,
  SagaStep,
  type StepOutcome,
  stepLabel,
  transition,
} from "../domain/saga.js";
import { runRemoteStep } from "./steps.js";

/** Options of {@link startSagaDriver}. */
export interface SagaDriverOptions {
  // biome-ignore lint/suspicious/noExplicitAny: the driver uses only its own tables through SqlExecutor
  readonly database: Database<any>;
  readonly logger: Logger;
  readonly inventory: InventoryClient;
  readonly payment: PaymentClient;
  readonly policy: RetryPolicy;
  readonly stepTimeoutMs: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly concurrency: number;
  readonly reservationTtlSeconds: number;
  /** Identifies this driver in leases and the step log (default: host, pid and a random part). */
  readonly driverId?: string;
  /**
   * Test hook, awaited before every step; returning false makes the driver drop the saga there as
   * if the process had died (the lease is kept until it expires).
   */
  readonly beforeStep?: (row: SagaRow) => Promise<boolean> | boolean;
}

/** A running saga driver. */
export interface SagaDriver {
  readonly driverId: string;
  /** Looks for due sagas now (PlaceOrder and CancelOrder call it). */
  wake(): void;
  /** Resolves when the saga of `orderId` is no longer being driven here and is terminal, or after `timeoutMs`. */
  waitForSaga(sagaId: string, timeoutMs: number): Promise<void>;
  /** Stops claiming, lets running steps finish, gives the leases back. */
  stop(): Promise<void>;
  /** Stops at once without giving leases back, as a crash would (tests). */
  halt(): void;
}

function logStateOf(outcome: StepOutcome): StepLogState {
  switch (outcome.kind) {
    case "ok":
      return "succeeded";
    case "skip":
      return "skipped";
    case "retry":
      return "retry";
    case "fail":
      return "failed";
    case "goto":
      return "redirected";
  }
}

/** Starts the driver's loop; it claims at once, so sagas left unfinished by a previous run resume. */
export function startSagaDriver(options: SagaDriverOptions): SagaDriver {
  const { database, logger, policy, leaseMs } = options;
  const driverId = options.driverId ?? `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;
  const log = logger.child({ component: "saga-driver", driverId });
  const running = new Map<string, Promise<void>>();
  const finishedWaiters = new Map<string, Set<() => void>>();
  let stopped = false;
  let halted = false;
  let wakeUp: (() => void) | undefined;
  let woken = false;

  const wake = () => {
    woken = true;
    wakeUp?.();
  };

  const notifyFinished = (sagaId: string) => {
    const waiters = finishedWaiters.get(sagaId);
    if (!waiters) return;
    finishedWaiters.delete(sagaId);
    for (const resolve of waiters) resolve();
  };

  const record = async (
    executor: SqlExecutor,
    row: SagaRow,
    outcome: StepOutcome,
  ): Promise<{ row: SagaRow; delayMs: number; finished: boolean }> => {
    const locked = await lockOwnedSaga(executor, row.sagaId, driverId);
    const facts = {
      ...factsOf(row),
      cancelRequested: locked.cancelRequested,
      reason: row.reason || locked.reason,
    };
    const next = transition(positionOf(row), facts, row.attempts + 1, outcome, policy);
    const detail =
      outcome.kind === "retry" ? outcome.error : outcome.kind === "fail" ? outcome.reason : undefined;
    const written = await writeTransition(executor, row, next, {
      state: logStateOf(outcome),
      ...(detail !== undefined ? { detail } : {}),
      driverId,
      leaseMs,
    });
    return { row: written, delayMs: next.delayMs, finished: next.finished };
  };

  /** Runs one step of `row` and records where it leads. */
  const step = async (row: SagaRow): Promise<{ row: SagaRow; delayMs: number; finished: boolean }> => {
    const flags = await logStepStart(database.db, row, driverId, leaseMs);
    const current = { ...row, ...flags };
    if (current.state === SagaState.RUNNING && current.cancelRequested) {
      // Cancelled before this forward step ran: compensate instead of running it.
      const reason = current.reason || "cancelled";
      return database.transaction((tx) => record(tx, current, { kind: "fail", reason }));
    }
    if (row.step === SagaStep.RESERVE_STOCK) current.reserveAttempted = true;
    if (row.step === SagaStep.AUTHORIZE_PAYMENT) current.authorizeAttempted = true;

    if (row.step === SagaStep.CONFIRM_ORDER || row.step === SagaStep.CANCEL_ORDER) {
      const now = new Date();
      const eventId = uuidv7();
      try {
        const { result } = await executeCommand(
          database,
          row.orderId,
          (state) =>
            row.step === SagaStep.CONFIRM_ORDER
              ? decideConfirm(state, row.paymentId, { eventId, now })
              : decideCancel(state, row.reason || "cancelled", { eventId, now }),
          (tx) => record(tx, current, { kind: "ok" }),
        );
        if (result === undefined) throw new Error("no transition recorded");
        return result;
      } catch (error) {
        if (!(error instanceof OrderRuleError)) throw error;
        // The order moved on without the saga (e.g. shipped meanwhile): record why, do not loop.
        log.error({ err: error, sagaId: row.sagaId, orderId: row.orderId }, "order refused a saga step");
        const outcome: StepOutcome =
          row.step === SagaStep.CONFIRM_ORDER ? { kind: "fail", reason: error.message } : { kind: "skip" };
        return database.transaction((tx) => record(tx, current, outcome));
      }
    }

    const outcome = await runRemoteStep(current, {
      inventory: options.inventory,
      payment: options.payment,
      timeoutMs: options.stepTimeoutMs,
      reservationTtlSeconds: options.reservationTtlSeconds,
    });
    if (outcome.kind === "retry") {
      log.warn(
        { sagaId: row.sagaId, step: stepLabel(row.step), attempt: row.attempts + 1, error: outcome.error },
        "saga step failed; will retry",
      );
    }
    return database.transaction((tx) => record(tx, current, outcome));
  };

  const drive = async (initial: SagaRow): Promise<void> => {
    let row = initial;
    try {
      for (;;) {
        if (stopped || halted) return;
        if (options.beforeStep && !(await options.beforeStep(row))) {
          running.delete(row.sagaId);
          halted = true;
          return;
        }
        if (halted) return;
        const current = row;
        const next = await withSpan(
          `saga ${stepLabel(current.step)}`,
          { attributes: { "mercato.saga.id": current.sagaId, "mercato.saga.attempt": current.attempts + 1 } },
          () => step(current),
        );
        row = next.row;
        if (next.finished) {
          const outcome = row.state === SagaState.COMPLETED ? "completed" : "compensated";
          sagaOutcomes.inc({
            saga: "place_order",
            outcome,
            reason: outcome === "completed" ? "none" : reasonLabel(row.reason),
          });
          log.info(
            { sagaId: row.sagaId, orderId: row.orderId, outcome, reason: row.reason || undefined },
            "saga finished",
          );
          return;
        }
        if (next.delayMs > 0) {
          setTimeout(wake, next.delayMs).unref();
          return;
        }
      }
    } catch (error) {
      if (error instanceof LeaseLostError) {
        log.warn({ sagaId: row.sagaId }, "lease lost; another driver owns the saga");
        return;
      }
      // A database hiccup: leave the saga; the lease expires and it is claimed again.
      log.error({ err: error, sagaId: row.sagaId, step: stepLabel(row.step) }, "saga step crashed");
      setTimeout(wake, leaseMs).unref();
    }
  };

  const launch = (row: SagaRow) => {
    const task = runInOrigin(row.origin, `saga:${row.sagaId}`, () => drive(row)).finally(() => {
      running.delete(row.sagaId);
      notifyFinished(row.sagaId);
      wake();
    });
    running.set(row.sagaId, task);
  };

  const heartbeat = setInterval(
    () => {
      if (halted || running.size === 0) return;
      renewLeases(database.db, driverId, [...running.keys()], leaseMs).catch((error: unknown) =>
        log.warn({ err: error }, "renewing saga leases failed"),
      );
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  heartbeat.unref();

  const sampleUnfinished = () => {
    unfinishedSagas(database.db).then(
      ({ count, oldestAgeSeconds }) => {
        sagasUnfinished.set({ saga: "place_order" }, count);
        sagaOldestUnfinishedAge.set({ saga: "place_order" }, oldestAgeSeconds);
      },
      (error: unknown) => log.debug({ err: error }, "sampling unfinished sagas failed"),
    );
  };
  sampleUnfinished();
  const sampler = setInterval(sampleUnfinished, 5_000);
  sampler.unref();

  const loop = (async () => {
    while (!stopped && !halted) {
      woken = false;
      const capacity = options.concurrency - running.size;
      let claimed = 0;
      if (capacity > 0) {
        try {
          const rows = await claimDueSagas(database.db, driverId, capacity, leaseMs);
          claimed = rows.length;
          for (const row of rows) {
            if (running.has(row.sagaId)) continue;
            launch(row);
          }
        } catch (error) {
          if (!stopped) log.warn({ err: error }, "claiming sagas failed");
        }
      }
      if (stopped || halted) break;
      if (claimed > 0 && claimed === capacity) continue;
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  })();

  return {
    driverId,
    wake,
    waitForSaga(sagaId, timeoutMs) {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(timer);
          finishedWaiters.get(sagaId)?.delete(done);
          resolve();
        }
        let waiters = finishedWaiters.get(sagaId);
        if (!waiters) {
          waiters = new Set();
          finishedWaiters.set(sagaId, waiters);
        }
        waiters.add(done);
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(sampler);
      wakeUp?.();
      await loop;
      const ids = [...running.keys()];
      await Promise.allSettled(running.values());
      if (!halted) {
        await releaseLeases(database.db, driverId, ids).catch((error: unknown) =>
          log.warn({ err: error }, "releasing saga leases failed"),
        );
      }
    },
    halt() {
      halted = true;
      clearInterval(heartbeat);
      clearInterval(sampler);
      wakeUp?.();
    },
  };
}
