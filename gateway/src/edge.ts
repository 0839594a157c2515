/**
 * Request handling at the edge, one handler for HTTP/1.1 and HTTP/2:
 *
 * - the Connect protocol's unary calls (POST JSON or binary, GET for NO_SIDE_EFFECTS methods) on a
 *   hand-written fast path: body read with a size cap and a time limit, protobuf-es JSON ↔ binary only
 *   when the client speaks JSON, binary forwarded untouched unless an owner field or a page size must
 *   be checked, bytes to and from the upstream through grpc-js with pass-through serializers;
 * - gRPC and gRPC-Web through connect-node's adapter, with routes registered from the same table
 *   (a generic forwarding implementation) plus server reflection;
 * - on both paths, the same admission (authentication, then the caller's token bucket, before the
 *   body is read on the fast path), owner rule, page-size cap and Idempotency-Key cache;
 * - CORS, security headers and `x-request-id` on every response, the JWKS document, and errors as
 *   Connect JSON bodies with the spec's HTTP statuses.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Http2ServerRequest, type Http2ServerResponse, constants as http2Constants } from "node:http2";
import {
  fromBinary,
  fromJson,
  type JsonValue,
  type Message,
  type Registry,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import {
  Code,
  type ConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "@mercato/platform/log";
import { rpcServerDuration } from "@mercato/platform/metrics";
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  authenticate,
  type Caller,
  enforceOwner,
  type KeyStore,
  type TokenVerifier,
  type UserCheck,
} from "./auth.js";
import {
  connectCodeNames,
  connectErrorJson,
  EdgeError,
  fromUpstream,
  httpStatusOf,
  toConnectError,
} from "./errors.js";
import { checkIdempotencyKey, type IdempotencyStore, type KeyedResult } from "./idempotency.js";
import {
  addressKey,
  clientAddress,
  type RateDecision,
  type RateLimiter,
  rateLimitedCalls,
  rateLimitHeaders,
} from "./ratelimit.js";
import { registerReflection } from "./reflection.js";
import { Access, capPageSize, type Route, type RouteTable } from "./routes.js";
import type { CallMeta, Upstreams } from "./upstreams.js";

export type EdgeRequest = IncomingMessage | Http2ServerRequest;
export type EdgeResponse = ServerResponse | Http2ServerResponse;

/** What the request handler needs. */
export interface EdgeOptions {
  readonly table: RouteTable;
  readonly upstreams: Upstreams;
  readonly verifier: TokenVerifier;
  readonly keys: KeyStore;
  readonly logger: Logger;
  /** JSON registry for google.protobuf.Any and friends. */
  readonly registry: Registry;
  readonly maxBodyBytes: number;
  readonly maxDeadlineMs: number;
  readonly defaultDeadlineMs: number;
  /** A request body must arrive within this (HTTP 408 otherwise). */
  readonly bodyTimeoutMs: number;
  /** `page_size` fields are capped to this. */
  readonly maxPageSize: number;
  /** Token buckets per caller and class; undefined when rate limiting is off. */
  readonly limiter: RateLimiter | undefined;
  /** Proxies in front of the edge that append to X-Forwarded-For (0: the peer address is the client). */
  readonly trustedProxyHops: number;
  /** The Idempotency-Key cache. */
  readonly idempotency: IdempotencyStore;
  /** The deleted-user check, told about deletions served here. */
  readonly users: UserCheck | undefined;
  /** Allowed CORS origins; "*" allows any. */
  readonly corsOrigins: readonly string[];
  /** Start a span per call (OpenTelemetry); otherwise trace context is only propagated. */
  readonly tracing: boolean;
  /** True while draining: HTTP/1.1 responses ask the client to close the connection. */
  readonly draining: () => boolean;
}

const exposedHeaders = [
  "x-request-id",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "connect-protocol-version",
  "content-encoding",
  "retry-after",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "idempotent-replayed",
].join(", ");
const allowedRequestHeaders = [
  "authorization",
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-accept-encoding",
  "connect-content-encoding",
  "grpc-timeout",
  "grpc-accept-encoding",
  "x-grpc-web",
  "x-user-agent",
  "x-request-id",
  "traceparent",
  "tracestate",
  "idempotency-key",
].join(", ");

const requestIdPattern = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const traceparentPattern = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const jsonContentType = /^application\/json(?:;\s*charset=utf-?8)?$/i;
const protoContentType = /^application\/proto$/i;

