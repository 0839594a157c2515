/**
 * The place-order saga as a state machine, without I/O. The driver runs the current step against an
 * upstream, turns the answer into a {@link StepOutcome}, and {@link transition} says where the saga
 * goes next. Saga state is the (state, step) pair plus the facts below, all kept in the `sagas` row.
 *
 *   RUNNING:      RESERVE_STOCK → AUTHORIZE_PAYMENT → CONFIRM_ORDER → COMMIT_STOCK → CAPTURE_PAYMENT → COMPLETED
 *   COMPENSATING: VOID_PAYMENT | REFUND_PAYMENT → RELEASE_STOCK → CANCEL_ORDER → COMPENSATED
 *
 * A forward step that fails for good (declined, out of stock, ambiguous authorize, retries of
 * reserve or authorize used up) or a cancellation request switches to COMPENSATING. Commit and
 * capture run after the order is confirmed, with stock and money held: their transient failures
 * are retried without limit (a permanent refusal still compensates). Compensations never give up: a transient
 * failure is retried with backoff until it succeeds, because leaving stock held or money authorized
 * is never an acceptable end state.
 */
import { SagaState, SagaStep } from "@mercato/sdk/gen/mercato/order/v1/order_pb";

export { SagaState, SagaStep };

/** What the saga knows about the effects it may have caused upstream. */
export interface SagaFacts {
  /** A Reserve was sent (it may have held stock even if the answer was lost). */
  readonly reserveAttempted: boolean;
  /** An Authorize was sent (it may have authorized even if the answer was lost). */
  readonly authorizeAttempted: boolean;
  /** Id of the payment, once an Authorize answered. */
  readonly paymentId: string;
  /** The reservation was committed: its units left stock (compensation restocks them). */
  readonly committed: boolean;
  /** The payment was captured (compensation refunds it). */
  readonly captured: boolean;
  /** The customer (or an admin) asked to cancel: compensate at the next step boundary. */
  readonly cancelRequested: boolean;
  /** Why the saga compensates (becomes the order's cancel reason). */
  readonly reason: string;
}

/** The saga's position. */
export interface SagaPosition {
  readonly state: SagaState;
  readonly step: SagaStep;
}

/** How a step ended. */
export type StepOutcome =
  /** Done; `facts` are merged into the saga's facts. */
  | { readonly kind: "ok"; readonly facts?: Partial<SagaFacts> }
  /** Nothing to do for this step (e.g. no payment to void). */
  | { readonly kind: "skip" }
  /** A transient failure: try the same step again after a backoff. */
  | { readonly kind: "retry"; readonly error: string; readonly facts?: Partial<SagaFacts> }
  /** A permanent failure of a forward step: compensate with `reason`. */
  | { readonly kind: "fail"; readonly reason: string; readonly facts?: Partial<SagaFacts> }
  /** The step found the world differs from what it expected: run `step` instead (same state). */
  | { readonly kind: "goto"; readonly step: SagaStep; readonly facts?: Partial<SagaFacts> };

/** Retry policy of the driver. */
export interface RetryPolicy {
  /** Attempts of one forward step before the saga compensates. */
  readonly maxAttempts: number;
  /** First backoff (ms); doubles per attempt. */
  readonly baseDelayMs: number;
  /** Longest backoff (ms). */
  readonly maxDelayMs: number;
}

/** Where a transition leads. */
export interface Transition extends SagaPosition {
  readonly facts: SagaFacts;
  /** Attempts made of the (new) current step. */
  readonly attempts: number;
  /** Wait this long before running the step (a retry); 0 to run it now. */
  readonly delayMs: number;
  /** The saga reached COMPLETED or COMPENSATED. */
  readonly finished: boolean;
}

const forward: readonly SagaStep[] = [
  SagaStep.RESERVE_STOCK,
  SagaStep.AUTHORIZE_PAYMENT,
  SagaStep.CONFIRM_ORDER,
  SagaStep.COMMIT_STOCK,
  SagaStep.CAPTURE_PAYMENT,
];

function afterConfirm(step: SagaStep): boolean {
  return step === SagaStep.COMMIT_STOCK || step === SagaStep.CAPTURE_PAYMENT;
}

/** The position of a new saga. */
export const initialPosition: SagaPosition = { state: SagaState.RUNNING, step: SagaStep.RESERVE_STOCK };

/** Facts of a new saga. */
export const initialFacts: SagaFacts = {
  reserveAttempted: false,
  authorizeAttempted: false,
  paymentId: "",
  committed: false,
  captured: false,
  cancelRequested: false,
  reason: "",
};

