/** Test helpers: inventory in-process on the shared test servers, and reading its event stream. */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import { createLogger, type Logger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { testDatabaseUrl, testNatsUrl } from "@mercato/testing";
import { connect, type JsMsg, type NatsConnection } from "nats";
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
  const config = loadConfig({
    ...env,
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    DATABASE_URL: await testDatabaseUrl("inventory"),
    NATS_URL: testNatsUrl(),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    SHUTDOWN_GRACE_MS: "1000",
  });
  const service = await runService(inventorySpec(config, { logger }));
  const client = createServiceClient(InventoryService, {
    upstream: "inventory",
    address: `127.0.0.1:${service.port}`,
    logger,
    breaker: false,
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

/** Every message on `subject` currently in `stream`, in order. */
export async function streamMessages(nc: NatsConnection, stream: string, subject: string): Promise<JsMsg[]> {
  const consumer = await nc.jetstream().consumers.get(stream, { filterSubjects: [subject] });
  const out: JsMsg[] = [];
  for (;;) {
    const message = await consumer.next({ expires: 1000 });
    if (!message) break;
    out.push(message);
    if (message.info.pending === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}

/** Metadata of a caller as the gateway would send it. */
export const as = (userId: string, role: "admin" | "customer") => ({
  metadata: { "x-user-id": userId, "x-user-role": role },
});
export const admin = as("00000000-0000-7000-8000-000000000001", "admin");
