import { Writable } from "node:stream";
import { startNats, testDatabaseUrl, testNatsUrl, waitFor } from "@mercato/testing";
import { context, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { sql } from "drizzle-orm";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWithContext } from "../context/index.js";
import type { Database } from "../db/index.js";
import { createLogger } from "../log/index.js";
import { startTelemetry } from "../telemetry/index.js";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, REQUEST_ID_HEADER } from "./headers.js";
import { enqueueEvent } from "./outbox.js";
import { type OutboxRelay, startOutboxRelay } from "./relay.js";
import { connectNats, eventsDatabase, freshStream, readStream, testLogger } from "./test-helpers.js";

startTelemetry({ serviceName: "events-test" });

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

function payload(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function unpublished(database: Database): Promise<number> {
  const [row] = await database.query<{ n: number }>(
    sql`select count(*)::int as n from outbox where published_at is null`,
  );
  return row?.n ?? -1;
}

describe("outbox on the shared servers", () => {
  let nc: NatsConnection;
  let database: Database;
  let relay: OutboxRelay;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl());
    cleanups.push(() => nc.drain());
    database = await eventsDatabase({ url: await testDatabaseUrl("outbox") });
    cleanups.push(() => database.close());
    relay = await startOutboxRelay({
      database,
      js: nc.jetstream(),
      logger: testLogger,
      // Far longer than anything here takes: an event published at all was published on NOTIFY.
      pollIntervalMs: 10 * 60_000,
    });
    cleanups.push(() => relay.stop());
  });

  it("publishes a committed event with its id, type, trace and request id, and nothing for a rollback", async () => {
    const { stream, subjects } = await freshStream(nc, "outbox");
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanContext = { traceId, spanId: "00f067aa0ba902b7", traceFlags: TraceFlags.SAMPLED };

    await expect(
      database.transaction(async (tx) => {
        await enqueueEvent(tx, {
          subject: `${subjects}.cancelled`,
          type: "t.v1.Cancelled",
          aggregateId: "a1",
          payload: payload("no"),
        });
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");

    const started = Date.now();
    const id = await context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), () =>
      runWithContext({ requestId: "req-42" }, () =>
        database.transaction((tx) =>
          enqueueEvent(tx, {
            subject: `${subjects}.placed`,
            type: "t.v1.Placed",
            aggregateId: "a1",
            payload: payload("yes"),
          }),
        ),
      ),
    );

    await waitFor(async () => (await unpublished(database)) === 0);
    // Woken by NOTIFY, not by the 10-minute poll.
    expect(Date.now() - started).toBeLessThan(60_000);
    const messages = await readStream(nc, stream.name);
    expect(messages).toHaveLength(1);
    const [msg] = messages;
    expect(msg?.subject).toBe(`${subjects}.placed`);
    expect(new TextDecoder().decode(msg?.data)).toBe("yes");
    expect(msg?.headers?.get("Nats-Msg-Id")).toBe(id);
    expect(msg?.headers?.get(EVENT_ID_HEADER)).toBe(id);
    expect(msg?.headers?.get(EVENT_TYPE_HEADER)).toBe("t.v1.Placed");
    expect(msg?.headers?.get(REQUEST_ID_HEADER)).toBe("req-42");
    // The same trace, continued by the relay's publish span (a span of its own, not the producer's).
    const traceparent = msg?.headers?.get("traceparent");
    expect(traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(traceparent).not.toContain("00f067aa0ba902b7");
  });

  it("two relays publish 2000 events of 50 aggregates once each, in per-aggregate order", async () => {
    const { stream, subjects } = await freshStream(nc, "outbox_load");
    // A second replica: its own pool and its own NATS connection.
    const nc2 = await connectNats(testNatsUrl());
    cleanups.push(() => nc2.drain());
    const url = await testDatabaseUrl("outbox_load");
    const db1 = await eventsDatabase({ url });
    const db2 = await eventsDatabase({ url });
    cleanups.push(
      () => db1.close(),
      () => db2.close(),
    );
    // Each relay logs its batches at debug level: the counts show that both took part.
    const publishedBy = [0, 0];
    const relayLogger = (i: 0 | 1) =>
      createLogger({
        service: `relay-${i}`,
        level: "debug",
        destination: new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString().split("\n")) {
              if (line.includes('"outbox batch"'))
                publishedBy[i] =
                  (publishedBy[i] ?? 0) + (JSON.parse(line) as { published: number }).published;
            }
            done();
          },
        }),
      });
    const relays = await Promise.all([
      startOutboxRelay({
        database: db1,
        js: nc.jetstream(),
        logger: relayLogger(0),
        batchSize: 100,
        pollIntervalMs: 200,
      }),
      startOutboxRelay({
        database: db2,
        js: nc2.jetstream(),
        logger: relayLogger(1),
        batchSize: 100,
        pollIntervalMs: 200,
      }),
    ]);
    cleanups.push(...relays.map((r) => () => r.stop()));

    const aggregates = 50;
    const perAggregate = 40;
    const started = Date.now();
    // 10 writers, each owning 5 aggregates and enqueueing their events in order, while the relays run.
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let n = 0; n < perAggregate; n++) {
          for (let a = w * 5; a < w * 5 + 5; a++) {
            await (w % 2 === 0 ? db1 : db2).transaction((tx) =>
              enqueueEvent(tx, {
                subject: `${subjects}.happened`,
                type: "t.v1.Happened",
                aggregateId: `agg-${a}`,
                payload: payload(`agg-${a}:${n}`),
              }),
            );
          }
        }
      }),
    );
    const enqueuedMs = Date.now() - started;
    await waitFor(async () => (await unpublished(db1)) === 0, { timeoutMs: 60_000, intervalMs: 100 });
    const totalMs = Date.now() - started;

    const messages = await readStream(nc, stream.name);
    expect(messages).toHaveLength(aggregates * perAggregate);
    const ids = new Set(messages.map((m) => m.headers?.get("Nats-Msg-Id")));
    expect(ids.size).toBe(aggregates * perAggregate);
    const next = new Map<string, number>();
    for (const m of messages) {
      const [agg, n] = new TextDecoder().decode(m.data).split(":");
      expect(Number(n)).toBe(next.get(agg ?? "") ?? 0);
      next.set(agg ?? "", Number(n) + 1);
    }
    expect(next.size).toBe(aggregates);

    // Relay throughput alone: a backlog of 2000 more events drained by two fresh relays.
    await Promise.all(relays.map((r) => r.stop()));
    for (let a = 0; a < aggregates; a++) {
      await db1.transaction(async (tx) => {
        for (let n = perAggregate; n < 2 * perAggregate; n++) {
          await enqueueEvent(tx, {
            subject: `${subjects}.happened`,
            type: "t.v1.Happened",
            aggregateId: `agg-${a}`,
            payload: payload(`agg-${a}:${n}`),
          });
        }
      });
    }
    const drainStart = Date.now();
    const again = await Promise.all([
      startOutboxRelay({
        database: db1,
        js: nc.jetstream(),
        logger: relayLogger(0),
        batchSize: 100,
        pollIntervalMs: 200,
      }),
      startOutboxRelay({
        database: db2,
        js: nc2.jetstream(),
        logger: relayLogger(1),
        batchSize: 100,
        pollIntervalMs: 200,
      }),
    ]);
    cleanups.push(...again.map((r) => () => r.stop()));
    await waitFor(async () => (await unpublished(db1)) === 0, { timeoutMs: 60_000, intervalMs: 20 });
    const drainMs = Date.now() - drainStart;
    const all = await readStream(nc, stream.name);
    expect(all).toHaveLength(2 * aggregates * perAggregate);
    expect(new Set(all.map((m) => m.headers?.get("Nats-Msg-Id"))).size).toBe(2 * aggregates * perAggregate);
    const seen = new Map<string, number>();
    for (const m of all) {
      const [agg, n] = new TextDecoder().decode(m.data).split(":");
      expect(Number(n)).toBe(seen.get(agg ?? "") ?? 0);
      seen.set(agg ?? "", Number(n) + 1);
    }
    await new Promise((r) => setTimeout(r, 100)); // let the last log lines arrive
    expect(publishedBy[0]).toBeGreaterThan(0);
    expect(publishedBy[1]).toBeGreaterThan(0);
    expect((publishedBy[0] ?? 0) + (publishedBy[1] ?? 0)).toBe(2 * aggregates * perAggregate);
    console.info(
      `outbox load (relay shares ${publishedBy.join("/")}): ${aggregates * perAggregate} events enqueued by 10 writers in ${enqueuedMs} ms, all published ` +
        `${totalMs - enqueuedMs} ms after the last commit; backlog of ${aggregates * perAggregate} drained by two ` +
        `relays in ${drainMs} ms (${Math.round((aggregates * perAggregate * 1000) / drainMs)} events/s)`,
    );
  }, 90_000);
});