const jsonReadOptions = { ignoreUnknownFields: true } as const;
const tracer = trace.getTracer("@mercato/gateway");

type Headers = Record<string, string>;

interface RequestState {
  readonly requestId: string;
  /** The client's address (rate-limit key of anonymous calls). */
  readonly address: string;
}
const requestStateKey = createContextKey<RequestState>({ requestId: "", address: "unknown" });
const kState = Symbol("mercato.gateway.request");

/** A span (or just the propagated context) for one forwarded call. */
interface CallTrace {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  end(code: number): void;
}

const noop = () => {};

// Trace ids come from a pooled random buffer: one randomBytes call per 170 requests, not one each.
let randomPool = Buffer.alloc(0);
let randomOffset = 0;
function randomHex(bytes: number): string {
  if (randomOffset + bytes > randomPool.length) {
    randomPool = randomBytes(4096);
    randomOffset = 0;
  }
  const hex = randomPool.toString("hex", randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a percent-encoded query value into bytes ("+" is a space, as in forms). */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decodes a percent-encoded query value into bytes ("+" is a space, as in forms). */
function percentDecode(value: string): Buffer {
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

function parseQuery(search: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of search.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (!params.has(key)) params.set(key, eq < 0 ? "" : part.slice(eq + 1));
  }
  return params;
}

/**
 * Reads a request body of at most `limit` bytes (declared or streamed, chunked included) within
 * `timeoutMs`; a larger body is refused as soon as it passes the limit (413), a slow one when time
 * is up (408). Nothing is parsed before the whole body is in.
 */
function readBody(req: EdgeRequest, limit: number, timeoutMs: number): Promise<Buffer> {
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
      if (!failed) reject(error);
    });
  });
}

function tooLarge(limit: number): EdgeError {
  return new EdgeError(Code.ResourceExhausted, `request body larger than ${limit} bytes`, [], 413);
}

/** The Connect-Timeout-Ms of a request, capped; the default when absent. */
function timeoutOf(value: string | undefined, defaultMs: number, maxMs: number): number {
  if (value === undefined) return defaultMs;
  if (!/^\d{1,10}$/.test(value)) {
    throw new EdgeError(Code.InvalidArgument, `invalid Connect-Timeout-Ms: ${value}`);
  }
  return Math.min(Number(value), maxMs);
}