/** Whether a saga in `state` still has work to do. */
export function isActive(state: SagaState): boolean {
  return state === SagaState.RUNNING || state === SagaState.COMPENSATING;
}

/** The first compensation step for these facts. */
export function firstCompensation(facts: SagaFacts): SagaStep {
  return facts.captured ? SagaStep.REFUND_PAYMENT : SagaStep.VOID_PAYMENT;
}

function nextCompensation(step: SagaStep, facts: SagaFacts): SagaStep | undefined {
  switch (step) {
    case SagaStep.VOID_PAYMENT:
      return facts.captured ? SagaStep.REFUND_PAYMENT : SagaStep.RELEASE_STOCK;
    case SagaStep.REFUND_PAYMENT:
      return SagaStep.RELEASE_STOCK;
    case SagaStep.RELEASE_STOCK:
      return SagaStep.CANCEL_ORDER;
    default:
      return undefined;
  }
}

/** Backoff before attempt `attempt + 1` (attempt ≥ 1), with jitter in [50 %, 100 %]. */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Switches a running saga to compensation (a cancellation request or a failed forward step). */
export function compensate(facts: SagaFacts, reason: string): Transition {
  const merged = { ...facts, reason: facts.reason || reason };
  return {
    state: SagaState.COMPENSATING,
    step: firstCompensation(merged),
    facts: merged,
    attempts: 0,
    delayMs: 0,
    finished: false,
  };
}

/**
 * Where the saga goes after `outcome` of the current step (`attempts` counts this attempt).
 * `facts.cancelRequested` (read under the row lock) turns the next forward step into compensation.
 */
export function transition(
  position: SagaPosition,
  facts: SagaFacts,
  attempts: number,
  outcome: StepOutcome,
  policy: RetryPolicy,
  random: () => number = Math.random,
): Transition {
  const merged: SagaFacts = { ...facts, ...("facts" in outcome ? outcome.facts : {}) };
  const stay = (delayMs: number): Transition => ({
    ...position,
    facts: merged,
    attempts,
    delayMs,
    finished: false,
  });
  const move = (step: SagaStep): Transition => ({
    state: position.state,
    step,
    facts: merged,
    attempts: 0,
    delayMs: 0,
    finished: false,
  });

  if (position.state === SagaState.RUNNING) {
    switch (outcome.kind) {
      case "retry":
        if (merged.cancelRequested) return compensate(merged, merged.reason);
        // Past CONFIRM_ORDER the order is confirmed and its stock and money are held: a transient
        // failure of commit or capture is waited out rather than turned into a cancellation.
        if (attempts >= policy.maxAttempts && !afterConfirm(position.step)) {
          return compensate(merged, `${stepLabel(position.step)} kept failing: ${outcome.error}`);
        }
        return stay(backoffMs(attempts, policy, random));
      case "fail":
        return compensate(merged, outcome.reason);
      case "goto":
        return move(outcome.step);
      case "ok":
      case "skip": {
        const index = forward.indexOf(position.step);
        const next = forward[index + 1];
        if (next === undefined) {
          if (merged.cancelRequested) return compensate(merged, merged.reason);
          return {
            ...position,
            state: SagaState.COMPLETED,
            facts: merged,
            attempts,
            delayMs: 0,
            finished: true,
          };
        }
        if (merged.cancelRequested) return compensate(merged, merged.reason);
        return move(next);
      }
    }
  }

  // COMPENSATING: never give up; a "fail" of a compensation is retried like a transient failure.
  switch (outcome.kind) {
    case "retry":
    case "fail":
      return stay(backoffMs(attempts, policy, random));
    case "goto":
      return move(outcome.step);
    case "ok":
    case "skip": {
      const next = nextCompensation(position.step, merged);
      if (next === undefined) {
        return {
          ...position,
          state: SagaState.COMPENSATED,
          facts: merged,
          attempts,
          delayMs: 0,
          finished: true,
        };
      }
      return move(next);
    }
  }
}

/** A readable step name for reasons and logs ("authorize payment"). */
export function stepLabel(step: SagaStep): string {
  return (SagaStep[step] ?? String(step)).toLowerCase().replaceAll("_", " ");
}

/** The idempotency key of a step's upstream call: `<saga id>:<step>`. */
export function stepKey(sagaId: string, step: "authorize" | "capture" | "void" | "refund"): string {
  return `${sagaId}:${step}`;
}
