/**
 * The gateway's configuration: the only reader of process.env (through the kit's loadConfig).
 */
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  type ConfigOf,
  flag,
  integer,
  loadConfig,
  oneOf,
  optionalText,
  optionalUrl,
  port,
  type Setting,
  text,
} from "@mercato/platform/config";
import { grpcTarget } from "@mercato/platform/grpc";
import { parseBudget, type RateBudget } from "./ratelimit.js";
import type { UpstreamName } from "./routes.js";

/** A rate-limit budget such as `20/1m`. */
function budget(variable: string, fallback: string, description: string): Setting<RateBudget> {
  return {
    variable,
    description,
    parse: (raw) => parseBudget(raw === undefined || raw === "" ? fallback : raw),
  };
}

/** A comma-separated list; empty when unset. */
function list(variable: string, description: string): Setting<readonly string[]> {
  return {
    variable,
    description,
    parse: (raw) =>
      Object.freeze(
        (raw ?? "")
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== ""),
      ),
  };
}

/** A CORS origin list: `*` or exact origins such as `https://shop.example.com`. */
function origins(variable: string): Setting<readonly string[]> {
  const inner = list(variable, "CORS allowlist: comma-separated origins, or *");
  return {
    ...inner,
    parse(raw) {
      const values = inner.parse(raw);
      for (const value of values) {
        if (value === "*") continue;
        let parsed: URL;
        try {
          parsed = new URL(value);
        } catch {
          throw new Error(`has an invalid origin "${value}"`);
        }
        if (parsed.origin !== value) throw new Error(`"${value}" is not an origin (try "${parsed.origin}")`);
      }
      return values;
    },
  };
}

const upstreamPorts: Readonly<Record<UpstreamName, number>> = {
  identity: 50051,
  catalog: 50052,
  inventory: 50053,
  order: 50054,
  payment: 50055,
  shipping: 50056,
  notification: 50057,
};

function upstreamAddress(name: UpstreamName) {
  return text(`${name.toUpperCase()}_ADDRESS`, {
    default: `127.0.0.1:${upstreamPorts[name]}`,
    description: `${name} gRPC address: host:port, dns:///host:port, or replicas ip:port,ip:port`,
  });
}

