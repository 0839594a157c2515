/**
 * The edge gateway: one public port speaking HTTP/1.1 and h2c (the HTTP/2 connection preface is
 * sniffed on each new connection), an admin port (/healthz, /readyz, /metrics), the route table
 * built from the contracts, identity's keys, and the channels to the services.
 */
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { create, createRegistry, fromBinary, type Registry, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type AdminServer, startAdminServer } from "@mercato/platform/admin";
import type { Logger } from "@mercato/platform/log";
import { allFiles, identityV1, services } from "@mercato/sdk";
import type { JWK } from "jose";
import { type JwksFetcher, KeyStore, TokenVerifier, UserCheck, type UserLookup } from "./auth.js";
import { type GatewayConfig, upstreamAddresses } from "./config.js";
import { closeInStages } from "./connection.js";
import { createEdgeHandler } from "./edge.js";
import { IdempotencyStore } from "./idempotency.js";
import { RateLimiter } from "./ratelimit.js";
import { buildRouteTable, type RouteTable } from "./routes.js";
import { loadStaticSite } from "./static.js";
import { Upstreams } from "./upstreams.js";

export { type GatewayConfig, loadGatewayConfig } from "./config.js";
export { buildRouteTable, type Route, type RouteTable } from "./routes.js";

/** What {@link buildGateway} needs. */
export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** The route table (default: built from every service of @mercato/sdk). */
  readonly table?: RouteTable;
  /** Start OpenTelemetry spans per call (the caller started telemetry); default false. */
  readonly tracing?: boolean;
  /** Refreshes triggered by unknown kids are at least this far apart (default 1 s). */
  readonly jwksMinRefreshGapMs?: number;
  /** The registry for JSON of Any fields (default: every Mercato contract file). */
  readonly registry?: Registry;
  /** Upstreams besides Mercato's services, by name (routes of a custom `table` may name them). */
  readonly extraUpstreams?: Readonly<Record<string, string>>;
}

/** A built gateway. */
export interface Gateway {
  /** Binds the public and admin ports; resolves with the ports bound. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** Drains: not ready, stops accepting, lets calls in flight finish within the grace period, closes. */
  stop(): Promise<void>;
  readonly table: RouteTable;
  readonly keys: KeyStore;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const getJwksPath = `/${identityV1.IdentityService.typeName}/${identityV1.IdentityService.method.getJwks.name}`;

/** identity's JWKS through its GetJwks RPC (gRPC, the same channel the edge forwards on). */
function jwksOverGrpc(upstreams: Upstreams, timeoutMs: number): JwksFetcher {
  return async () => {
    const call = upstreams.unary(
      "identity",
      getJwksPath,
      Buffer.alloc(0),
      {
        requestId: `gateway-jwks-${Date.now()}`,
        traceparent: undefined,
        tracestate: undefined,
        userId: undefined,
        role: undefined,
      },
      Date.now() + timeoutMs,
    );
    const response = fromBinary(identityV1.GetJwksResponseSchema, (await call.result).message);
    return response.keys.map((key) => {
      const jwk: Record<string, string> = {};
      for (const name of ["kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"] as const) {
        if (key[name] !== "") jwk[name] = key[name];
      }
      return jwk as JWK;
    });
  };
}

const getUserPath = `/${identityV1.IdentityService.typeName}/${identityV1.IdentityService.method.getUser.name}`;

/**
 * Whether a token's user still exists: identity's GetUser for the token's subject, asked as that
 * user. NOT_FOUND (or an id identity refuses) means deleted; other failures propagate (the check
 * then lets the call through).
 */
function userLookupOverGrpc(upstreams: Upstreams, timeoutMs: number): UserLookup {
  return async (caller) => {
    const call = upstreams.unary(
      "identity",
      getUserPath,
      Buffer.from(
        toBinary(
          identityV1.GetUserRequestSchema,
          create(identityV1.GetUserRequestSchema, { userId: caller.userId }),
        ),
      ),
      {
        requestId: `gateway-user-check-${randomUUID()}`,
        traceparent: undefined,
        tracestate: undefined,
        userId: caller.userId,
        role: caller.role,
      },
      Date.now() + timeoutMs,
    );
    try {
      await call.result;
      return "active";
    } catch (error) {
      if (
        error instanceof ConnectError &&
        error.isWireError &&
        (error.code === Code.NotFound || error.code === Code.InvalidArgument)
      ) {
        return "deleted";
      }
      throw error;
    }
  };
}

/** Builds the gateway from its configuration; nothing listens until `start()`. */
export function buildGateway(deps: GatewayDeps): Gateway {
  const { config, logger } = deps;
  const table = deps.table ?? buildRouteTable(services);
  const upstreams = new Upstreams(
    { ...upstreamAddresses(config), ...deps.extraUpstreams },
    { maxDeadlineMs: config.maxDeadlineMs },
  );
  const keys = new KeyStore({
    fetch: jwksOverGrpc(upstreams, 5_000),
    logger,
    refreshIntervalMs: config.jwksRefreshIntervalMs,
    unknownKidCooldownMs: config.jwksUnknownKidCooldownMs,
    ...(deps.jwksMinRefreshGapMs !== undefined ? { minRefreshGapMs: deps.jwksMinRefreshGapMs } : {}),
  });
  const users = new UserCheck({
    lookup: userLookupOverGrpc(upstreams, 2_000),
    ttlMs: config.userCheckTtlMs,
    logger,
  });
  const verifier = new TokenVerifier(keys, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clockToleranceSec: config.jwtClockToleranceSec,
    users,
  });
  const limiter = config.rateLimitEnabled
    ? new RateLimiter({
        budgets: {
          strict: config.rateLimitStrict,
          default: config.rateLimitDefault,
          loose: config.rateLimitLoose,
        },
        replicas: config.replicas,
        maxKeys: config.rateLimitMaxKeys,
      })
    : undefined;
  const idempotency = new IdempotencyStore({
    ttlMs: config.idempotencyTtlMs,
    maxEntries: config.idempotencyMaxEntries,
    maxResponseBytes: config.idempotencyMaxResponseBytes,
  });

