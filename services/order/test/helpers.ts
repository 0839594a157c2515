/**
 * Test helpers: the order service in-process on the shared test PostgreSQL and NATS, with the real
 * catalog, inventory and payment services beside it (each on port 0 with its own database).
 */

import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { catalogSpec, loadCatalogConfig } from "@mercato/catalog";
import { inventorySpec, loadInventoryConfig } from "@mercato/inventory";
import { loadPaymentConfig, paymentService } from "@mercato/payment";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER } from "@mercato/platform/events";
import { createServiceClient, type ServiceClient } from "@mercato/platform/grpc";
import { createLogger, type Logger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { CatalogService, type Product } from "@mercato/sdk/gen/mercato/catalog/v1/catalog_pb";
import { InventoryService } from "@mercato/sdk/gen/mercato/inventory/v1/inventory_pb";
import { OrderService, OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { PaymentService } from "@mercato/sdk/gen/mercato/payment/v1/payment_pb";
import { testDatabaseUrl, testNatsUrl, uniqueName, waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { type JetStreamClient, type JsMsg, type NatsConnection, headers as natsHeaders } from "nats";
import { loadOrderConfig } from "../src/config.js";
import type * as schema from "../src/db/schema.js";
import { type OrderSpecOptions, orderSpec } from "../src/server.js";

export const logger: Logger = createLogger({
  service: "order-test",
  level: process.env.TEST_LOG_LEVEL ?? "silent",
});

const common = () => ({
  GRPC_PORT: "0",
  ADMIN_PORT: "0",
  NATS_URL: testNatsUrl(),
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
  SHUTDOWN_GRACE_MS: "500",
});

/** Metadata of a caller as the gateway would send it. */
export const as = (userId: string, role: "admin" | "customer" = "customer") => ({
  metadata: { "x-user-id": userId, "x-user-role": role },
});
export const adminId = "00000000-0000-7000-8000-000000000001";
export const admin = as(adminId, "admin");

/** The upstreams of the order service, running. */
export interface Upstreams {
  readonly catalog: RunningService<Record<string, unknown>>;
  readonly inventory: RunningService<Record<string, unknown>>;
  readonly payment: RunningService<Record<string, unknown>>;
  readonly catalogClient: ServiceClient<typeof CatalogService>;
  readonly inventoryClient: ServiceClient<typeof InventoryService>;
  readonly paymentClient: ServiceClient<typeof PaymentService>;
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

function client<S extends Parameters<typeof createServiceClient>[0]>(service: S, name: string, port: number) {
  return createServiceClient(service, {
    upstream: name,
    address: `127.0.0.1:${port}`,
    logger,
    breaker: false,
    defaultDeadlineMs: 10_000,
  });
}

/** Starts catalog, inventory and payment on port 0, each with a fresh database. */
export async function startUpstreams(): Promise<Upstreams> {
  const [catalogUrl, inventoryUrl, paymentUrl] = await Promise.all([
    testDatabaseUrl("order_catalog"),
    testDatabaseUrl("order_inventory"),
    testDatabaseUrl("order_payment"),
  ]);
  const [catalog, inventory, payment] = await Promise.all([
    runService(catalogSpec(loadCatalogConfig({ ...common(), DATABASE_URL: catalogUrl }), { logger })),
    runService(
      inventorySpec(
        loadInventoryConfig({
          ...common(),
          DATABASE_URL: inventoryUrl,
          RESERVATION_SWEEP_INTERVAL_MS: "500",
        }),
        { logger },
      ),
    ),
    runService({
      ...paymentService(loadPaymentConfig({ ...common(), DATABASE_URL: paymentUrl })),
      logger,
    }),
  ]);
  const catalogClient = client(CatalogService, "catalog", catalog.port);
  const inventoryClient = client(InventoryService, "inventory", inventory.port);
  const paymentClient = client(PaymentService, "payment", payment.port);
  return {
    catalog: catalog as unknown as RunningService<Record<string, unknown>>,
    inventory: inventory as unknown as RunningService<Record<string, unknown>>,
    payment: payment as unknown as RunningService<Record<string, unknown>>,
    catalogClient,
    inventoryClient,
    paymentClient,
    env: {
      CATALOG_ADDRESS: `127.0.0.1:${catalog.port}`,
      INVENTORY_ADDRESS: `127.0.0.1:${inventory.port}`,
      PAYMENT_ADDRESS: `127.0.0.1:${payment.port}`,
    },
    async stop() {
      catalogClient.$close();
      inventoryClient.$close();
      paymentClient.$close();
      await Promise.allSettled([catalog.stop(), inventory.stop(), payment.stop()]);
    },
  };
}

/** A running order service and a client for it. */
export interface TestOrder {
  readonly service: RunningService<typeof schema>;
  readonly client: ServiceClient<typeof OrderService>;
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

/** Starts the order service on port 0 against `upstreams` (a fresh database unless `databaseUrl` is given). */
export async function startOrder(
  upstreams: Upstreams,
  options: OrderSpecOptions & { databaseUrl?: string; env?: Record<string, string> } = {},
): Promise<TestOrder> {
  const databaseUrl = options.databaseUrl ?? (await testDatabaseUrl("order"));
  const config = loadOrderConfig({
    ...common(),
    DATABASE_URL: databaseUrl,
    ...upstreams.env,
    // Generous against a loaded CI machine: an authorize slower than this is (correctly) voided and cancelled.
    SAGA_STEP_TIMEOUT_MS: "4000",
    SAGA_RETRY_BASE_MS: "50",
    SAGA_RETRY_MAX_MS: "400",
    SAGA_LEASE_MS: "8000",
    SAGA_POLL_MS: "100",
    // Each start gets its own durable consumer names on the shared NATS, and fast redelivery.
    CONSUMER_PREFIX: `${uniqueName("t")}-`,
    CONSUMER_BACKOFF_MS: "50",
    CONSUMER_MAX_DELIVER: "3",
    ...options.env,
  });
  const service = await runService(orderSpec(config, { logger, ...options }));
  const orderClient = client(OrderService, "order", service.port);
  return {
    service,
    client: orderClient,
    databaseUrl,
    async stop() {
      orderClient.$close();
      await service.stop();
    },
  };
}

let skuCounter = 0;

/** Creates an active product priced `priceMinor` EUR with `stock` units on hand. */
export async function createProduct(
  upstreams: Upstreams,
  fields: { priceMinor: number; stock: number; currency?: string; active?: boolean },
): Promise<Product> {
  const sku = `ORD-${Date.now().toString(36).toUpperCase()}-${process.pid}-${++skuCounter}`;
  const { product } = await upstreams.catalogClient.createProduct(
    {
      sku,
      name: `Product ${sku}`,
      description: "",
      price: { currencyCode: fields.currency ?? "EUR", amountMinor: BigInt(fields.priceMinor) },
      ...(fields.active === false ? { active: false } : {}),
    },
    admin,
  );
  if (!product) throw new Error("no product");
  if (fields.stock > 0) {
    await upstreams.inventoryClient.setStock({ sku, onHand: fields.stock }, admin);
  }
  return product;
}

/** A valid shipping address. */
export const address = {
  name: "Ada Lovelace",
  line1: "1 Analytical Way",
  line2: "",
  city: "London",
  region: "",
  postalCode: "N1 1AA",
  countryCode: "GB",
};

/** Waits until the order's status is terminal for the saga (CONFIRMED with a completed saga, or CANCELLED). */
export async function settledOrder(order: TestOrder, orderId: string, userId: string, timeoutMs = 45_000) {
  let last: Awaited<ReturnType<TestOrder["client"]["getOrder"]>>["order"];
  await waitFor(
    async () => {
      const { order: current } = await order.client.getOrder({ orderId }, as(userId));
      last = current;
      return (
        current !== undefined &&
        (current.saga?.state === 2 || current.saga?.state === 4) &&
        current.status !== OrderStatus.PENDING
      );
    },
    { timeoutMs, intervalMs: 25, message: `order ${orderId} to settle` },
  );
  if (!last) throw new Error("no order");
  return last;
}

/** Rows of the order database's saga step log for one saga. */
export async function stepLog(order: TestOrder, sagaId: string) {
  return order.service.database.query<{ step: number; state: string; attempt: number; driver_id: string }>(
    sql`select step, state, attempt, driver_id from saga_steps where saga_id = ${sagaId} order by id`,
  );
}

/** Publishes an event the way a producer's outbox relay does (Nats-Msg-Id plus the Mercato headers). */
export async function publishEvent<D extends DescMessage>(
  js: JetStreamClient,
  subject: string,
  schema: D,
  init: MessageInitShape<D> & { eventId: string },
  msgID: string = init.eventId,
): Promise<void> {
  const h = natsHeaders();
  h.set(EVENT_ID_HEADER, init.eventId);
  h.set(EVENT_TYPE_HEADER, schema.typeName);
  await js.publish(subject, toBinary(schema, create(schema, init)), { msgID, headers: h });
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
