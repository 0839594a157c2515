/**
 * Hostile requests for the edge fuzz test: generated inputs for every exposed RPC (fast-check
 * arbitraries built from the request descriptors) sent over every protocol the edge speaks, and the
 * checks every answer must pass whatever the input.
 */
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  fromJson,
  type JsonValue,
  toBinary,
} from "@bufbuild/protobuf";
import { commonV1, edgeRuleOf, services } from "@mercato/sdk";
import fc from "fast-check";

/** One exposed RPC: its path, method and whether Connect GET applies. */
export interface ExposedRpc {
  readonly path: string;
  readonly method: DescMethod;
  readonly get: boolean;
}

/** Every unary method the edge routes (PUBLIC, AUTHENTICATED or ADMIN), as the edge's table does. */
export function exposedRpcs(): ExposedRpc[] {
  const out: ExposedRpc[] = [];
  for (const service of services) {
    if (service.file.proto.package.startsWith("mercato.testing.")) continue;
    for (const method of service.methods) {
      const access = edgeRuleOf(method).access;
      if (
        access !== commonV1.Access.PUBLIC &&
        access !== commonV1.Access.AUTHENTICATED &&
        access !== commonV1.Access.ADMIN
      )
        continue;
      if (method.methodKind !== "unary") continue;
      out.push({ path: `/${service.typeName}/${method.name}`, method, get: method.idempotency === 1 });
    }
  }
  return out;
}

/** Text that has broken services: NUL, lone surrogates, huge, many lines, injection-looking. */
export const hostileText = fc.oneof(
  fc.constantFrom(
    "a\u0000b",
    "\u0000",
    "\ud800",
    "x\udc00y",
    "\n".repeat(400),
    "x".repeat(100_000),
    "' OR 1=1; --",
    "%00%ff",
    "../../etc/passwd",
    "😈".repeat(2_000),
    "\u202e\ufeff",
    "",
    "-1",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);

function fieldValue(field: DescField, depth: number): fc.Arbitrary<JsonValue> {
  const single = (): fc.Arbitrary<JsonValue> => {
    const nested = field.message;
    if (nested !== undefined) return depth < 3 ? messageJson(nested, depth + 1) : fc.constant({});
    const enumDesc = field.enum;
    if (enumDesc !== undefined) {
      return fc.oneof(
        fc.constantFrom(...enumDesc.values.map((v) => v.name)),
        fc.constantFrom("NOT_A_VALUE", "bogus"),
        fc.integer(),
      );
    }
    switch (field.scalar) {
      case 9: // string
        return hostileText;
      case 12: // bytes
        return fc.oneof(fc.constantFrom("AAEC", "!!!not base64", ""), hostileText);
      case 8: // bool
        return fc.oneof(fc.boolean(), fc.constantFrom("yes", 2));
      default:
        return fc.oneof(
          fc.integer(),
          fc.constantFrom(2 ** 53, -1, 1e308, "NaN", "Infinity", "99999999999999999999999", 1.5),
          hostileText,
        );
    }
  };
  if (field.fieldKind === "list") {
    return fc.oneof(
      fc.array(single(), { maxLength: 3 }),
      single().map((item) => Array.from({ length: 400 }, () => item)),
    );
  }
  if (field.fieldKind === "map") return fc.dictionary(hostileText, single(), { maxKeys: 3 });
  return single();
}

/** A JSON object for a message: some fields (hostile or wrong-typed), sometimes unknown keys. */
export function messageJson(desc: DescMessage, depth = 0): fc.Arbitrary<JsonValue> {
  const fields = Object.fromEntries(desc.fields.map((f) => [f.jsonName, fieldValue(f, depth)]));
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.option(fc.dictionary(fc.string({ maxLength: 8 }), hostileText, { maxKeys: 2 })),
    )
    .map(([known, unknown]) => ({ ...unknown, ...known }) as JsonValue);
}

