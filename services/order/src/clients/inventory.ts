/**
 * The inventory upstream: Reserve, Commit, Release and Restock (a committed reservation's units back
 * on hand, when a confirmed order is cancelled), all by reservation id (the saga id). They are
 * IDEMPOTENT in the contract, so the client may retry them on UNAVAILABLE.
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
