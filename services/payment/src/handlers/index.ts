import type { ServiceHandlers } from "@mercato/platform/grpc";
import type { PaymentService } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { createAuthorizeHandler } from "./authorize.js";
import { createCommandHandlers } from "./commands.js";
import type { PaymentHandlerDeps } from "./deps.js";

export type { PaymentHandlerDeps } from "./deps.js";

/** The PaymentService handlers. */
export function createPaymentHandlers(deps: PaymentHandlerDeps): ServiceHandlers<typeof PaymentService> {
  const commands = createCommandHandlers(deps);
  return {
    authorize: createAuthorizeHandler(deps),
    capture: commands.capture,
    void: commands.void,
    refund: commands.refund,
    getPayment: commands.getPayment,
  };
}