/** Binary request bodies: a hostile message encoded properly, random bytes, or a cut message. */
export function binaryBody(desc: DescMessage): fc.Arbitrary<Uint8Array> {
  const encoded = messageJson(desc).map((json) => {
    try {
      return toBinary(desc, fromJson(desc, json, { ignoreUnknownFields: true }));
    } catch {
      return new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]); // a length past the end
    }
  });
  return fc.oneof(
    encoded,
    fc.uint8Array({ maxLength: 300 }),
    encoded.map((b) => b.subarray(0, Math.max(0, b.length - 1))),
  );
}

/** A gRPC frame around `payload`, sometimes with wrong flags or a wrong length. */
export function grpcFrame(payload: Uint8Array): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(0, 0, 0, 1, 2, 0x80), fc.constantFrom(0, 0, 0, 1, -1, 1_000_000), fc.boolean())
    .map(([flags, lengthSkew, twice]) => {
      const frame = Buffer.alloc(5 + payload.length);
      frame[0] = flags;
      frame.writeUInt32BE(Math.max(0, payload.length + lengthSkew), 1);
      Buffer.from(payload).copy(frame, 5);
      return twice ? Buffer.concat([frame, frame]) : frame;
    });
}

/** What came back: the HTTP status and the RPC code and message, as a client would read them. */
export interface Answer {
  readonly protocol: string;
  readonly path: string;
  readonly httpStatus: number;
  /** Connect's code name, "ok" on success. */
  readonly code: string;
  readonly message: string;
}

const grpcNames = [
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

function decodeMessage(raw: string | undefined): string {
  if (raw === undefined) return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A Connect call (POST with a body, or GET with a query), read as connect-web would. */
export async function connectCall(
  base: string,
  path: string,
  init: {
    method: "POST" | "GET";
    contentType?: string;
    body?: Uint8Array | string;
    query?: string;
    token?: string;
  },
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.contentType) headers["content-type"] = init.contentType;
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(`${base}${path}${init.query ?? ""}`, {
    method: init.method,
    headers,
    ...(init.body !== undefined
      ? { body: typeof init.body === "string" ? init.body : new Uint8Array(init.body) }
      : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  const protocol = init.method === "GET" ? "connect-get" : `connect-${init.contentType}`;
  if (response.status === 200) return { protocol, path, httpStatus: 200, code: "ok", message: "" };
  try {
    const body = JSON.parse(text) as { code?: string; message?: string };
    return {
      protocol,
      path,
      httpStatus: response.status,
      code: body.code ?? "unknown",
      message: body.message ?? "",
    };
  } catch {
    return {
      protocol,
      path,
      httpStatus: response.status,
      code: "unknown",
      message: `unparsable body: ${text.slice(0, 200)}`,
    };
  }
}

/** A gRPC call on a shared HTTP/2 session, with a raw body. */
export function grpcCall(
  session: ClientHttp2Session,
  path: string,
  contentType: string,
  body: Buffer,
  token?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      te: "trailers",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    });
    let status: string | undefined;
    let message: string | undefined;
    let httpStatus = 0;
    const timer = setTimeout(() => stream.close(), 60_000);
    stream.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      status ??= h["grpc-status"] as string | undefined;
      message ??= h["grpc-message"] as string | undefined;
    });
    stream.on("trailers", (h) => {
      status ??= h["grpc-status"] as string | undefined;
      message ??= h["grpc-message"] as string | undefined;
    });
    stream.on("data", () => {});
    stream.on("error", () => {});
    stream.on("close", () => {
      clearTimeout(timer);
      if (status === undefined) {
        if (stream.rstCode !== 0 && httpStatus === 0)
          reject(new Error(`stream reset (${stream.rstCode}) on ${path}`));
        else
          resolve({
            protocol: "grpc",
            path,
            httpStatus,
            code: "unknown",
            message: `no grpc-status (rst ${stream.rstCode})`,
          });
        return;
      }
      resolve({
        protocol: contentType,
        path,
        httpStatus,
        code: grpcNames[Number(status)] ?? "unknown",
        message: decodeMessage(message),
      });
    });
    stream.end(body);
  });
}

