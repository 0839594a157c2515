import type { Database } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import type { PaymentSchema } from "../db/schema.js";
import type { PaymentProvider } from "../provider/provider.js";

/** What the payment handlers need. */
export interface PaymentHandlerDeps {
  readonly database: Database<PaymentSchema>;
  readonly provider: PaymentProvider;
  readonly logger: Logger;
}
