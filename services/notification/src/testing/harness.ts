/**
 * Test helpers: a notification service on a fresh database, upstream events published the way the
 * outbox relay publishes them, and a local webhook receiver that verifies signatures.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER } from "@mercato/platform/events";
import { createLogger } from "@mercato/platform/log";
import type { Lookup } from "@mercato/platform/outbound";
import { domainStream, type RunningService, runService } from "@mercato/platform/service";
import { UserRegisteredSchema } from "@mercato/sdk/gen/mercato/identity/v1/events_pb";
import { Role } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { OrderCancelledSchema, OrderConfirmedSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import {
  ShipmentDeliveredSchema,
  ShipmentShippedSchema,
} from "@mercato/sdk/gen/mercato/shipping/v1/events_pb";
import { testDatabaseUrl, testNatsUrl, uniqueName, waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { type JetStreamClient, type JsMsg, headers as natsHeaders } from "nats";
import { uuidv7 } from "uuidv7";
import { loadNotificationConfig } from "../config.js";
import type { schema } from "../db/schema.js";
import { verifySignature } from "../domain/signature.js";
import { CONSUMERS } from "../events/consumers.js";
import { type NotificationBuildOptions, notificationSpec } from "../server.js";

/** Settings tests run with: fast retries, short polls. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    NATS_URL: testNatsUrl(),
    CONSUMER_PREFIX: `${uniqueName("t")}-`,
    CONSUMER_BACKOFF_MS: "100",
    CONSUMER_MAX_DELIVER: "3",
    WEBHOOK_BACKOFF_MS: "200",
    WEBHOOK_MAX_BACKOFF_MS: "2000",
    WEBHOOK_MAX_ATTEMPTS: "40",
    WEBHOOK_TIMEOUT_MS: "2000",
    DELIVERY_POLL_MS: "100",
    SHUTDOWN_GRACE_MS: "0",
    // The receivers run on this machine: tests turn on what the defaults (and the chart) refuse.
    WEBHOOK_ALLOW_HTTP: "true",
    WEBHOOK_ALLOW_PRIVATE: "true",
    ...overrides,
  };
}

/** A notification service in-process. */
export interface TestNotification {
  readonly service: RunningService<typeof schema>;
  readonly env: Record<string, string>;
}

/**
 * A resolver for tests: names under `.example` (no real DNS knows them) answer from `table`, or
 * 93.184.215.14 (a public address) when the table has no entry; every other name goes to the system's.
 */
export function exampleLookup(table: Record<string, string[]> = {}): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup: Lookup = async (hostname) => {
    calls.push(hostname);
    if (!hostname.endsWith(".example")) {
      return (await dnsLookup(hostname, { all: true })).map((a) => ({
        address: a.address,
        family: a.family === 6 ? 6 : 4,
      }));
    }
    return (table[hostname] ?? ["93.184.215.14"]).map((address) => ({
      address,
      family: address.includes(":") ? 6 : 4,
    }));
  };
  return Object.assign(lookup, { calls });
}

/**
 * Starts notification on port 0 with its own database and consumer names, and resolves once it has
 * caught up with the shared streams (see {@link caughtUp}).
 */
export async function startNotification(
  overrides: Record<string, string> = {},
  options: NotificationBuildOptions = { lookup: exampleLookup() },
): Promise<TestNotification> {
  const env = testEnv({ DATABASE_URL: await testDatabaseUrl("notification"), ...overrides });
  const logger = createLogger({
    service: "notification-test",
    level: process.env.TEST_LOG_LEVEL ?? "silent",
  });
  const service = await runService({ ...notificationSpec(loadNotificationConfig(env), options), logger });
  await caughtUp(service, env.CONSUMER_PREFIX ?? "");
  return { service, env };
}

/**
 * Waits until `service` has consumed every event already on the run's shared streams and sent the
 * deliveries they made. Its durables start at the beginning of the streams (as in production, where a
 * new consumer catches up on what is retained), so a fresh instance first works through every
 * identity, order and shipping event the run's other test files published (about 80 by the time this
 * file runs in a full run, 180 by the end), seconds of work on a busy machine. Without this, a test
 * counted that work against its own wait for its one event ("gives up after the bounded attempts"
 * timed out after 15 s in a full run, while the fault tests loaded the machine).
 */
export async function caughtUp(
  service: RunningService<typeof schema>,
  consumerPrefix: string,
): Promise<void> {
  const jsm = await service.nats.jetstreamManager();
  await waitFor(
    async () => {
      for (const spec of CONSUMERS) {
        const info = await jsm.consumers.info(
          domainStream(spec.domain).name,
          `${consumerPrefix}${spec.durable}`,
        );
        if (info.num_pending + info.num_ack_pending > 0) return false;
      }
      const [row] = await service.database.query<{ n: number }>(
        sql`select count(*)::int as n from deliveries where status = 'PENDING'`,
      );
      return row?.n === 0;
    },
    { timeoutMs: 90_000, intervalMs: 100, message: "notification to catch up with the shared streams" },
  );
}

