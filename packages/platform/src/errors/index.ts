/**
 * Errors that become gRPC statuses at the service boundary. A {@link ServiceError} carries a status
 * code, a message that is safe to show the client, optional field violations (sent as a
 * google.rpc.Status with google.rpc.BadRequest details in `grpc-status-details-bin`) and an
 * internal `cause` that is logged and never sent.
 */
import {
  create,
  createFileRegistry,
  type DescMessage,
  fromBinary,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type Any,
  anyPack,
  anyUnpack,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_any,
} from "@bufbuild/protobuf/wkt";
import { Metadata, status } from "@grpc/grpc-js";
import { exhaustedWithRetryAfter } from "./retry-after.js";
import { transientFailure } from "./transient.js";

export { RETRY_AFTER_KEY, retryAfterMetadata } from "./retry-after.js";
export { type TransientFailure, transientFailure } from "./transient.js";

/** gRPC status codes (re-exported from grpc-js so callers need not depend on it). */
export const Code = status;
/** A gRPC status code. */
export type Code = status;

/** One invalid request field: `field` is a path such as `items[0].quantity`. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Options for {@link ServiceError}. */
export interface ServiceErrorOptions {
  /** Field violations, sent in the status details (meaningful for INVALID_ARGUMENT). */
  readonly violations?: readonly FieldViolation[];
  /** The internal reason; logged by the server, never sent to the client. */
  readonly cause?: unknown;
  /** Extra trailing metadata to send with the status. */
  readonly metadata?: Metadata;
}

/** The trailer key carrying a binary google.rpc.Status. */
export const statusDetailsKey = "grpc-status-details-bin";

/**
 * Bounds on what a status carries, so an error never grows with the input that caused it: HTTP/2
 * peers refuse large header blocks (a single header field over 64 KiB is a connection error in
 * HPACK, which takes every other call on that connection down with it).
 */
export const statusLimits = {
  /** Characters of a status message (grpc-message before percent-encoding). */
  messageChars: 512,
  /** Field violations carried in the details; the rest are counted in the message. */
  violations: 20,
  /** Characters of one violation's field path or description. */
  violationChars: 200,
  /** Violations spelled out in the message. */
  summarised: 5,
} as const;

/**
 * A text cut to at most `max` characters (never inside a surrogate pair, marked with "…") and made
 * well-formed, so it always percent-encodes.
 */
export function boundedText(text: string, max: number): string {
  let cut = text;
  if (text.length > max) {
    let end = Math.max(0, max - 1);
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    cut = `${text.slice(0, end)}…`;
  }
  return hasLoneSurrogate(cut) ? cut.replace(loneSurrogates, "\uFFFD") : cut;
}

const surrogate = /[\uD800-\uDFFF]/;
const loneSurrogates = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** True when `text` has a UTF-16 surrogate without its pair (not encodable as UTF-8). */
export function hasLoneSurrogate(text: string): boolean {
  if (!surrogate.test(text)) return false;
  loneSurrogates.lastIndex = 0;
  return loneSurrogates.test(text);
}

/**
 * An error with a gRPC status code and a client-safe message. Handlers throw it; the server turns
 * it into the call's status. Anything else a handler throws becomes INTERNAL "internal error".
 */
export class ServiceError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** Field violations, empty when there are none. */
  readonly violations: readonly FieldViolation[];
  /** Extra trailing metadata. */
  readonly metadata: Metadata | undefined;

  constructor(code: Code, message: string, options: ServiceErrorOptions = {}) {
    super(
      boundedText(message, statusLimits.messageChars),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "ServiceError";
    this.code = code;
    this.violations = boundedViolations(options.violations ?? []);
    this.metadata = options.metadata;
  }

  /** The name of the status code, e.g. "NOT_FOUND". */
  get codeName(): string {
    return codeName(this.code);
  }

  /**
   * Converts anything thrown into a ServiceError: a ServiceError is returned as is; a grpc-js call
   * error keeps its code, details and decoded violations (the original becomes the cause), except
   * that transport-level codes (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, INTERNAL, UNKNOWN,
   * DATA_LOSS) get generic words; a transient database or broker failure (see
   * {@link transientFailure}) becomes UNAVAILABLE (or ABORTED for a serialization failure);
   * anything else becomes INTERNAL "internal error" with the original as the cause.
   */
  static from(error: unknown): ServiceError {
    if (error instanceof ServiceError) return error;
    if (isGrpcStatusError(error)) {
      // A transport-level status of a downstream call may name addresses or connections: the
      // caller gets generic words, the logs get the original.
      const generic = transportMessages[error.code as Code];
      return new ServiceError(error.code, generic ?? error.details, {
        violations: generic === undefined ? fieldViolationsOf(error) : [],
        cause: error,
      });
    }
    const transient = transientFailure(error);
    if (transient) return new ServiceError(transient.code, transient.message, { cause: error });
    return new ServiceError(status.INTERNAL, "internal error", { cause: error });
  }

  /** Trailing metadata for this error: its own metadata plus `grpc-status-details-bin` when there are violations. */
  trailers(): Metadata {
    const metadata = this.metadata?.clone() ?? new Metadata();
    if (this.violations.length > 0) {
      metadata.set(statusDetailsKey, Buffer.from(encodeStatus(this.code, this.message, this.violations)));
    }
    return metadata;
  }
}

