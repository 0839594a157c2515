import { fileURLToPath } from "node:url";
import { implement } from "@mercato/platform/grpc";
import type { ServiceDeps, ServiceParts, ServiceSpec } from "@mercato/platform/service";
import { file_mercato_payment_v1_events } from "@mercato/sdk/gen/mercato/payment/v1/events_pb";
import { PaymentService } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import type { PaymentConfig } from "./config.js";
import { type PaymentSchema, schema } from "./db/schema.js";
import { paymentStream } from "./events/publish.js";
import { createPaymentHandlers } from "./handlers/index.js";
import type { PaymentProvider } from "./provider/provider.js";
import { TestPaymentProvider } from "./provider/test-provider.js";

/** The config loader, so other packages (tests, tools) start this service without relative imports. */
export { loadPaymentConfig, type PaymentConfig, paymentSettings } from "./config.js";

export type PaymentDeps = ServiceDeps<PaymentSchema, PaymentConfig>;

/** Folder of the service's drizzle-kit migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** The provider adapter the configuration names. */
export function createProvider(deps: PaymentDeps): PaymentProvider {
  switch (deps.config.provider) {
    case "test":
      return new TestPaymentProvider(deps.database, { slowExtraMs: deps.config.testSlowExtraMs });
  }
}

/** Options for {@link build}. */
export interface BuildOptions {
  /** The provider to use instead of the one the configuration names. */
  readonly provider?: (deps: PaymentDeps) => PaymentProvider;
}

/** Handlers (and background work) from the connected dependencies. */
export function build(deps: PaymentDeps, options: BuildOptions = {}): ServiceParts {
  const provider = (options.provider ?? createProvider)(deps);
  return {
    services: [
      implement(
        PaymentService,
        createPaymentHandlers({ database: deps.database, provider, logger: deps.logger }),
      ),
    ],
    // The event messages, so grpcurl and the SDK tooling can describe what the stream carries.
    files: [file_mercato_payment_v1_events],
  };
}

/** Everything `runService` needs to run the payment service with `config`. */
export function paymentService(
  config: PaymentConfig,
  options: BuildOptions = {},
): ServiceSpec<PaymentSchema, PaymentConfig> {
  return {
    config,
    schema,
    migrationsFolder,
    streams: [paymentStream],
    build: (deps) => build(deps, options),
  };
}
