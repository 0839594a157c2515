/**
 * The catalog upstream: product prices for PlaceOrder. Reads are NO_SIDE_EFFECTS, so the client
 * retries them on UNAVAILABLE within its budget.
 */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import { CatalogService } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";

/** A client of catalog.v1.CatalogService. */
export type CatalogClient = ServiceClient<typeof CatalogService>;

/** Creates the catalog client. */
export function createCatalogClient(options: {
  readonly address: string;
  readonly mesh: "none" | "istio";
  readonly logger: Logger;
  readonly deadlineMs?: number;
}): CatalogClient {
  return createServiceClient(CatalogService, {
    upstream: "catalog",
    address: options.address,
    mesh: options.mesh,
    logger: options.logger,
    defaultDeadlineMs: options.deadlineMs ?? 2_000,
  });
}
