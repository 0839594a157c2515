/**
 * Test doubles of two upstream contracts for the gateway's own tests: real grpc-js servers started
 * with the platform kit (createGrpcServer) that implement identity.v1 (GetJwks with real ES256 keys,
 * GetUser, ListUsers) and catalog.v1 (ListProducts, GetProduct, CreateProduct) and record what reached
 * them. Whole-system tests against the real services live in tests/.
 */
import { randomBytes } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code, invalidArgument, notFound, ServiceError, unauthenticated } from "@mercato/platform/errors";
import { createGrpcServer, type HandlerContext, type ServiceHandlers } from "@mercato/platform/grpc";
import { createLogger } from "@mercato/platform/log";
import { catalogV1, identityV1 } from "@mercato/sdk";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

/** What one call that reached an upstream carried. */
export interface SeenCall {
  readonly method: string;
  readonly userId: string | undefined;
  readonly role: string | undefined;
  readonly requestId: string;
  readonly traceparent: string | undefined;
  readonly deadline: number | undefined;
  readonly request: unknown;
}

/** An ES256 signing key with its kid. */
export interface TestKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function newKey(kid = randomBytes(8).toString("base64url")): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

export interface TokenClaims {
  readonly sub: string;
  readonly role?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Seconds from now. */
  readonly expiresIn?: number;
  /** The `ver` claim (absent when undefined, as in tokens from before access versions). */
  readonly ver?: number;
  /** Record the role and version as the double's answer about the user (default true). */
  readonly record?: boolean;
}

/**
 * What the identity double answers GetUserAccess with, per user: whatever the last token signed for
 * the user said (identity knows the users it issued tokens for), unless a test changed it.
 */
export const userAccess = new Map<string, { role: "customer" | "admin"; version: number }>();

/**
 * Signs an access token the way identity does (ES256, kid, iss, aud, sub, role, ver) and records the
 * user's role and version for the double's GetUserAccess (unless `record` is false).
 */
export async function signToken(key: TestKey, claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const role = claims.role ?? "customer";
  const version = claims.ver ?? 0;
  if (claims.record !== false && (role === "customer" || role === "admin")) {
    userAccess.set(claims.sub, { role, version });
  }
  return new SignJWT({ role, ...(claims.ver !== undefined ? { ver: claims.ver } : {}) })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(claims.issuer ?? "mercato-identity")
    .setAudience(claims.audience ?? "mercato")
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresIn ?? 900))
    .sign(key.privateKey);
}

function unimplemented<S extends DescService>(
  service: S,
  handlers: Partial<ServiceHandlers<S>>,
): ServiceHandlers<S> {
  const all: Record<string, unknown> = {};
  for (const method of service.methods) {
    all[method.localName] =
      (handlers as Record<string, unknown>)[method.localName] ??
      (async () => {
        throw new ServiceError(Code.UNIMPLEMENTED, `${method.name} is not in this test double`);
      });
  }
  return all as ServiceHandlers<S>;
}

export interface TestUpstreams {
  readonly identityAddress: string;
  readonly catalogAddress: string;
  /** Every call a client's request caused at either upstream, in order. */
  readonly calls: SeenCall[];
  /** The gateway's own access checks (GetUserAccess with a `gateway-access-check-…` request id). */
  readonly userChecks: SeenCall[];
  /** Users GetUser and GetUserAccess answer NOT_FOUND for (deleted). */
  readonly deletedUsers: Set<string>;
  /** The keys GetJwks publishes (mutable: push a new key to "rotate"). */
  readonly jwks: TestKey[];
  /** GetJwks calls so far. */
  jwksCalls(): number;
  /** Calls that reached `method` ("GetUser", ...). */
  callsTo(method: string): SeenCall[];
  /** Signals of GetProduct("slow") calls, to observe cancellation. */
  readonly slowCalls: { signal: AbortSignal; settled: Promise<string> }[];
  stop(): Promise<void>;
}

export const products = [
  {
    id: "0190a1b2-0000-7000-8000-000000000001",
    sku: "MUG-001",
    name: "Mug",
    description: "A mug",
    price: { currencyCode: "EUR", amountMinor: 1250n },
    categoryId: "kitchen",
    active: true,
  },
  {
    id: "0190a1b2-0000-7000-8000-000000000002",
    sku: "TEE-001",
    name: "T-shirt",
    description: "A shirt",
    price: { currencyCode: "EUR", amountMinor: 1999n },
    categoryId: "clothes",
    active: true,
  },
];

/** What both doubles record, shared with the test through {@link TestUpstreams}. */
interface DoubleState {
  readonly logger: ReturnType<typeof createLogger>;
  readonly calls: SeenCall[];
  readonly deletedUsers: Set<string>;
  readonly jwks: TestKey[];
  readonly slowCalls: { signal: AbortSignal; settled: Promise<string> }[];
  jwksCalls: number;
  seen(method: string, request: unknown, ctx: HandlerContext): void;
}

