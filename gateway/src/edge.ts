/**
 * Request handling at the edge, one handler for HTTP/1.1 and HTTP/2:
 *
 * - the Connect protocol's unary calls (POST JSON or binary, GET for NO_SIDE_EFFECTS methods) on a
 *   hand-written fast path: body read with a size cap and a time limit, protobuf-es JSON ↔ binary only
 *   when the client speaks JSON, binary forwarded untouched unless an owner field or a page size must
 *   be checked, bytes to and from the upstream through the lean gRPC client (grpc-unary.ts);
 * - gRPC and gRPC-Web through connect-node's handlers (grpc-path.ts), with routes registered from the
 *   same table (one generic forwarding implementation) plus server reflection;
 * - on both paths, the same admission (admission.ts: authentication, then the caller's token bucket,
 *   before the body is read on the fast path), owner rule, page-size cap, Idempotency-Key cache, the
 *   configured headers passed both ways, and a log line saying why a call failed;
 * - CORS, security headers and `x-request-id` on every response, the JWKS document, and errors as
 *   Connect JSON bodies with the spec's HTTP statuses.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type Http2ServerResponse, constants as http2Constants } from "node:http2";
import { fromBinary, type Message, type Registry, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { Logger } from "@mercato/platform/log";
import { createAdmission } from "./admission.js";
import type { Caller, KeyStore, TokenVerifier, UserCheck } from "./auth.js";
import { endAfterAnswer } from "./connection.js";
import {
  codeName,
  connectErrorJson,
  EdgeError,
  failureReason,
  fromUpstream,
  httpStatusOf,
} from "./errors.js";
import { createGrpcPath } from "./grpc-path.js";
import type { UnaryResponse } from "./grpc-unary.js";
import { checkIdempotencyKey, type IdempotencyStore, type KeyedResult } from "./idempotency.js";
import {
  decodeBinary,
  decodeJson,
  type EdgeRequest,
  header,
  headerFilter,
  parseQuery,
  percentDecode,
  readBody,
  timeoutOf,
  toBuffer,
  tooLarge,
} from "./protocol.js";
import { clientAddress, type RateLimiter } from "./ratelimit.js";
import type { Route, RouteTable } from "./routes.js";
import { type CallTrace, createTracer, observeCall, traceIdOf } from "./tracing.js";
import type { CallMeta, Upstreams } from "./upstreams.js";

export type { EdgeRequest } from "./protocol.js";
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
  /** Deadline of calls that set none; 0: none is sent upstream (the edge still cuts them at maxDeadlineMs). */
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
  /** Client headers passed on to the services (names, or prefixes ending in *). */
  readonly forwardRequestHeaders?: readonly string[];
  /** Service response headers and trailers passed on to clients (names, or prefixes ending in *). */
  readonly forwardResponseHeaders?: readonly string[];
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
const jsonContentType = /^application\/json(?:;\s*charset=utf-?8)?$/i;
const protoContentType = /^application\/proto$/i;

type Headers = Record<string, string>;

interface RequestState {
  readonly requestId: string;
  /** The client's address (rate-limit key of anonymous calls). */
  readonly address: string;
}
const requestStateKey = createContextKey<RequestState>({ requestId: "", address: "unknown" });
const kState = Symbol("mercato.gateway.request");

const noop = () => {};

