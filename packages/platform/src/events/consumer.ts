import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { sql } from "drizzle-orm";
import { type ConsumerMessages, type JetStreamClient, type JsMsg, headers as natsHeaders } from "nats";
import { runWithContext } from "../context/index.js";
import type { Database, DbSchema, SqlExecutor, Tx } from "../db/index.js";
import type { Logger } from "../log/index.js";
import { consumerLag, eventsConsumed, eventsDeadLettered, eventsRedelivered } from "../metrics/index.js";
import { decodeEvent } from "./codec.js";
import {
  contextFromHeaders,
  DLQ_HEADERS,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  REQUEST_ID_HEADER,
} from "./headers.js";
import { DEAD_LETTER_PREFIX, ensureConsumer, type StreamDefinition } from "./streams.js";

const tracer = trace.getTracer("@mercato/platform/events");

/** An event as a handler receives it. */
export interface ConsumedEvent {
  /** Event id (`Mercato-Event-Id`, else `Nats-Msg-Id`, else `<stream>:<sequence>`). */
  readonly id: string;
  /** Full protobuf type name from the type header, when present. */
  readonly type: string | undefined;
  readonly subject: string;
  readonly stream: string;
  readonly streamSequence: number;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Protobuf binary payload. */
  readonly data: Uint8Array;
  /** All message headers (first value of each). */
  readonly headers: Readonly<Record<string, string>>;
  /** Decodes the payload as `schema`, checking the type header; see `decodeEvent`. */
  decode<Desc extends DescMessage>(schema: Desc): MessageShape<Desc>;
}

/** Handles one event inside the transaction that also records it in the inbox. */
export type EventHandler<S extends DbSchema> = (event: ConsumedEvent, tx: Tx<S>) => Promise<void>;

/** Options for {@link startConsumer}. */
export interface StartConsumerOptions<S extends DbSchema> {
  readonly js: JetStreamClient;
  readonly database: Database<S>;
  /** The stream (its definition or name). */
  readonly stream: StreamDefinition | string;
  /** Durable consumer name, also the inbox's consumer key and the DLQ subject's last token. */
  readonly durable: string;
  readonly filterSubject?: string;
  readonly handler: EventHandler<S>;
  readonly logger: Logger;
  /** Attempts before a failing message is dead-lettered; default 5. */
  readonly maxDeliver?: number;
  /** Delay before redelivery after the n-th failure (last value repeats); default [1s, 5s, 30s]. */
  readonly backoffMs?: readonly number[];
  /** Time the server grants a handler before redelivering; default 30 s (extended while it runs). */
  readonly ackWaitMs?: number;
  /** Messages pulled ahead of the handler; default 10. */
  readonly prefetch?: number;
  /** Subject prefix for dead letters; default `mercato.dlq` (stream `MERCATO_DLQ`). */
  readonly deadLetterPrefix?: string;
  /** How often consumer lag is sampled; default 5000 ms. */
  readonly lagIntervalMs?: number;
}

/** A running consumer. */
export interface EventConsumer {
  /** Stops pulling, finishes the message in hand, and releases prefetched ones. Safe to call twice. */
  stop(): Promise<void>;
}

/*
 * The server may deliver a few times more than maxDeliver: those deliveries only retry getting the
 * message into the dead-letter stream (when the broker refused it), never the handler.
 */
const DEAD_LETTER_GRACE = 5;

/** nats.js error codes that mean "the broker does not answer right now" (it may be restarting). */
const BROKER_UNREACHABLE = new Set([
  "TIMEOUT",
  "503",
  "DISCONNECT",
  "CONNECTION_REFUSED",
  "CONNECTION_TIMEOUT",
]);

/**
 * Runs `attempt` until the broker answers: an unreachable broker (see BROKER_UNREACHABLE) is waited
 * out with a capped backoff, any other error is thrown. A service that is already serving must not die
 * because NATS went away while it was still creating its consumers (a nats-server crash right after
 * order restarted made it exit with "start-up failed: TIMEOUT" in the checkout fault test).
 */
async function whenBrokerAnswers<T>(attempt: () => Promise<T>, log: Logger): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== "string" || !BROKER_UNREACHABLE.has(code)) throw error;
      log.warn({ err: error, attempt: n }, "cannot set up the consumer yet (broker unreachable); retrying");
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** n)));
    }
  }
}

