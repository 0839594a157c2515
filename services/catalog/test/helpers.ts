/** Test helpers: the catalog in-process on the shared test servers, and reading its event stream. */
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import { createLogger, type Logger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { CatalogService } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { callerMetadata, TEST_CALL_DEADLINE_MS, testNatsUrl, testServiceEnv } from "@mercato/testing";

export { streamMessages } from "@mercato/testing";

import { connect, type NatsConnection } from "nats";
import { loadConfig } from "../src/config.js";
import type { CatalogSchema } from "../src/db/schema.js";
import { catalogSpec } from "../src/server.js";

export const logger: Logger = createLogger({
  service: "catalog-test",
  level: process.env.TEST_LOG_LEVEL ?? "silent",
});

export interface TestCatalog {
  readonly service: RunningService<CatalogSchema>;
  readonly client: ServiceClient<typeof CatalogService>;
  readonly nc: NatsConnection;
  stop(): Promise<void>;
}

/** Starts the catalog on port 0 with its own fresh database. */
export async function startCatalog(): Promise<TestCatalog> {
  const config = loadConfig(await testServiceEnv("catalog"));
  const service = await runService(catalogSpec(config, { logger }));
  const client = createServiceClient(CatalogService, {
    upstream: "catalog",
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
