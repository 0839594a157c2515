import { integer, loadConfig, optionalText, serviceSettings, text } from "@mercato/platform/config";

/** The order service's settings; the only reader of process.env. */
export const orderSettings = {
  ...serviceSettings("order", 50054),
  catalogAddress: text("CATALOG_ADDRESS", { default: "127.0.0.1:50052" }),
  inventoryAddress: text("INVENTORY_ADDRESS", { default: "127.0.0.1:50053" }),
  paymentAddress: text("PAYMENT_ADDRESS", { default: "127.0.0.1:50055" }),
  /** Deadline of each saga step's upstream call (ms); an authorize past it is treated as ambiguous. */
  sagaStepTimeoutMs: integer("SAGA_STEP_TIMEOUT_MS", { default: 3_000, min: 50, max: 60_000 }),
  /**
   * Attempts of a forward step that keeps failing transiently before the saga compensates. With the
   * default backoff, 16 attempts span about a minute: long enough to ride out an upstream restart and
   * its circuit breaker's reset, short enough that an order never waits long for a lost cause.
   */
  sagaMaxAttempts: integer("SAGA_MAX_ATTEMPTS", { default: 16, min: 1, max: 100 }),
  /** First retry backoff of a saga step (ms), doubled per attempt. */
  sagaRetryBaseMs: integer("SAGA_RETRY_BASE_MS", { default: 200, min: 1 }),
  /** Longest retry backoff of a saga step (ms). */
  sagaRetryMaxMs: integer("SAGA_RETRY_MAX_MS", { default: 5_000, min: 1 }),
  /** How long a driver's lease on a saga lasts without renewal (ms); a crashed driver's sagas resume after it. */
  sagaLeaseMs: integer("SAGA_LEASE_MS", { default: 10_000, min: 100 }),
  /** How often the driver looks for due sagas when nothing woke it (ms). */
  sagaPollMs: integer("SAGA_POLL_MS", { default: 500, min: 10 }),
  /** Sagas one driver runs at once. */
  sagaConcurrency: integer("SAGA_CONCURRENCY", { default: 64, min: 1, max: 1000 }),
  /** Seconds a stock reservation is held before inventory's sweeper may release it. */
  reservationTtlSeconds: integer("RESERVATION_TTL_SECONDS", { default: 3_600, min: 1 }),
  /** Prefix for durable consumer names (tests give each run its own; empty in deployments). */
  consumerPrefix: optionalText("CONSUMER_PREFIX", "Prefix of durable consumer names; unset in deployments"),
  /** Attempts before a failing shipment event goes to the dead-letter stream. */
  consumerMaxDeliver: integer("CONSUMER_MAX_DELIVER", { default: 5, min: 1, max: 100 }),
  /** First redelivery delay after a failed shipment event, doubled per attempt (ms). */
  consumerBackoffMs: integer("CONSUMER_BACKOFF_MS", { default: 1000, min: 10 }),
} as const;

/** Parsed order config. */
export type OrderConfig = ReturnType<typeof loadOrderConfig>;

/** Reads the order config from `env`. */
export function loadOrderConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(orderSettings, env);
}