/** Builds the request handler of the public port. */
export function createEdgeHandler(options: EdgeOptions): (req: EdgeRequest, res: EdgeResponse) => void {
  const { table, upstreams, verifier, keys, logger, registry, limiter, idempotency } = options;
  const { maxBodyBytes, maxDeadlineMs, defaultDeadlineMs, bodyTimeoutMs, maxPageSize } = options;
  const anyOrigin = options.corsOrigins.includes("*");
  const origins = new Set(options.corsOrigins);
  const corsEnabled = origins.size > 0;

  const startTrace = (
    name: string,
    traceparent: string | undefined,
    tracestate: string | undefined,
  ): CallTrace => {
    const validParent =
      traceparent !== undefined && traceparentPattern.test(traceparent) ? traceparent : undefined;
    if (!options.tracing) {
      if (validParent !== undefined) return { traceparent: validParent, tracestate, end: noop };
      return { traceparent: `00-${randomHex(16)}-${randomHex(8)}-01`, tracestate: undefined, end: noop };
    }
    const carrier: Record<string, string> = {};
    if (validParent !== undefined) carrier.traceparent = validParent;
    if (validParent !== undefined && tracestate !== undefined) carrier.tracestate = tracestate;
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect" } },
      parent,
    );
    const out: Record<string, string> = {};
    propagation.inject(trace.setSpan(otelContext.active(), span), out);
    return {
      traceparent: out.traceparent,
      tracestate: out.tracestate,
      end(code) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (code !== Code.Canceled && code !== 0 && httpStatusOf(code) >= 500) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: connectCodeNames[code] ?? "" });
        }
        span.end();
      },
    };
  };

  const observe = (route: Route | undefined, code: number, started: number) => {
    rpcServerDuration.observe(
      {
        method: route ? route.path.slice(1) : "unknown",
        code: (connectCodeNames[code] ?? "unknown").toUpperCase(),
      },
      (performance.now() - started) / 1000,
    );
  };

  const send = (res: EdgeResponse, status: number, headers: Headers, contentType: string, body: Buffer) => {
    if (res.destroyed || res.headersSent) return;
    headers["content-type"] = contentType;
    headers["content-length"] = String(body.length);
    (res as ServerResponse).writeHead(status, headers);
    res.end(body);
  };

  const sendError = (res: EdgeResponse, headers: Headers, error: EdgeError) => {
    if (error.headers) Object.assign(headers, error.headers);
    // A body refused half-way (too large, too slow) is not read further: the connection (HTTP/1.1)
    // or the stream (HTTP/2, after the response) is closed instead.
    const abandon = error.httpStatus === 413 || error.httpStatus === 408;
    if (abandon && "shouldKeepAlive" in res) headers.connection = "close";
    send(
      res,
      error.httpStatus ?? httpStatusOf(error.code),
      headers,
      "application/json",
      Buffer.from(connectErrorJson(error)),
    );
    if (abandon && "stream" in res && res.stream) {
      const stream = res.stream;
      if (stream.writableFinished) stream.close(http2Constants.NGHTTP2_NO_ERROR);
      else stream.once("finish", () => stream.close(http2Constants.NGHTTP2_NO_ERROR));
    }
  };

  // --- Admission: authentication, then the caller's token bucket -----------------------------------

  const limited = (route: Route, scope: "ip" | "user", decision: RateDecision): EdgeError => {
    rateLimitedCalls.inc({ class: route.rateClass, scope });
    return new EdgeError(
      Code.ResourceExhausted,
      `too many requests; try again in ${decision.retryAfterSec} s`,
      [],
      429,
      rateLimitHeaders(decision),
    );
  };

  /**
   * Authenticates the call (per the route's access rule) and takes a token from the caller's bucket:
   * the user's when a valid token came, the client address's otherwise. A call whose token fails is
   * charged to its address too, so guessing at tokens is rate-limited like any anonymous call.
   */
  const admit = async (
    route: Route,
    authorization: string | undefined,
    address: string,
  ): Promise<{ caller: Caller | undefined; rateHeaders: Headers | undefined }> => {
    let caller: Caller | undefined;
    try {
      caller =
        authorization === undefined && route.access === Access.PUBLIC
          ? undefined
          : await authenticate(route, authorization, verifier);
    } catch (error) {
      if (limiter !== undefined && error instanceof EdgeError && error.code === Code.Unauthenticated) {
        const decision = limiter.take(route.rateClass, `ip:${addressKey(address)}`);
        if (!decision.allowed) throw limited(route, "ip", decision);
      }
      throw error;
    }
    if (limiter === undefined) return { caller, rateHeaders: undefined };
    const decision =
      caller === undefined
        ? limiter.take(route.rateClass, `ip:${addressKey(address)}`)
        : limiter.take(route.rateClass, `user:${caller.userId}`);
    if (!decision.allowed) throw limited(route, caller === undefined ? "ip" : "user", decision);
    return { caller, rateHeaders: rateLimitHeaders(decision) };
  };

  /** Owner rule and page-size cap on a decoded request; true when the message changed. */
  const prepare = (route: Route, message: Message, caller: Caller | undefined): boolean => {
    const owner = enforceOwner(route, message, caller);
    const capped = capPageSize(route, message, maxPageSize);
    return owner || capped;
  };

  /**
   * The upstream call, through the Idempotency-Key cache when the caller sent a key for a mutating
   * RPC. A keyed call is not cancelled when its client goes away: its outcome is what the client's
   * retry will be answered with.
   */
  const invoke = (
    route: Route,
    caller: Caller | undefined,
    idempotencyKey: string | undefined,
    body: Buffer,
    meta: CallMeta,
    deadline: number,
  ): { result: Promise<KeyedResult>; cancel: () => void } => {
    if (idempotencyKey === undefined || caller === undefined || !route.mutating) {
      const call = upstreams.unary(route.upstream, route.path, body, meta, deadline);
      return {
        result: call.result.then(
          (bytes) => ({ bytes, replayed: false }),
          (error: unknown) => {
            throw fromUpstream(error);
          },
        ),
        cancel: () => call.cancel(),
      };
    }
    const result = idempotency.run(
      caller.userId,
      checkIdempotencyKey(idempotencyKey),
      route.path,
      body,
      () => upstreams.unary(route.upstream, route.path, body, meta, deadline).result,
    );
    return { result, cancel: noop };
  };

  /** A DeleteUser served here: the user's tokens stop working on this replica at once. */
  const afterSuccess = (route: Route, message: Message | undefined) => {
    if (options.users === undefined || message === undefined || route.ownerField === undefined) return;
    if (route.upstream !== "identity" || route.method.name !== "DeleteUser") return;
    const userId = (message as unknown as Record<string, unknown>)[route.ownerField.localName];
    if (typeof userId === "string" && userId !== "") options.users.markDeleted(userId);
  };

  const asEdgeError = (error: unknown): EdgeError => {
    if (error instanceof EdgeError) return error;
    logger.error({ err: error }, "unexpected error at the edge");
    return new EdgeError(Code.Internal, "internal error");
  };

  // --- The Connect fast path -------------------------------------------------------------------

  const serveConnect = async (
    req: EdgeRequest,
    res: EdgeResponse,
    requestId: string,
    address: string,
    headers: Headers,
  ) => {
    const started = performance.now();
    let route: Route | undefined;
    let code = 0;
    let callTrace: CallTrace | undefined;
    try {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      route = table.routes.get(path);
      if (!route) throw new EdgeError(Code.Unimplemented, `unknown RPC ${path.slice(0, 200)}`, [], 404);

      let binary: boolean;
      let body: Buffer | undefined;
      if (req.method === "POST") {
        const contentType = header(req.headers["content-type"]) ?? "";
        if (protoContentType.test(contentType)) binary = true;
        else if (jsonContentType.test(contentType)) binary = false;
        else {
          throw new EdgeError(
            Code.Unimplemented,
            `unsupported content type "${contentType.slice(0, 100)}": use application/json or application/proto`,
            [],
            415,
          );
        }
        const encoding = header(req.headers["content-encoding"]);
        if (encoding !== undefined && encoding !== "identity") {
          throw new EdgeError(Code.Unimplemented, `unsupported content encoding "${encoding.slice(0, 50)}"`);
        }
        const version = header(req.headers["connect-protocol-version"]);
        if (version !== undefined && version !== "1") {
          throw new EdgeError(
            Code.InvalidArgument,
            `unsupported Connect protocol version "${version.slice(0, 20)}"`,
          );
        }
      } else if (req.method === "GET") {
        if (!route.allowGet) {
          throw new EdgeError(
            Code.Unimplemented,
            `${route.method.name} has side effects: use POST`,
            [],
            405,
            {
              allow: "POST",
            },
          );
        }
        const params = parseQuery(q < 0 ? "" : url.slice(q + 1));
        const encoding = params.get("encoding");
        if (encoding === "proto") binary = true;
        else if (encoding === "json") binary = false;
        else throw new EdgeError(Code.InvalidArgument, "GET requests need encoding=json or encoding=proto");
        const compression = params.get("compression");
        if (compression !== undefined && compression !== "" && compression !== "identity") {
          throw new EdgeError(Code.Unimplemented, `unsupported compression "${compression.slice(0, 50)}"`);
        }
        const connectVersion = params.get("connect");
        if (connectVersion !== undefined && connectVersion !== "v1") {
          throw new EdgeError(
            Code.InvalidArgument,
            `unsupported Connect protocol version "${connectVersion.slice(0, 20)}"`,
          );
        }
        const raw = percentDecode(params.get("message") ?? "");
        body = params.get("base64") === "1" ? Buffer.from(raw.toString("latin1"), "base64") : raw;
        if (body.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
      } else {
        throw new EdgeError(Code.Unimplemented, `method ${req.method} not allowed`, [], 405, {
          allow: route.allowGet ? "GET, POST" : "POST",
        });
      }

      const timeoutMs = timeoutOf(
        header(req.headers["connect-timeout-ms"]),
        defaultDeadlineMs,
        maxDeadlineMs,
      );
      const idempotencyKey = route.mutating ? header(req.headers["idempotency-key"]) : undefined;
      if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);

      // Who calls and whether their bucket has a token, before a byte of the body is read.
      const { caller, rateHeaders } = await admit(route, header(req.headers.authorization), address);
      if (rateHeaders !== undefined) Object.assign(headers, rateHeaders);
      body ??= await readBody(req, maxBodyBytes, bodyTimeoutMs);

      let upstreamBody: Buffer;
      let message: Message | undefined;
      if (binary) {
        upstreamBody = body;
        if (route.ownerField !== undefined || route.pageSizePaths.length > 0) {
          try {
            message = fromBinary(route.input, body);
          } catch {
            throw new EdgeError(Code.InvalidArgument, `malformed ${route.input.typeName} message`);
          }
          if (prepare(route, message, caller)) upstreamBody = toBuffer(toBinary(route.input, message));
        }
      } else {
        let json: JsonValue;
        try {
          json = body.length === 0 ? {} : (JSON.parse(body.toString("utf8")) as JsonValue);
        } catch {
          throw new EdgeError(Code.InvalidArgument, "malformed JSON in the request body");
        }
        try {
          message = fromJson(route.input, json, { ...jsonReadOptions, registry });
        } catch (error) {
          throw new EdgeError(
            Code.InvalidArgument,
            error instanceof Error ? error.message.slice(0, 300) : "invalid request message",
          );
        }
        prepare(route, message, caller);
        upstreamBody = toBuffer(toBinary(route.input, message));
      }

      callTrace = startTrace(
        route.path.slice(1),
        header(req.headers.traceparent),
        header(req.headers.tracestate),
      );
      const meta: CallMeta = {
        requestId,
        traceparent: callTrace.traceparent,
        tracestate: callTrace.tracestate,
        userId: caller?.userId,
        role: caller?.role,
      };
      const call = invoke(route, caller, idempotencyKey, upstreamBody, meta, Date.now() + timeoutMs);
      const onClose = () => {
        if (!res.writableEnded) call.cancel();
      };
      res.once("close", onClose);
      let responseBytes: Buffer;
      try {
        const result = await call.result;
        responseBytes = result.bytes;
        if (result.replayed) headers["idempotent-replayed"] = "true";
      } finally {
        res.off("close", onClose);
      }
      afterSuccess(route, message);
      if (binary) {
        send(res, 200, headers, "application/proto", responseBytes);
      } else {
        const json = toJsonString(route.output, fromBinary(route.output, responseBytes), { registry });
        send(res, 200, headers, "application/json", Buffer.from(json));
      }
    } catch (thrown) {
      const error = asEdgeError(thrown);
      code = error.code;
      sendError(res, headers, error);
      if (error.code === Code.Internal || error.code === Code.Unknown || error.code === Code.DataLoss) {
        logger.warn({ requestId, method: route?.path, code: connectCodeNames[code] }, "call failed");
      } else if (logger.isLevelEnabled("debug")) {
        logger.debug(
          { requestId, method: route?.path, code: connectCodeNames[code], error: error.message },
          "call refused",
        );
      }
    } finally {
      callTrace?.end(code);
      observe(route, code, started);
      // The access line that joins the edge's logs to the services' (same request and trace id).
      if (logger.isLevelEnabled("debug")) {
        const traceparent = callTrace?.traceparent;
        logger.debug(
          {
            requestId,
            method: route?.path,
            code: connectCodeNames[code] ?? "ok",
            ...(traceparent ? { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52) } : {}),
          },
          "call",
        );
      }
    }
  };

  // --- gRPC and gRPC-Web through connect-node ---------------------------------------------------

  const forward =
    (route: Route) =>
    async (request: Message, ctx: HandlerContext): Promise<Message> => {
      const started = performance.now();
      let code = 0;
      let callTrace: CallTrace | undefined;
      try {
        const { requestId, address } = ctx.values.get(requestStateKey);
        const idempotencyKey = route.mutating
          ? (ctx.requestHeader.get("idempotency-key") ?? undefined)
          : undefined;
        if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);
        const { caller, rateHeaders } = await admit(
          route,
          ctx.requestHeader.get("authorization") ?? undefined,
          address,
        );
        for (const [name, value] of Object.entries(rateHeaders ?? {})) ctx.responseHeader.set(name, value);
        prepare(route, request, caller);
        const body = toBuffer(toBinary(route.input, request));
        const timeoutMs = Math.min(ctx.timeoutMs() ?? defaultDeadlineMs, maxDeadlineMs);
        callTrace = startTrace(
          route.path.slice(1),
          ctx.requestHeader.get("traceparent") ?? undefined,
          ctx.requestHeader.get("tracestate") ?? undefined,
        );
        const call = invoke(
          route,
          caller,
          idempotencyKey,
          body,
          {
            requestId,
            traceparent: callTrace.traceparent,
            tracestate: callTrace.tracestate,
            userId: caller?.userId,
            role: caller?.role,
          },
          Date.now() + timeoutMs,
        );
        const onAbort = () => call.cancel();
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        try {
          const result = await call.result;
          if (result.replayed) ctx.responseHeader.set("idempotent-replayed", "true");
          afterSuccess(route, request);
          return fromBinary(route.output, result.bytes);
        } finally {
          ctx.signal.removeEventListener("abort", onAbort);
        }
      } catch (thrown) {
        const error = asEdgeError(thrown);
        code = error.code;
        throw toConnectError(error);
      } finally {
        callTrace?.end(code);
        observe(route, code, started);
      }
    };

  const grpcFallback = (req: EdgeRequest, res: EdgeResponse) => {
    const contentType = header(req.headers["content-type"]) ?? "application/grpc";
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const trailers = {
      "content-type": contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": encodeURIComponent(`unknown RPC ${path.slice(0, 200)}`),
    };
    if ("stream" in res && res.stream) {
      // HTTP/2: a trailers-only response (one HEADERS frame ending the stream), as gRPC expects.
      const own = res.getHeaders() as Record<string, string>;
      res.stream.respond({ ":status": 200, ...own, ...trailers }, { endStream: true });
      return;
    }
    (res as ServerResponse).writeHead(200, trailers);
    res.end();
  };

  const adapter = connectNodeAdapter({
    connect: false,
    grpc: true,
    grpcWeb: true,
    readMaxBytes: maxBodyBytes,
    routes(router: ConnectRouter) {
      for (const route of table.routes.values()) router.rpc(route.method, forward(route) as never);
      registerReflection(router, table);
    },
    fallback: (req, res) => grpcFallback(req, res as unknown as EdgeResponse),
    contextValues: (req) =>
      createContextValues().set(
        requestStateKey,
        (req as unknown as Record<symbol, RequestState>)[kState] ?? {
          requestId: randomUUID(),
          address: req.socket?.remoteAddress ?? "unknown",
        },
      ),
  });

  // --- The JWKS document --------------------------------------------------------------------------

  const serveJwks = async (res: EdgeResponse, headers: Headers) => {
    try {
      if (keys.jwks === undefined) await keys.refresh();
    } catch {
      // answered below
    }
    const jwks = keys.jwks;
    if (jwks === undefined) {
      sendError(res, headers, new EdgeError(Code.Unavailable, "signing keys are not available yet"));
      return;
    }
    headers["cache-control"] = "public, max-age=300";
    send(res, 200, headers, "application/jwk-set+json", Buffer.from(JSON.stringify(jwks)));
  };

  // --- Dispatch -------------------------------------------------------------------------------------

  return (req, res) => {
    const given = header(req.headers["x-request-id"]);
    const address = clientAddress(
      req.socket?.remoteAddress,
      header(req.headers["x-forwarded-for"]),
      options.trustedProxyHops,
    );
    const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID();
    const headers: Headers = { "x-request-id": requestId, "x-content-type-options": "nosniff" };
    if (options.draining() && req.httpVersionMajor === 1) headers.connection = "close";

    const origin = header(req.headers.origin);
    let corsAllowed = false;
    if (corsEnabled) {
      headers.vary = "Origin";
      if (origin !== undefined && (anyOrigin || origins.has(origin))) {
        corsAllowed = true;
        headers["access-control-allow-origin"] = origin;
        headers["access-control-expose-headers"] = exposedHeaders;
      }
    }

    if (req.method === "OPTIONS") {
      if (corsAllowed && header(req.headers["access-control-request-method"]) !== undefined) {
        headers["access-control-allow-methods"] = "GET, POST";
        headers["access-control-allow-headers"] = allowedRequestHeaders;
        headers["access-control-max-age"] = "7200";
        (res as ServerResponse).writeHead(204, headers);
        res.end();
      } else {
        sendError(res, headers, new EdgeError(Code.PermissionDenied, "CORS request not allowed", [], 403));
      }
      return;
    }

    const contentType = header(req.headers["content-type"]);
    if (contentType?.startsWith("application/grpc")) {
      for (const [key, value] of Object.entries(headers)) res.setHeader(key, value);
      (req as unknown as Record<symbol, RequestState>)[kState] = { requestId, address };
      // connect-node reads the request itself: a request still incomplete after the body timeout is
      // cut (HTTP/2: the stream is reset; HTTP/1.1: the connection is closed).
      if (!req.complete) {
        const timer = setTimeout(() => {
          if (req.complete) return;
          if ("stream" in res && res.stream) res.stream.close(http2Constants.NGHTTP2_CANCEL);
          else req.socket?.destroy();
        }, bodyTimeoutMs);
        const clear = () => clearTimeout(timer);
        req.once("end", clear);
        res.once("close", clear);
      }
      adapter(req, res);
      return;
    }
    if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      void serveJwks(res, headers);
      return;
    }
    void serveConnect(req, res, requestId, address, headers);
  };
}
