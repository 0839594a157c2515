import { Code } from "@mercato/platform/errors";
import { DLQ_HEADERS } from "@mercato/platform/events";
import {
  NotificationChannel,
  NotificationService,
  NotificationStatus,
} from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { OrderCancelledSchema } from "@mercato/sdk/gen/mercato/order/v1/events_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "./domain/signature.js";
import {
  as,
  asAdmin,
  publish,
  publishEvent,
  publishRaw,
  type Receiver,
  readSubject,
  startNotification,
  startReceiver,
  type TestNotification,
} from "./testing/harness.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let app: TestNotification;
let client: GrpcClient<typeof NotificationService>;
beforeAll(async () => {
  app = await startNotification();
  cleanups.push(() => app.service.stop());
  client = createGrpcClient(NotificationService, `127.0.0.1:${app.service.port}`);
  cleanups.push(async () => client.$close());
});

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

/** A customer with a receiver registered as their webhook. */
async function customerWithWebhook(): Promise<{ userId: string; receiver: Receiver; webhookId: string }> {
  const userId = uuidv7();
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  const { webhook } = await client.registerWebhook({ userId, url: receiver.url }, as(userId));
  receiver.secret = webhook!.secret;
  return { userId, receiver, webhookId: webhook!.id };
}

async function statusCounts(userId: string): Promise<Record<string, number>> {
  const rows = await app.service.database.query<{ channel: string; status: string; n: number }>(
    sql`select channel, status, count(*)::int as n from deliveries where user_id = ${userId} group by 1, 2`,
  );
  return Object.fromEntries(rows.map((r) => [`${r.channel}:${r.status}`, r.n]));
}