/** Generic words for the statuses of a failed downstream call that may carry transport details. */
const transportMessages: Partial<Record<Code, string>> = {
  [status.UNAVAILABLE]: "service unavailable, try again later",
  [status.DEADLINE_EXCEEDED]: "deadline exceeded",
  [status.CANCELLED]: "request canceled",
  [status.INTERNAL]: "internal error",
  [status.UNKNOWN]: "internal error",
  [status.DATA_LOSS]: "internal error",
};

/** The shape of errors grpc-js clients reject with. */
export interface GrpcStatusError extends Error {
  readonly code: number;
  readonly details: string;
  readonly metadata?: Metadata;
}

/** True for errors carrying a numeric gRPC `code` and `details` (grpc-js client errors). */
export function isGrpcStatusError(error: unknown): error is GrpcStatusError {
  return (
    error instanceof Error &&
    typeof (error as Partial<GrpcStatusError>).code === "number" &&
    typeof (error as Partial<GrpcStatusError>).details === "string"
  );
}

/**
 * The gRPC status code of any error: its own for ServiceError and grpc-js errors, the transient
 * failure's code for a database or broker failure that passes, INTERNAL otherwise.
 */
export function codeOf(error: unknown): Code {
  if (error instanceof ServiceError) return error.code;
  if (isGrpcStatusError(error)) return error.code as Code;
  return transientFailure(error)?.code ?? status.INTERNAL;
}

/** Name of a status code ("OK", "NOT_FOUND", ...). */
export function codeName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}

/**
 * INVALID_ARGUMENT. Given violations, the message summarises them and they travel in the status
 * details; given a string, that is the message.
 */
export function invalidArgument(
  violations: readonly FieldViolation[] | string,
  cause?: unknown,
): ServiceError {
  if (typeof violations === "string") return new ServiceError(status.INVALID_ARGUMENT, violations, { cause });
  const shown = boundedViolations(violations.slice(0, statusLimits.summarised));
  const rest = violations.length - shown.length;
  const summary = shown.map((v) => `${v.field}: ${v.description}`).join("; ");
  const more = rest > 0 ? ` (and ${rest} more)` : "";
  const room = statusLimits.messageChars - "invalid request: ".length - more.length;
  return new ServiceError(status.INVALID_ARGUMENT, `invalid request: ${boundedText(summary, room)}${more}`, {
    violations,
    cause,
  });
}

/** The first {@link statusLimits}.violations violations, each field and description bounded. */
function boundedViolations(violations: readonly FieldViolation[]): readonly FieldViolation[] {
  const fits = (v: FieldViolation) =>
    v.field.length <= statusLimits.violationChars && v.description.length <= statusLimits.violationChars;
  if (violations.length <= statusLimits.violations && violations.every(fits)) return violations;
  return violations.slice(0, statusLimits.violations).map((v) => ({
    field: boundedText(v.field, statusLimits.violationChars),
    description: boundedText(v.description, statusLimits.violationChars),
  }));
}

function helper(code: Code) {
  return (message: string, cause?: unknown): ServiceError => new ServiceError(code, message, { cause });
}

/** NOT_FOUND: the named resource does not exist. */
export const notFound = helper(status.NOT_FOUND);
/** ALREADY_EXISTS: the resource to create exists already. */
export const alreadyExists = helper(status.ALREADY_EXISTS);
/** FAILED_PRECONDITION: the system is not in a state the operation needs. */
export const failedPrecondition = helper(status.FAILED_PRECONDITION);
/** ABORTED: a concurrency conflict; the client may retry the whole sequence. */
export const aborted = helper(status.ABORTED);
/** UNAUTHENTICATED: missing or invalid credentials. */
export const unauthenticated = helper(status.UNAUTHENTICATED);
/** PERMISSION_DENIED: the caller may not do this. */
export const permissionDenied = helper(status.PERMISSION_DENIED);
/** RESOURCE_EXHAUSTED: a quota or a limit is reached. Prefer {@link quotaExceeded}, which says when to retry. */
export const resourceExhausted = helper(status.RESOURCE_EXHAUSTED);
/**
 * RESOURCE_EXHAUSTED with a `retry-after` trailer of `retryAfterSeconds`: the edge answers HTTP 429
 * with `Retry-After`, which every 429 must carry.
 */