/** The identity double: GetJwks with real keys, GetUser, GetUserAccess, ListUsers, DeleteUser, Register, Login. */
function identityDouble(state: DoubleState) {
  const { logger, seen, jwks, deletedUsers } = state;
  return createGrpcServer({
    serviceName: "identity-double",
    logger,
    port: 0,
    adminPort: 0,
    drainDelayMs: 0,
    services: [
      {
        service: identityV1.IdentityService,
        handlers: unimplemented(identityV1.IdentityService, {
          async getJwks() {
            state.jwksCalls++;
            return { keys: jwks.map((k) => ({ ...k.publicJwk }) as Record<string, string>) };
          },
          async getUser(request, ctx) {
            seen("GetUser", request, ctx);
            if (deletedUsers.has(request.userId || (ctx.userId ?? ""))) throw notFound("user not found");
            return {
              user: {
                id: request.userId,
                email: `${request.userId}@example.com`,
                name: "Test User",
                role: identityV1.Role.CUSTOMER,
              },
            };
          },
          async getUserAccess(request, ctx) {
            seen("GetUserAccess", request, ctx);
            if (deletedUsers.has(request.userId)) throw notFound("user not found");
            const known = userAccess.get(request.userId) ?? { role: "customer", version: 0 };
            return {
              role: known.role === "admin" ? identityV1.Role.ADMIN : identityV1.Role.CUSTOMER,
              accessVersion: BigInt(known.version),
            };
          },
          async listUsers(request, ctx) {
            seen("ListUsers", request, ctx);
            return { users: [] };
          },
          async deleteUser(request, ctx) {
            seen("DeleteUser", request, ctx);
            deletedUsers.add(request.userId);
            return {};
          },
          async register(request, ctx) {
            seen("Register", request, ctx);
            return {
              user: { id: "0190a1b2-0000-7000-8000-0000000000ff", email: request.email, name: request.name },
            };
          },
          async login(request, ctx) {
            seen("Login", request, ctx);
            if (request.email === "throttled@example.com") {
              // What identity answers while an email is throttled.
              const metadata = new Metadata();
              metadata.set("retry-after", "7");
              throw new ServiceError(
                Code.RESOURCE_EXHAUSTED,
                "too many failed sign-in attempts; try again in 7 s",
                {
                  metadata,
                },
              );
            }
            if (request.email === "quota@example.com") {
              // A limit without a stated wait (the edge must still send Retry-After).
              throw new ServiceError(Code.RESOURCE_EXHAUSTED, "quota reached");
            }
            throw unauthenticated("invalid email or password");
          },
        }),
      },
    ],
  });
}

/** The catalog double: ListProducts, GetProduct (with "slow", "crash" and "leak"), CreateProduct. */
function catalogDouble(state: DoubleState) {
  const { logger, seen, calls, slowCalls } = state;
  return createGrpcServer({
    serviceName: "catalog-double",
    logger,
    port: 0,
    adminPort: 0,
    drainDelayMs: 0,
    services: [
      {
        service: catalogV1.CatalogService,
        handlers: unimplemented(catalogV1.CatalogService, {
          async listProducts(request, ctx) {
            seen("ListProducts", request, ctx);
            const matching = products.filter(
              (p) => request.categoryId === "" || p.categoryId === request.categoryId,
            );
            return { products: matching.slice(0, request.pageSize || matching.length) };
          },
          async getProduct(request, ctx) {
            seen("GetProduct", request, ctx);
            if (request.productId === "slow") {
              const settled = new Promise<string>((resolve) => {
                const timer = setTimeout(() => resolve("finished"), 5_000);
                ctx.signal.addEventListener("abort", () => {
                  clearTimeout(timer);
                  resolve("aborted");
                });
              });
              slowCalls.push({ signal: ctx.signal, settled });
              await settled;
              throw new ServiceError(Code.DEADLINE_EXCEEDED, "too slow");
            }
            if (request.productId === "crash") {
              // A bug in a service: the message and stack name files and addresses.
              throw new Error("boom at /srv/catalog/src/handlers.ts:42 (connect ECONNREFUSED 10.1.2.3:5432)");
            }
            if (request.productId === "leak") {
              throw new ServiceError(
                Code.INTERNAL,
                "query failed at /srv/catalog/src/db.ts:7 on 10.1.2.3:5432",
              );
            }
            const product = products.find((p) => p.id === request.productId);
            if (!product) throw notFound(`product ${request.productId} not found`);
            return { product };
          },
          async createProduct(request, ctx) {
            seen("CreateProduct", request, ctx);
            if (request.description === "slow") await new Promise((resolve) => setTimeout(resolve, 300));
            const violations = [];
            if (request.name === "") violations.push({ field: "name", description: "must not be empty" });
            if (request.sku === "") violations.push({ field: "sku", description: "must not be empty" });
            if (violations.length > 0) throw invalidArgument(violations);
            return {
              product: {
                id: `new-${calls.length}`,
                sku: request.sku,
                name: request.name,
                description: request.description,
              },
            };
          },
        }),
      },
    ],
  });
}

/** Starts the identity and catalog doubles on free ports. */
export async function startTestUpstreams(): Promise<TestUpstreams> {
  const calls: SeenCall[] = [];
  const userChecks: SeenCall[] = [];
  const state: DoubleState = {
    logger: createLogger({ service: "upstream-double", level: "silent" }),
    calls,
    deletedUsers: new Set<string>(),
    jwks: [await newKey("key-1")],
    slowCalls: [],
    jwksCalls: 0,
    seen(method, request, ctx) {
      const traceparent = ctx.metadata.get("traceparent")[0];
      (ctx.requestId.startsWith("gateway-access-check-") ? userChecks : calls).push({
        method,
        userId: ctx.userId,
        role: ctx.role,
        requestId: ctx.requestId,
        traceparent: typeof traceparent === "string" ? traceparent : undefined,
        deadline: ctx.deadline,
        request,
      });
    },
  };
  const identity = identityDouble(state);
  const catalog = catalogDouble(state);

  const [identityPorts, catalogPorts] = await Promise.all([identity.start(), catalog.start()]);
  return {
    identityAddress: `127.0.0.1:${identityPorts.port}`,
    catalogAddress: `127.0.0.1:${catalogPorts.port}`,
    calls,
    userChecks,
    deletedUsers: state.deletedUsers,
    jwks: state.jwks,
    jwksCalls: () => state.jwksCalls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    slowCalls: state.slowCalls,
    async stop() {
      await Promise.all([identity.stop(), catalog.stop()]);
    },
  };
}
