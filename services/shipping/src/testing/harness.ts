/** Test helpers: a shipping service in-process on a fresh database, and order events published like the outbox does. */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER } from "@mercato/platform/events";
import { createLogger } from "@mercato/platform/log";
import { type RunningService, runService } from "@mercato/platform/service";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { testDatabaseUrl, testNatsUrl, uniqueName } from "@mercato/testing";
import { type JetStreamClient, type JsMsg, headers as natsHeaders } from "nats";
import { uuidv7 } from "uuidv7";
import { loadShippingConfig } from "../config.js";
import type { schema } from "../db/schema.js";
import { shippingSpec } from "../server.js";

/** Starts shipping on port 0 with its own database and consumer names. */
export async function startShipping(): Promise<RunningService<typeof schema>> {
  const config = loadShippingConfig({
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    DATABASE_URL: await testDatabaseUrl("shipping"),
    NATS_URL: testNatsUrl(),
    CONSUMER_PREFIX: `${uniqueName("t")}-`,
    CONSUMER_BACKOFF_MS: "100",
    CONSUMER_MAX_DELIVER: "3",
    SHUTDOWN_GRACE_MS: "0",
  });
  const logger = createLogger({ service: "shipping-test", level: process.env.TEST_LOG_LEVEL ?? "silent" });
  return runService({ ...shippingSpec(config), logger });
}

/** Publishes an event the way the outbox relay does (Nats-Msg-Id plus the Mercato headers). */
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

/** A valid OrderConfirmed for a new order. */
export function orderConfirmed(overrides: { orderId?: string; userId?: string; itemCount?: number } = {}) {
  return {
    eventId: uuidv7(),
    occurredAt: timestampFromDate(new Date()),
    orderId: overrides.orderId ?? uuidv7(),
    version: 3n,
    userId: overrides.userId ?? uuidv7(),
    paymentId: uuidv7(),
    total: { currencyCode: "EUR", amountMinor: 2599n },
    shippingAddress: {
      name: "Ada Lovelace",
      line1: "Hauptstr. 1",
      line2: "",
      city: "Berlin",
      region: "",
      postalCode: "10115",
      countryCode: "DE",
    },
    itemCount: overrides.itemCount ?? 2,
  } satisfies MessageInitShape<typeof OrderConfirmedSchema>;
}

/** Publishes OrderConfirmed (optionally under another message id, so NATS does not drop a repeat). */
export function publishOrderConfirmed(
  js: JetStreamClient,
  event: ReturnType<typeof orderConfirmed>,
  msgID?: string,
): Promise<void> {
  return publishEvent(js, "mercato.order.order_confirmed", OrderConfirmedSchema, event, msgID);
}

/** Publishes OrderCancelled for an order. */
export function publishOrderCancelled(js: JetStreamClient, orderId: string, userId: string): Promise<void> {
  return publishEvent(js, "mercato.order.order_cancelled", OrderCancelledSchema, {
    eventId: uuidv7(),
    occurredAt: timestampFromDate(new Date()),
    orderId,
    version: 4n,
    userId,
    reason: "customer request",
  });
}

/** Every message of `stream` on `subject` right now, in stream order (an ephemeral ordered read). */
export async function readSubject(js: JetStreamClient, stream: string, subject: string): Promise<JsMsg[]> {
  const consumer = await js.consumers.get(stream, { filterSubjects: [subject] });
  const out: JsMsg[] = [];
  for (;;) {
    const batch = await consumer.fetch({ max_messages: 256, expires: 1000 });
    let n = 0;
    for await (const m of batch) {
      out.push(m);
      n++;
    }
    if (n === 0) break;
    const last = out[out.length - 1];
    if (last && last.info.pending === 0) break;
  }
  return out;
}