describe("notifications for the order lifecycle", () => {
  it("delivers every event in order, signed, once per channel, and lists them newest first", async () => {
    const { userId, receiver } = await customerWithWebhook();
    const js = app.service.nats.jetstream();
    const orderId = uuidv7();
    // Events of one stream keep their order; across streams the lifecycle's causality orders them
    // (an order is confirmed after its user registered, shipped after it was confirmed).
    const recorded = async (eventId: string) => {
      await waitFor(async () => {
        const [row] = await app.service.database.query<{ n: number }>(
          sql`select count(*)::int as n from deliveries where event_id = ${eventId}`,
        );
        return (row?.n ?? 0) > 0;
      });
      return eventId;
    };
    const ids = [
      await recorded(await publish.userRegistered(js, userId)),
      await recorded(await publish.orderConfirmed(js, userId, orderId)),
      await publish.shipmentShipped(js, userId, orderId),
      await publish.shipmentDelivered(js, userId, orderId),
    ];
    await waitFor(() => receiver.accepted().length >= ids.length, { message: "4 webhooks" });
    const accepted = receiver.accepted();
    expect(accepted.map((r) => r.eventId)).toEqual(ids);
    expect(receiver.requests.every((r) => r.valid)).toBe(true);
    expect(accepted.map((r) => r.eventType)).toEqual([
      "mercato.identity.v1.UserRegistered",
      "mercato.order.v1.OrderConfirmed",
      "mercato.shipping.v1.ShipmentShipped",
      "mercato.shipping.v1.ShipmentDelivered",
    ]);
    const bodies = accepted.map(
      (r) => JSON.parse(r.body) as { subject: string; user_id: string; text: string },
    );
    expect(bodies.every((b) => b.user_id === userId)).toBe(true);
    expect(bodies[2]?.subject).toMatch(/has shipped/);
    expect(bodies[2]?.text).toContain("MPTEST0000000DE");

    // A tampered body, or a replay outside the tolerance, fails verification.
    const first = accepted[0]!;
    expect(verifySignature(receiver.secret, first.signature, first.body)).toBe(true);
    expect(verifySignature(receiver.secret, first.signature, first.body.replace("Ada", "Eve"))).toBe(false);
    expect(verifySignature("whsec_other", first.signature, first.body)).toBe(false);
    expect(verifySignature(receiver.secret, first.signature, first.body, 300, Date.now() / 1000 + 3600)).toBe(
      false,
    );

    await waitFor(async () => (await statusCounts(userId))["LOG:SENT"] === 4, { message: "log channel" });
    expect(await statusCounts(userId)).toEqual({ "LOG:SENT": 4, "WEBHOOK:SENT": 4 });

    const page1 = await client.listNotifications({ userId, pageSize: 5 }, as(userId));
    expect(page1.notifications).toHaveLength(5);
    expect(page1.nextPageToken).not.toBe("");
    const page2 = await client.listNotifications({ pageSize: 5, pageToken: page1.nextPageToken }, as(userId));
    expect(page2.notifications).toHaveLength(3);
    expect(page2.nextPageToken).toBe("");
    const all = [...page1.notifications, ...page2.notifications];
    expect(all.every((n) => n.status === NotificationStatus.SENT && n.userId === userId)).toBe(true);
    const webhookTypes = all.filter((n) => n.channel === NotificationChannel.WEBHOOK).map((n) => n.eventType);
    expect(webhookTypes).toEqual([
      "mercato.shipping.v1.ShipmentDelivered",
      "mercato.shipping.v1.ShipmentShipped",
      "mercato.order.v1.OrderConfirmed",
      "mercato.identity.v1.UserRegistered",
    ]);

    // A redelivered event (same event id, new message id, so NATS keeps both) notifies nobody twice.
    const cancelled = {
      eventId: uuidv7(),
      orderId,
      userId,
      reason: "customer request",
    };
    await publishEvent(js, "mercato.order.order_cancelled", OrderCancelledSchema, cancelled);
    await publishEvent(js, "mercato.order.order_cancelled", OrderCancelledSchema, cancelled, uuidv7());
    await waitFor(() => receiver.counts().get(cancelled.eventId) === 1);
    await waitFor(async () => {
      const [row] = await app.service.database.query<{ n: number }>(
        sql`select count(*)::int as n from inbox where event_id = ${cancelled.eventId}`,
      );
      return row?.n === 1;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.accepted()).toHaveLength(5);
    expect(Math.max(...receiver.counts().values())).toBe(1);
    expect(JSON.parse(receiver.accepted()[4]!.body)).toMatchObject({
      subject: expect.stringMatching(/was cancelled/),
      text: expect.stringContaining("customer request"),
    });
  });

  it("sends nothing to a deleted webhook", async () => {
    const { userId, receiver, webhookId } = await customerWithWebhook();
    await client.deleteWebhook({ userId, webhookId }, as(userId));
    expect((await client.listWebhooks({}, as(userId))).webhooks).toEqual([]);
    const js = app.service.nats.jetstream();
    await publish.orderConfirmed(js, userId, uuidv7());
    await waitFor(async () => (await statusCounts(userId))["LOG:SENT"] === 1);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("poison", () => {
  it("dead-letters a malformed event while the others keep flowing", async () => {
    const { userId, receiver } = await customerWithWebhook();
    const js = app.service.nats.jetstream();
    const poison = await publishRaw(
      js,
      "mercato.order.order_confirmed",
      "mercato.order.v1.OrderConfirmed",
      new Uint8Array([0xff, 0xff, 0xff, 0x01]),
    );
    const good = await publish.orderConfirmed(js, userId, uuidv7());
    await waitFor(() => receiver.counts().get(good) === 1);
    const subject = `mercato.dlq.${app.env.CONSUMER_PREFIX}notification-order`;
    await waitFor(
      async () =>
        (await readSubject(js, "MERCATO_DLQ", subject)).some(
          (m) => m.headers?.get("Mercato-Event-Id") === poison && m.headers.get(DLQ_HEADERS.error) !== "",
        ),
      { message: "the poison event in the DLQ" },
    );
  });

  it("dead-letters a delivery the receiver rejects, with the reason, and delivers the rest", async () => {
    const { userId, receiver } = await customerWithWebhook();
    const js = app.service.nats.jetstream();
    const orderId = uuidv7();
    let rejected = "";
    receiver.answer = (eventId) => (eventId === rejected ? 422 : 204);
    rejected = await publish.orderConfirmed(js, userId, orderId);
    const next = await publish.orderCancelled(js, userId, orderId);
    await waitFor(() => receiver.counts().get(next) === 1);
    const subject = `mercato.dlq.${app.env.CONSUMER_PREFIX}notification-webhook`;
    await waitFor(
      async () =>
        (await readSubject(js, "MERCATO_DLQ", subject)).some(
          (m) =>
            m.headers?.get("Mercato-Dlq-Original-Event-Id") === rejected &&
            m.headers.get(DLQ_HEADERS.error) === "receiver answered HTTP 422",
        ),
      { message: "the rejected delivery in the DLQ" },
    );
    const [row] = await app.service.database.query<{ status: string; attempts: number }>(
      sql`select status, attempts from deliveries where event_id = ${rejected} and channel = 'WEBHOOK'`,
    );
    expect(row).toEqual({ status: "FAILED", attempts: 1 });
  });

  it("gives up after the bounded attempts with exponential backoff", async () => {
    const bounded = await startNotification({ WEBHOOK_MAX_ATTEMPTS: "3", WEBHOOK_BACKOFF_MS: "100" });
    cleanups.push(() => bounded.service.stop());
    const c = createGrpcClient(NotificationService, `127.0.0.1:${bounded.service.port}`);
    cleanups.push(async () => c.$close());
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    receiver.answer = () => 500;
    const userId = uuidv7();
    receiver.secret = (await c.registerWebhook({ url: receiver.url }, as(userId))).webhook!.secret;
    const js = bounded.service.nats.jetstream();
    const eventId = await publish.orderConfirmed(js, userId, uuidv7());
    const subject = `mercato.dlq.${bounded.env.CONSUMER_PREFIX}notification-webhook`;
    await waitFor(
      async () =>
        (await readSubject(js, "MERCATO_DLQ", subject)).some(
          (m) => m.headers?.get("Mercato-Dlq-Original-Event-Id") === eventId,
        ),
      { message: "the delivery given up on in the DLQ" },
    );
    expect(receiver.requests.filter((r) => r.eventId === eventId)).toHaveLength(3);
    const list = await c.listNotifications({}, as(userId));
    const webhook = list.notifications.find((n) => n.channel === NotificationChannel.WEBHOOK);
    expect(webhook).toMatchObject({ status: NotificationStatus.FAILED, attempts: 3 });
  });
});

describe("access", () => {
  it("keeps customers to their own notifications and webhooks", async () => {
    const { userId, webhookId } = await customerWithWebhook();
    const other = uuidv7();
    expect(await codeOf(client.listNotifications({ userId }, as(other)))).toBe(Code.PERMISSION_DENIED);
    expect(await codeOf(client.registerWebhook({ userId, url: "https://evil.example/x" }, as(other)))).toBe(
      Code.PERMISSION_DENIED,
    );
    expect(await codeOf(client.listWebhooks({ userId }, as(other)))).toBe(Code.PERMISSION_DENIED);
    expect(await codeOf(client.deleteWebhook({ webhookId }, as(other)))).toBe(Code.NOT_FOUND);
    expect(await codeOf(client.deleteWebhook({ userId, webhookId }, as(other)))).toBe(Code.PERMISSION_DENIED);
    // Admins may read anyone's.
    expect((await client.listNotifications({ userId }, asAdmin())).notifications).toBeDefined();
    const hooks = await client.listWebhooks({ userId }, asAdmin());
    expect(hooks.webhooks.map((w) => [w.id, w.secret])).toEqual([[webhookId, ""]]);
  });

  it("validates requests", async () => {
    const userId = uuidv7();
    for (const url of [
      "",
      "ftp://x.example/",
      "not a url",
      "https://u:p@x.example/",
      `https://x.example/${"a".repeat(2100)}`,
    ]) {
      expect(await codeOf(client.registerWebhook({ url }, as(userId)))).toBe(Code.INVALID_ARGUMENT);
    }
    expect(await codeOf(client.listNotifications({}, {}))).toBe(Code.INVALID_ARGUMENT);
    expect(await codeOf(client.listNotifications({ pageToken: "garbage" }, as(userId)))).toBe(
      Code.INVALID_ARGUMENT,
    );
    expect(await codeOf(client.listNotifications({ pageSize: 201 }, as(userId)))).toBe(Code.INVALID_ARGUMENT);
    await client.registerWebhook({ url: "https://hooks.example/a" }, as(userId));
    expect(await codeOf(client.registerWebhook({ url: "https://hooks.example/a" }, as(userId)))).toBe(
      Code.ALREADY_EXISTS,
    );
  });
});