  let draining = false;
  let ready = false;
  let inFlight = 0;
  const handler = createEdgeHandler({
    table,
    upstreams,
    verifier,
    keys,
    logger,
    registry: deps.registry ?? createRegistry(...allFiles),
    maxBodyBytes: config.maxBodyBytes,
    maxDeadlineMs: config.maxDeadlineMs,
    defaultDeadlineMs: config.defaultDeadlineMs,
    bodyTimeoutMs: config.requestTimeoutMs,
    maxPageSize: config.maxPageSize,
    limiter,
    trustedProxyHops: config.trustedProxyHops,
    idempotency,
    users,
    corsOrigins: config.corsOrigins,
    forwardRequestHeaders: config.forwardRequestHeaders,
    forwardResponseHeaders: config.forwardResponseHeaders,
    tracing: deps.tracing ?? false,
    draining: () => draining,
  });
  const site = loadStaticSite(config.webRoot, (path) => table.routes.has(path), logger);
  const counted: typeof handler = (req, res) => {
    inFlight++;
    res.once("close", () => inFlight--);
    if (site?.serve(req, res)) return;
    handler(req, res);
  };

  // Slow clients are bounded: the headers must arrive within headersTimeout, the whole request
  // within requestTimeout (Node answers 408 and closes), an idle keep-alive connection is closed
  // after keepAliveTimeout; the timeouts are checked often enough to matter.
  const http1: HttpServer = createHttpServer(
    {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(config.headersTimeoutMs / 4))),
    },
    counted,
  );
  // Malformed or oversized requests the HTTP parser refuses: a status and a fixed error, no banner.
  http1.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    // A fixed Connect error body, so a Connect client reads a code rather than "unknown" for a status.
    const [status, body] =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? ["408 Request Timeout", '{"code":"deadline_exceeded","message":"request not received in time"}']
        : error.code === "HPE_HEADER_OVERFLOW"
          ? [
              "431 Request Header Fields Too Large",
              '{"code":"resource_exhausted","message":"request headers too large"}',
            ]
          : ["400 Bad Request", '{"code":"invalid_argument","message":"malformed HTTP request"}'];
    socket.write(
      `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nx-content-type-options: nosniff\r\n\r\n${body}`,
    );
    // The client may still be sending (the rest of oversized headers, a body): closed in stages, or
    // the reset would erase the answer before the client reads it.
    closeInStages(socket, config.requestTimeoutMs);
  });
  const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 1000 } }, counted);
  const sessions = new Set<Http2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", (error) => logger.debug({ err: error }, "HTTP/2 session error"));
    // A session without a frame for this long is closed (and cut shortly after if it lingers).
    session.setTimeout(config.http2IdleTimeoutMs, () => {
      session.close();
      setTimeout(() => session.destroy(), 1_000).unref();
    });
  });

  const sockets = new Set<Socket>();
  // noDelay: the HTTP servers never see the connection event that would set it (they do not listen).
  const listener = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const silent = () => socket.destroy();
    socket.setTimeout(config.headersTimeoutMs, silent);
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, h2Preface.length);
      const isHttp2 = head.subarray(0, n).equals(h2Preface.subarray(0, n));
      if (isHttp2 && head.length < h2Preface.length) return; // wait for the whole preface
      socket.off("data", onData);
      socket.pause();
      socket.setTimeout(0);
      socket.off("timeout", silent); // the HTTP servers set their own timeouts on this socket
      socket.unshift(head);
      if (isHttp2) {
        // The HTTP/2 session reads the unshifted bytes itself; the socket must stay paused.
        http2.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });

  let admin: AdminServer | undefined;
  let stopping: Promise<void> | undefined;

  return {
    table,
    keys,
    async start() {
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(config.port, config.host, () => {
          listener.off("error", reject);
          resolve();
        });
      });
      // The HTTP/1.1 server never listens itself; this starts its request and header timeouts.
      http1.emit("listening");
      const port = (listener.address() as AddressInfo).port;
      try {
        admin = await startAdminServer({
          host: config.adminHost,
          port: config.adminPort,
          isReady: () => ready && !draining,
          logger,
        });
      } catch (error) {
        listener.close();
        throw error;
      }
      keys.start();
      ready = true;
      const skipped = table.skipped.map((s) => `${s.path} (${s.reason})`);
      logger.info(
        { port, adminPort: admin.port, routes: table.routes.size, skipped: skipped.length },
        `gateway listening on http://${config.host}:${port}`,
      );
      logger.debug({ skipped }, "methods not exposed");
      return { port, adminPort: admin.port };
    },

    stop() {
      stopping ??= (async () => {
        draining = true;
        ready = false;
        listener.close();
        http1.closeIdleConnections();
        for (const session of sessions) session.close();
        const deadline = Date.now() + config.shutdownGraceMs;
        while (inFlight > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        if (inFlight > 0) logger.warn({ inFlight }, "grace period over: cutting calls in flight");
        http1.close();
        for (const socket of sockets) socket.destroy();
        keys.stop();
        upstreams.close();
        await admin?.close();
        logger.info("gateway stopped");
      })();
      return stopping;
    },
  };
}
