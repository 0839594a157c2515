/**
 * The inventory upstream: Reserve, Commit and Release by reservation id (the saga id), and
 * AdjustStock to put committed units back when a confirmed order is cancelled. Reserve, Commit and
 * Release are IDEMPOTENT in the contract, so the client may retry them on UNAVAILABLE; AdjustStock
 * is not, and is never retried by the client (see the saga's restock step).
 */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import type { Logger } from "@mercato/platform/log";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";

/** A client of inventory.v1.InventoryService. */
export type InventoryClient = ServiceClient<typeof InventoryService>;

/** Creates the inventory client. */
export function createInventoryClient(options: {
  readonly address: string;
  readonly mesh: "none" | "istio";
  readonly logger: Logger;
  readonly deadlineMs?: number;
}): InventoryClient {
  return createServiceClient(InventoryService, {
    upstream: "inventory",
    address: options.address,
    mesh: options.mesh,
    logger: options.logger,
    defaultDeadlineMs: options.deadlineMs ?? 3_000,
  });
}
