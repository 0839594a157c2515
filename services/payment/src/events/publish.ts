/**
 * The payment events, written to the outbox in the caller's transaction (the one that makes the
 * state change they report). They carry ids and amounts only: never a token or card data.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { SqlExecutor } from "@mercato/platform/db";
import { enqueueEvent, eventPayload } from "@mercato/platform/events";
import { domainStream } from "@mercato/platform/service";
import { MoneySchema } from "@mercato/sdk/gen/mercato/common/v1/money_pb";
import {
  PaymentAuthorizedSchema,
  PaymentFailedSchema,
  PaymentRefundedSchema,
} from "@mercato/sdk/gen/mercato/payment/v1/events_pb";
import { uuidv7 } from "uuidv7";
import type { PaymentRow } from "../db/schema.js";

/** The payment domain's stream: `MERCATO_PAYMENT` on `mercato.payment.>`. */
export const paymentStream = domainStream("payment");

/** Subjects of the payment events. */
export const subjects = {
  authorized: "mercato.payment.payment_authorized",
  failed: "mercato.payment.payment_failed",
  refunded: "mercato.payment.payment_refunded",
} as const;

const money = (currencyCode: string, amountMinor: bigint) =>
  create(MoneySchema, { currencyCode, amountMinor });

export async function publishPaymentAuthorized(tx: SqlExecutor, payment: PaymentRow): Promise<void> {
  const eventId = uuidv7();
  const event = create(PaymentAuthorizedSchema, {
    eventId,
    occurredAt: timestampNow(),
    paymentId: payment.id,
    orderId: payment.orderId,
    userId: payment.userId,
    amount: money(payment.currencyCode, payment.amountMinor),
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: subjects.authorized,
    aggregateId: payment.id,
    ...eventPayload(PaymentAuthorizedSchema, event),
  });
}

export async function publishPaymentFailed(tx: SqlExecutor, payment: PaymentRow): Promise<void> {
  const eventId = uuidv7();
  const event = create(PaymentFailedSchema, {
    eventId,
    occurredAt: timestampNow(),
    paymentId: payment.id,
    orderId: payment.orderId,
    userId: payment.userId,
    amount: money(payment.currencyCode, payment.amountMinor),
    reason: payment.failureReason,
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: subjects.failed,
    aggregateId: payment.id,
    ...eventPayload(PaymentFailedSchema, event),
  });
}

export async function publishPaymentRefunded(
  tx: SqlExecutor,
  payment: PaymentRow,
  amountMinor: bigint,
  reason: string,
): Promise<void> {
  const eventId = uuidv7();
  const event = create(PaymentRefundedSchema, {
    eventId,
    occurredAt: timestampNow(),
    paymentId: payment.id,
    orderId: payment.orderId,
    userId: payment.userId,
    amount: money(payment.currencyCode, amountMinor),
    refundedTotal: money(payment.currencyCode, payment.refundedMinor),
    reason,
  });
  await enqueueEvent(tx, {
    id: eventId,
    subject: subjects.refunded,
    aggregateId: payment.id,
    ...eventPayload(PaymentRefundedSchema, event),
  });
}
