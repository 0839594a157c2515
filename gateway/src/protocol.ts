/**
 * Reading requests at the edge, shared by the Connect fast path and the gRPC path: header values, the
 * request body (bounded in size and time), Connect GET query strings, timeouts, request messages
 * decoded from JSON (unknown fields ignored, unknown enum names refused) or binary, and which headers
 * pass between clients and services.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import {
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { boundedText } from "@mercato/platform/errors";
import { EdgeError } from "./errors.js";

export type EdgeRequest = IncomingMessage | Http2ServerRequest;

/** The first value of a header. */
export function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A Buffer view of bytes (no copy). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decodes a percent-encoded query value into bytes ("+" is a space, as in forms). */
export function percentDecode(value: string): Buffer {
  const out = Buffer.allocUnsafe(value.length * 3);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 /* % */ && i + 2 < value.length) {
      const hi = hexValue(value.charCodeAt(i + 1));
      const lo = hexValue(value.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    if (c === 0x2b /* + */) out[n++] = 0x20;
    else if (c < 0x100)
      out[n++] = c; // raw bytes arrive as latin1 characters
    else n += out.write(value[i] ?? "", n, "utf8");
  }
  return out.subarray(0, n);
}

/** The parameters of a query string, the first value of each. */
export function parseQuery(search: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of search.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (!params.has(key)) params.set(key, eq < 0 ? "" : part.slice(eq + 1));
  }
  return params;
}

/** HTTP 413 for a body over the limit. */
export function tooLarge(limit: number): EdgeError {
  return new EdgeError(Code.ResourceExhausted, `request body larger than ${limit} bytes`, [], 413);
}

/**
 * Reads a request body of at most `limit` bytes (declared or streamed, chunked included) within
 * `timeoutMs`; a larger body is refused as soon as it passes the limit (413), a slow one when time
 * is up (408). Nothing is parsed before the whole body is in.
 */
export function readBody(req: EdgeRequest, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = header(req.headers["content-length"]);
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (error: EdgeError) => {
      failed = true;
      clearTimeout(timer);
      req.off("data", onData);
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new EdgeError(Code.DeadlineExceeded, "request body not received in time", [], 408)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => {
      clearTimeout(timer);
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.once("error", (error) => {
      clearTimeout(timer);
      if (!failed)
        reject(new EdgeError(Code.Canceled, "request body aborted", [], 400, undefined, { cause: error }));
    });
  });
}

/** The Connect-Timeout-Ms of a request, capped; `defaultMs` when absent (undefined: none). */
export function timeoutOf(
  value: string | undefined,
  defaultMs: number | undefined,
  maxMs: number,
): number | undefined {
  if (value === undefined) return defaultMs;
  if (!/^\d{1,10}$/.test(value)) {
    throw new EdgeError(Code.InvalidArgument, "invalid Connect-Timeout-Ms: must be 1 to 10 digits");
  }
  return Math.min(Number(value), maxMs);
}

/** A binary request message, or INVALID_ARGUMENT. */
export function decodeBinary(desc: DescMessage, bytes: Uint8Array): Message {
  try {
    return fromBinary(desc, bytes);
  } catch (error) {
    throw new EdgeError(
      Code.InvalidArgument,
      `malformed ${desc.typeName} message`,
      [],
      undefined,
      undefined,
      {
        cause: error,
      },
    );
  }
}

/**
 * A JSON request message, or INVALID_ARGUMENT. Unknown fields are ignored (clients may be newer than
 * the contracts), but an unknown enum name is an error: ignoring it would silently turn a typo into
 * the enum's default. protobuf-es has one switch for both, so a message that fails the strict read
 * because of unknown keys has them removed (by the descriptors) and is read strictly again.
 */
export function decodeJson(desc: DescMessage, text: string, registry: Registry): Message {
  let json: JsonValue;
  try {
    json = text.trim() === "" ? {} : (JSON.parse(text) as JsonValue);
  } catch (error) {
    throw new EdgeError(
      Code.InvalidArgument,
      "malformed JSON in the request body",
      [],
      undefined,
      undefined,
      {
        cause: error,
      },
    );
  }
  try {
    return fromJson(desc, json, { registry });
  } catch (strictError) {
    try {
      if (!pruneUnknownKeys(desc, json, 0)) throw strictError;
      return fromJson(desc, json, { registry });
    } catch (error) {
      const reason = error instanceof Error ? error.message : "invalid request message";
      throw new EdgeError(Code.InvalidArgument, boundedText(reason, 300), [], undefined, undefined, {
        cause: error,
      });
    }
  }
}

/** Messages whose JSON form is not an object of their fields. */
const specialJson = new Set([
  "google.protobuf.Any",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.Empty",
]);

/** Deletes the keys of `json` that name no field of `desc`, recursively; true when any was removed. */
function pruneUnknownKeys(desc: DescMessage, json: JsonValue, depth: number): boolean {
  if (depth > 64 || typeof json !== "object" || json === null || Array.isArray(json)) return false;
  if (
    specialJson.has(desc.typeName) ||
    (desc.typeName.startsWith("google.protobuf.") && desc.typeName.endsWith("Value"))
  ) {
    return false;
  }
  let removed = false;
  for (const key of Object.keys(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (field === undefined) {
      if (!(key.startsWith("[") && key.endsWith("]"))) {
        delete json[key];
        removed = true;
      }
      continue;
    }
    const value = json[key];
    const nested = field.message;
    if (nested === undefined || value === null || value === undefined) continue;
    if (field.fieldKind === "list" && Array.isArray(value)) {
      for (const item of value) removed = pruneUnknownKeys(nested, item, depth + 1) || removed;
    } else if (field.fieldKind === "map" && typeof value === "object" && !Array.isArray(value)) {
      for (const item of Object.values(value))
        removed = pruneUnknownKeys(nested, item ?? null, depth + 1) || removed;
    } else if (field.fieldKind === "message") {
      removed = pruneUnknownKeys(nested, value, depth + 1) || removed;
    }
  }
  return removed;
}

/** Headers that belong to the protocols or to the edge itself: never forwarded either way. */
const reserved =
  /^(?::|content-|connect-|grpc-|te$|host$|connection$|keep-alive$|transfer-encoding$|upgrade$|authorization$|cookie$|set-cookie$|x-user-|x-request-id$|traceparent$|tracestate$|x-forwarded-|x-grpc-web$|accept-encoding$|idempotency-key$|trailer$|trailer-)/;

/** Which header names a list of names and prefixes (`x-custom-*`) allows; reserved names never. */
export function headerFilter(list: readonly string[]): (name: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of list) {
    const lower = entry.toLowerCase();
    if (lower.endsWith("*")) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  if (exact.size === 0 && prefixes.length === 0) return () => false;
  return (name) => {
    const lower = name.toLowerCase();
    return (exact.has(lower) || prefixes.some((p) => lower.startsWith(p))) && !reserved.test(lower);
  };
}