describe("outbox while NATS is down", () => {
  it("keeps events enqueued while the broker is down and publishes them once it returns", async () => {
    const nats = await startNats();
    cleanups.push(() => nats.stop());
    const nc = await connectNats(nats.url);
    cleanups.push(() => nc.close());
    const { stream, subjects } = await freshStream(nc, "outbox_down");
    const database = await eventsDatabase({ url: await testDatabaseUrl("outbox_down") });
    cleanups.push(() => database.close());
    const relay = await startOutboxRelay({
      database,
      js: nc.jetstream(),
      logger: testLogger,
      pollIntervalMs: 200,
      publishTimeoutMs: 1000,
      maxBackoffMs: 1000,
    });
    cleanups.push(() => relay.stop());

    await database.transaction((tx) =>
      enqueueEvent(tx, {
        subject: `${subjects}.before`,
        type: "t.v1.E",
        aggregateId: "x",
        payload: payload("x:0"),
      }),
    );
    await waitFor(async () => (await unpublished(database)) === 0);

    await nats.kill();
    for (let n = 1; n <= 30; n++) {
      await database.transaction((tx) =>
        enqueueEvent(tx, {
          subject: `${subjects}.during`,
          type: "t.v1.E",
          aggregateId: n % 2 ? "x" : "y",
          payload: payload(`${n % 2 ? "x" : "y"}:${n}`),
        }),
      );
    }
    // The relay keeps trying (and failing) for a while; nothing is marked published.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await unpublished(database)).toBe(30);

    await nats.restart();
    await waitFor(async () => (await unpublished(database)) === 0, { timeoutMs: 30_000, intervalMs: 100 });
    const messages = await readStream(nc, stream.name);
    expect(messages).toHaveLength(31);
    expect(new Set(messages.map((m) => m.headers?.get("Nats-Msg-Id"))).size).toBe(31);
    const order = messages.map((m) => new TextDecoder().decode(m.data));
    for (const agg of ["x", "y"]) {
      const seen = order.filter((o) => o.startsWith(`${agg}:`)).map((o) => Number(o.split(":")[1]));
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  }, 60_000);
});
