import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  type NatsError,
  nanos,
  RetentionPolicy,
  StorageType,
} from "nats";

/** A JetStream stream declared in code; see {@link defineStream}. */
export interface StreamDefinition {
  /** Stream name, e.g. `MERCATO_ORDER`. */
  readonly name: string;
  /** Subjects it captures, e.g. `["mercato.order.>"]`. */
  readonly subjects: readonly string[];
  readonly description?: string;
  /** Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate; default 2 minutes. */
  readonly duplicateWindowMs: number;
  /** Oldest message kept; 0 (default) keeps messages until the size limits apply. */
  readonly maxAgeMs: number;
  /** Size limit in bytes; -1 (default) for none. */
  readonly maxBytes: number;
  /** Copies kept in a JetStream cluster; default 1. */
  readonly replicas: number;
}

/** Input of {@link defineStream}: everything but name and subjects has a default. */
export type StreamDeclaration = Pick<StreamDefinition, "name" | "subjects"> &
  Partial<Omit<StreamDefinition, "name" | "subjects">>;

/**
 * Declares a file-backed, limits-retention stream with a duplicate window (so `Nats-Msg-Id` dedupes
 * relay retries). Pass the result to {@link ensureStreams} at start-up.
 *
 * @example defineStream({ name: "MERCATO_ORDER", subjects: ["mercato.order.>"] })
 */
export function defineStream(declaration: StreamDeclaration): StreamDefinition {
  if (!/^[A-Za-z0-9_-]+$/.test(declaration.name)) {
    throw new Error(`defineStream: invalid stream name ${JSON.stringify(declaration.name)}`);
  }
  if (declaration.subjects.length === 0) throw new Error(`defineStream: ${declaration.name} has no subjects`);
  return Object.freeze({
    duplicateWindowMs: 2 * 60_000,
    maxAgeMs: 0,
    maxBytes: -1,
    replicas: 1,
    ...declaration,
    subjects: Object.freeze([...declaration.subjects]),
  });
}

/** Subject prefix of dead-lettered messages: `mercato.dlq.<durable consumer>`. */
export const DEAD_LETTER_PREFIX = "mercato.dlq";

/** The dead-letter stream: messages that kept failing, kept 14 days for inspection and replay. */
export const deadLetterStream: StreamDefinition = defineStream({
  name: "MERCATO_DLQ",
  subjects: [`${DEAD_LETTER_PREFIX}.>`],
  description: "Messages that consumers gave up on, with the error in the Mercato-Dlq-* headers",
  maxAgeMs: 14 * 24 * 3_600_000,
});

function streamConfig(stream: StreamDefinition) {
  return {
    name: stream.name,
    subjects: [...stream.subjects],
    ...(stream.description !== undefined ? { description: stream.description } : {}),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(stream.duplicateWindowMs),
    max_age: nanos(stream.maxAgeMs),
    max_bytes: stream.maxBytes,
    num_replicas: stream.replicas,
  };
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function apiErrorCode(err: unknown): number | undefined {
  return (err as Partial<NatsError>)?.api_error?.err_code;
}

/**
 * Creates each stream that does not exist and updates the others to match their declaration;
 * idempotent, so every replica runs it at start-up.
 *
 * @throws when the server refuses a change (e.g. subjects overlapping another stream, or storage changed)
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  streams: readonly StreamDefinition[],
): Promise<void> {
  for (const stream of streams) {
    const config = streamConfig(stream);
    try {
      await jsm.streams.info(stream.name);
    } catch (err) {
      if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
      try {
        await jsm.streams.add(config);
        continue;
      } catch (addErr) {
        // Another replica created it between our info and add: fall through to the update.
        if (!/already in use|exists/i.test(String((addErr as Error).message))) throw addErr;
      }
    }
    await jsm.streams.update(stream.name, config);
  }
}

/** A durable pull consumer declared in code; see {@link ensureConsumer}. */
export interface ConsumerDefinition {
  readonly stream: string;
  readonly durable: string;
  /** Subject filter inside the stream; all of it when absent. */
  readonly filterSubject?: string | undefined;
  /** How long the server waits for an ack before redelivering; default 30 s. */
  readonly ackWaitMs?: number;
  /** Deliveries the server attempts at most (-1 unlimited). */
  readonly maxDeliver: number;
  /** Server-side redelivery delays after ack timeouts (each is also that delivery's ack wait). */
  readonly backoffMs?: readonly number[];
  /** Unacknowledged messages outstanding at once; default 1000. */
  readonly maxAckPending?: number;
  readonly description?: string;
}

/**
 * Creates the durable consumer or updates it to match the definition; idempotent.
 *
 * @throws when the server refuses (e.g. the stream does not exist, or an immutable field changed)
 */
export async function ensureConsumer(jsm: JetStreamManager, definition: ConsumerDefinition): Promise<void> {
  const config: Partial<ConsumerConfig> = {
    durable_name: definition.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(definition.ackWaitMs ?? 30_000),
    max_deliver: definition.maxDeliver,
    max_ack_pending: definition.maxAckPending ?? 1000,
    ...(definition.filterSubject !== undefined ? { filter_subject: definition.filterSubject } : {}),
    ...(definition.backoffMs !== undefined && definition.backoffMs.length > 0
      ? { backoff: definition.backoffMs.map((ms) => nanos(ms)) }
      : {}),
    ...(definition.description !== undefined ? { description: definition.description } : {}),
  };
  try {
    await jsm.consumers.info(definition.stream, definition.durable);
  } catch (err) {
    if (apiErrorCode(err) !== CONSUMER_NOT_FOUND) throw err;
    await jsm.consumers.add(definition.stream, config);
    return;
  }
  await jsm.consumers.update(definition.stream, definition.durable, config);
}
