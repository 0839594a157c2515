import { integer, loadConfig, optionalText, serviceSettings } from "@mercato/platform/config";

/** The shipping service's settings; the only reader of process.env. */
export const shippingSettings = {
  ...serviceSettings("shipping", 50056),
  /** Prefix for durable consumer names (tests give each run its own; empty in deployments). */
  consumerPrefix: optionalText("CONSUMER_PREFIX", "Prefix of durable consumer names; unset in deployments"),
  /** Attempts before a failing event goes to the dead-letter stream. */
  consumerMaxDeliver: integer("CONSUMER_MAX_DELIVER", { default: 5, min: 1, max: 100 }),
  /** First redelivery delay after a failed event, doubled per attempt (ms). */
  consumerBackoffMs: integer("CONSUMER_BACKOFF_MS", { default: 1000, min: 10 }),
} as const;

/** Parsed shipping config. */
export type ShippingConfig = ReturnType<typeof loadShippingConfig>;

/** Reads the shipping config from `env`. */
export function loadShippingConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(shippingSettings, env);
}
