import { execFile } from "node:child_process";
import { connect as http2Connect } from "node:http2";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import * as grpc from "@grpc/grpc-js";
import { fieldViolationsOf } from "@mercato/platform/errors";
import { createLogger } from "@mercato/platform/log";
import { catalogV1, identityV1, inventoryV1 } from "@mercato/sdk";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { freePort, requireTool } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./config.js";
import { buildGateway, type Gateway } from "./server.js";
import { newKey, products, signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const run = promisify(execFile);

let upstreams: TestUpstreams;
let gateway: Gateway;
let base: string;
let adminBase: string;
let customerToken: string;
let adminToken: string;
const customerId = "0190a1b2-0000-7000-8000-00000000c001";
const otherId = "0190a1b2-0000-7000-8000-00000000c002";
const adminId = "0190a1b2-0000-7000-8000-00000000a001";

beforeAll(async () => {
  upstreams = await startTestUpstreams();
  const config = loadGatewayConfig({
    PORT: "0",
    INVENTORY_ADDRESS: `127.0.0.1:${await freePort()}`,
    ADMIN_PORT: "0",
    IDENTITY_ADDRESS: upstreams.identityAddress,
    CATALOG_ADDRESS: upstreams.catalogAddress,
    CORS_ORIGINS: "https://shop.example.com",
    MAX_BODY_BYTES: "4096",
    MAX_DEADLINE_MS: "2000",
    DEFAULT_DEADLINE_MS: "1500",
  });
  gateway = buildGateway({
    config,
    logger: createLogger({ service: "gateway-test", level: "silent" }),
    jwksMinRefreshGapMs: 0,
  });
  const { port, adminPort } = await gateway.start();
  base = `http://127.0.0.1:${port}`;
  adminBase = `http://127.0.0.1:${adminPort}`;
  const key = upstreams.jwks[0]!;
  customerToken = await signToken(key, { sub: customerId, role: "customer" });
  adminToken = await signToken(key, { sub: adminId, role: "admin" });
});

afterAll(async () => {
  await gateway?.stop();
  await upstreams?.stop();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("route table", () => {
  it("exposes the edge methods and never INTERNAL ones or the probe service", () => {
    const paths = [...gateway.table.routes.keys()];
    expect(paths).toContain("/mercato.catalog.v1.CatalogService/ListProducts");
    expect(paths).toContain("/mercato.identity.v2.IdentityService/GetUser");
    expect(paths).toContain("/mercato.inventory.v1.InventoryService/GetStock");
    expect(paths).not.toContain("/mercato.inventory.v1.InventoryService/Reserve");
    expect(paths.some((p) => p.startsWith("/mercato.testing."))).toBe(false);
    const skipped = gateway.table.skipped.map((s) => s.path);
    expect(skipped).toContain("/mercato.inventory.v1.InventoryService/Reserve");
    const getUser = gateway.table.routes.get("/mercato.identity.v1.IdentityService/GetUser")!;
    expect(getUser.ownerField?.name).toBe("user_id");
    expect(getUser.allowGet).toBe(true);
    expect(getUser.upstream).toBe("identity");
    expect(gateway.table.routes.get("/mercato.identity.v2.IdentityService/GetUser")!.upstream).toBe(
      "identity",
    );
    expect(gateway.table.routes.get("/mercato.identity.v1.IdentityService/Register")!.allowGet).toBe(false);
    expect(gateway.table.services.map((s) => s.typeName)).not.toContain("mercato.testing.v1.ProbeService");
  });

  it("takes each route's rate-limit class from the contract: strict sign-in, loose reads, default otherwise", () => {
    const classOf = (path: string) => gateway.table.routes.get(path)?.rateClass;
    for (const method of ["Login", "Register", "RefreshToken"]) {
      expect(classOf(`/mercato.identity.v1.IdentityService/${method}`)).toBe("strict");
    }
    expect(classOf("/mercato.catalog.v1.CatalogService/ListProducts")).toBe("loose");
    expect(classOf("/mercato.order.v1.OrderService/GetOrder")).toBe("loose");
    expect(classOf("/mercato.catalog.v1.CatalogService/CreateProduct")).toBe("default");
    expect(classOf("/mercato.order.v1.OrderService/PlaceOrder")).toBe("default");
    for (const route of gateway.table.routes.values()) {
      expect(route.mutating).toBe(!route.allowGet);
      if (route.allowGet) expect(route.rateClass, route.path).toBe("loose");
    }
  });
});

describe("Connect protocol", () => {
  it("serves a JSON POST", async () => {
    const response = await post("/mercato.catalog.v1.CatalogService/ListProducts", { pageSize: 1 });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("server")).toBeNull();
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await response.json()) as { products: { sku: string; price: { amountMinor: string } }[] };
    expect(body.products).toHaveLength(1);
    expect(body.products[0]?.sku).toBe("MUG-001");
    expect(body.products[0]?.price.amountMinor).toBe("1250");
  });

  it("serves GET for side-effect-free methods, JSON and base64 binary", async () => {
    const message = encodeURIComponent(JSON.stringify({ categoryId: "clothes" }));
    const json = await fetch(
      `${base}/mercato.catalog.v1.CatalogService/ListProducts?connect=v1&encoding=json&message=${message}`,
    );
    expect(json.status).toBe(200);
    expect(((await json.json()) as { products: unknown[] }).products).toHaveLength(1);

    const bytes = toBinary(
      catalogV1.ListProductsRequestSchema,
      create(catalogV1.ListProductsRequestSchema, { categoryId: "kitchen" }),
    );
    const b64 = Buffer.from(bytes).toString("base64url");
    const binary = await fetch(
      `${base}/mercato.catalog.v1.CatalogService/ListProducts?connect=v1&encoding=proto&base64=1&message=${b64}`,
    );
    expect(binary.status).toBe(200);
    expect(binary.headers.get("content-type")).toBe("application/proto");
    const decoded = fromBinary(
      catalogV1.ListProductsResponseSchema,
      new Uint8Array(await binary.arrayBuffer()),
    );
    expect(decoded.products.map((p) => p.sku)).toEqual(["MUG-001"]);
  });

  it("refuses GET on a method with side effects with 405", async () => {
    const response = await fetch(
      `${base}/mercato.catalog.v1.CatalogService/CreateProduct?encoding=json&message=%7B%7D`,
    );
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("serves binary POST", async () => {
    const response = await fetch(`${base}/mercato.catalog.v1.CatalogService/GetProduct`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: toBinary(
        catalogV1.GetProductRequestSchema,
        create(catalogV1.GetProductRequestSchema, { productId: products[1]!.id }),
      ),
    });
    expect(response.status).toBe(200);
    const decoded = fromBinary(
      catalogV1.GetProductResponseSchema,
      new Uint8Array(await response.arrayBuffer()),
    );
    expect(decoded.product?.sku).toBe("TEE-001");
  });

  it("works with connect-node's Connect client over HTTP/1.1 (POST and GET) and HTTP/2", async () => {
    for (const [httpVersion, useHttpGet] of [
      ["1.1", false],
      ["1.1", true],
      ["2", false],
    ] as const) {
      const client = createClient(
        catalogV1.CatalogService,
        createConnectTransport({ baseUrl: base, httpVersion, useHttpGet }),
      );
      const response = await client.listProducts({ categoryId: "kitchen" });
      expect(response.products.map((p) => p.sku)).toEqual(["MUG-001"]);
      const missing = await client.getProduct({ productId: "nope" }).catch((e: unknown) => e);
      expect(ConnectError.from(missing).code).toBe(ConnectCode.NotFound);
      expect(ConnectError.from(missing).rawMessage).toBe("product nope not found");
    }
  });

  it("maps errors: unknown route 404, malformed JSON and wrong types 400, unsupported media 415", async () => {
    const unknown = await post("/mercato.catalog.v1.CatalogService/Nope", {});
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "unimplemented" });

    const internal = await post("/mercato.inventory.v1.InventoryService/Reserve", {});
    expect(internal.status).toBe(404);

    const malformed = await post("/mercato.catalog.v1.CatalogService/ListProducts", "{not json");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: "invalid_argument" });

    const wrongType = await post("/mercato.catalog.v1.CatalogService/ListProducts", { pageSize: "many" });
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({ code: "invalid_argument" });

    const media = await post("/mercato.catalog.v1.CatalogService/ListProducts", "x", {
      "content-type": "text/plain",
    });
    expect(media.status).toBe(415);

    const notFound = await post("/mercato.catalog.v1.CatalogService/GetProduct", { productId: "nope" });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ code: "not_found", message: "product nope not found" });
  });

  it("surfaces field violations as google.rpc.BadRequest details", async () => {
    const response = await post(
      "/mercato.catalog.v1.CatalogService/CreateProduct",
      { sku: "X" },
      bearer(adminToken),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      code: string;
      message: string;
      details: { type: string; value: string; debug: unknown }[];
    };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("name");
    expect(body.details[0]?.type).toBe("google.rpc.BadRequest");
    expect(body.details[0]?.debug).toEqual({
      fieldViolations: [{ field: "name", description: "must not be empty" }],
    });
    expect(Buffer.from(body.details[0]!.value, "base64").length).toBeGreaterThan(0);
  });

  it("refuses bodies over the limit with 413 before parsing", async () => {
    const before = upstreams.calls.length;
    const response = await post("/mercato.catalog.v1.CatalogService/ListProducts", {
      query: "x".repeat(10_000),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "resource_exhausted" });
    expect(upstreams.calls.length).toBe(before);
  });
});

