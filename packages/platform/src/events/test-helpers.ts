import { uniqueName } from "@mercato/testing";
import { connect, type JsMsg, type NatsConnection } from "nats";
import { connectDatabase, type Database, migrate } from "../db/index.js";
import { createLogger } from "../log/index.js";
import { eventsMigrations } from "./outbox.js";
import { defineStream, ensureStreams, type StreamDefinition } from "./streams.js";

/** A silent logger for tests. */
export const testLogger = createLogger({
  service: "events-test",
  level: process.env.TEST_LOG_LEVEL ?? "silent",
});

/** A fresh stream on its own subject space, so test files share a nats-server safely. */
export async function freshStream(
  nc: NatsConnection,
  prefix: string,
): Promise<{ stream: StreamDefinition; subjects: string }> {
  const token = uniqueName(prefix).toLowerCase();
  const stream = defineStream({ name: uniqueName(prefix.toUpperCase()), subjects: [`${token}.>`] });
  await ensureStreams(await nc.jetstreamManager(), [stream]);
  return { stream, subjects: token };
}

/** Opens a database with the outbox and inbox tables. */
export async function eventsDatabase(target: { url: string }): Promise<Database> {
  const database = await connectDatabase({ ...target, schema: {}, logger: testLogger });
  await migrate(database, [eventsMigrations]);
  return database;
}

/** Every message currently in `stream`, in stream order. */
export async function readStream(nc: NatsConnection, stream: string): Promise<JsMsg[]> {
  const js = nc.jetstream();
  const info = await (await nc.jetstreamManager()).streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await js.consumers.get(stream);
  const out: JsMsg[] = [];
  const messages = await consumer.consume({ max_messages: 500 });
  for await (const m of messages) {
    out.push(m);
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

/** Connects to a nats-server, reconnecting forever (brokers are stopped and restarted by tests). */
export function connectNats(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
}
