/**
 * The edge gateway: one public port speaking HTTP/1.1 and h2c (listener.ts), an admin port (/healthz,
 * /readyz, /metrics), the route table built from the contracts, identity's keys, and the channels to
 * the services; started and drained as one.
 */
import { randomUUID } from "node:crypto";
import { create, createRegistry, fromBinary, type Registry, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type AdminServer, startAdminServer } from "@mercato/platform/admin";
import type { Logger } from "@mercato/platform/log";
import { allFiles, identityV1, services } from "@mercato/sdk";
import type { JWK } from "jose";
import { AccessCheck, type AccessLookup } from "./access.js";
import { type AccessEvents, startAccessEvents } from "./access-events.js";
import { type JwksFetcher, KeyStore, TokenVerifier } from "./auth.js";
import { type GatewayConfig, upstreamAddresses } from "./config.js";
import { createEdgeHandler } from "./edge.js";
import { IdempotencyStore } from "./idempotency.js";
import { createPublicPort, type PublicPort } from "./listener.js";
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
  /** What the edge knows about each token's user (see access.ts). */
  readonly access: AccessCheck;
}

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

const getUserAccessPath = `/${identityV1.IdentityService.typeName}/${identityV1.IdentityService.method.getUserAccess.name}`;

/**
 * What identity says about a token's user now: its GetUserAccess (INTERNAL, asked without a caller).
 * NOT_FOUND means deleted; other failures reject (the access check then falls back on what it knows).
 */
function accessLookupOverGrpc(upstreams: Upstreams, timeoutMs: number): AccessLookup {
  return async (userId) => {
    const call = upstreams.unary(
      "identity",
      getUserAccessPath,
      Buffer.from(
        toBinary(
          identityV1.GetUserAccessRequestSchema,
          create(identityV1.GetUserAccessRequestSchema, { userId }),
        ),
      ),
      {
        requestId: `gateway-access-check-${randomUUID()}`,
        traceparent: undefined,
        tracestate: undefined,
        userId: undefined,
        role: undefined,
      },
      Date.now() + timeoutMs,
    );
    try {
      const answer = fromBinary(identityV1.GetUserAccessResponseSchema, (await call.result).message);
      const role = answer.role === identityV1.Role.ADMIN ? "admin" : "customer";
      return { state: "active", role, version: Number(answer.accessVersion) };
    } catch (error) {
      // NOT_FOUND from identity itself (not a connection failure the edge's client reports).
      if (error instanceof ConnectError && error.isWireError && error.code === Code.NotFound) {
        return { state: "deleted" };
      }
      throw error;
    }
  };
}

/**
 * identity's keys, the access check (what identity says of a token's user now) and the token
 * verifier, all over the identity channel.
 */
function createAuth(deps: GatewayDeps, upstreams: Upstreams) {
  const { config, logger } = deps;
  const keys = new KeyStore({
    fetch: jwksOverGrpc(upstreams, 5_000),
    logger,
    refreshIntervalMs: config.jwksRefreshIntervalMs,
    unknownKidCooldownMs: config.jwksUnknownKidCooldownMs,
    ...(deps.jwksMinRefreshGapMs !== undefined ? { minRefreshGapMs: deps.jwksMinRefreshGapMs } : {}),
  });
  const users = new AccessCheck({
    lookup: accessLookupOverGrpc(upstreams, 2_000),
    ttlMs: config.userCheckTtlMs,
    maxStaleMs: config.userCheckMaxStaleMs,
    logger,
  });
  const verifier = new TokenVerifier(keys, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clockToleranceSec: config.jwtClockToleranceSec,
    access: users,
  });
  return { keys, users, verifier };
}

/** The per-caller token buckets, when rate limiting is on. */
function createLimiter(config: GatewayConfig): RateLimiter | undefined {
  if (!config.rateLimitEnabled) return undefined;
  return new RateLimiter({
    budgets: {
      strict: config.rateLimitStrict,
      default: config.rateLimitDefault,
      loose: config.rateLimitLoose,
    },
    replicas: config.replicas,
    maxKeys: config.rateLimitMaxKeys,
  });
}

