/** Test helpers: inventory in-process on the shared test servers, and reading its event stream. */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import { createLogger, type Logger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { callerMetadata, TEST_CALL_DEADLINE_MS, testNatsUrl, testServiceEnv } from "@mercato/testing";

export { streamMessages } from "@mercato/testing";

import { connect, type NatsConnection } from "nats";
import { loadConfig } from "../src/config.js";
import type { InventorySchema } from "../src/db/schema.js";
import { inventorySpec } from "../src/server.js";

export const logger: Logger = createLogger({
  service: "inventory-test",
  level: process.env.TEST_LOG_LEVEL ?? "silent",
});

export interface TestInventory {
  readonly service: RunningService<InventorySchema>;
  readonly client: ServiceClient<typeof InventoryService>;
  readonly nc: NatsConnection;
  stop(): Promise<void>;
}

/** Starts inventory on port 0 (extra settings in `env`) with its own fresh database. */
export async function startInventory(env: Record<string, string> = {}): Promise<TestInventory> {
  const config = loadConfig(await testServiceEnv("inventory", env));
  const service = await runService(inventorySpec(config, { logger }));
  const client = createServiceClient(InventoryService, {
    upstream: "inventory",
    address: `127.0.0.1:${service.port}`,
    logger,
    breaker: false,
    defaultDeadlineMs: TEST_CALL_DEADLINE_MS,
  });
  const nc = await connect({ servers: testNatsUrl() });
  return {
    service,
    client,
    nc,
    async stop() {
      client.$close();
      await nc.drain();
      await service.stop();
    },
  };
}

/** Metadata of a caller as the gateway would send it. */
export const as = callerMetadata;
export const admin = as("00000000-0000-7000-8000-000000000001", "admin");
