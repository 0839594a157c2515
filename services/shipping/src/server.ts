/** Builds the shipping service from its dependencies. */
import { fileURLToPath } from "node:url";
import type { ServiceDeps, ServiceParts } from "@mercato/platform/service";
import { domainStream } from "@mercato/platform/service";
import { ShippingService } from "@mercato/sdk/gen/mercato/shipping/v1/shipping_pb";
import type { ShippingConfig } from "./config.js";
import { schema } from "./db/schema.js";
import { startOrderConsumers } from "./events/consumers.js";
import { createShippingHandlers } from "./handlers/shipping.js";

/** The shipping database schema. */
export { schema };
/** Folder of the shipping migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));
/** Streams shipping publishes to (shipping) and consumes from (order). */
export const streams = [domainStream("shipping"), domainStream("order")];

/** Backoff schedule: `first`, doubled per attempt, `attempts` values. */
export function backoffSchedule(firstMs: number, attempts: number): number[] {
  return Array.from({ length: Math.max(1, attempts) }, (_, i) => firstMs * 2 ** i);
}

/** Handlers and background work of the shipping service. */
export function build(deps: ServiceDeps<typeof schema, ShippingConfig>): ServiceParts {
  const { config, database, js, logger } = deps;
  return {
    services: [{ service: ShippingService, handlers: createShippingHandlers({ database, logger }) }],
    start: () =>
      startOrderConsumers({
        js,
        database,
        logger,
        durablePrefix: config.consumerPrefix,
        maxDeliver: config.consumerMaxDeliver,
        backoffMs: backoffSchedule(config.consumerBackoffMs, config.consumerMaxDeliver),
      }),
  };
}

/** The spec `runService` starts. */
export function shippingSpec(config: ShippingConfig) {
  return { config, schema, migrationsFolder, streams, build };
}
