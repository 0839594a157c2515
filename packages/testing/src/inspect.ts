/**
 * Read-only inspection helpers for whole-system tests: read what a JetStream stream holds, query a
 * service's database, and pick a field out of a protobuf message without its generated code.
 */
import { connect, type MsgHdrs } from "nats";
import postgres from "postgres";

/** One message read back from a stream by {@link readStream}. */
export interface StreamMessage {
  readonly subject: string;
  /** Stream sequence number. */
  readonly seq: number;
  /** Headers, first value of each. */
  readonly headers: Readonly<Record<string, string>>;
  readonly data: Uint8Array;
}

/** Options for {@link readStream}. */
export interface ReadStreamOptions {
  /** Only messages on these subjects (wildcards allowed); default: every subject of the stream. */
  readonly filterSubjects?: readonly string[];
  /** Give up after this long (default 30 000 ms). */
  readonly timeoutMs?: number;
}

function headersOf(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [key, values] of headers) {
    const first = values[0];
    if (first !== undefined) out[key] = first;
  }
  return out;
}

/**
 * Reads every message a JetStream stream holds right now (up to its last sequence at the time of the
 * call), oldest first, with an ephemeral ordered consumer; nothing is acknowledged or changed.
 *
 * @throws when the stream does not exist or `timeoutMs` passes
 */
export async function readStream(
  natsUrl: string,
  stream: string,
  options: ReadStreamOptions = {},
): Promise<StreamMessage[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const nc = await connect({ servers: natsUrl, name: "mercato-testing-read-stream" });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    const lastSeq = info.state.last_seq;
    const messages: StreamMessage[] = [];
    if (info.state.messages === 0) return messages;
    const consumer = await nc.jetstream().consumers.get(stream, {
      ...(options.filterSubjects ? { filterSubjects: [...options.filterSubjects] } : {}),
    });
    for (;;) {
      if (Date.now() > deadline) throw new Error(`readStream: ${stream} not read within the timeout`);
      const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
      let received = 0;
      let reachedEnd = false;
      for await (const message of batch) {
        received++;
        messages.push({
          subject: message.subject,
          seq: message.seq,
          headers: headersOf(message.headers),
          data: message.data,
        });
        if (message.seq >= lastSeq) reachedEnd = true;
        if (message.info.pending === 0) reachedEnd = true;
      }
      if (reachedEnd || received === 0) return messages;
    }
  } finally {
    await nc.close();
  }
}

/** What a JetStream stream holds, from {@link streamState}. */
export interface StreamState {
  readonly messages: number;
  readonly lastSeq: number;
  /** When the last message was stored (ms since the epoch), or 0 when the stream is empty. */
  readonly lastAt: number;
}

/**
 * A stream's message count and when its last message was stored (a cheap way to see that a producer
 * publishes again, e.g. after an outage, without reading the messages).
 *
 * @throws when the stream does not exist or the server cannot be reached
 */
export async function streamState(natsUrl: string, stream: string): Promise<StreamState> {
  const nc = await connect({ servers: natsUrl, name: "mercato-testing-stream-state" });
  try {
    const { state } = await (await nc.jetstreamManager()).streams.info(stream);
    const lastAt = state.messages === 0 ? 0 : Date.parse(state.last_ts);
    return { messages: state.messages, lastSeq: state.last_seq, lastAt: Number.isNaN(lastAt) ? 0 : lastAt };
  } finally {
    await nc.close();
  }
}

/** `serverUrl` (a PostgreSQL URL) with its database replaced by `database`. */
export function databaseUrlOn(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Runs `fn` with a postgres.js client on `url` and closes the client afterwards (for tests that read
 * a service's tables to check an invariant).
 */
export async function withDatabase<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function readVarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let index = offset;
  for (;;) {
    if (index >= bytes.length) throw new Error("protobufString: truncated varint");
    const byte = bytes[index++] as number;
    // Lengths and tags fit in 2^53; multiply instead of shifting to stay exact past 32 bits.
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: index };
    shift += 7;
    if (shift > 63) throw new Error("protobufString: varint too long");
  }
}

/**
 * The first value of string field number `field` of a protobuf binary message, without generated
 * code (e.g. the order id of an event read with {@link readStream}); undefined when absent.
 *
 * @throws on a malformed message
 */
export function protobufString(message: Uint8Array, field: number): string | undefined {
  let offset = 0;
  while (offset < message.length) {
    const tag = readVarint(message, offset);
    offset = tag.next;
    const number = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    switch (wireType) {
      case 0:
        offset = readVarint(message, offset).next;
        break;
      case 1:
        offset += 8;
        break;
      case 2: {
        const length = readVarint(message, offset);
        const start = length.next;
        const end = start + length.value;
        if (end > message.length) throw new Error("protobufString: truncated field");
        if (number === field) return new TextDecoder().decode(message.subarray(start, end));
        offset = end;
        break;
      }
      case 5:
        offset += 4;
        break;
      default:
        throw new Error(`protobufString: unsupported wire type ${wireType}`);
    }
  }
  return undefined;
}
