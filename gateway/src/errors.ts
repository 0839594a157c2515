/**
 * Errors at the edge: one {@link EdgeError} type carrying a gRPC status code (the same numbers as
 * Connect's codes), a client-safe message and the status details, rendered as a Connect JSON error
 * body with the HTTP status of the Connect spec, or as a gRPC status by the connect-node adapter.
 */

import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServiceError as GrpcServiceError } from "@grpc/grpc-js";
import { decodeViolations, isGrpcStatusError, statusDetailsKey } from "@mercato/platform/errors";

/** One status detail (a google.protobuf.Any unpacked to its type name and bytes). */
export interface ErrorDetail {
  /** Fully qualified message name, e.g. "google.rpc.BadRequest". */
  readonly type: string;
  readonly value: Uint8Array;
  /** A JSON rendering for humans, when the gateway knows the type. */
  readonly debug?: unknown;
}

/** An error the edge answers with. */
export class EdgeError extends Error {
  constructor(
    /** gRPC / Connect status code. */
    readonly code: Code,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    /** HTTP status when it differs from the code's usual one (413, 405, 415). */
    readonly httpStatus?: number,
    /** Extra response headers (e.g. `allow` for 405). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = "EdgeError";
  }
}

/** Connect's code names, indexed by code. */
export const connectCodeNames: readonly string[] = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

const httpStatuses: readonly number[] = [
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
];

/** The HTTP status the Connect protocol gives a code. */
export function httpStatusOf(code: Code): number {
  return httpStatuses[code] ?? 500;
}

/** The Connect JSON error body: `{code, message, details}` (details' values are unpadded base64). */
export function connectErrorJson(error: EdgeError): string {
  const body: { code: string; message?: string; details?: unknown[] } = {
    code: connectCodeNames[error.code] ?? "unknown",
  };
  if (error.message !== "") body.message = error.message;
  if (error.details.length > 0) {
    body.details = error.details.map((d) => ({
      type: d.type,
      value: Buffer.from(d.value).toString("base64").replace(/=+$/, ""),
      ...(d.debug !== undefined ? { debug: d.debug } : {}),
    }));
  }
  return JSON.stringify(body);
}

/** Error headers that gRPC and gRPC-Web clients also get (as trailers). */
const forwardedErrorHeaders = new Set([
  "retry-after",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "idempotent-replayed",
]);

/** The error as a ConnectError for the connect-node adapter (gRPC / gRPC-Web responses). */
export function toConnectError(error: EdgeError): ConnectError {
  const metadata = new Headers();
  for (const [name, value] of Object.entries(error.headers ?? {})) {
    if (forwardedErrorHeaders.has(name)) metadata.set(name, value);
  }
  const connectError = new ConnectError(error.message, error.code, metadata);
  for (const detail of error.details) {
    connectError.details.push({ type: detail.type, value: detail.value, debug: detail.debug as never });
  }
  return connectError;
}

/** Splits a binary google.rpc.Status into its details (each Any as type name and bytes). */
export function statusDetails(statusBytes: Uint8Array): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  try {
    const reader = new BinaryReader(statusBytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 3 && wireType === WireType.LengthDelimited) {
        const any = new BinaryReader(reader.bytes());
        let typeUrl = "";
        let value: Uint8Array = new Uint8Array(0);
        while (any.pos < any.len) {
          const [anyField, anyWire] = any.tag();
          if (anyField === 1 && anyWire === WireType.LengthDelimited) typeUrl = any.string();
          else if (anyField === 2 && anyWire === WireType.LengthDelimited) value = any.bytes();
          else any.skip(anyWire);
        }
        const type = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
        if (type !== "") details.push({ type, value });
      } else {
        reader.skip(wireType);
      }
    }
  } catch {
    return [];
  }
  if (details.some((d) => d.type === "google.rpc.BadRequest")) {
    const fieldViolations = decodeViolations(statusBytes);
    return details.map((d) =>
      d.type === "google.rpc.BadRequest" ? { ...d, debug: { fieldViolations } } : d,
    );
  }
  return details;
}

/** Retry-After (seconds) of a RESOURCE_EXHAUSTED whose upstream named no wait. */
const DEFAULT_RETRY_AFTER_S = "1";

/** Codes whose upstream messages may describe infrastructure; the edge answers with its own words. */
const genericMessages: Partial<Record<Code, string>> = {
  [Code.Canceled]: "request canceled",
  [Code.Unknown]: "internal error",
  [Code.Internal]: "internal error",
  [Code.DataLoss]: "internal error",
  [Code.DeadlineExceeded]: "deadline exceeded",
  [Code.Unavailable]: "service unavailable, try again later",
};

/**
 * Maps an upstream call's failure to an EdgeError: the code is kept; the message is the service's
 * (client-safe by the kit's contract) except for transport-level codes, which get a generic one so
 * no address or connection detail leaks; details come from `grpc-status-details-bin`; a
 * RESOURCE_EXHAUSTED keeps its `retry-after` trailer as the Retry-After header, or gets 1 s.
 */
export function fromUpstream(error: unknown): EdgeError {
  if (error instanceof EdgeError) return error;
  if (!isGrpcStatusError(error)) return new EdgeError(Code.Internal, "internal error");
  const grpcError = error as GrpcServiceError;
  const code = (grpcError.code >= 1 && grpcError.code <= 16 ? grpcError.code : Code.Unknown) as Code;
  const raw = grpcError.metadata?.get(statusDetailsKey)[0];
  const details = raw !== undefined && typeof raw !== "string" ? statusDetails(raw) : [];
  // A service that throttles (identity's Login) says when to come back: HTTP 429 + Retry-After.
  // Every 429 carries one: an upstream that did not say gets the shortest wait, 1 s.
  const retryAfter = grpcError.metadata?.get("retry-after")[0];
  const headers =
    code === Code.ResourceExhausted
      ? {
          "retry-after":
            typeof retryAfter === "string" && /^\d{1,6}$/.test(retryAfter)
              ? retryAfter
              : DEFAULT_RETRY_AFTER_S,
        }
      : undefined;
  return new EdgeError(code, genericMessages[code] ?? grpcError.details, details, undefined, headers);
}
