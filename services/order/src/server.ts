/**
 * The order service: handlers for OrderService, and as background work the saga driver and the
 * consumers of shipping's events.
 */
import { fileURLToPath } from "node:url";
import type { Logger } from "@mercato/platform/log";
import {
  type BackgroundTask,
  domainStream,
  type ServiceDeps,
  type ServiceParts,
  type ServiceSpec,
} from "@mercato/platform/service";
import { OrderService } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { createCatalogClient } from "./clients/catalog.js";
import { createInventoryClient } from "./clients/inventory.js";
import { createPaymentClient } from "./clients/payment.js";
import type { OrderConfig } from "./config.js";
import type { SagaRow } from "./db/sagas.js";
import * as schema from "./db/schema.js";
import { shippingStream, startShipmentConsumers } from "./events/consumers.js";
import { createOrderHandlers, type SagaControl } from "./handlers/orders.js";
import { type SagaDriver, startSagaDriver } from "./saga/driver.js";

/** The config loader, so other packages (tests, tools) start this service without relative imports. */
export { loadOrderConfig, type OrderConfig, orderSettings } from "./config.js";

/** Backoff schedule: `firstMs`, doubled per attempt, `attempts` values. */
function backoffSchedule(firstMs: number, attempts: number): number[] {
  return Array.from({ length: Math.max(1, attempts) }, (_, i) => firstMs * 2 ** i);
}

export { rebuildProjections } from "./db/projections.js";
export { DURABLES, SHIPPING_SUBJECTS, shippingStream } from "./events/consumers.js";
export { recordDelivered, recordShipped, type ShipmentFacts } from "./events/shipments.js";
export { schema };

/** The folder of the order service's migrations. */
export const migrationsFolder = fileURLToPath(new URL("../drizzle", import.meta.url));

/** The stream order events go to: `MERCATO_ORDER` on `mercato.order.>`. */
export const orderStream = domainStream("order");

/** Test hooks of {@link build}. */
export interface OrderBuildOptions {
  /** Called with the driver once it runs. */
  readonly onDriver?: (driver: SagaDriver) => void;
  /** Awaited before every saga step; false drops the saga as a crash would (see SagaDriverOptions). */
  readonly beforeStep?: (row: SagaRow) => Promise<boolean> | boolean;
}

/** Test hooks and a logger for {@link orderSpec}. */
export interface OrderSpecOptions extends OrderBuildOptions {
  readonly logger?: Logger;
}

/** The order service's spec for `runService`. */
export function orderSpec(
  config: OrderConfig,
  options: OrderSpecOptions = {},
): ServiceSpec<typeof schema, OrderConfig> {
  return {
    config,
    schema,
    migrationsFolder,
    // The shipping stream is ensured too: order consumes it and may start before shipping.
    streams: [orderStream, shippingStream],
    build: (deps) => build(deps, options),
    ...(options.logger ? { logger: options.logger } : {}),
  };
}

/**
 * Builds the order service's handlers, its saga driver and its shipment consumers from the
 * connected dependencies.
 */
export function build(
  deps: ServiceDeps<typeof schema, OrderConfig>,
  options: OrderBuildOptions = {},
): ServiceParts {
  const { config, logger, database, js } = deps;
  const catalog = createCatalogClient({ address: config.catalogAddress, mesh: config.mesh, logger });
  const inventory = createInventoryClient({ address: config.inventoryAddress, mesh: config.mesh, logger });
  const payment = createPaymentClient({ address: config.paymentAddress, mesh: config.mesh, logger });

  let driver: SagaDriver | undefined;
  const saga: SagaControl = {
    wake: () => driver?.wake(),
    waitForSaga: (sagaId, timeoutMs) =>
      driver
        ? driver.waitForSaga(sagaId, timeoutMs)
        : new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  };

  return {
    services: [
      { service: OrderService, handlers: createOrderHandlers({ database, catalog, saga, logger, js }) },
    ],
    async start(): Promise<readonly BackgroundTask[]> {
      const consumers = await startShipmentConsumers({
        js,
        database,
        logger,
        durablePrefix: config.consumerPrefix,
        maxDeliver: config.consumerMaxDeliver,
        backoffMs: backoffSchedule(config.consumerBackoffMs, config.consumerMaxDeliver),
      });
      driver = startSagaDriver({
        database,
        logger,
        inventory,
        payment,
        policy: {
          maxAttempts: config.sagaMaxAttempts,
          baseDelayMs: config.sagaRetryBaseMs,
          maxDelayMs: config.sagaRetryMaxMs,
        },
        stepTimeoutMs: config.sagaStepTimeoutMs,
        leaseMs: config.sagaLeaseMs,
        pollMs: config.sagaPollMs,
        concurrency: config.sagaConcurrency,
        reservationTtlSeconds: config.reservationTtlSeconds,
        ...(options.beforeStep ? { beforeStep: options.beforeStep } : {}),
      });
      options.onDriver?.(driver);
      const running = driver;
      return [
        ...consumers,
        {
          async stop() {
            await running.stop();
            catalog.$close();
            inventory.$close();
            payment.$close();
          },
        },
      ];
    },
  };
}
