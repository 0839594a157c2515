/**
 * Request handling at the edge, one handler for HTTP/1.1 and HTTP/2, dispatching by protocol:
 *
 * - the Connect protocol's unary calls (POST JSON or binary, GET for NO_SIDE_EFFECTS methods) on a
 *   hand-written fast path (connect-path.ts), bytes to and from the upstream through the lean gRPC
 *   client (grpc-unary.ts);
 * - gRPC and gRPC-Web through connect-node's handlers (grpc-path.ts), with routes registered from the
 *   same table (one generic forwarding implementation, grpc-forward.ts) plus server reflection;
 * - on both paths, the same admission (authentication, then the caller's token bucket, before the
 *   body is read on the fast path), owner rule, page-size cap, Idempotency-Key cache, the configured
 *   headers passed both ways, and a log line saying why a call failed (edge-calls.ts);
 * - here: CORS, security headers and `x-request-id` on every response, and the JWKS document.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type Http2ServerResponse, constants as http2Constants } from "node:http2";
import type { Registry } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Logger } from "@mercato/platform/log";
import type { KeyStore, TokenVerifier, UserCheck } from "./auth.js";
import { ConnectPath } from "./connect-path.js";
import { createEdgeCalls, type EdgeCalls, type ResponseHeaders } from "./edge-calls.js";
import { EdgeError } from "./errors.js";
import {
  attachRequestState,
  createForward,
  type RequestState,
  requestContextValues,
} from "./grpc-forward.js";
import { createGrpcPath } from "./grpc-path.js";
import type { IdempotencyStore } from "./idempotency.js";
import { type EdgeRequest, header } from "./protocol.js";
import { clientAddress, type RateLimiter } from "./ratelimit.js";
import type { RouteTable } from "./routes.js";
import type { Upstreams } from "./upstreams.js";

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

/**
 * The CORS headers of an answer to `origin` (added to `headers`); whether the origin is allowed.
 * No origins configured: no CORS at all.
 */
function createCors(corsOrigins: readonly string[]) {
  const anyOrigin = corsOrigins.includes("*");
  const origins = new Set(corsOrigins);
  return (origin: string | undefined, headers: ResponseHeaders): boolean => {
    if (origins.size === 0) return false;
    headers.vary = "Origin";
    if (origin === undefined || !(anyOrigin || origins.has(origin))) return false;
    headers["access-control-allow-origin"] = origin;
    headers["access-control-expose-headers"] = exposedHeaders;
    return true;
  };
}

/** A CORS preflight: the allowed methods and headers for an allowed origin, 403 otherwise. */
function servePreflight(
  calls: EdgeCalls,
  req: EdgeRequest,
  res: EdgeResponse,
  allowed: boolean,
  headers: ResponseHeaders,
): void {
  if (allowed && header(req.headers["access-control-request-method"]) !== undefined) {
    headers["access-control-allow-methods"] = "GET, POST";
    headers["access-control-allow-headers"] = allowedRequestHeaders;
    headers["access-control-max-age"] = "7200";
    (res as ServerResponse).writeHead(204, headers);
    res.end();
  } else {
    calls.sendError(res, headers, new EdgeError(Code.PermissionDenied, "CORS request not allowed", [], 403));
  }
}

/** identity's public keys as a JWKS document (fetched first if the edge has none yet). */
async function serveJwks(
  calls: EdgeCalls,
  keys: KeyStore,
  res: EdgeResponse,
  headers: ResponseHeaders,
): Promise<void> {
  try {
    if (keys.jwks === undefined) await keys.refresh();
  } catch {
    // answered below
  }
  const jwks = keys.jwks;
  if (jwks === undefined) {
    calls.sendError(res, headers, new EdgeError(Code.Unavailable, "signing keys are not available yet"));
    return;
  }
  headers["cache-control"] = "public, max-age=300";
  calls.send(res, 200, headers, "application/jwk-set+json", Buffer.from(JSON.stringify(jwks)));
}

/** Builds the request handler of the public port. */
export function createEdgeHandler(options: EdgeOptions): (req: EdgeRequest, res: EdgeResponse) => void {
  const { table, keys, bodyTimeoutMs } = options;
  const calls = createEdgeCalls(options);
  const cors = createCors(options.corsOrigins);
  const connect = new ConnectPath(calls, options);
  const grpcPath = createGrpcPath({
    table,
    registry: options.registry,
    logger: options.logger,
    maxBodyBytes: options.maxBodyBytes,
    bodyTimeoutMs,
    forward: createForward(calls, options),
    contextValues: requestContextValues,
  });

  const serveGrpc = (req: EdgeRequest, res: EdgeResponse, state: RequestState, headers: ResponseHeaders) => {
    for (const [key, value] of Object.entries(headers)) res.setHeader(key, value);
    attachRequestState(req, state);
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
  };

  return (req, res) => {
    const given = header(req.headers["x-request-id"]);
    const address = clientAddress(
      req.socket?.remoteAddress,
      header(req.headers["x-forwarded-for"]),
      options.trustedProxyHops,
    );
    const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID();
    const headers: ResponseHeaders = { "x-request-id": requestId, "x-content-type-options": "nosniff" };
    if (options.draining() && req.httpVersionMajor === 1) headers.connection = "close";
    const corsAllowed = cors(header(req.headers.origin), headers);

    if (req.method === "OPTIONS") servePreflight(calls, req, res, corsAllowed, headers);
    else if (header(req.headers["content-type"])?.startsWith("application/grpc")) {
      serveGrpc(req, res, { requestId, address }, headers);
    } else if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      void serveJwks(calls, keys, res, headers);
    } else void connect.serve(req, res, requestId, address, headers);
  };
}