/** Every setting of the gateway. */
export const gatewaySchema = {
  serviceName: text("SERVICE_NAME", { default: "gateway" }),
  host: text("HOST", { default: "127.0.0.1", description: "bind address of the public port" }),
  port: port("PORT", { default: 8080 }),
  adminHost: text("ADMIN_HOST", { default: "127.0.0.1" }),
  adminPort: port("ADMIN_PORT", { default: 9080 }),
  logLevel: oneOf("LOG_LEVEL", ["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
    default: "info",
  }),
  mesh: oneOf("MESH", ["none", "istio"], { default: "none" }),
  otlpEndpoint: optionalUrl("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]),
  shutdownGraceMs: integer("SHUTDOWN_GRACE_MS", { default: 10_000, min: 0 }),
  identityAddress: upstreamAddress("identity"),
  catalogAddress: upstreamAddress("catalog"),
  inventoryAddress: upstreamAddress("inventory"),
  orderAddress: upstreamAddress("order"),
  paymentAddress: upstreamAddress("payment"),
  shippingAddress: upstreamAddress("shipping"),
  notificationAddress: upstreamAddress("notification"),
  jwtIssuer: text("JWT_ISSUER", { default: "mercato-identity" }),
  jwtAudience: text("JWT_AUDIENCE", { default: "mercato" }),
  jwtClockToleranceSec: integer("JWT_CLOCK_TOLERANCE_S", { default: 30, min: 0, max: 300 }),
  jwksRefreshIntervalMs: integer("JWKS_REFRESH_INTERVAL_MS", { default: 300_000, min: 1_000 }),
  jwksUnknownKidCooldownMs: integer("JWKS_UNKNOWN_KID_COOLDOWN_MS", { default: 30_000, min: 0 }),
  corsOrigins: origins("CORS_ORIGINS"),
  maxBodyBytes: integer("MAX_BODY_BYTES", { default: 1_048_576, min: 1, max: 64 * 1_048_576 }),
  maxDeadlineMs: integer("MAX_DEADLINE_MS", { default: 30_000, min: 1 }),
  defaultDeadlineMs: integer("DEFAULT_DEADLINE_MS", {
    default: 10_000,
    min: 0,
    description:
      "deadline of calls that set none; 0: none is sent upstream (the edge still cuts them at MAX_DEADLINE_MS)",
  }),
  forwardRequestHeaders: list(
    "FORWARD_REQUEST_HEADERS",
    "client headers passed on to the services (names, or prefixes ending in *); protocol and identity headers never are",
  ),
  forwardResponseHeaders: list(
    "FORWARD_RESPONSE_HEADERS",
    "service response headers and trailers passed on to clients (names, or prefixes ending in *)",
  ),
  maxPageSize: integer("MAX_PAGE_SIZE", {
    default: 200,
    min: 1,
    description: "page_size fields are capped to this",
  }),
  // Rate limits: calls per window for each class, shared by GATEWAY_REPLICAS replicas.
  rateLimitEnabled: flag("RATE_LIMIT_ENABLED", { default: true }),
  rateLimitStrict: budget("RATE_LIMIT_STRICT", "20/1m", "login, register, refresh: calls per window"),
  rateLimitDefault: budget("RATE_LIMIT_DEFAULT", "300/1m", "calls per window for unclassified RPCs"),
  rateLimitLoose: budget("RATE_LIMIT_LOOSE", "1200/1m", "calls per window for reads"),
  rateLimitMaxKeys: integer("RATE_LIMIT_MAX_KEYS", { default: 100_000, min: 100 }),
  replicas: integer("GATEWAY_REPLICAS", { default: 1, min: 1, description: "replicas sharing the limits" }),
  trustedProxyHops: integer("TRUSTED_PROXY_HOPS", {
    default: 0,
    min: 0,
    max: 10,
    description: "proxies in front of the edge that append to X-Forwarded-For (0: use the peer address)",
  }),
  // Rights follow changes (access.ts): events from identity at once, else within the TTL, at worst
  // within the staleness bound (then calls fail UNAVAILABLE until identity answers).
  userCheckTtlMs: integer("USER_CHECK_TTL_MS", {
    default: 10_000,
    min: 0,
    description: "how long identity's answer about a token's user is trusted before it is asked again",
  }),
  userCheckMaxStaleMs: integer("USER_CHECK_MAX_STALE_MS", {
    default: 30_000,
    min: 0,
    max: 30_000,
    description:
      "how long that answer is still used while identity cannot be asked (the bound on rights changes)",
  }),
  natsUrl: optionalText(
    "NATS_URL",
    "NATS with identity's events (UserAccessChanged, UserDeleted), applied at once; unset: the TTL alone",
  ),
  idempotencyTtlMs: integer("IDEMPOTENCY_TTL_MS", { default: 3_600_000, min: 1_000 }),
  idempotencyMaxEntries: integer("IDEMPOTENCY_MAX_ENTRIES", { default: 10_000, min: 1 }),
  idempotencyMaxResponseBytes: integer("IDEMPOTENCY_MAX_RESPONSE_BYTES", { default: 65_536, min: 0 }),
  // Slow clients: time to send the headers, the whole request, idle keep-alive and HTTP/2 sessions.
  headersTimeoutMs: integer("HTTP_HEADERS_TIMEOUT_MS", { default: 10_000, min: 100 }),
  requestTimeoutMs: integer("HTTP_REQUEST_TIMEOUT_MS", { default: 30_000, min: 100 }),
  keepAliveTimeoutMs: integer("HTTP_KEEPALIVE_TIMEOUT_MS", { default: 65_000, min: 100 }),
  http2IdleTimeoutMs: integer("HTTP2_IDLE_TIMEOUT_MS", { default: 120_000, min: 100 }),
  webRoot: text("WEB_ROOT", {
    default: fileURLToPath(new URL("../../web/dist", import.meta.url)),
    description: "folder of the storefront's build (index.html, assets/); without index.html: API only",
  }),
} as const;

/** The gateway's parsed configuration. */
export type GatewayConfig = ConfigOf<typeof gatewaySchema>;

/** Reads and checks the configuration (throws one ConfigError naming every problem). */
export function loadGatewayConfig(env: Readonly<Record<string, string | undefined>> = process.env) {
  const config = loadConfig(gatewaySchema, env);
  const problems: string[] = [];
  if (config.defaultDeadlineMs > config.maxDeadlineMs) {
    problems.push("DEFAULT_DEADLINE_MS must not exceed MAX_DEADLINE_MS");
  }
  if (config.userCheckTtlMs > config.userCheckMaxStaleMs) {
    problems.push("USER_CHECK_TTL_MS must not exceed USER_CHECK_MAX_STALE_MS");
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    problems.push("HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS");
  }
  if (config.http2IdleTimeoutMs <= config.maxDeadlineMs) {
    problems.push("HTTP2_IDLE_TIMEOUT_MS must exceed MAX_DEADLINE_MS (a call may wait that long silently)");
  }
  for (const [name, address] of Object.entries(upstreamAddresses(config))) {
    try {
      grpcTarget(address);
    } catch (error) {
      problems.push(`${name.toUpperCase()}_ADDRESS: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The upstream addresses by name. */
export function upstreamAddresses(config: GatewayConfig): Record<UpstreamName, string> {
  return {
    identity: config.identityAddress,
    catalog: config.catalogAddress,
    inventory: config.inventoryAddress,
    order: config.orderAddress,
    payment: config.paymentAddress,
    shipping: config.shippingAddress,
    notification: config.notificationAddress,
  };
}
