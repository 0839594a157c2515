import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { type SQL, sql } from "drizzle-orm";
import { type JetStreamClient, headers as natsHeaders } from "nats";
import type { Database, DbSchema, SqlExecutor } from "../db/index.js";
import type { Logger } from "../log/index.js";
import { outboxBacklog, outboxOldestAge, outboxPublished } from "../metrics/index.js";
import { contextFromHeaders, TRACEPARENT_HEADER, traceHeaders } from "./headers.js";
import { OUTBOX_CHANNEL } from "./outbox.js";

const tracer = trace.getTracer("@mercato/platform/events");

/** Options for {@link startOutboxRelay}. */
export interface OutboxRelayOptions<S extends DbSchema> {
  readonly database: Database<S>;
  readonly js: JetStreamClient;
  readonly logger: Logger;
  /** Rows claimed per transaction; default 100. */
  readonly batchSize?: number;
  /** Fallback poll when no notification arrives (missed, or another replica's rows unlocked); default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** How long to wait for one JetStream ack; default 5000 ms. */
  readonly publishTimeoutMs?: number;
  /** Ceiling of the retry backoff while NATS or the database fails; default 30 000 ms. */
  readonly maxBackoffMs?: number;
}

/** A running relay. */
export interface OutboxRelay {
  /** Stops claiming rows, finishes the batch in flight, and stops listening. Safe to call twice. */
  stop(): Promise<void>;
}

interface OutboxRow extends Record<string, unknown> {
  id: string;
  seq: string | number;
  aggregate_type: string;
  aggregate_id: string;
  subject: string;
  payload: Uint8Array;
  headers: Record<string, string> | string;
}

const columns = sql.raw("id, seq, aggregate_type, aggregate_id, subject, payload, headers");

/*
 * Only the oldest unpublished row of an aggregate is a "head". Locking heads with SKIP LOCKED gives a
 * relay exclusive ownership of their aggregates for the transaction: another relay still sees the head
 * as unpublished, so none of that aggregate's later rows qualifies as a head for it; once the owner
 * commits, FOR UPDATE re-checks `published_at is null` on the new row version and drops it.
 */
function claimHeads(limit: number): SQL {
  return sql`select ${columns} from outbox o
    where o.published_at is null
      and not exists (
        select 1 from outbox p
        where p.published_at is null and p.aggregate_type = o.aggregate_type
          and p.aggregate_id = o.aggregate_id and p.seq < o.seq)
    order by o.seq
    limit ${limit}
    for update skip locked`;
}

/** Later rows of aggregates whose head this transaction holds (so nobody else can hold them). */
function claimFollowers(heads: readonly OutboxRow[], limit: number): SQL {
  const keys = sql.join(
    heads.map((h) => sql`(${h.aggregate_type}, ${h.aggregate_id})`),
    sql`, `,
  );
  const headIds = sql.join(
    heads.map((h) => sql`${h.id}::uuid`),
    sql`, `,
  );
  return sql`select ${columns} from outbox
    where published_at is null and (aggregate_type, aggregate_id) in (${keys}) and id not in (${headIds})
    order by seq
    limit ${limit}
    for update`;
}

function sleep(ms: number, signal: { wake?: (() => void) | undefined }): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.wake = undefined;
      resolve();
    }
    signal.wake = done;
  });
}

/**
 * Starts the outbox relay: it publishes outbox rows to JetStream with `Nats-Msg-Id` = event id and the
 * stored headers, waits for each ack, and marks the rows published in the transaction that claimed
 * them. It wakes on `NOTIFY mercato_outbox` and polls as a fallback. Several relays (replicas) can run
 * against one database: rows are claimed with `FOR UPDATE SKIP LOCKED`, and an aggregate's events are
 * published one after another, in order, by one relay at a time. When NATS is unreachable the rows stay
 * unpublished and the relay retries with capped exponential backoff; a row published but not marked
 * (crash before commit) is published again and dropped by the stream's duplicate window.
 */