/** A gRPC-Web call over HTTP/1.1 (fetch), reading the status from headers or the trailer frame. */
export async function grpcWebCall(
  base: string,
  path: string,
  contentType: string,
  body: Buffer,
  token?: string,
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      "x-grpc-web": "1",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: new Uint8Array(body),
    signal: AbortSignal.timeout(60_000),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  let status = response.headers.get("grpc-status") ?? undefined;
  let message = response.headers.get("grpc-message") ?? undefined;
  for (let at = 0; status === undefined && at + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    if ((bytes[at] as number) & 0x80) {
      const text = bytes.subarray(at + 5, at + 5 + length).toString("utf8");
      status = /grpc-status:\s*(\d+)/i.exec(text)?.[1];
      message = /grpc-message:\s*(.*)/i.exec(text)?.[1]?.trim();
    }
    at += 5 + length;
  }
  return {
    protocol: contentType,
    path,
    httpStatus: response.status,
    code: status === undefined ? "unknown" : (grpcNames[Number(status)] ?? "unknown"),
    message: status === undefined ? `no grpc-status (HTTP ${response.status})` : decodeMessage(message),
  };
}

/**
 * An HTTP/2 session to the edge for gRPC calls (errors kept off the test's process). Like grpc-js, the
 * session's own memory does not limit what it sends: with Node's default `maxSessionMemory` (10 MiB)
 * one 80 MB request left the fuzzer's *own* session refusing every later stream with
 * ENHANCE_YOUR_CALM (RST_STREAM 11) — the edge had answered every one of them.
 */
export function http2Session(base: string): ClientHttp2Session {
  const session = http2Connect(base, { maxSessionMemory: Number.MAX_SAFE_INTEGER });
  session.on("error", () => {});
  return session;
}

/**
 * The fuzzer's HTTP/2 connection, kept as a real client keeps one: one session for every call, and a
 * new one once the edge has closed it (a client whose connection is torn down reconnects, so one
 * teardown does not turn the rest of the run into transport failures). Every teardown other than a
 * graceful GOAWAY(NO_ERROR) is recorded: no request deserves more than its own stream, so each is a
 * problem in itself.
 */
export class Http2Connection {
  #session: ClientHttp2Session | undefined;
  /** How each session the edge tore down went (GOAWAY code, session error). */
  readonly teardowns: string[] = [];

  constructor(private readonly base: string) {}

  /** The live session, a new one if the last was closed. */
  session(): ClientHttp2Session {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = http2Session(this.base);
    session.on("goaway", (code: number) => {
      if (code !== 0) this.teardowns.push(`the edge sent GOAWAY with error code ${code}`);
    });
    session.on("error", (error: Error) => this.teardowns.push(`session error: ${error.message}`));
    this.#session = session;
    return session;
  }

  close(): void {
    this.#session?.close();
  }
}

/** Words that must never reach a client: stack frames, file paths, addresses, database internals. */
const internals = [
  /\bat .+\(.+:\d+:\d+\)/,
  /\.(ts|js|mjs):\d+/,
  /\/(src|node_modules|home|root|work)\//,
  /\b127\.0\.0\.1\b|\blocalhost:\d+|\b\d{1,3}(\.\d{1,3}){3}:\d+/,
  /\b(postgres|postgresql|sql|relation|duplicate key|violates|syntax error|ECONNREFUSED|EPIPE|ECONNRESET)\b/i,
  /\b(TypeError|ReferenceError|RangeError|SyntaxError)\b/,
];

/** Why an answer breaks the rules, or undefined: no internal/unknown/data_loss, no 5xx but 503/504, no internals. */
export function problemOf(answer: Answer): string | undefined {
  if (["internal", "unknown", "data_loss"].includes(answer.code)) return `code ${answer.code}`;
  const upstreamDown =
    (answer.httpStatus === 503 || answer.httpStatus === 504) &&
    ["unavailable", "deadline_exceeded"].includes(answer.code);
  if (answer.httpStatus >= 500 && !upstreamDown) return `HTTP ${answer.httpStatus}`;
  if (answer.message.length > 600) return `a ${answer.message.length}-character message`;
  const leak = internals.find((pattern) => pattern.test(answer.message));
  if (leak !== undefined) return `internals in the message (${leak})`;
  return undefined;
}
