/**
 * Events on NATS JetStream: streams and consumers declared in code, the transactional outbox and its
 * relay, idempotent (inbox) consumers with bounded redelivery and a dead-letter stream, and protobuf
 * event encoding.
 *
 * A service adds the `outbox` and `inbox` tables by applying {@link eventsMigrations} before its own
 * migrations: `await migrate(database, [eventsMigrations, "./drizzle"])`. To change the tables, edit
 * `schema.ts` and run, in packages/platform:
 * `pnpm exec drizzle-kit generate --dialect postgresql --schema src/events/schema.ts --out src/events/migrations`.
 */
export { decodeEvent, type EncodedEvent, EventTypeMismatchError, eventPayload } from "./codec.js";
export {
  type ConsumedEvent,
  type EventConsumer,
  type EventHandler,
  type StartConsumerOptions,
  startConsumer,
} from "./consumer.js";
export {
  contextFromHeaders,
  DLQ_HEADERS,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  REQUEST_ID_HEADER,
  TRACEPARENT_HEADER,
  traceHeaders,
} from "./headers.js";
export { enqueueEvent, eventsMigrations, OUTBOX_CHANNEL, type OutboxEvent, pruneOutbox } from "./outbox.js";
export { type OutboxRelay, type OutboxRelayOptions, startOutboxRelay } from "./relay.js";
export { inbox, outbox } from "./schema.js";
export {
  type ConsumerDefinition,
  DEAD_LETTER_PREFIX,
  deadLetterStream,
  defineStream,
  ensureConsumer,
  ensureStreams,
  type StreamDeclaration,
  type StreamDefinition,
} from "./streams.js";
