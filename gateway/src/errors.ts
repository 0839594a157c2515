/**
 * Errors at the edge: {@link EdgeError} is a `ConnectError` (code, client-safe message, details,
 * metadata, and the cause kept for logs) plus the HTTP status when it differs from the code's usual
 * one and the extra response headers it needs. Rendering uses what `@connectrpc/connect` exports: the
 * Connect JSON error body (`errorToJsonBytes`), the code names and the HTTP statuses of the spec.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { boundedText, decodeBadRequest, statusLimits } from "@mercato/platform/errors";

/** One status detail (a google.protobuf.Any unpacked to its type name and bytes). */
export interface ErrorDetail {
  /** Fully qualified message name, e.g. "google.rpc.BadRequest". */
  readonly type: string;
  readonly value: Uint8Array;
  /** A JSON rendering for humans, when the gateway knows the type. */
  readonly debug?: unknown;
}

/** An error the edge answers with. `rawMessage` is what the client sees; `cause` is only logged. */
export class EdgeError extends ConnectError {
  constructor(
    code: Code,
    message: string,
    details: readonly ErrorDetail[] = [],
    /** HTTP status when it differs from the code's usual one (413, 405, 415, 408, 422). */
    readonly httpStatus?: number,
    /** Extra response headers (e.g. `allow` for 405, `retry-after` for 429). */
    readonly headers?: Readonly<Record<string, string>>,
    options: {
      /** Why, for the logs. */
      readonly cause?: unknown;
      /** The upstream's response headers and trailers, unfiltered (the edge forwards what its config allows). */
      readonly upstreamMetadata?: Headers;
      /** Which upstream answered, for the logs. */
      readonly upstream?: string;
    } = {},
  ) {
    super(message, code, options.upstreamMetadata, undefined, options.cause);
    // The name stays "ConnectError": connect recognises its errors by name across copies of the library.
    this.details = details.map((d) => ({ type: d.type, value: d.value, debug: d.debug as never }));
    this.upstream = options.upstream;
  }

  /** Which upstream answered, when one did. */
  readonly upstream: string | undefined;

  /** By prototype: ConnectError's own check (by name) would take every ConnectError for an EdgeError. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" &&
      value !== null &&
      Object.prototype.isPrototypeOf.call(EdgeError.prototype, value)
    );
  }
}

/** Connect's name of a code ("not_found"), "ok" for 0. */
export function codeName(code: number): string {
  return code === 0 ? "ok" : codeToString(code as Code);
}

/** The HTTP status the Connect protocol gives a code. */
export function httpStatusOf(code: Code): number {
  return codeToHttpStatus(code);
}

/** The Connect JSON error body: `{code, message, details}` (details' values are unpadded base64). */
export function connectErrorJson(error: ConnectError): Uint8Array {
  return errorToJsonBytes(error, {});
}

/** Codes whose upstream messages may describe internals; the edge answers with its own words. */
const genericMessages: Partial<Record<Code, string>> = {
  [Code.Unknown]: "internal error",
  [Code.Internal]: "internal error",
  [Code.DataLoss]: "internal error",
};

/** The words for a failure the edge's own client saw (no status from the service). */
const localMessages: Partial<Record<Code, string>> = {
  ...genericMessages,
  [Code.Canceled]: "request canceled",
  [Code.DeadlineExceeded]: "deadline exceeded",
  [Code.Unavailable]: "service unavailable, try again later",
  [Code.ResourceExhausted]: "response too large",
};

/** Status details as the edge renders them: a google.rpc.BadRequest also as readable JSON. */
function withDebug(details: ConnectError["details"]): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const detail of details) {
    if ("desc" in detail) continue; // outgoing details never come from the wire
    if (detail.type === "google.rpc.BadRequest") {
      out.push({
        type: detail.type,
        value: detail.value,
        debug: { fieldViolations: decodeBadRequest(detail.value) },
      });
    } else {
      out.push({ type: detail.type, value: detail.value });
    }
  }
  return out;
}

/** Retry-After (seconds) of a RESOURCE_EXHAUSTED whose upstream named no wait. */
const DEFAULT_RETRY_AFTER_S = "1";

/**
 * Maps an upstream call's failure to an EdgeError. A status the service sent (`isWireError`) keeps
 * its code, its details and its message (bounded in length), except for INTERNAL, UNKNOWN and
 * DATA_LOSS, which get "internal error"; a failure the edge's client saw itself (connection lost,
 * deadline, malformed answer) gets generic words. The original error is the cause, for the logs. A
 * RESOURCE_EXHAUSTED keeps its `retry-after` trailer as the Retry-After header, or gets 1 s.
 */
export function fromUpstream(error: unknown, upstream?: string): EdgeError {
  if (error instanceof EdgeError) return error;
  const connectError = ConnectError.from(error, Code.Internal);
  const { code } = connectError;
  const wire = connectError.isWireError;
  const message = wire
    ? (genericMessages[code] ?? boundedText(connectError.rawMessage, statusLimits.messageChars))
    : (localMessages[code] ?? codeName(code).replaceAll("_", " "));
  // A service that throttles (identity's Login) says when to come back: HTTP 429 + Retry-After.
  // Every 429 carries one: an upstream that did not say gets the shortest wait, 1 s.
  const retryAfter = connectError.metadata.get("retry-after");
  const headers =
    code === Code.ResourceExhausted
      ? {
          "retry-after":
            retryAfter !== null && /^\d{1,6}$/.test(retryAfter) ? retryAfter : DEFAULT_RETRY_AFTER_S,
        }
      : undefined;
  return new EdgeError(code, message, wire ? withDebug(connectError.details) : [], undefined, headers, {
    cause: error,
    ...(wire ? { upstreamMetadata: connectError.metadata } : {}),
    ...(upstream !== undefined ? { upstream } : {}),
  });
}

/** What the logs should say about why a call failed: the cause chain's messages, bounded. */
export function failureReason(error: ConnectError): string | undefined {
  const reasons: string[] = [];
  let cause: unknown = error.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    if (cause instanceof ConnectError) reasons.push(`${codeName(cause.code)}: ${cause.rawMessage}`);
    else if (cause instanceof Error) reasons.push(cause.message);
    else reasons.push(String(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return reasons.length > 0 ? boundedText(reasons.join(" ← "), 2_000) : undefined;
}
