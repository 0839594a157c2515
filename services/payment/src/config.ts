import { type ConfigOf, integer, loadConfig, oneOf, serviceSettings } from "@mercato/platform/config";

/** The payment service's settings. */
export const paymentSettings = {
  ...serviceSettings("payment", 50055),
  provider: oneOf("PAYMENT_PROVIDER", ["test"], {
    default: "test",
    description: "payment-provider adapter; only the deterministic test provider exists so far",
  }),
  testSlowExtraMs: integer("PAYMENT_TEST_SLOW_EXTRA_MS", {
    default: 150,
    min: 0,
    max: 60_000,
    description: "how long after the caller's deadline the test provider answers tok_slow",
  }),
} as const;

export type PaymentConfig = ConfigOf<typeof paymentSettings>;

/** Reads the configuration from `env` (the process environment by default). */
export function loadPaymentConfig(env?: Readonly<Record<string, string | undefined>>): PaymentConfig {
  return loadConfig(paymentSettings, env);
}