/** Builds the request handler of the public port. */
export function createEdgeHandler(options: EdgeOptions): (req: EdgeRequest, res: EdgeResponse) => void {
  const { table, upstreams, verifier, keys, logger, registry, limiter, idempotency } = options;
  const { maxBodyBytes, maxDeadlineMs, bodyTimeoutMs, maxPageSize } = options;
  const defaultDeadlineMs = options.defaultDeadlineMs > 0 ? options.defaultDeadlineMs : undefined;
  const anyOrigin = options.corsOrigins.includes("*");
  const origins = new Set(options.corsOrigins);
  const corsEnabled = origins.size > 0;
  const startTrace = createTracer(options.tracing);
  const { admit, prepare } = createAdmission(verifier, limiter, maxPageSize);
  const forwardRequest = headerFilter(options.forwardRequestHeaders ?? []);
  const forwardResponse = headerFilter(options.forwardResponseHeaders ?? []);
  const forwardsRequests = (options.forwardRequestHeaders ?? []).length > 0;
  const forwardsResponses = (options.forwardResponseHeaders ?? []).length > 0;

  /** The client headers passed on upstream, by the configured list. */
  const forwardedFrom = (entries: Iterable<[string, string | string[] | undefined]>) => {
    if (!forwardsRequests) return undefined;
    let out: Record<string, string[]> | undefined;
    for (const [name, value] of entries) {
      if (value === undefined || !forwardRequest(name)) continue;
      out ??= {};
      const values = Array.isArray(value) ? value : [value];
      const key = name.toLowerCase();
      out[key] = [...(out[key] ?? []), ...values];
    }
    return out;
  };

  /** The upstream metadata passed on to the client, by the configured list. */
  const forwardedBack = (
    metadata: globalThis.Headers | undefined,
    each: (name: string, value: string) => void,
  ) => {
    if (!forwardsResponses || metadata === undefined) return;
    metadata.forEach((value, name) => {
      if (forwardResponse(name)) each(name, value);
    });
  };

  const send = (
    res: EdgeResponse,
    status: number,
    headers: Headers,
    contentType: string,
    body: Uint8Array,
  ) => {
    if (res.destroyed || res.headersSent) return;
    headers["content-type"] = contentType;
    headers["content-length"] = String(body.length);
    (res as ServerResponse).writeHead(status, headers);
    res.end(body);
  };

  const sendError = (res: EdgeResponse, headers: Headers, error: EdgeError) => {
    if (error.headers) Object.assign(headers, error.headers);
    forwardedBack(error.metadata, (name, value) => {
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    });
    // A body refused half-way (too large, too slow) is not read further: the connection (HTTP/1.1,
    // closed in stages so that the answer survives) or the stream (HTTP/2) ends after the answer.
    if (error.httpStatus === 413 || error.httpStatus === 408) endAfterAnswer(res, bodyTimeoutMs);
    send(
      res,
      error.httpStatus ?? httpStatusOf(error.code),
      headers,
      "application/json",
      connectErrorJson(error),
    );
  };

  /**
   * One log line per failed call saying why: the code, the upstream that answered (if one did), the
   * cause chain, the request id and the trace id. Server-side failures are warnings, answers of the
   * services info, the edge's own refusals (auth, limits, bad input) debug.
   */
  const logFailure = (requestId: string, route: Route | undefined, error: EdgeError, trace?: CallTrace) => {
    const level =
      httpStatusOf(error.code) >= 500 && error.code !== Code.Unimplemented
        ? "warn"
        : error.upstream
          ? "info"
          : "debug";
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        requestId,
        traceId: traceIdOf(trace?.traceparent),
        method: route?.path,
        code: codeName(error.code),
        upstream: error.upstream,
        message: error.rawMessage,
        reason: failureReason(error),
      },
      "call failed",
    );
  };

  const asEdgeError = (error: unknown): EdgeError => {
    if (error instanceof EdgeError) return error;
    if (error instanceof ConnectError) {
      return new EdgeError(error.code, error.rawMessage, [], undefined, undefined, { cause: error });
    }
    return new EdgeError(Code.Internal, "internal error", [], undefined, undefined, { cause: error });
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
    deadline: number | undefined,
  ): { result: Promise<KeyedResult>; cancel: () => void } => {
    const call = () => upstreams.unary(route.upstream, route.path, body, meta, deadline);
    if (idempotencyKey === undefined || caller === undefined || !route.mutating) {
      const running = call();
      return {
        result: running.result.then(
          (response) => ({ response, replayed: false }),
          (error: unknown) => {
            throw fromUpstream(error, route.upstream);
          },
        ),
        cancel: () => running.cancel(),
      };
    }
    const key = checkIdempotencyKey(idempotencyKey);
    const result = idempotency.run(caller.userId, key, route.path, body, () => call().result, route.upstream);
    return { result, cancel: noop };
  };

  /** A DeleteUser served here: the user's tokens stop working on this replica at once. */
  const afterSuccess = (route: Route, message: Message | undefined) => {
    if (options.users === undefined || message === undefined || route.ownerField === undefined) return;
    if (route.upstream !== "identity" || route.method.name !== "DeleteUser") return;
    const userId = (message as unknown as Record<string, unknown>)[route.ownerField.localName];
    if (typeof userId === "string" && userId !== "") options.users.markDeleted(userId);
  };

  /** The absolute deadline of a call with `timeoutMs` (undefined: none upstream, the edge's cap locally). */
  const deadlineOf = (timeoutMs: number | undefined) =>
    timeoutMs === undefined ? undefined : Date.now() + timeoutMs;

  // --- The Connect fast path -------------------------------------------------------------------

  /** The message of a Connect request (POST body or GET query), its encoding checked. */
  const readConnectRequest = async (
    req: EdgeRequest,
    route: Route,
    url: string,
    q: number,
  ): Promise<{ binary: boolean; body: Buffer | undefined }> => {
    if (req.method === "POST") {
      const contentType = header(req.headers["content-type"]) ?? "";
      let binary: boolean;
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
      return { binary, body: undefined };
    }
    if (req.method === "GET") {
      if (!route.allowGet) {
        throw new EdgeError(Code.Unimplemented, `${route.method.name} has side effects: use POST`, [], 405, {
          allow: "POST",
        });
      }
      const params = parseQuery(q < 0 ? "" : url.slice(q + 1));
      const encoding = params.get("encoding");
      let binary: boolean;
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
      const body = params.get("base64") === "1" ? Buffer.from(raw.toString("latin1"), "base64") : raw;
      if (body.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
      return { binary, body };
    }
    throw new EdgeError(
      Code.Unimplemented,
      `method ${String(req.method).slice(0, 20)} not allowed`,
      [],
      405,
      {
        allow: route.allowGet ? "GET, POST" : "POST",
      },
    );
  };

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
      const request = await readConnectRequest(req, route, url, q);
      const { binary } = request;
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
      const body = request.body ?? (await readBody(req, maxBodyBytes, bodyTimeoutMs));

      let upstreamBody: Buffer;
      let message: Message | undefined;
      if (binary) {
        upstreamBody = body;
        if (route.ownerField !== undefined || route.pageSizePaths.length > 0) {
          message = decodeBinary(route.input, body);
          if (prepare(route, message, caller)) upstreamBody = toBuffer(toBinary(route.input, message));
        }
      } else {
        message = decodeJson(route.input, body.toString("utf8"), registry);
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
        ...(forwardsRequests ? { forwarded: forwardedFrom(Object.entries(req.headers)) } : {}),
      };
      const call = invoke(route, caller, idempotencyKey, upstreamBody, meta, deadlineOf(timeoutMs));
      const onClose = () => {
        if (!res.writableEnded) call.cancel();
      };
      res.once("close", onClose);
      let response: UnaryResponse;
      try {
        const result = await call.result;
        response = result.response;
        if (result.replayed) headers["idempotent-replayed"] = "true";
      } finally {
        res.off("close", onClose);
      }
      afterSuccess(route, message);
      forwardedBack(response.header, (name, value) => {
        headers[name] = value;
      });
      forwardedBack(response.trailer, (name, value) => {
        headers[`trailer-${name}`] = value;
      });
      if (binary) {
        send(res, 200, headers, "application/proto", response.message);
      } else {
        const json = toJsonString(route.output, fromBinary(route.output, response.message), { registry });
        send(res, 200, headers, "application/json", Buffer.from(json));
      }
    } catch (thrown) {
      const error = asEdgeError(thrown);
      code = error.code;
      sendError(res, headers, error);
      logFailure(requestId, route, error, callTrace);
    } finally {
      callTrace?.end(code);
      observeCall(route, code, started);
      // The access line that joins the edge's logs to the services' (same request and trace id).
      if (logger.isLevelEnabled("debug")) {
        const traceparent = callTrace?.traceparent;
        logger.debug(
          {
            requestId,
            method: route?.path,
            code: codeName(code),
            ...(traceparent ? { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52) } : {}),
          },
          "call",
        );
      }
    }
  };

  // --- gRPC and gRPC-Web through connect-node ---------------------------------------------------

  /** An edge error as connect-node sends it on the gRPC path: only the allowed metadata travels. */
  const toGrpcError = (error: EdgeError): ConnectError => {
    const metadata = new globalThis.Headers();
    for (const [name, value] of Object.entries(error.headers ?? {})) {
      if (name !== "allow") metadata.set(name, value);
    }
    forwardedBack(error.metadata, (name, value) => metadata.append(name, value));
    const grpcError = new ConnectError(error.rawMessage, error.code, metadata);
    grpcError.details = error.details;
    return grpcError;
  };

  const forward =
    (route: Route) =>
    async (request: Message, ctx: HandlerContext): Promise<Message> => {
      const started = performance.now();
      let code = 0;
      let callTrace: CallTrace | undefined;
      const { requestId, address } = ctx.values.get(requestStateKey);
      try {
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
        const timeoutMs = ctx.timeoutMs() ?? defaultDeadlineMs;
        callTrace = startTrace(
          route.path.slice(1),
          ctx.requestHeader.get("traceparent") ?? undefined,
          ctx.requestHeader.get("tracestate") ?? undefined,
        );
        const requestHeaders: [string, string][] = [...ctx.requestHeader.entries()];
        const meta: CallMeta = {
          requestId,
          traceparent: callTrace.traceparent,
          tracestate: callTrace.tracestate,
          userId: caller?.userId,
          role: caller?.role,
          ...(forwardsRequests ? { forwarded: forwardedFrom(requestHeaders) } : {}),
        };
        const deadline = deadlineOf(timeoutMs === undefined ? undefined : Math.min(timeoutMs, maxDeadlineMs));
        const call = invoke(route, caller, idempotencyKey, body, meta, deadline);
        const onAbort = () => call.cancel();
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        try {
          const result = await call.result;
          if (result.replayed) ctx.responseHeader.set("idempotent-replayed", "true");
          afterSuccess(route, request);
          forwardedBack(result.response.header, (name, value) => ctx.responseHeader.append(name, value));
          forwardedBack(result.response.trailer, (name, value) => ctx.responseTrailer.append(name, value));
          return decodeBinary(route.output, result.response.message);
        } finally {
          ctx.signal.removeEventListener("abort", onAbort);
        }
      } catch (thrown) {
        const error = asEdgeError(thrown);
        code = error.code;
        logFailure(requestId, route, error, callTrace);
        throw toGrpcError(error);
      } finally {
        callTrace?.end(code);
        observeCall(route, code, started);
      }
    };

  const grpcPath = createGrpcPath({
    table,
    registry,
    logger,
    maxBodyBytes,
    bodyTimeoutMs,
    forward,
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
      // Forwarded calls read their body themselves, bounded in time, and answer DEADLINE_EXCEEDED;
      // a stream read by connect (reflection) still incomplete after the body timeout is cut
      // (HTTP/2: the stream is reset; HTTP/1.1: the connection is closed).
      if (!req.complete && !table.routes.has((req.url ?? "/").split("?")[0] ?? "/")) {
        const timer = setTimeout(() => {
          if (req.complete) return;
          if ("stream" in res && res.stream) res.stream.close(http2Constants.NGHTTP2_CANCEL);
          else req.socket?.destroy();
        }, bodyTimeoutMs);
        const clear = () => clearTimeout(timer);
        req.once("end", clear);
        res.once("close", clear);
      }
      grpcPath(req, res);
      return;
    }
    if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      void serveJwks(res, headers);
      return;
    }
    void serveConnect(req, res, requestId, address, headers);
  };
}
