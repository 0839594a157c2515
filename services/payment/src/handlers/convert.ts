import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { failedPrecondition, invalidArgument, type ServiceError } from "@mercato/platform/errors";
import {
  type PaymentSchema as PaymentMessageSchema,
  PaymentStatus,
} from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import type { PaymentRow } from "../db/schema.js";
import type { PaymentFacts, PaymentState, Refusal } from "../domain/payment.js";

type PaymentMessage = MessageInitShape<typeof PaymentMessageSchema>;

const statuses: Record<PaymentState, PaymentStatus> = {
  // A provider call in flight (or interrupted): the contract has no status for it.
  PENDING: PaymentStatus.UNSPECIFIED,
  AUTHORIZED: PaymentStatus.AUTHORIZED,
  CAPTURED: PaymentStatus.CAPTURED,
  VOIDED: PaymentStatus.VOIDED,
  PARTIALLY_REFUNDED: PaymentStatus.PARTIALLY_REFUNDED,
  REFUNDED: PaymentStatus.REFUNDED,
  FAILED: PaymentStatus.FAILED,
};

export function stateOf(row: PaymentRow): PaymentState {
  if (!(row.status in statuses)) throw new Error(`payment ${row.id} has an unknown status ${row.status}`);
  return row.status as PaymentState;
}

export function factsOf(row: PaymentRow): PaymentFacts {
  return {
    state: stateOf(row),
    currencyCode: row.currencyCode,
    amountMinor: row.amountMinor,
    capturedMinor: row.capturedMinor,
    refundedMinor: row.refundedMinor,
  };
}

/** The contract's Payment for a stored payment. */
export function toPayment(row: PaymentRow): PaymentMessage {
  return {
    id: row.id,
    orderId: row.orderId,
    userId: row.userId,
    amount: { currencyCode: row.currencyCode, amountMinor: row.amountMinor },
    status: statuses[stateOf(row)],
    refunded: { currencyCode: row.currencyCode, amountMinor: row.refundedMinor },
    providerReference: row.providerReference,
    failureReason: row.failureReason,
    createdAt: timestampFromDate(row.createdAt),
    updatedAt: timestampFromDate(row.updatedAt),
  };
}

/** What a Void by key answers when it cancelled an Authorize that had not arrived: no payment exists. */
export function tombstonePayment(createdAt: Date): PaymentMessage {
  return {
    status: PaymentStatus.VOIDED,
    createdAt: timestampFromDate(createdAt),
    updatedAt: timestampFromDate(createdAt),
  };
}

/** The status for a refused domain decision: INVALID_ARGUMENT when it names a field, else FAILED_PRECONDITION. */
export function refusalError(refusal: Refusal): ServiceError {
  return refusal.field === undefined
    ? failedPrecondition(refusal.reason)
    : invalidArgument([{ field: refusal.field, description: refusal.reason }]);
}
