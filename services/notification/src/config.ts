import { flag, integer, loadConfig, optionalText, serviceSettings } from "@mercato/platform/config";

/** The notification service's settings; the only reader of process.env. */
export const notificationSettings = {
  ...serviceSettings("notification", 50057),
  /** Write every notification to the structured log too (local runs). */
  logChannel: flag("NOTIFICATION_LOG_CHANNEL", { default: true }),
  /** Prefix for durable consumer names (tests give each run its own; unset in deployments). */
  consumerPrefix: optionalText("CONSUMER_PREFIX", "Prefix of durable consumer names; unset in deployments"),
  /** Attempts before a failing upstream event goes to the dead-letter stream. */
  consumerMaxDeliver: integer("CONSUMER_MAX_DELIVER", { default: 5, min: 1, max: 100 }),
  /** First redelivery delay after a failed upstream event, doubled per attempt (ms). */
  consumerBackoffMs: integer("CONSUMER_BACKOFF_MS", { default: 1000, min: 10 }),
  /** Delivery attempts per webhook notification before it fails and is dead-lettered. */
  webhookMaxAttempts: integer("WEBHOOK_MAX_ATTEMPTS", { default: 12, min: 1, max: 100 }),
  /** First retry delay of a failed webhook delivery; doubles per attempt, with jitter (ms). */
  webhookBackoffMs: integer("WEBHOOK_BACKOFF_MS", { default: 1000, min: 10 }),
  /** Longest retry delay of a webhook delivery (ms). */
  webhookMaxBackoffMs: integer("WEBHOOK_MAX_BACKOFF_MS", { default: 300_000, min: 10 }),
  /** Time a webhook receiver has to answer one request (ms). */
  webhookTimeoutMs: integer("WEBHOOK_TIMEOUT_MS", { default: 5000, min: 100 }),
  /**
   * Allow plain-http webhook URLs. Off by default (https only); tests and local runs that want a
   * receiver on this machine turn it on explicitly.
   */
  webhookAllowHttp: flag("WEBHOOK_ALLOW_HTTP", { default: false }),
  /**
   * Allow webhook URLs whose host is or resolves to a loopback, private, link-local or otherwise
   * non-public address. Off by default and in the chart: a user-given URL must never reach inside.
   */
  webhookAllowPrivate: flag("WEBHOOK_ALLOW_PRIVATE", { default: false }),
  /** Most webhooks one user may register. */
  webhookLimit: integer("WEBHOOK_LIMIT_PER_USER", { default: 10, min: 1 }),
  /** How often the delivery worker looks for due deliveries when not woken by a notification (ms). */
  deliveryPollMs: integer("DELIVERY_POLL_MS", { default: 1000, min: 10 }),
  /** Deliveries one worker claims per transaction. */
  deliveryBatchSize: integer("DELIVERY_BATCH_SIZE", { default: 20, min: 1, max: 500 }),
} as const;

/** Parsed notification config. */
export type NotificationConfig = ReturnType<typeof loadNotificationConfig>;

/** Reads the notification config from `env`. */
export function loadNotificationConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  return loadConfig(notificationSettings, env);
}
