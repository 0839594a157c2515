import { NotificationService } from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, expect, it } from "vitest";
import { as, publish, startNotification, startReceiver } from "./testing/harness.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

it("delivers everything, each event once, to receivers that were down for 30 s", {
  timeout: 120_000,
}, async () => {
  const app = await startNotification();
  cleanups.push(() => app.service.stop());
  const client = createGrpcClient(NotificationService, `127.0.0.1:${app.service.port}`);
  cleanups.push(async () => client.$close());
  const js = app.service.nats.jetstream();

  // One receiver answers 503, the other is not listening at all (connection refused).
  const unavailable = await startReceiver();
  cleanups.push(() => unavailable.close());
  unavailable.answer = () => 503;
  const closed = await startReceiver();
  cleanups.push(() => closed.close());
  await closed.close();

  const users = [uuidv7(), uuidv7()] as const;
  unavailable.secret = (await client.registerWebhook({ url: unavailable.url }, as(users[0]))).webhook!.secret;
  closed.secret = (await client.registerWebhook({ url: closed.url }, as(users[1]))).webhook!.secret;

  const expected: [string[], string[]] = [[], []];
  for (const [i, userId] of users.entries()) {
    const orderId = uuidv7();
    expected[i]!.push(await publish.userRegistered(js, userId));
    expected[i]!.push(await publish.orderConfirmed(js, userId, orderId));
    expected[i]!.push(await publish.shipmentShipped(js, userId, orderId));
    expected[i]!.push(await publish.shipmentDelivered(js, userId, orderId));
  }
  await waitFor(() => unavailable.requests.length >= 2, { timeoutMs: 10_000, message: "failing attempts" });

  await new Promise((r) => setTimeout(r, 30_000));
  const [pending] = await app.service.database.query<{ n: number }>(
    sql`select count(*)::int as n from deliveries where channel = 'WEBHOOK' and status = 'PENDING'`,
  );
  expect(pending?.n).toBe(8);
  unavailable.answer = () => 204;
  await closed.reopen();

  await waitFor(() => unavailable.accepted().length === 4 && closed.accepted().length === 4, {
    timeoutMs: 30_000,
    message: "every delivery after the outage",
  });
  await new Promise((r) => setTimeout(r, 1000));
  for (const [i, receiver] of [unavailable, closed].entries()) {
    expect([...receiver.counts().keys()].sort()).toEqual([...expected[i]!].sort());
    expect(Math.max(...receiver.counts().values())).toBe(1);
    expect(receiver.requests.every((r) => r.valid)).toBe(true);
  }
  const rows = await app.service.database.query<{ status: string; n: number }>(
    sql`select status, count(*)::int as n from deliveries where channel = 'WEBHOOK' group by status`,
  );
  expect(rows).toEqual([{ status: "SENT", n: 8 }]);
});