describe("configuration", () => {
  it("has the documented defaults and rejects a bad CORS origin", () => {
    const config = loadGatewayConfig({});
    expect(config.port).toBe(8080);
    expect(config.adminPort).toBe(9080);
    expect(config.identityAddress).toBe("127.0.0.1:50051");
    expect(config.notificationAddress).toBe("127.0.0.1:50057");
    expect(config.jwtIssuer).toBe("mercato-identity");
    expect(config.jwtAudience).toBe("mercato");
    expect(config.corsOrigins).toEqual([]);
    expect(() => loadGatewayConfig({ CORS_ORIGINS: "https://ok.example.com/path" })).toThrow(/CORS_ORIGINS/);
    expect(() => loadGatewayConfig({ DEFAULT_DEADLINE_MS: "5000", MAX_DEADLINE_MS: "1000" })).toThrow();
  });

  it("takes replica lists as upstream addresses and rejects a list of names", () => {
    const config = loadGatewayConfig({ ORDER_ADDRESS: "127.0.0.1:50054,127.0.0.1:50064" });
    expect(config.orderAddress).toBe("127.0.0.1:50054,127.0.0.1:50064");
    expect(() => loadGatewayConfig({ ORDER_ADDRESS: "order-0:50054,order-1:50054" })).toThrow(
      /ORDER_ADDRESS: .*is not an IPv4 ip:port/,
    );
  });
});

