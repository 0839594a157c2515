/**
 * The catalog service: products, categories and reviews. `build` turns the connected dependencies
 * into handlers; `catalogSpec` is everything `runService` needs (main.ts and tests share it).
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
import { CatalogService } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { file_mercato_catalog_v1_events } from "@mercato/sdk/gen/mercato/catalog/v1/events_pb";
import type { CatalogConfig } from "./config.js";
import { type CatalogSchema, schema } from "./db/schema.js";
import { createCatalogHandlers } from "./handlers/catalog.js";

/** The config loader, so other packages (tests, tools) start this service without relative imports. */
export { type CatalogConfig, catalogSettings, loadConfig as loadCatalogConfig } from "./config.js";

/** The stream catalog events go to: `MERCATO_CATALOG` on `mercato.catalog.>`. */
export const catalogStream = domainStream("catalog");

/** The catalog's drizzle-kit migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Builds the catalog's gRPC service from its dependencies. */
export function build(deps: ServiceDeps<CatalogSchema, CatalogConfig>): ServiceParts {
  return {
    services: [implement(CatalogService, createCatalogHandlers({ database: deps.database }))],
    files: [file_mercato_catalog_v1_events],
  };
}

/** The catalog's service spec for `runService`. */
export function catalogSpec(
  config: CatalogConfig,
  options: { logger?: Logger } = {},
): ServiceSpec<CatalogSchema, CatalogConfig> {
  return {
    config,
    schema,
    migrationsFolder,
    streams: [catalogStream],
    build,
    ...(options.logger ? { logger: options.logger } : {}),
  };
}
