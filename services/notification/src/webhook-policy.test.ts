/**
 * Webhooks cannot be aimed inward: RegisterWebhook refuses every non-public destination in every
 * notation under the default policy (https only, public addresses only), each delivery checks the
 * destination again (a name that now resolves inside is refused without a connection), and the
 * per-user quota says when to come back.
 */

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { Code } from "@mercato/platform/errors";
import {
  NotificationChannel,
  NotificationService,
  NotificationStatus,
} from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { waitFor } from "@mercato/testing";
import { sql } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEBHOOK_QUOTA_RETRY_AFTER_S } from "./handlers/notification.js";
import { as, exampleLookup, publish, startNotification, type TestNotification } from "./testing/harness.js";

/** A grpc-js call error, as far as these tests read it. */
interface ServiceError {
  readonly code: number;
  readonly details: string;
  readonly metadata: { get(key: string): unknown[] };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** The resolver the service uses; tests repoint names in it. */
const dns: Record<string, string[]> = {
  "hooks.example": ["93.184.215.14"],
  "inside.example": ["10.0.0.7"],
  "mixed.example": ["93.184.215.14", "127.0.0.1"],
};
const lookup = exampleLookup(dns);

let app: TestNotification;
let client: GrpcClient<typeof NotificationService>;
/** Connections that reached the loopback listener (none may). */
let connections = 0;
let listener: Server;
let insidePort: number;

beforeAll(async () => {
  app = await startNotification(
    { WEBHOOK_ALLOW_HTTP: "false", WEBHOOK_ALLOW_PRIVATE: "false", WEBHOOK_LIMIT_PER_USER: "2" },
    { lookup },
  );
  cleanups.push(() => app.service.stop());
  client = createGrpcClient(NotificationService, `127.0.0.1:${app.service.port}`);
  cleanups.push(async () => client.$close());
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", () => resolve()));
  insidePort = (listener.address() as AddressInfo).port;
  cleanups.push(() => new Promise((resolve) => listener.close(resolve)));
});

async function refusal(url: string): Promise<ServiceError> {
  const error = await client
    .registerWebhook({ url }, as(uuidv7()))
    .then(() => undefined)
    .catch((e: unknown) => e as ServiceError);
  if (!error) throw new Error(`${url} was registered`);
  return error;
}

describe("RegisterWebhook under the default policy", () => {
  const inward = () => [
    `https://127.0.0.1:${insidePort}/`,
    "https://127.0.0.1:5433/",
    "https://localhost/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://0.0.0.0/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::1]/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://192.168.0.1/",
    "https://[fd00::1]/",
    "https://inside.example/hook",
    "https://mixed.example/hook",
  ];

  it("refuses every inward destination, in every notation, as INVALID_ARGUMENT on url, storing nothing", async () => {
    for (const url of inward()) {
      const error = await refusal(url);
      expect(error.code, url).toBe(Code.INVALID_ARGUMENT);
      expect(error.details, url).toBe(
        "invalid request: url: must name a host that resolves only to public internet addresses",
      );
    }
    const [row] = await app.service.database.query<{ n: number }>(
      sql`select count(*)::int as n from webhooks`,
    );
    expect(row?.n).toBe(0);
    expect(connections).toBe(0);
  });

  it("refuses plain http, even to a public host, and accepts a public https one", async () => {
    const error = await refusal("http://hooks.example/hook");
    expect(error.code).toBe(Code.INVALID_ARGUMENT);
    expect(error.details).toBe("invalid request: url: must use https");
    const userId = uuidv7();
    const { webhook } = await client.registerWebhook({ url: "https://hooks.example/hook" }, as(userId));
    expect(webhook?.url).toBe("https://hooks.example/hook");
  });

  it("answers the per-user quota with RESOURCE_EXHAUSTED and a retry-after (HTTP 429 + Retry-After at the edge)", async () => {
    const userId = uuidv7();
    await client.registerWebhook({ url: "https://hooks.example/1" }, as(userId));
    await client.registerWebhook({ url: "https://hooks.example/2" }, as(userId));
    const error = (await client
      .registerWebhook({ url: "https://hooks.example/3" }, as(userId))
      .catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(error.metadata.get("retry-after")).toEqual([String(WEBHOOK_QUOTA_RETRY_AFTER_S)]);
  });
});

describe("each delivery checks the destination again", () => {
  it("a name that resolves inside by delivery time (DNS rebinding) fails for good, with no connection made", async () => {
    const userId = uuidv7();
    dns["rebind.example"] = ["93.184.215.14"];
    await client.registerWebhook({ url: `https://rebind.example:${insidePort}/hook` }, as(userId));
    dns["rebind.example"] = ["127.0.0.1"];
    const eventId = await publish.userRegistered(app.service.nats.jetstream(), userId);
    const delivery = async () =>
      (
        await app.service.database.query<{ status: string; attempts: number; last_error: string | null }>(
          sql`select status, attempts, last_error from deliveries where event_id = ${eventId} and channel = 'WEBHOOK'`,
        )
      )[0];
    await waitFor(async () => (await delivery())?.status === "FAILED", { timeoutMs: 15_000 });
    const row = await delivery();
    expect(row).toMatchObject({ status: "FAILED", attempts: 1 });
    expect(row?.last_error).toMatch(
      /^destination not allowed: .*rebind\.example → 127\.0\.0\.1 \(loopback\)/,
    );
    expect(connections).toBe(0);
    const listed = await client.listNotifications({}, as(userId));
    const webhook = listed.notifications.find((n) => n.channel === NotificationChannel.WEBHOOK);
    expect(webhook).toMatchObject({ status: NotificationStatus.FAILED, attempts: 1 });
  });
});
