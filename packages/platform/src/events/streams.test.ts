import { testNatsUrl, uniqueName } from "@mercato/testing";
import { type NatsConnection, nanos, StorageType } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadLetterStream, defineStream, ensureConsumer, ensureStreams } from "./streams.js";
import { connectNats } from "./test-helpers.js";

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectNats(testNatsUrl());
});
afterAll(async () => {
  await nc.drain();
});

describe("stream and consumer provisioning", () => {
  it("creates a stream once and updates it to match its declaration", async () => {
    const jsm = await nc.jetstreamManager();
    const name = uniqueName("ORDERS");
    const token = name.toLowerCase();
    const first = defineStream({ name, subjects: [`${token}.>`] });
    await ensureStreams(jsm, [first]);
    await ensureStreams(jsm, [first]); // idempotent: a second replica starting
    let info = await jsm.streams.info(name);
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.config.subjects).toEqual([`${token}.>`]);
    expect(info.config.duplicate_window).toBe(nanos(120_000));

    await ensureStreams(jsm, [defineStream({ name, subjects: [`${token}.>`], duplicateWindowMs: 600_000 })]);
    info = await jsm.streams.info(name);
    expect(info.config.duplicate_window).toBe(nanos(600_000));

    await ensureConsumer(jsm, { stream: name, durable: "c1", maxDeliver: 4, ackWaitMs: 5000 });
    await ensureConsumer(jsm, {
      stream: name,
      durable: "c1",
      maxDeliver: 6,
      ackWaitMs: 5000,
      backoffMs: [5000, 10_000],
    });
    const consumer = await jsm.consumers.info(name, "c1");
    expect(consumer.config.max_deliver).toBe(6);
    expect(consumer.config.backoff).toEqual([nanos(5000), nanos(10_000)]);
    await jsm.streams.delete(name);
  });

  it("declares the dead-letter stream on mercato.dlq.>", () => {
    expect(deadLetterStream.name).toBe("MERCATO_DLQ");
    expect(deadLetterStream.subjects).toEqual(["mercato.dlq.>"]);
    expect(() => defineStream({ name: "bad name", subjects: ["x"] })).toThrow(/invalid stream name/);
  });
});