/** A gateway built from its dependencies: its parts, and the state of its start and stop. */
class EdgeGateway implements Gateway {
  readonly table: RouteTable;
  readonly keys: KeyStore;
  readonly access: AccessCheck;
  private readonly upstreams: Upstreams;
  private readonly port: PublicPort;
  private draining = false;
  private ready = false;
  private inFlight = 0;
  private admin: AdminServer | undefined;
  private accessEvents: AccessEvents | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly deps: GatewayDeps) {
    const { config, logger } = deps;
    this.table = deps.table ?? buildRouteTable(services);
    const table = this.table;
    this.upstreams = new Upstreams(
      { ...upstreamAddresses(config), ...deps.extraUpstreams },
      { maxDeadlineMs: config.maxDeadlineMs },
    );
    const { keys, users, verifier } = createAuth(deps, this.upstreams);
    this.keys = keys;
    this.access = users;
    const handler = createEdgeHandler({
      table,
      upstreams: this.upstreams,
      verifier,
      keys,
      logger,
      registry: deps.registry ?? createRegistry(...allFiles),
      maxBodyBytes: config.maxBodyBytes,
      maxDeadlineMs: config.maxDeadlineMs,
      defaultDeadlineMs: config.defaultDeadlineMs,
      bodyTimeoutMs: config.requestTimeoutMs,
      maxPageSize: config.maxPageSize,
      limiter: createLimiter(config),
      trustedProxyHops: config.trustedProxyHops,
      idempotency: new IdempotencyStore({
        ttlMs: config.idempotencyTtlMs,
        maxEntries: config.idempotencyMaxEntries,
        maxResponseBytes: config.idempotencyMaxResponseBytes,
      }),
      users,
      corsOrigins: config.corsOrigins,
      forwardRequestHeaders: config.forwardRequestHeaders,
      forwardResponseHeaders: config.forwardResponseHeaders,
      tracing: deps.tracing ?? false,
      draining: () => this.draining,
    });
    const site = loadStaticSite(config.webRoot, (path) => table.routes.has(path), logger);
    this.port = createPublicPort(config, logger, (req, res) => {
      this.inFlight++;
      res.once("close", () => this.inFlight--);
      if (site?.serve(req, res)) return;
      handler(req, res);
    });
  }

  async start(): Promise<{ port: number; adminPort: number }> {
    const { config, logger } = this.deps;
    const port = await this.port.listen(config.port, config.host);
    let admin: AdminServer;
    try {
      admin = await startAdminServer({
        host: config.adminHost,
        port: config.adminPort,
        isReady: () => this.ready && !this.draining,
        logger,
      });
    } catch (error) {
      this.port.drain();
      throw error;
    }
    this.admin = admin;
    this.keys.start();
    if (config.natsUrl !== undefined)
      this.accessEvents = startAccessEvents(config.natsUrl, this.access, logger);
    this.ready = true;
    const skipped = this.table.skipped.map((s) => `${s.path} (${s.reason})`);
    logger.info(
      { port, adminPort: admin.port, routes: this.table.routes.size, skipped: skipped.length },
      `gateway listening on http://${config.host}:${port}`,
    );
    logger.debug({ skipped }, "methods not exposed");
    return { port, adminPort: admin.port };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { config, logger } = this.deps;
      this.draining = true;
      this.ready = false;
      this.port.drain();
      const deadline = Date.now() + config.shutdownGraceMs;
      while (this.inFlight > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (this.inFlight > 0)
        logger.warn({ inFlight: this.inFlight }, "grace period over: cutting calls in flight");
      this.port.close();
      this.keys.stop();
      await this.accessEvents?.stop();
      this.upstreams.close();
      await this.admin?.close();
      logger.info("gateway stopped");
    })();
    return this.stopping;
  }
}

/** Builds the gateway from its configuration; nothing listens until `start()`. */
export function buildGateway(deps: GatewayDeps): Gateway {
  return new EdgeGateway(deps);
}
