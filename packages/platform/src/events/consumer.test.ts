import { startNats, testDatabaseUrl, testNatsUrl, uniqueName, waitFor } from "@mercato/testing";
import { context, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { sql } from "drizzle-orm";
import { type NatsConnection, headers as natsHeaders } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentContext, runWithContext } from "../context/index.js";
import type { Database } from "../db/index.js";
import { startTelemetry } from "../telemetry/index.js";
import { type ConsumedEvent, startConsumer } from "./consumer.js";
import { DLQ_HEADERS, EVENT_ID_HEADER, EVENT_TYPE_HEADER } from "./headers.js";
import { enqueueEvent } from "./outbox.js";
import { startOutboxRelay } from "./relay.js";
import { connectNats, eventsDatabase, freshStream, readStream, testLogger } from "./test-helpers.js";

startTelemetry({ serviceName: "events-test" });

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let nc: NatsConnection;
let database: Database;
beforeAll(async () => {
  nc = await connectNats(testNatsUrl());
  cleanups.push(() => nc.drain());
  database = await eventsDatabase({ url: await testDatabaseUrl("consumer") });
  cleanups.push(() => database.close());
  await database.query(sql`create table effects (event_id text not null, note text not null)`);
});

async function publish(subject: string, eventId: string, msgID: string, body = eventId): Promise<void> {
  const h = natsHeaders();
  h.set(EVENT_ID_HEADER, eventId);
  h.set(EVENT_TYPE_HEADER, "t.v1.Thing");
  await nc.jetstream().publish(subject, new TextEncoder().encode(body), { msgID, headers: h });
}

async function effectsOf(eventId: string): Promise<number> {
  const [row] = await database.query<{ n: number }>(
    sql`select count(*)::int as n from effects where event_id = ${eventId}`,
  );
  return row?.n ?? -1;
}

