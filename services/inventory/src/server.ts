/**
 * The inventory service: stock per SKU and reservations. `build` turns the connected dependencies
 * into handlers and the expired-reservation sweeper; `inventorySpec` is everything `runService`
 * needs (main.ts and tests share it).
 */
import { fileURLToPath } from "node:url";
import { implement } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import {
  domainStream,
  type ServiceDeps,
  type ServiceParts,
  type ServiceSpec,
} from "@mercato/platform/service";
import { file_mercato_inventory_v1_events } from "@mercato/sdk/gen/mercato/inventory/v1/events_pb";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import type { InventoryConfig } from "./config.js";
import { type InventorySchema, schema } from "./db/schema.js";
import { createInventoryHandlers } from "./handlers/inventory.js";
import { startSweeper } from "./sweeper.js";

/** The config loader, so other packages (tests, tools) start this service without relative imports. */
export { type InventoryConfig, inventorySettings, loadConfig as loadInventoryConfig } from "./config.js";

/** The stream inventory events go to: `MERCATO_INVENTORY` on `mercato.inventory.>`. */
export const inventoryStream = domainStream("inventory");

/** Inventory's drizzle-kit migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Builds inventory's gRPC service and its sweeper from the dependencies. */
export function build(deps: ServiceDeps<InventorySchema, InventoryConfig>): ServiceParts {
  const { config, database, logger } = deps;
  return {
    services: [
      implement(
        InventoryService,
        createInventoryHandlers({
          database,
          defaultTtlSeconds: config.defaultTtlSeconds,
          maxTtlSeconds: config.maxTtlSeconds,
          lowStockThreshold: config.lowStockThreshold,
        }),
      ),
    ],
    files: [file_mercato_inventory_v1_events],
    start: async () => [
      startSweeper({
        database,
        logger: logger.child({ task: "reservation-sweeper" }),
        intervalMs: config.sweepIntervalMs,
        batchSize: config.sweepBatchSize,
      }),
    ],
  };
}

/** Inventory's service spec for `runService`. */
export function inventorySpec(
  config: InventoryConfig,
  options: { logger?: Logger } = {},
): ServiceSpec<InventorySchema, InventoryConfig> {
  return {
    config,
    schema,
    migrationsFolder,
    streams: [inventoryStream],
    build,
    ...(options.logger ? { logger: options.logger } : {}),
  };
}