export const quotaExceeded = (message: string, retryAfterSeconds: number, cause?: unknown): ServiceError =>
  exhaustedWithRetryAfter(ServiceError, message, retryAfterSeconds, cause);
/** UNAVAILABLE: transient; safe to retry with backoff. */
export const unavailable = helper(status.UNAVAILABLE);
/** DEADLINE_EXCEEDED: the deadline passed before the work finished. */
export const deadlineExceeded = helper(status.DEADLINE_EXCEEDED);
/** INTERNAL with the generic message; `cause` is logged. */
export const internal = (cause?: unknown): ServiceError =>
  new ServiceError(status.INTERNAL, "internal error", { cause });

// google/rpc/status.proto and the BadRequest part of google/rpc/error_details.proto, declared inline
// so no proto files or extra packages are needed. Field numbers match the published protos.
const field = (
  name: string,
  number: number,
  type: FieldDescriptorProto_Type,
  options: { repeated?: boolean; typeName?: string } = {},
) => ({
  name,
  number,
  type,
  jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
  label: options.repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
  ...(options.typeName ? { typeName: options.typeName } : {}),
});

const rpcRegistry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/mercato_status_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    dependency: ["google/protobuf/any.proto"],
    messageType: [
      {
        name: "Status",
        field: [
          field("code", 1, FieldDescriptorProto_Type.INT32),
          field("message", 2, FieldDescriptorProto_Type.STRING),
          field("details", 3, FieldDescriptorProto_Type.MESSAGE, {
            repeated: true,
            typeName: ".google.protobuf.Any",
          }),
        ],
      },
      {
        name: "BadRequest",
        field: [
          field("field_violations", 1, FieldDescriptorProto_Type.MESSAGE, {
            repeated: true,
            typeName: ".google.rpc.BadRequest.FieldViolation",
          }),
        ],
        nestedType: [
          {
            name: "FieldViolation",
            field: [
              field("field", 1, FieldDescriptorProto_Type.STRING),
              field("description", 2, FieldDescriptorProto_Type.STRING),
            ],
          },
        ],
      },
    ],
  }),
  (name) => (name === "google/protobuf/any.proto" ? file_google_protobuf_any : undefined),
);

function messageDesc(typeName: string): DescMessage {
  const desc = rpcRegistry.getMessage(typeName);
  if (!desc) throw new Error(`missing descriptor ${typeName}`);
  return desc;
}

const StatusSchema = messageDesc("google.rpc.Status");
const BadRequestSchema = messageDesc("google.rpc.BadRequest");

type StatusMessage = Message & { code: number; message: string; details: Any[] };
type BadRequestMessage = Message & { fieldViolations: (Message & FieldViolation)[] };

/** Encodes a google.rpc.Status with one google.rpc.BadRequest detail. */
export function encodeStatus(
  code: number,
  message: string,
  violations: readonly FieldViolation[],
): Uint8Array {
  const badRequest = create(BadRequestSchema, {
    fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
  });
  const details: Any[] = violations.length > 0 ? [anyPack(BadRequestSchema, badRequest)] : [];
  return toBinary(StatusSchema, create(StatusSchema, { code, message, details }));
}

/** Decodes the field violations of a binary google.rpc.Status; empty when there are none or it is unreadable. */
export function decodeViolations(bytes: Uint8Array): FieldViolation[] {
  let decoded: StatusMessage;
  try {
    decoded = fromBinary(StatusSchema, bytes) as StatusMessage;
  } catch {
    return [];
  }
  const violations: FieldViolation[] = [];
  for (const detail of decoded.details) {
    const badRequest = anyUnpack(detail, rpcRegistry) as BadRequestMessage | undefined;
    if (badRequest?.$typeName !== "google.rpc.BadRequest") continue;
    for (const v of badRequest.fieldViolations)
      violations.push({ field: v.field, description: v.description });
  }
  return violations;
}

/** The field violations of one binary google.rpc.BadRequest (a status detail's value); empty when unreadable. */
export function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  try {
    const badRequest = fromBinary(BadRequestSchema, bytes) as BadRequestMessage;
    return badRequest.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
  } catch {
    return [];
  }
}

/**
 * The field violations of an error: a ServiceError's own, or those decoded from a grpc-js error's
 * `grpc-status-details-bin` trailer. Empty when there are none.
 */
export function fieldViolationsOf(error: unknown): FieldViolation[] {
  if (error instanceof ServiceError) return [...error.violations];
  if (!isGrpcStatusError(error) || !error.metadata) return [];
  const value = error.metadata.get(statusDetailsKey)[0];
  if (value === undefined || typeof value === "string") return [];
  return decodeViolations(value);
}
