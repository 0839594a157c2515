import { fileURLToPath } from "node:url";
import { connectDatabase } from "@mercato/platform/db";
import { createLogger } from "@mercato/platform/log";
import { NotificationService } from "@mercato/sdk/gen/mercato/notification/v1/notification_pb";
import { createGrpcClient } from "@mercato/sdk/grpc";
import {
  freePort,
  type SpawnedProcess,
  spawnProcess,
  testDatabaseUrl,
  testNatsUrl,
  waitFor,
} from "@mercato/testing";
import { sql } from "drizzle-orm";
import { connect } from "nats";
import { uuidv7 } from "uuidv7";
import { afterAll, expect, it } from "vitest";
import { as, publish, startReceiver, testEnv } from "./testing/harness.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const root = fileURLToPath(new URL("..", import.meta.url));

function start(env: Record<string, string>): SpawnedProcess {
  const child = spawnProcess(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: root, env });
  cleanups.push(() => child.stop(2000));
  return child;
}

// Generous caps: the process starts from source (tsx) twice, which took over 30 s on a busy machine.
const STARTUP_MS = 120_000;

it("loses and duplicates nothing when the process is killed mid-batch", { timeout: 6 * 60_000 }, async () => {
  const databaseUrl = await testDatabaseUrl("notification_crash");
  const env = testEnv({
    DATABASE_URL: databaseUrl,
    GRPC_PORT: String(await freePort()),
    ADMIN_PORT: String(await freePort()),
    LOG_LEVEL: "info",
    DELIVERY_BATCH_SIZE: "20",
  });
  const receiver = await startReceiver({ delayMs: 15 });
  cleanups.push(() => receiver.close());

  let child = start(env);
  await child.waitForOutput("notification ready", STARTUP_MS);
  const client = createGrpcClient(NotificationService, `127.0.0.1:${env.GRPC_PORT}`);
  cleanups.push(async () => client.$close());
  const userId = uuidv7();
  receiver.secret = (await client.registerWebhook({ url: receiver.url }, as(userId))).webhook!.secret;

  const nc = await connect({ servers: testNatsUrl() });
  cleanups.push(() => nc.drain());
  const js = nc.jetstream();
  const total = 150;
  const expected: string[] = [];
  for (let i = 0; i < total; i++) {
    const orderId = uuidv7();
    expected.push(await publish.orderConfirmed(js, userId, orderId));
  }

  // Kill -9 while deliveries are flowing: some are sent, some are claimed, most are still queued.
  await waitFor(() => receiver.accepted().length >= 30, { timeoutMs: 60_000, message: "first deliveries" });
  await child.kill("SIGKILL");
  const beforeRestart = receiver.accepted().length;
  expect(beforeRestart).toBeLessThan(total);

  child = start(env);
  await child.waitForOutput("notification ready", STARTUP_MS);
  await waitFor(() => new Set(receiver.accepted().map((r) => r.eventId)).size === total, {
    timeoutMs: 90_000,
    message: "every delivery after the restart",
  });

  // Nothing lost: every event reached the receiver, and the log has exactly one row per (event, channel).
  expect([...receiver.counts().keys()].sort()).toEqual([...expected].sort());
  expect(receiver.requests.every((r) => r.valid)).toBe(true);
  const db = await connectDatabase({
    url: databaseUrl,
    schema: {},
    logger: createLogger({ service: "crash-test", level: "silent" }),
  });
  cleanups.push(() => db.close());
  await waitFor(async () => {
    const [row] = await db.query<{ n: number }>(
      sql`select count(*)::int as n from deliveries where user_id = ${userId} and status <> 'SENT'`,
    );
    return row?.n === 0;
  });
  const rows = await db.query(sql`select channel, count(*)::int as n, count(distinct event_id)::int as events
    from deliveries where user_id = ${userId} group by channel order by channel`);
  expect(rows).toEqual([
    { channel: "LOG", n: total, events: total },
    { channel: "WEBHOOK", n: total, events: total },
  ]);
  const [inbox] = await db.query<{ n: number }>(
    sql`select count(*)::int as n from inbox where event_id in ${sql.raw(`(${expected.map((id) => `'${id}'`).join(",")})`)}`,
  );
  expect(inbox?.n).toBe(total);
  // Duplicates: at most the batch the killed process had sent but not yet committed, and receivers
  // drop those by Mercato-Event-Id.
  const duplicates = receiver.accepted().length - total;
  expect(duplicates).toBeLessThanOrEqual(Number(env.DELIVERY_BATCH_SIZE));
});
