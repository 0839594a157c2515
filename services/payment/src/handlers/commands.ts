import { uniqueViolation } from "@mercato/platform/db";
import { aborted, failedPrecondition, invalidArgument, notFound } from "@mercato/platform/errors";
import type {
  CaptureRequest,
  GetPaymentRequest,
  RefundRequest,
  VoidRequest,
} from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { uuidv7 } from "uuidv7";
import {
  insertRefund,
  insertTombstone,
  latestPaymentOfOrder,
  lockAuthorizeKey,
  type PaymentTx,
  paymentById,
  paymentByKey,
  refundByKey,
  updatePayment,
} from "../db/queries.js";
import type { PaymentRow } from "../db/schema.js";
import {
  decideCapture,
  decideRefund,
  decideVoid,
  isUuid,
  paymentCommandViolations,
  refundRequestHash,
  refundViolations,
  voidViolations,
} from "../domain/payment.js";
import { publishPaymentRefunded } from "../events/publish.js";
import { factsOf, refusalError, tombstonePayment, toPayment } from "./convert.js";
import type { PaymentHandlerDeps } from "./deps.js";

const paymentNotFound = (id: string) => notFound(`payment ${id} not found`);

/** Capture, Void, Refund and GetPayment. */
export function createCommandHandlers(deps: PaymentHandlerDeps) {
  const { database, provider, logger } = deps;

  const voidRow = async (tx: PaymentTx, row: PaymentRow, voidKey: string): Promise<PaymentRow> => {
    const decision = decideVoid(factsOf(row));
    if (decision.kind === "refused") throw refusalError(decision);
    if (decision.kind === "noop") return row;
    // Release it at the provider first: if that fails, nothing changes here and the Void can be retried.
    await provider.void({ authorizeKey: row.authorizeKey, reference: row.providerReference }, tx);
    const voided = await updatePayment(tx, row.id, { status: "VOIDED", voidKey, leaseUntil: null });
    logger.info(
      { paymentId: row.id, orderId: row.orderId, wasPending: row.status === "PENDING" },
      "payment voided",
    );
    return voided;
  };

  return {
    async capture(request: CaptureRequest) {
      const violations = paymentCommandViolations(request);
      if (violations.length > 0) throw invalidArgument(violations);
      const row = await database.transaction(async (tx) => {
        const payment = await paymentById(tx, request.paymentId, { forUpdate: true });
        if (!payment) throw paymentNotFound(request.paymentId);
        if (payment.captureKey === request.idempotencyKey) return payment;
        const decision = decideCapture(factsOf(payment));
        if (decision.kind === "refused") throw refusalError(decision);
        if (decision.kind === "noop") return payment;
        await provider.capture(
          { authorizeKey: payment.authorizeKey, reference: payment.providerReference },
          decision.amountMinor,
          tx,
        );
        return updatePayment(tx, payment.id, {
          status: "CAPTURED",
          capturedMinor: decision.amountMinor,
          captureKey: request.idempotencyKey,
        });
      });
      logger.info({ paymentId: row.id, orderId: row.orderId }, "payment captured");
      return { payment: toPayment(row) };
    },

    async void(request: VoidRequest) {
      const violations = voidViolations(request);
      if (violations.length > 0) throw invalidArgument(violations);
      if (request.paymentId !== "") {
        const row = await database.transaction(async (tx) => {
          const payment = await paymentById(tx, request.paymentId, { forUpdate: true });
          if (!payment) throw paymentNotFound(request.paymentId);
          return voidRow(tx, payment, request.idempotencyKey);
        });
        return { payment: toPayment(row) };
      }
      // No payment id: the key is the Authorize's key. Void its payment, or, when the Authorize has not
      // arrived (yet), leave a tombstone that makes it refused whenever it comes.
      const key = request.idempotencyKey;
      return database.transaction(async (tx) => {
        await lockAuthorizeKey(tx, key);
        const payment = await paymentByKey(tx, key, { forUpdate: true });
        if (payment) return { payment: toPayment(await voidRow(tx, payment, key)) };
        const createdAt = await insertTombstone(tx, key);
        await provider.void({ authorizeKey: key, reference: "" }, tx);
        logger.info("authorization voided before it arrived: tombstone recorded");
        return { payment: tombstonePayment(createdAt) };
      });
    },

    async refund(request: RefundRequest) {
      const violations = refundViolations(request);
      if (violations.length > 0) throw invalidArgument(violations);
      const hash = refundRequestHash(request);
      const attempt = () =>
        database.transaction(async (tx) => {
          const payment = await paymentById(tx, request.paymentId, { forUpdate: true });
          if (!payment) throw paymentNotFound(request.paymentId);
          const previous = await refundByKey(tx, request.idempotencyKey);
          if (previous) {
            if (previous.paymentId !== payment.id || previous.requestHash !== hash) {
              throw failedPrecondition("the idempotency key was used before with a different request");
            }
            return { row: payment, refunded: undefined };
          }
          const decision = decideRefund(factsOf(payment), request.amount);
          if (decision.kind === "refused") throw refusalError(decision);
          await provider.refund(
            { authorizeKey: payment.authorizeKey, reference: payment.providerReference },
            decision.amountMinor,
            request.idempotencyKey,
            tx,
          );
          await insertRefund(tx, {
            id: uuidv7(),
            paymentId: payment.id,
            idempotencyKey: request.idempotencyKey,
            requestHash: hash,
            amountMinor: decision.amountMinor,
            reason: request.reason,
          });
          const row = await updatePayment(tx, payment.id, {
            status: decision.nextState,
            refundedMinor: decision.refundedTotalMinor,
          });
          await publishPaymentRefunded(tx, row, decision.amountMinor, request.reason);
          return { row, refunded: decision.amountMinor };
        });
      let result: Awaited<ReturnType<typeof attempt>>;
      try {
        result = await attempt();
      } catch (error) {
        // The same key used concurrently on two payments: the loser finds the winner's refund now.
        if (uniqueViolation(error) === undefined) throw error;
        try {
          result = await attempt();
        } catch (retryError) {
          if (uniqueViolation(retryError) !== undefined)
            throw aborted("a concurrent refund used the same idempotency key");
          throw retryError;
        }
      }
      if (result.refunded !== undefined) {
        logger.info(
          { paymentId: result.row.id, orderId: result.row.orderId, amountMinor: String(result.refunded) },
          "payment refunded",
        );
      }
      return { payment: toPayment(result.row) };
    },

    async getPayment(request: GetPaymentRequest) {
      const { key } = request;
      if (key.case === "paymentId") {
        if (!isUuid(key.value))
          throw invalidArgument([{ field: "payment_id", description: "must be a UUID" }]);
        const row = await paymentById(database.db, key.value);
        if (!row) throw paymentNotFound(key.value);
        return { payment: toPayment(row) };
      }
      if (key.case === "orderId" && key.value !== "") {
        const row = await latestPaymentOfOrder(database.db, key.value);
        if (!row) throw notFound(`no payment for order ${key.value}`);
        return { payment: toPayment(row) };
      }
      throw invalidArgument([{ field: "payment_id", description: "give payment_id or order_id" }]);
    },
  };
}
