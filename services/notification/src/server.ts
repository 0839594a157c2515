/** Builds the notification service from its dependencies. */
import { fileURLToPath } from "node:url";
import { createOutboundClient, type Lookup, type OutboundClient } from "@mercato/platform/outbound";
import { domainStream, type ServiceDeps, type ServiceParts } from "@mercato/platform/service";
import { NotificationService } from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import type { NotificationConfig } from "./config.js";
import { schema } from "./db/schema.js";
import { startNotificationConsumers } from "./events/consumers.js";
import { startDeliveryWorker, webhookDeadLetterSubject } from "./events/delivery-worker.js";
import { createNotificationHandlers } from "./handlers/notification.js";

export { signatureHeader, verifySignature } from "./domain/signature.js";

/** The notification database schema. */
export { schema };
/** Folder of the notification migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));
/** Streams notification consumes from (identity, order, shipping) and publishes to (notification). */
export const streams = [
  domainStream("identity"),
  domainStream("order"),
  domainStream("shipping"),
  domainStream("notification"),
];

/** Backoff schedule: `first`, doubled per attempt, `attempts` values. */
export function backoffSchedule(firstMs: number, attempts: number): number[] {
  return Array.from({ length: Math.max(1, attempts) }, (_, i) => firstMs * 2 ** i);
}

/** What tests may replace when building notification. */
export interface NotificationBuildOptions {
  /** The resolver webhook hosts are looked up with (default: the system's). */
  readonly lookup?: Lookup;
}

/** The one client webhooks go through, with the policy the configuration sets. */
export function webhookClient(
  config: NotificationConfig,
  options: NotificationBuildOptions = {},
): OutboundClient {
  return createOutboundClient({
    policy: { allowHttp: config.webhookAllowHttp, allowPrivate: config.webhookAllowPrivate },
    // Receivers' answers are not read beyond their status; a little of the body helps debugging.
    maxResponseBytes: 16_384,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
}

/** Handlers and background work of the notification service. */
export function build(
  deps: ServiceDeps<typeof schema, NotificationConfig>,
  options: NotificationBuildOptions = {},
): ServiceParts {
  const { config, database, js, logger } = deps;
  const outbound = webhookClient(config, options);
  return {
    services: [
      {
        service: NotificationService,
        handlers: createNotificationHandlers({
          database,
          logger,
          webhookLimit: config.webhookLimit,
          outbound,
        }),
      },
    ],
    async start() {
      const worker = await startDeliveryWorker({
        database,
        logger,
        batchSize: config.deliveryBatchSize,
        pollMs: config.deliveryPollMs,
        maxAttempts: config.webhookMaxAttempts,
        backoff: { baseMs: config.webhookBackoffMs, maxMs: config.webhookMaxBackoffMs },
        timeoutMs: config.webhookTimeoutMs,
        outbound,
        deadLetterSubject: webhookDeadLetterSubject(config.consumerPrefix),
      });
      const consumers = await startNotificationConsumers({
        js,
        database,
        logger,
        logChannel: config.logChannel,
        durablePrefix: config.consumerPrefix,
        maxDeliver: config.consumerMaxDeliver,
        backoffMs: backoffSchedule(config.consumerBackoffMs, config.consumerMaxDeliver),
      });
      return [...consumers, worker];
    },
  };
}

/** The spec `runService` starts. */
export function notificationSpec(config: NotificationConfig, options: NotificationBuildOptions = {}) {
  return {
    config,
    schema,
    migrationsFolder,
    streams,
    build: (deps: ServiceDeps<typeof schema, NotificationConfig>) => build(deps, options),
  };
}