/** Publishes an event the way the outbox relay does (Nats-Msg-Id plus the Mercato headers). */
export async function publishEvent<D extends DescMessage>(
  js: JetStreamClient,
  subject: string,
  schema: D,
  init: MessageInitShape<D> & { eventId: string },
  msgID: string = init.eventId,
): Promise<string> {
  const h = natsHeaders();
  h.set(EVENT_ID_HEADER, init.eventId);
  h.set(EVENT_TYPE_HEADER, schema.typeName);
  await js.publish(subject, toBinary(schema, create(schema, init)), { msgID, headers: h });
  return init.eventId;
}

/** Publishes raw bytes under an event's subject and headers (a poison message). */
export async function publishRaw(
  js: JetStreamClient,
  subject: string,
  type: string,
  data: Uint8Array,
): Promise<string> {
  const eventId = uuidv7();
  const h = natsHeaders();
  h.set(EVENT_ID_HEADER, eventId);
  h.set(EVENT_TYPE_HEADER, type);
  await js.publish(subject, data, { msgID: eventId, headers: h });
  return eventId;
}

const now = () => timestampFromDate(new Date());

/** Publishers of each upstream event a customer hears about. */
export const publish = {
  userRegistered: (js: JetStreamClient, userId: string) =>
    publishEvent(js, "mercato.identity.user_registered", UserRegisteredSchema, {
      eventId: uuidv7(),
      occurredAt: now(),
      userId,
      email: `${userId.slice(-8)}@example.test`,
      name: "Ada",
      role: Role.CUSTOMER,
    }),
  orderConfirmed: (js: JetStreamClient, userId: string, orderId: string) =>
    publishEvent(js, "mercato.order.order_confirmed", OrderConfirmedSchema, {
      eventId: uuidv7(),
      occurredAt: now(),
      orderId,
      version: 3n,
      userId,
      paymentId: uuidv7(),
      total: { currencyCode: "EUR", amountMinor: 2599n },
      itemCount: 2,
    }),
  orderCancelled: (js: JetStreamClient, userId: string, orderId: string) =>
    publishEvent(js, "mercato.order.order_cancelled", OrderCancelledSchema, {
      eventId: uuidv7(),
      occurredAt: now(),
      orderId,
      version: 4n,
      userId,
      reason: "payment declined",
    }),
  shipmentShipped: (js: JetStreamClient, userId: string, orderId: string) =>
    publishEvent(js, "mercato.shipping.shipment_shipped", ShipmentShippedSchema, {
      eventId: uuidv7(),
      occurredAt: now(),
      shipmentId: uuidv7(),
      orderId,
      userId,
      trackingNumber: "MPTEST0000000DE",
    }),
  shipmentDelivered: (js: JetStreamClient, userId: string, orderId: string) =>
    publishEvent(js, "mercato.shipping.shipment_delivered", ShipmentDeliveredSchema, {
      eventId: uuidv7(),
      occurredAt: now(),
      shipmentId: uuidv7(),
      orderId,
      userId,
      trackingNumber: "MPTEST0000000DE",
    }),
};

/** One request the receiver got. */
export interface Received {
  readonly eventId: string;
  readonly eventType: string;
  readonly signature: string;
  readonly body: string;
  readonly valid: boolean;
  readonly status: number;
}

/** A local webhook receiver that verifies every signature and counts deliveries by event id. */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  /** Every request, in arrival order (including refused ones). */
  readonly requests: Received[];
  /** Signing secret to verify with (set after RegisterWebhook). */
  secret: string;
  /** Status to answer for a request; default 204. */
  answer: (eventId: string) => number;
  /** Accepted deliveries (2xx, valid signature), in arrival order. */
  accepted(): Received[];
  /** How many times each event id was accepted. */
  counts(): Map<string, number>;
  /** Stops listening (the port is closed: connections are refused). */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 (port 0, or `port`). */
export async function startReceiver(options: { port?: number; delayMs?: number } = {}): Promise<Receiver> {
  const requests: Received[] = [];
  let server: Server | undefined;
  const receiver: Receiver = {
    url: "",
    port: 0,
    requests,
    secret: "",
    answer: () => 204,
    accepted: () => requests.filter((r) => r.valid && r.status >= 200 && r.status < 300),
    counts() {
      const counts = new Map<string, number>();
      for (const r of receiver.accepted()) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
      return counts;
    },
    async close() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async reopen() {
      await listen(receiver.port);
    },
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const eventId = String(req.headers["mercato-event-id"] ?? "");
      const signature = String(req.headers["mercato-signature"] ?? "");
      const valid = verifySignature(receiver.secret, signature, body, 300);
      const status = valid ? receiver.answer(eventId) : 401;
      requests.push({
        eventId,
        eventType: String(req.headers["mercato-event-type"] ?? ""),
        signature,
        body,
        valid,
        status,
      });
      const reply = () => {
        res.statusCode = status;
        res.end();
      };
      if (options.delayMs) setTimeout(reply, options.delayMs);
      else reply();
    });
  };
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(handle);
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        const address = s.address() as AddressInfo;
        Object.assign(receiver, {
          port: address.port,
          url: `http://127.0.0.1:${address.port}/hooks/mercato`,
        });
        resolve();
      });
    });
  await listen(options.port ?? 0);
  return receiver;
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

/** Metadata of a customer call. */
export const as = (userId: string) => ({ metadata: { "x-user-id": userId, "x-user-role": "customer" } });
/** Metadata of an admin call. */
export const asAdmin = () => ({ metadata: { "x-user-id": uuidv7(), "x-user-role": "admin" } });
