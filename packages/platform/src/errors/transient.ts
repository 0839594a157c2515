/**
 * Which failures of the database and the broker pass by themselves. Decided once here, so every
 * service answers them alike: a lost or refused connection, a server shutting down or starting up, a
 * broker that is disconnected or has no responder are UNAVAILABLE (callers and the saga retry them);
 * a serialization failure or deadlock is ABORTED (the transaction was rolled back: retry it whole).
 * Nothing here is INTERNAL, which is kept for bugs.
 */
import { status } from "@grpc/grpc-js";

/** A transient failure: the status to answer with and a client-safe message. */
export interface TransientFailure {
  readonly code: typeof status.UNAVAILABLE | typeof status.ABORTED;
  readonly message: string;
}

/** postgres.js's own connection errors (`write CONNECTION_CLOSED host:port`). */
const driverCodes = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Socket and resolver errors of Node (any client: PostgreSQL, NATS, HTTP). */
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

/** nats.js error codes (NatsError) that mean "not connected right now" or "nobody answered in time". */
const natsCodes = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DRAINING",
  "CONNECTION_REFUSED",
  "CONNECTION_TIMEOUT",
  "DISCONNECT",
  "TIMEOUT",
  "503",
  "408",
]);

/**
 * SQLSTATEs of transient server conditions: class 08 (connection exception), class 53 (insufficient
 * resources, e.g. 53300 too many connections), 57P01 admin shutdown, 57P02 crash shutdown, 57P03
 * cannot connect now (starting up or shutting down), 57P05 idle session timeout.
 */
function transientSqlState(code: string): boolean {
  return (
    code.startsWith("08") ||
    code.startsWith("53") ||
    code === "57P01" ||
    code === "57P02" ||
    code === "57P03" ||
    code === "57P05"
  );
}

const unavailableNow: TransientFailure = {
  code: status.UNAVAILABLE,
  message: "temporarily unavailable, try again",
};
const conflict: TransientFailure = {
  code: status.ABORTED,
  message: "conflicting concurrent update, try again",
};

function classify(candidate: { code?: unknown; name?: unknown }): TransientFailure | undefined {
  const code = candidate.code;
  if (typeof code !== "string") return undefined;
  if (candidate.name === "NatsError") return natsCodes.has(code) ? unavailableNow : undefined;
  if (driverCodes.has(code) || socketCodes.has(code)) return unavailableNow;
  if (/^[0-9A-Z]{5}$/.test(code)) {
    if (code === "40001" || code === "40P01") return conflict;
    if (transientSqlState(code)) return unavailableNow;
  }
  return undefined;
}

/**
 * The transient failure `error` stands for, looking through its cause chain (drizzle wraps the
 * driver's error in a DrizzleQueryError) and AggregateErrors (a connection attempt to every address
 * of a name); undefined for anything else.
 */
export function transientFailure(error: unknown): TransientFailure | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift();
    if (!current || typeof current !== "object" || seen.has(current)) continue;
    seen.add(current);
    const found = classify(current as { code?: unknown; name?: unknown });
    if (found) return found;
    queue.push((current as { cause?: unknown }).cause);
    if (current instanceof AggregateError) queue.push(...current.errors);
  }
  return undefined;
}