export async function startOutboxRelay<S extends DbSchema>(
  options: OutboxRelayOptions<S>,
): Promise<OutboxRelay> {
  const { database, js, logger } = options;
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const log = logger.child({ component: "outbox-relay" });

  let stopping = false;
  let notified = false;
  const waiter: { wake?: (() => void) | undefined } = {};
  const unlisten = await database.listen(OUTBOX_CHANNEL, () => {
    notified = true;
    waiter.wake?.();
  });

  let lastBacklogAt = 0;
  async function sampleBacklog(): Promise<void> {
    if (Date.now() - lastBacklogAt < pollIntervalMs) return;
    lastBacklogAt = Date.now();
    const [row] = await database.query<{ n: number; age: number | string | null }>(
      sql`select count(*)::int as n, extract(epoch from now() - min(created_at))::float8 as age
          from outbox where published_at is null`,
    );
    outboxBacklog.set(Number(row?.n ?? 0));
    outboxOldestAge.set(Math.max(0, Number(row?.age ?? 0)));
  }

  async function publishChain(chain: readonly OutboxRow[], published: string[]): Promise<Error | undefined> {
    for (const row of chain) {
      const stored =
        typeof row.headers === "string" ? (JSON.parse(row.headers) as Record<string, string>) : row.headers;
      // The publish span continues the trace of the transaction that wrote the event, and consumers
      // continue from the publish span.
      const span = tracer.startSpan(
        `${row.subject} publish`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.destination.name": row.subject,
            "messaging.message.id": row.id,
          },
        },
        contextFromHeaders(stored ?? {}),
      );
      const h = natsHeaders();
      for (const [k, v] of Object.entries(stored ?? {})) h.set(k, v);
      const traceparent = traceHeaders(trace.setSpan(ROOT_CONTEXT, span))[TRACEPARENT_HEADER];
      if (traceparent !== undefined) h.set(TRACEPARENT_HEADER, traceparent);
      try {
        await js.publish(row.subject, row.payload, { msgID: row.id, headers: h, timeout: publishTimeoutMs });
        published.push(row.id);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        // Later events of this aggregate must wait until this one is in the stream.
        return error;
      } finally {
        span.end();
      }
    }
    return undefined;
  }

  /** One claim–publish–mark transaction. */
  async function relayBatch(): Promise<{ claimed: number; failure?: Error }> {
    return database.transaction(async (tx) => {
      const heads = await database.query<OutboxRow>(claimHeads(batchSize), tx as SqlExecutor);
      if (heads.length === 0) return { claimed: 0 };
      const followers =
        heads.length < batchSize
          ? await database.query<OutboxRow>(
              claimFollowers(heads, batchSize - heads.length),
              tx as SqlExecutor,
            )
          : [];
      const chains = new Map<string, OutboxRow[]>();
      for (const row of [...heads, ...followers].sort((a, b) => Number(a.seq) - Number(b.seq))) {
        const key = `${row.aggregate_type}\u0000${row.aggregate_id}`;
        const chain = chains.get(key);
        if (chain) chain.push(row);
        else chains.set(key, [row]);
      }
      const published: string[] = [];
      const failures = await Promise.all([...chains.values()].map((chain) => publishChain(chain, published)));
      if (published.length > 0) {
        const ids = sql.join(
          published.map((id) => sql`${id}::uuid`),
          sql`, `,
        );
        await tx.execute(sql`update outbox set published_at = now() where id in (${ids})`);
      }
      outboxPublished.inc(published.length);
      log.debug({ claimed: heads.length + followers.length, published: published.length }, "outbox batch");
      const failure = failures.find((f) => f !== undefined);
      return failure
        ? { claimed: heads.length + followers.length, failure }
        : { claimed: heads.length + followers.length };
    });
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      notified = false;
      let claimed = 0;
      let failure: Error | undefined;
      try {
        ({ claimed, failure } = await relayBatch());
        await sampleBacklog();
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
      }
      if (stopping) break;
      if (failure) {
        failures += 1;
        const delay = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 20)) * (0.5 + Math.random() / 2);
        log.warn(
          { err: failure, attempt: failures, retryInMs: Math.round(delay) },
          "outbox relay failed; retrying",
        );
        await sleep(delay, waiter);
        continue;
      }
      if (failures > 0) log.info({ after: failures }, "outbox relay recovered");
      failures = 0;
      if (claimed > 0 || notified) continue;
      await sleep(pollIntervalMs, waiter);
    }
  }

  const running = run().catch((err: unknown) => log.error({ err }, "outbox relay stopped unexpectedly"));
  log.info({ batchSize, pollIntervalMs }, "outbox relay started");
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        waiter.wake?.();
        await running;
        await unlisten().catch((err: unknown) => log.warn({ err }, "outbox relay: unlisten failed"));
        log.info("outbox relay stopped");
      })();
      return stopped;
    },
  };
}