describe("upstream failures", () => {
  it("answers unavailable (503) without leaking addresses when a service is down", async () => {
    const response = await post("/mercato.inventory.v1.InventoryService/GetStock", { sku: "MUG-001" });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("unavailable");
    expect(body.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
  });
});

describe("access and ownership", () => {
  it("answers unauthenticated (401) without a token on a protected RPC", async () => {
    const response = await post("/mercato.identity.v1.IdentityService/GetUser", { userId: customerId });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "unauthenticated" });
    const forged = await post("/mercato.identity.v1.IdentityService/GetUser", {}, bearer("not.a.jwt"));
    expect(forged.status).toBe(401);
  });

  it("answers permission_denied (403) to a customer on an admin RPC", async () => {
    const response = await post("/mercato.identity.v1.IdentityService/ListUsers", {}, bearer(customerToken));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "permission_denied" });
    const admin = await post("/mercato.identity.v1.IdentityService/ListUsers", {}, bearer(adminToken));
    expect(admin.status).toBe(200);
  });

  it("refuses a customer reading another user, with no call reaching identity", async () => {
    const before = upstreams.callsTo("GetUser").length;
    const response = await post(
      "/mercato.identity.v1.IdentityService/GetUser",
      { userId: otherId },
      bearer(customerToken),
    );
    expect(response.status).toBe(403);
    expect(upstreams.callsTo("GetUser").length).toBe(before);
  });

  it("fills an empty owner field with the caller and forwards the caller as metadata", async () => {
    const response = await post("/mercato.identity.v1.IdentityService/GetUser", {}, bearer(customerToken));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { user: { id: string } }).user.id).toBe(customerId);
    const call = upstreams.callsTo("GetUser").at(-1)!;
    expect(call.userId).toBe(customerId);
    expect(call.role).toBe("customer");
  });

  it("lets an admin name any user", async () => {
    const response = await post(
      "/mercato.identity.v1.IdentityService/GetUser",
      { userId: otherId },
      bearer(adminToken),
    );
    expect(response.status).toBe(200);
  });

  it("checks the owner field of binary requests too", async () => {
    const response = await fetch(`${base}/mercato.identity.v1.IdentityService/GetUser`, {
      method: "POST",
      headers: { "content-type": "application/proto", ...bearer(customerToken) },
      body: toBinary(
        identityV1.GetUserRequestSchema,
        create(identityV1.GetUserRequestSchema, { userId: otherId }),
      ),
    });
    expect(response.status).toBe(403);
  });

  it("strips x-user-id and x-user-role sent by the client", async () => {
    await post(
      "/mercato.catalog.v1.CatalogService/ListProducts",
      {},
      { "x-user-id": "evil", "x-user-role": "admin" },
    );
    const anonymous = upstreams.callsTo("ListProducts").at(-1)!;
    expect(anonymous.userId).toBeUndefined();
    expect(anonymous.role).toBeUndefined();

    const spoof = await post(
      "/mercato.identity.v1.IdentityService/GetUser",
      { userId: otherId },
      { ...bearer(customerToken), "x-user-id": otherId, "x-user-role": "admin" },
    );
    expect(spoof.status).toBe(403);
  });

  it("refreshes the JWKS exactly once for an unknown kid, and picks up a rotated key", async () => {
    const stranger = await newKey("unknown-kid");
    const token = await signToken(stranger, { sub: customerId });
    const before = upstreams.jwksCalls();
    const responses = await Promise.all(
      [1, 2, 3].map(() => post("/mercato.identity.v1.IdentityService/GetUser", {}, bearer(token))),
    );
    expect(responses.map((r) => r.status)).toEqual([401, 401, 401]);
    const again = await post("/mercato.identity.v1.IdentityService/GetUser", {}, bearer(token));
    expect(again.status).toBe(401);
    expect(upstreams.jwksCalls()).toBe(before + 1);

    const rotated = await newKey("key-2");
    upstreams.jwks.push(rotated);
    const fresh = await post(
      "/mercato.identity.v1.IdentityService/GetUser",
      {},
      bearer(await signToken(rotated, { sub: customerId })),
    );
    expect(fresh.status).toBe(200);
    expect(upstreams.jwksCalls()).toBe(before + 2);
  });

  it("rejects tokens with the wrong audience or issuer, or expired", async () => {
    const key = upstreams.jwks[0]!;
    for (const claims of [
      { sub: customerId, audience: "someone-else" },
      { sub: customerId, issuer: "evil" },
      { sub: customerId, expiresIn: -3600 },
    ]) {
      const response = await post(
        "/mercato.identity.v1.IdentityService/GetUser",
        {},
        bearer(await signToken(key, claims)),
      );
      expect(response.status).toBe(401);
    }
  });

  it("publishes identity's JWKS", async () => {
    const response = await fetch(`${base}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { keys: { kid: string; kty: string }[] };
    expect(body.keys.map((k) => k.kid)).toContain("key-1");
    expect(body.keys[0]?.kty).toBe("EC");
  });
});

describe("request id, trace context, deadlines, CORS", () => {
  it("echoes and propagates a client x-request-id and replaces an invalid one", async () => {
    const response = await post(
      "/mercato.catalog.v1.CatalogService/ListProducts",
      {},
      { "x-request-id": "req-123" },
    );
    expect(response.headers.get("x-request-id")).toBe("req-123");
    expect(upstreams.callsTo("ListProducts").at(-1)?.requestId).toBe("req-123");

    const bad = await post(
      "/mercato.catalog.v1.CatalogService/ListProducts",
      {},
      { "x-request-id": "a b c" },
    );
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    const failed = await post("/mercato.catalog.v1.CatalogService/Nope", {});
    expect(failed.headers.get("x-request-id")).toBeTruthy();
  });

  it("propagates traceparent, minting one when absent", async () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await post("/mercato.catalog.v1.CatalogService/ListProducts", {}, { traceparent });
    expect(upstreams.callsTo("ListProducts").at(-1)?.traceparent).toBe(traceparent);
    await post("/mercato.catalog.v1.CatalogService/ListProducts", {});
    expect(upstreams.callsTo("ListProducts").at(-1)?.traceparent).toMatch(
      /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/,
    );
  });

  it("caps client deadlines and applies the default", async () => {
    await post("/mercato.catalog.v1.CatalogService/ListProducts", {}, { "connect-timeout-ms": "999999" });
    const capped = upstreams.callsTo("ListProducts").at(-1)!;
    expect(capped.deadline! - Date.now()).toBeLessThanOrEqual(2000);
    await post("/mercato.catalog.v1.CatalogService/ListProducts", {});
    const defaulted = upstreams.callsTo("ListProducts").at(-1)!;
    expect(defaulted.deadline! - Date.now()).toBeLessThanOrEqual(1500);
    expect(defaulted.deadline! - Date.now()).toBeGreaterThan(1000);

    const slow = await post(
      "/mercato.catalog.v1.CatalogService/GetProduct",
      { productId: "slow" },
      {
        "connect-timeout-ms": "100",
      },
    );
    expect(slow.status).toBe(504);
    expect(await slow.json()).toMatchObject({ code: "deadline_exceeded" });
  });

  it("cancels the upstream call when the client goes away", async () => {
    const controller = new AbortController();
    const request = fetch(`${base}/mercato.catalog.v1.CatalogService/GetProduct`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ productId: "slow" }),
      signal: controller.signal,
    }).catch(() => "aborted");
    const count = upstreams.slowCalls.length;
    await expect.poll(() => upstreams.slowCalls.length).toBeGreaterThanOrEqual(count + 1);
    const aborted = Date.now();
    controller.abort();
    await request;
    // Well before the 1.5 s default deadline: the cancellation came from the client going away.
    const outcome = await Promise.race([
      upstreams.slowCalls[count]!.settled,
      new Promise((resolve) => setTimeout(() => resolve("still running"), 700)),
    ]);
    expect(outcome).toBe("aborted");
    expect(Date.now() - aborted).toBeLessThan(700);
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const allowed = await fetch(`${base}/mercato.catalog.v1.CatalogService/ListProducts`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    expect(allowed.headers.get("access-control-allow-headers")).toContain("connect-protocol-version");
    expect(allowed.headers.get("access-control-allow-methods")).toContain("POST");

    const denied = await fetch(`${base}/mercato.catalog.v1.CatalogService/ListProducts`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    expect(denied.status).toBe(403);

    const actual = await post(
      "/mercato.catalog.v1.CatalogService/ListProducts",
      {},
      { origin: "https://shop.example.com" },
    );
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    expect(actual.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const other = await post(
      "/mercato.catalog.v1.CatalogService/ListProducts",
      {},
      { origin: "https://evil.example.com" },
    );
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("gRPC and gRPC-Web", () => {
  it("serves gRPC clients (grpc-js) with auth, owner checks and faithful errors", async () => {
    const catalog = createGrpcClient(catalogV1.CatalogService, base.replace("http://", ""));
    const identity = createGrpcClient(identityV1.IdentityService, base.replace("http://", ""));
    const inventory = createGrpcClient(inventoryV1.InventoryService, base.replace("http://", ""));
    try {
      const listed = await catalog.listProducts({ categoryId: "clothes" });
      expect(listed.products.map((p) => p.sku)).toEqual(["TEE-001"]);

      const me = await identity.getUser({}, { metadata: bearer(customerToken) });
      expect(me.user?.id).toBe(customerId);

      const denied = await identity
        .getUser({ userId: otherId }, { metadata: bearer(customerToken) })
        .catch((e) => e);
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
      const anonymous = await identity.getUser({}).catch((e) => e);
      expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);

      const invalid = await catalog.createProduct({}, { metadata: bearer(adminToken) }).catch((e) => e);
      expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolationsOf(invalid).map((v) => v.field)).toEqual(["name", "sku"]);

      const internal = await inventory.reserve({}).catch((e) => e);
      expect(internal.code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      catalog.$close();
      identity.$close();
      inventory.$close();
    }
  });

  it("serves gRPC-Web clients (connect-web over fetch)", async () => {
    const client = createClient(catalogV1.CatalogService, createGrpcWebTransport({ baseUrl: base }));
    const response = await client.listProducts({ categoryId: "kitchen" });
    expect(response.products.map((p) => p.sku)).toEqual(["MUG-001"]);
    const error = await client.getProduct({ productId: "nope" }).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(ConnectCode.NotFound);
  });

  it("echoes x-request-id on gRPC responses", async () => {
    const session = http2Connect(base);
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/mercato.catalog.v1.CatalogService/ListProducts",
          "content-type": "application/grpc",
          te: "trailers",
          "x-request-id": "grpc-req-1",
        });
        stream.on("response", (h) => resolve(h));
        stream.on("error", reject);
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
        stream.resume();
      });
      expect(headers["x-request-id"]).toBe("grpc-req-1");
    } finally {
      session.close();
    }
  });

  const grpcurl = requireTool("grpcurl");
  it("works with grpcurl through reflection: list, describe, call", async () => {
    const target = base.replace("http://", "");
    const list = await run(grpcurl, ["-plaintext", target, "list"]);
    const services = list.stdout.trim().split("\n");
    expect(services).toContain("mercato.catalog.v1.CatalogService");
    expect(services).toContain("mercato.identity.v2.IdentityService");
    expect(services).not.toContain("mercato.testing.v1.ProbeService");

    const described = await run(grpcurl, [
      "-plaintext",
      target,
      "describe",
      "mercato.inventory.v1.InventoryService",
    ]);
    expect(described.stdout).toContain("GetStock");
    expect(described.stdout).not.toContain("Reserve");

    const message = await run(grpcurl, ["-plaintext", target, "describe", "mercato.catalog.v1.Product"]);
    expect(message.stdout).toContain("sku");

    const call = await run(grpcurl, [
      "-plaintext",
      "-H",
      `authorization: Bearer ${customerToken}`,
      "-d",
      "{}",
      target,
      "mercato.identity.v1.IdentityService/GetUser",
    ]);
    expect(JSON.parse(call.stdout)).toMatchObject({ user: { id: customerId } });

    const refused = await run(grpcurl, [
      "-plaintext",
      "-d",
      "{}",
      target,
      "mercato.identity.v1.IdentityService/GetUser",
    ]).catch((e: { stderr: string }) => e);
    expect((refused as { stderr: string }).stderr).toContain("Unauthenticated");
  });
});

describe("admin port", () => {
  it("serves /healthz, /readyz and /metrics", async () => {
    expect((await fetch(`${adminBase}/healthz`)).status).toBe(200);
    expect((await fetch(`${adminBase}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${adminBase}/metrics`)).text();
    expect(metrics).toContain("mercato_rpc_server_duration_seconds");
    expect(metrics).toContain("mercato.catalog.v1.CatalogService/ListProducts");
  });
});
