/**
 * The payment upstream: Authorize, Capture, Void and Refund, each under the saga's idempotency key
 * (`<saga id>:<step>`), so they are safe to retry (calls pass `idempotent: true`).
 */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import { PaymentService } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";

/** A client of payment.v1.PaymentService. */
export type PaymentClient = ServiceClient<typeof PaymentService>;

/** Creates the payment client. */
export function createPaymentClient(options: {
  readonly address: string;
  readonly mesh: "none" | "istio";
  readonly logger: Logger;
  readonly deadlineMs?: number;
}): PaymentClient {
  return createServiceClient(PaymentService, {
    upstream: "payment",
    address: options.address,
    mesh: options.mesh,
    logger: options.logger,
    defaultDeadlineMs: options.deadlineMs ?? 3_000,
  });
}