function headerRecord(msg: JsMsg): Record<string, string> {
  const out: Record<string, string> = {};
  if (msg.headers) for (const [k, v] of msg.headers) if (v[0] !== undefined) out[k] = v[0];
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts an idempotent durable pull consumer (explicit ack). For each message one transaction inserts
 * `(durable, event id)` into the inbox — a duplicate is acked and skipped — and runs the handler; the
 * message is acked after the commit. A failing message is nak'ed with the next backoff delay while the
 * consumer moves on to other messages; at `maxDeliver` attempts it is published to
 * `<deadLetterPrefix>.<durable>` with the error, original subject, stream, sequence and delivery count
 * in `Mercato-Dlq-*` headers, then terminated. The handler runs in the producer's trace (from the
 * `traceparent` header), in a consumer span, with the event's request id as the call context.
 *
 * The durable is created or updated first (ack_wait, max_deliver, backoff as declared here); while the
 * broker does not answer, that is retried rather than failed.
 */
export async function startConsumer<S extends DbSchema>(
  options: StartConsumerOptions<S>,
): Promise<EventConsumer> {
  const { js, database, durable, handler } = options;
  const stream = typeof options.stream === "string" ? options.stream : options.stream.name;
  const maxDeliver = options.maxDeliver ?? 5;
  const backoffMs = options.backoffMs ?? [1000, 5000, 30_000];
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  const deadLetterSubject = `${options.deadLetterPrefix ?? DEAD_LETTER_PREFIX}.${durable}`;
  const log = options.logger.child({ component: "consumer", consumer: durable, stream });
  if (maxDeliver < 1) throw new Error("startConsumer: maxDeliver must be at least 1");

  const jsm = await whenBrokerAnswers(() => js.jetstreamManager(), log);
  const definition = {
    stream,
    durable,
    filterSubject: options.filterSubject,
    ackWaitMs,
    maxDeliver: maxDeliver + DEAD_LETTER_GRACE,
    // Server-side backoff replaces ack_wait per delivery, so never let it be shorter than ack_wait:
    // it only paces redeliveries after a crash or hang; failures are paced by nak delays below.
    backoffMs: backoffMs.slice(0, maxDeliver + DEAD_LETTER_GRACE).map((ms) => Math.max(ms, ackWaitMs)),
    description: `mercato consumer ${durable}`,
  };
  await whenBrokerAnswers(() => ensureConsumer(jsm, definition), log);
  const consumer = await whenBrokerAnswers(() => js.consumers.get(stream, durable), log);
  // Series exist from the start, so alerts and dashboards see 0 rather than nothing.
  eventsRedelivered.inc({ consumer: durable }, 0);
  eventsDeadLettered.inc({ consumer: durable }, 0);

  function delayAfter(attempt: number): number {
    return backoffMs[Math.min(attempt, backoffMs.length) - 1] ?? 0;
  }

  async function deadLetter(msg: JsMsg, event: ConsumedEvent, error: string): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(event.headers)) if (!k.startsWith("Nats-")) h.set(k, v);
    h.set(DLQ_HEADERS.error, error.slice(0, 2000).replace(/[\r\n]+/g, " "));
    h.set(DLQ_HEADERS.subject, msg.subject);
    h.set(DLQ_HEADERS.stream, stream);
    h.set(DLQ_HEADERS.sequence, String(msg.info.streamSequence));
    h.set(DLQ_HEADERS.consumer, durable);
    h.set(DLQ_HEADERS.deliveries, String(msg.info.deliveryCount));
    await js.publish(deadLetterSubject, msg.data, { msgID: `${durable}:${event.id}`, headers: h });
    msg.term(`dead-lettered: ${error.slice(0, 200)}`);
    eventsDeadLettered.inc({ consumer: durable });
    log.error(
      { eventId: event.id, subject: msg.subject, deliveries: msg.info.deliveryCount, error },
      "event dead-lettered",
    );
  }

  async function handle(msg: JsMsg): Promise<void> {
    const hdrs = headerRecord(msg);
    const id = hdrs[EVENT_ID_HEADER] ?? hdrs["Nats-Msg-Id"] ?? `${stream}:${msg.info.streamSequence}`;
    const event: ConsumedEvent = {
      id,
      type: hdrs[EVENT_TYPE_HEADER],
      subject: msg.subject,
      stream,
      streamSequence: msg.info.streamSequence,
      deliveryCount: msg.info.deliveryCount,
      data: msg.data,
      headers: hdrs,
      decode: (schema) => decodeEvent(schema, { type: hdrs[EVENT_TYPE_HEADER], data: msg.data }),
    };
    if (event.deliveryCount > 1) eventsRedelivered.inc({ consumer: durable });
    if (event.deliveryCount > maxDeliver) {
      // Earlier deliveries ended without a verdict (crash, hang) or the dead-lettering itself failed.
      await deadLetter(msg, event, `no outcome after ${maxDeliver} deliveries`).catch((err: unknown) => {
        log.warn({ err, eventId: id }, "dead-lettering failed; will retry");
        msg.nak(delayAfter(event.deliveryCount));
      });
      return;
    }

    const parent = contextFromHeaders(hdrs);
    const requestId = hdrs[REQUEST_ID_HEADER] ?? id;
    await runWithContext({ requestId }, () =>
      tracer.startActiveSpan(
        `${msg.subject} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": msg.subject,
            "messaging.consumer.group.name": durable,
            "messaging.message.id": id,
          },
        },
        parent,
        async (span) => {
          // Keeps the server from redelivering while a slow handler still works.
          const keepAlive = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 2));
          try {
            const outcome = await database.transaction(async (tx) => {
              const inserted = await database.query(
                sql`insert into inbox (consumer, event_id) values (${durable}, ${id})
                    on conflict do nothing returning event_id`,
                tx as SqlExecutor,
              );
              if (inserted.length === 0) return "duplicate" as const;
              await handler(event, tx);
              return "processed" as const;
            });
            msg.ack();
            eventsConsumed.inc({ consumer: durable, outcome });
            if (outcome === "duplicate") log.debug({ eventId: id }, "duplicate event skipped");
            else
              log.info(
                { eventId: id, subject: msg.subject, attempt: event.deliveryCount },
                "event processed",
              );
          } catch (err) {
            span.recordException(err instanceof Error ? err : new Error(String(err)));
            span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
            eventsConsumed.inc({ consumer: durable, outcome: "failed" });
            if (event.deliveryCount >= maxDeliver) {
              await deadLetter(msg, event, errorMessage(err)).catch((dlqErr: unknown) => {
                log.warn({ err: dlqErr, eventId: id }, "dead-lettering failed; will retry");
                msg.nak(delayAfter(event.deliveryCount));
              });
            } else {
              const delay = delayAfter(event.deliveryCount);
              log.warn(
                { err, eventId: id, attempt: event.deliveryCount, retryInMs: delay },
                "event handler failed",
              );
              msg.nak(delay);
            }
          } finally {
            clearInterval(keepAlive);
            span.end();
          }
        },
      ),
    );
  }

  let stopping = false;
  let messages: ConsumerMessages | undefined;
  async function run(): Promise<void> {
    while (!stopping) {
      try {
        messages = await consumer.consume({ max_messages: options.prefetch ?? 10 });
        for await (const msg of messages) {
          if (stopping) {
            // Released now so another replica gets it without waiting for ack_wait.
            msg.nak();
            continue;
          }
          await handle(msg);
        }
        if (!stopping) {
          log.warn("consumer message stream ended; restarting");
          await new Promise((r) => setTimeout(r, 1000));
        }
      } catch (err) {
        if (stopping) break;
        log.error({ err }, "consumer failed; restarting");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  const sampleLag = () => {
    consumer
      .info()
      .then((info) => consumerLag.set({ consumer: durable }, info.num_pending + info.num_ack_pending))
      .catch((err: unknown) => log.debug({ err }, "consumer lag sample failed"));
  };
  sampleLag();
  const lagTimer = setInterval(sampleLag, options.lagIntervalMs ?? 5000);
  lagTimer.unref();

  const running = run();
  log.info({ maxDeliver, backoffMs }, "consumer started");
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        clearInterval(lagTimer);
        await messages?.close();
        await running;
        log.info("consumer stopped");
      })();
      return stopped;
    },
  };
}