describe("startConsumer", () => {
  it("gives a redelivered or republished event exactly one effect", async () => {
    const { stream, subjects } = await freshStream(nc, "inbox");
    const calls = new Map<string, number>();
    const consumer = await startConsumer({
      js: nc.jetstream(),
      database,
      stream,
      durable: uniqueName("dedupe"),
      logger: testLogger,
      backoffMs: [100],
      async handler(event, tx) {
        const n = (calls.get(event.id) ?? 0) + 1;
        calls.set(event.id, n);
        await tx.execute(sql`insert into effects (event_id, note) values (${event.id}, ${`attempt ${n}`})`);
        // The first attempt of "flaky" fails after writing: its effect must roll back with the inbox row.
        if (event.id === "flaky" && n === 1) throw new Error("transient");
      },
    });
    cleanups.push(() => consumer.stop());

    await publish(`${subjects}.thing`, "twice", "msg-1");
    await publish(`${subjects}.thing`, "twice", "msg-2"); // same event, new message id: not deduped by NATS
    await publish(`${subjects}.thing`, "flaky", "msg-3");

    await waitFor(async () => (await effectsOf("flaky")) === 1 && (await effectsOf("twice")) === 1, {
      timeoutMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await effectsOf("twice")).toBe(1);
    expect(calls.get("twice")).toBe(1);
    expect(await effectsOf("flaky")).toBe(1);
    expect(calls.get("flaky")).toBe(2);
    const [note] = await database.query<{ note: string }>(
      sql`select note from effects where event_id = 'flaky'`,
    );
    expect(note?.note).toBe("attempt 2");
    const info = await (await nc.jetstreamManager()).consumers.info(
      stream.name,
      (await consumerName(stream.name)) ?? "",
    );
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    await consumer.stop();
  });

  it("waits for a broker that stops answering while the consumer is being set up", async () => {
    const broker = await startNats();
    cleanups.push(() => broker.stop());
    const own = await connectNats(broker.url);
    cleanups.push(() => own.close());
    const { stream, subjects } = await freshStream(own, "unreachable");
    const seen: string[] = [];
    // The broker freezes (as when it restarts) just as the consumer is created: creating it times
    // out (after 300 ms here) instead of answering, and the consumer must wait for it, not fail.
    broker.pause();
    const starting = startConsumer({
      js: own.jetstream({ timeout: 300 }),
      database,
      stream,
      durable: uniqueName("unreachable"),
      logger: testLogger,
      async handler(event) {
        seen.push(event.id);
      },
    });
    const outcome = await Promise.race([
      starting.then(
        () => "started",
        (error: unknown) => `failed: ${(error as Error).message}`,
      ),
      new Promise((resolve) => setTimeout(resolve, 1500, "still waiting")),
    ]);
    expect(outcome).toBe("still waiting");
    broker.resume();
    const consumer = await starting;
    cleanups.push(() => consumer.stop());
    const h = natsHeaders();
    h.set(EVENT_ID_HEADER, "after-the-outage");
    await own.jetstream().publish(`${subjects}.thing`, new TextEncoder().encode("x"), { headers: h });
    await waitFor(() => seen.includes("after-the-outage"), { message: "the event after the outage" });
  });

  it("dead-letters a poison message after maxDeliver attempts while other messages keep flowing", async () => {
    const { stream, subjects } = await freshStream(nc, "poison");
    const dlq = await freshStream(nc, "dlq");
    const durable = uniqueName("poison");
    const attempts: number[] = [];
    const done: number[] = [];
    const consumer = await startConsumer({
      js: nc.jetstream(),
      database,
      stream,
      durable,
      logger: testLogger,
      maxDeliver: 3,
      backoffMs: [300, 600],
      deadLetterPrefix: dlq.subjects,
      async handler(event: ConsumedEvent) {
        if (event.id === "poison") {
          attempts.push(event.deliveryCount);
          throw new Error("cannot parse: poisoned!");
        }
        done.push(Date.now());
      },
    });
    cleanups.push(() => consumer.stop());

    await publish(`${subjects}.thing`, "poison", "poison");
    for (let i = 0; i < 20; i++) await publish(`${subjects}.thing`, `ok-${i}`, `ok-${i}`);

    await waitFor(async () => (await readStream(nc, dlq.stream.name)).length === 1, { timeoutMs: 15_000 });
    const deadAt = Date.now();
    const [dead] = await readStream(nc, dlq.stream.name);
    expect(dead?.subject).toBe(`${dlq.subjects}.${durable}`);
    expect(new TextDecoder().decode(dead?.data)).toBe("poison");
    expect(dead?.headers?.get(DLQ_HEADERS.error)).toBe("cannot parse: poisoned!");
    expect(dead?.headers?.get(DLQ_HEADERS.subject)).toBe(`${subjects}.thing`);
    expect(dead?.headers?.get(DLQ_HEADERS.stream)).toBe(stream.name);
    expect(dead?.headers?.get(DLQ_HEADERS.deliveries)).toBe("3");
    expect(dead?.headers?.get(DLQ_HEADERS.sequence)).toBe("1");
    expect(dead?.headers?.get(EVENT_TYPE_HEADER)).toBe("t.v1.Thing");
    expect(attempts).toEqual([1, 2, 3]);
    // The 20 good messages, published after the poison one, were all handled while it waited.
    expect(done).toHaveLength(20);
    expect(Math.max(...done)).toBeLessThan(deadAt);

    // Terminated: never delivered again.
    await new Promise((r) => setTimeout(r, 1000));
    expect(attempts).toEqual([1, 2, 3]);
    const info = await (await nc.jetstreamManager()).consumers.info(stream.name, durable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.config.max_deliver).toBeGreaterThanOrEqual(3);
    await consumer.stop();
  }, 30_000);

  it("runs the handler in the producer's trace and request id, end to end through the outbox (consumer on its own database)", async () => {
    const { stream, subjects } = await freshStream(nc, "traced");
    const relay = await startOutboxRelay({
      database,
      js: nc.jetstream(),
      logger: testLogger,
      pollIntervalMs: 200,
    });
    cleanups.push(() => relay.stop());
    const consumerDb = await eventsDatabase({ url: await testDatabaseUrl("events_traced_consumer") });
    cleanups.push(() => consumerDb.close());

    const seen: {
      requestId?: string | undefined;
      traceId?: string | undefined;
      type?: string | undefined;
    }[] = [];
    const consumer = await startConsumer({
      js: nc.jetstream(),
      database: consumerDb,
      stream,
      durable: uniqueName("traced"),
      logger: testLogger,
      async handler(event) {
        seen.push({
          requestId: currentContext()?.requestId,
          traceId: trace.getActiveSpan()?.spanContext().traceId,
          type: event.type,
        });
      },
    });
    cleanups.push(() => consumer.stop());

    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
    });
    await context.with(parent, () =>
      runWithContext({ requestId: "req-trace-1" }, () =>
        database.transaction((tx) =>
          enqueueEvent(tx, {
            subject: `${subjects}.placed`,
            type: "t.v1.Placed",
            aggregateId: "o1",
            payload: new Uint8Array([1]),
          }),
        ),
      ),
    );
    await waitFor(() => seen.length === 1, { timeoutMs: 10_000 });
    expect(seen[0]).toEqual({ requestId: "req-trace-1", traceId, type: "t.v1.Placed" });
    await consumer.stop();
    await relay.stop();
  }, 120_000);
});

async function consumerName(stream: string): Promise<string | undefined> {
  const jsm = await nc.jetstreamManager();
  for await (const c of jsm.consumers.list(stream)) return c.name;
  return undefined;
}
