/**
 * The saga's remote steps: one upstream call each, under the step's idempotency key and deadline,
 * with the answer (or error) mapped to a {@link StepOutcome}. The local steps (confirm, cancel) are
 * event-store commands run by the driver.
 */
import { Code, codeOf, ServiceError } from "@mercato/platform/errors";
import { PaymentStatus } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import type { InventoryClient } from "../clients/inventory.js";
import type { PaymentClient } from "../clients/payment.js";
import type { SagaRow } from "../db/sagas.js";
import { SagaStep, type StepOutcome, stepKey } from "../domain/saga.js";

/** What a remote step needs. */
export interface StepDeps {
  readonly inventory: InventoryClient;
  readonly payment: PaymentClient;
  /** Deadline of each upstream call (ms). */
  readonly timeoutMs: number;
  /** Seconds inventory holds the reservation. */
  readonly reservationTtlSeconds: number;
}

/** Codes after which the same call may succeed when repeated. */
const transientCodes = new Set<Code>([
  Code.UNAVAILABLE,
  Code.DEADLINE_EXCEEDED,
  Code.RESOURCE_EXHAUSTED,
  Code.INTERNAL,
  Code.UNKNOWN,
  Code.CANCELLED,
]);

function describe(error: unknown): string {
  if (error instanceof ServiceError) return `${error.codeName}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Maps an upstream error to retry (transient) or fail (permanent, with `reason`). */
function failure(error: unknown, reason: (message: string) => string): StepOutcome {
  const code = codeOf(error);
  if (transientCodes.has(code)) return { kind: "retry", error: describe(error) };
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "fail", reason: reason(message) };
}

function money(row: SagaRow) {
  return { currencyCode: row.currencyCode, amountMinor: row.amountMinor };
}

/** Runs the current remote step of `row`. Never throws for an upstream error: it becomes the outcome. */
export async function runRemoteStep(row: SagaRow, deps: StepDeps): Promise<StepOutcome> {
  const call = { timeoutMs: deps.timeoutMs, idempotent: true } as const;
  const { inventory, payment } = deps;
  switch (row.step as SagaStep) {
    case SagaStep.RESERVE_STOCK:
      try {
        await inventory.reserve(
          {
            reservationId: row.sagaId,
            orderId: row.orderId,
            lines: row.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
            ttlSeconds: deps.reservationTtlSeconds,
          },
          call,
        );
        return { kind: "ok" };
      } catch (error) {
        if (codeOf(error) === Code.FAILED_PRECONDITION) {
          return { kind: "fail", reason: `out of stock: ${(error as Error).message}` };
        }
        return failure(error, (message) => `stock could not be reserved: ${message}`);
      }

    case SagaStep.AUTHORIZE_PAYMENT:
      try {
        const { payment: result } = await payment.authorize(
          {
            idempotencyKey: stepKey(row.sagaId, "authorize"),
            orderId: row.orderId,
            userId: row.userId,
            amount: money(row),
            paymentToken: row.paymentToken ?? "",
          },
          call,
        );
        const paymentId = result?.id ?? "";
        switch (result?.status) {
          case PaymentStatus.AUTHORIZED:
          case PaymentStatus.CAPTURED:
            return { kind: "ok", facts: { paymentId } };
          case PaymentStatus.FAILED:
            return {
              kind: "fail",
              reason: `payment declined${result.failureReason ? `: ${result.failureReason}` : ""}`,
              facts: { paymentId },
            };
          default:
            return {
              kind: "fail",
              reason: `payment not authorized (${PaymentStatus[result?.status ?? 0]})`,
              facts: { paymentId },
            };
        }
      } catch (error) {
        // A deadline passing leaves the authorization ambiguous: it may still happen. Compensate
        // with a Void under the authorize key, which payment records so a late Authorize is refused.
        if (codeOf(error) === Code.DEADLINE_EXCEEDED) {
          return { kind: "fail", reason: "payment timed out" };
        }
        if (row.paymentToken === null && codeOf(error) !== Code.UNAVAILABLE) {
          return { kind: "fail", reason: "payment token no longer available" };
        }
        return failure(error, (message) => `payment failed: ${message}`);
      }

    case SagaStep.COMMIT_STOCK:
      try {
        await inventory.commit({ reservationId: row.sagaId }, call);
        return { kind: "ok", facts: { committed: true } };
      } catch (error) {
        return failure(error, (message) => `stock reservation could not be committed: ${message}`);
      }

    case SagaStep.CAPTURE_PAYMENT:
      try {
        await payment.capture(
          { idempotencyKey: stepKey(row.sagaId, "capture"), paymentId: row.paymentId },
          call,
        );
        return { kind: "ok", facts: { captured: true } };
      } catch (error) {
        return failure(error, (message) => `payment could not be captured: ${message}`);
      }

    case SagaStep.VOID_PAYMENT: {
      if (!row.authorizeAttempted) return { kind: "skip" };
      try {
        // Without a payment id (the Authorize answer was lost), the authorize key names the payment.
        await payment.void(
          row.paymentId
            ? { idempotencyKey: stepKey(row.sagaId, "void"), paymentId: row.paymentId }
            : { idempotencyKey: stepKey(row.sagaId, "authorize"), paymentId: "" },
          call,
        );
        return { kind: "ok" };
      } catch (error) {
        if (codeOf(error) === Code.FAILED_PRECONDITION) {
          // Captured after all (a capture whose answer was lost): refund instead.
          return { kind: "goto", step: SagaStep.REFUND_PAYMENT, facts: { captured: true } };
        }
        return { kind: "retry", error: describe(error) };
      }
    }

    case SagaStep.REFUND_PAYMENT:
      try {
        await payment.refund(
          {
            idempotencyKey: stepKey(row.sagaId, "refund"),
            paymentId: row.paymentId,
            reason: row.reason || "order cancelled",
          },
          call,
        );
        return { kind: "ok" };
      } catch (error) {
        if (codeOf(error) === Code.FAILED_PRECONDITION) {
          const current = await payment
            .getPayment({ key: { case: "paymentId", value: row.paymentId } }, { timeoutMs: deps.timeoutMs })
            .then((response) => response.payment)
            .catch(() => undefined);
          if (current?.status === PaymentStatus.REFUNDED || current?.status === PaymentStatus.VOIDED) {
            return { kind: "ok" };
          }
          if (current?.status === PaymentStatus.AUTHORIZED) {
            return { kind: "goto", step: SagaStep.VOID_PAYMENT, facts: { captured: false } };
          }
        }
        return { kind: "retry", error: describe(error) };
      }

    case SagaStep.RELEASE_STOCK: {
      if (!row.reserveAttempted) return { kind: "skip" };
      if (!row.committed) {
        try {
          await inventory.release(
            { reservationId: row.sagaId, reason: row.reason || "order cancelled" },
            call,
          );
          return { kind: "ok" };
        } catch (error) {
          if (codeOf(error) === Code.FAILED_PRECONDITION) {
            // Committed after all: its units left stock, so put them back.
            return { kind: "goto", step: SagaStep.RELEASE_STOCK, facts: { committed: true } };
          }
          return { kind: "retry", error: describe(error) };
        }
      }
      // The reservation was committed: its units left stock, so put them back. Restock is keyed by
      // the reservation id and idempotent, so a retry (or a replay after a crash) restocks once.
      try {
        await inventory.restock({ reservationId: row.sagaId, reason: row.reason || "order cancelled" }, call);
        return { kind: "ok" };
      } catch (error) {
        return { kind: "retry", error: describe(error) };
      }
    }

    default:
      throw new Error(`step ${SagaStep[row.step as SagaStep]} is not a remote step`);
  }
}
