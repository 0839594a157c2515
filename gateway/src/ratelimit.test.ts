import * as grpc from "@grpc/grpc-js";
import { catalogV1, identityV1 } from "@mercato/sdk";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./config.js";
import { addressKey, clientAddress, parseBudget, RateLimiter } from "./ratelimit.js";
import { bearer, postJson, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const identity = "/mercato.identity.v1.IdentityService";
const catalog = "/mercato.catalog.v1.CatalogService";
const adminA = "0190a1b2-0000-7000-8000-00000000a0a1";
const adminB = "0190a1b2-0000-7000-8000-00000000a0b2";

describe("token buckets", () => {
  const budgets = {
    strict: { limit: 3, windowSec: 60 },
    default: { limit: 10, windowSec: 10 },
    loose: { limit: 100, windowSec: 1 },
  };

  it("admits a burst of the limit, then refills at limit per window, with the header figures", () => {
    let now = 0;
    const limiter = new RateLimiter({ budgets, replicas: 1, maxKeys: 1000, now: () => now });
    const seen = [1, 2, 3].map(() => limiter.take("strict", "ip:1.2.3.4"));
    expect(seen.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);
    expect(seen[2]?.resetSec).toBe(60); // three tokens at one per 20 s
    const refused = limiter.take("strict", "ip:1.2.3.4");
    expect(refused).toMatchObject({ allowed: false, limit: 3, remaining: 0, retryAfterSec: 20 });
    now += 19_000;
    expect(limiter.take("strict", "ip:1.2.3.4")).toMatchObject({ allowed: false, retryAfterSec: 1 });
    now += 1_000;
    expect(limiter.take("strict", "ip:1.2.3.4").allowed).toBe(true);
    // Other keys and other classes have buckets of their own.
    expect(limiter.take("strict", "ip:5.6.7.8").allowed).toBe(true);
    expect(limiter.take("default", "ip:1.2.3.4")).toMatchObject({ allowed: true, limit: 10, remaining: 9 });
  });

  it("enforces limit / replicas on each replica", () => {
    const limiter = new RateLimiter({ budgets, replicas: 2, maxKeys: 1000, now: () => 0 });
    expect(limiter.capacityOf("default")).toBe(5);
    expect(limiter.capacityOf("strict")).toBe(1);
    const admitted = Array.from({ length: 20 }, () => limiter.take("default", "user:u")).filter(
      (d) => d.allowed,
    );
    expect(admitted).toHaveLength(5);
  });

  it("keeps at most maxKeys buckets and sweeps the full ones", () => {
    let now = 0;
    const limiter = new RateLimiter({ budgets, replicas: 1, maxKeys: 100, now: () => now });
    for (let i = 0; i < 10_000; i++) limiter.take("loose", `ip:10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    // The most recently used survive; the oldest went first.
    limiter.take("strict", "ip:keep");
    limiter.take("strict", "ip:keep");
    expect(limiter.take("strict", "ip:keep").remaining).toBe(0);
    now += 2_000; // loose buckets are full again after 1 s; the strict one is not
    limiter.sweep();
    expect(limiter.size).toBe(1);
    expect(limiter.take("strict", "ip:keep").allowed).toBe(false);
  });

  it("parses budgets and rejects nonsense", () => {
    expect(parseBudget("20/1m")).toEqual({ limit: 20, windowSec: 60 });
    expect(parseBudget("600/60s")).toEqual({ limit: 600, windowSec: 60 });
    expect(parseBudget("5000/1h")).toEqual({ limit: 5000, windowSec: 3600 });
    expect(parseBudget("10/30")).toEqual({ limit: 10, windowSec: 30 });
    expect(() => parseBudget("0/1m")).toThrow();
    expect(() => parseBudget("lots")).toThrow();
    expect(() => loadGatewayConfig({ RATE_LIMIT_STRICT: "fast" })).toThrow(/RATE_LIMIT_STRICT/);
    expect(loadGatewayConfig({}).rateLimitStrict).toEqual({ limit: 20, windowSec: 60 });
  });

  it("keys anonymous callers by IPv4 address or IPv6 /64, trusting X-Forwarded-For only as configured", () => {
    expect(addressKey("203.0.113.9")).toBe("203.0.113.9");
    expect(addressKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientAddress("10.0.0.1", "1.1.1.1, 2.2.2.2", 0)).toBe("10.0.0.1");
    expect(clientAddress("10.0.0.1", "1.1.1.1, 2.2.2.2", 1)).toBe("2.2.2.2");
    expect(clientAddress("10.0.0.1", "1.1.1.1, 2.2.2.2", 2)).toBe("1.1.1.1");
    expect(clientAddress("10.0.0.1", "spoofed, 2.2.2.2", 2)).toBe("10.0.0.1");
    expect(clientAddress("10.0.0.1", undefined, 1)).toBe("10.0.0.1");
  });
});

describe("rate limits at the edge", () => {
  let upstreams: TestUpstreams;
  let edge: TestGateway;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    edge = await startTestGateway(upstreams, {
      RATE_LIMIT_STRICT: "3/1m",
      RATE_LIMIT_DEFAULT: "4/1m",
      RATE_LIMIT_LOOSE: "6/1m",
    });
    tokenA = await signToken(upstreams.jwks[0]!, { sub: adminA, role: "admin" });
    tokenB = await signToken(upstreams.jwks[0]!, { sub: adminB, role: "admin" });
  });

  afterAll(async () => {
    await edge?.stop();
    await upstreams?.stop();
  });

  it("limits login per client address (strict class) with 429, Retry-After and RateLimit-* headers", async () => {
    const before = upstreams.callsTo("Login").length;
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await postJson(edge.base, `${identity}/Login`, { email: "a@example.com", password: "wrong" });
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get("ratelimit-limit")).toBe("3");
        expect(last.headers.get("ratelimit-remaining")).toBe("2");
        expect(Number(last.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(upstreams.callsTo("Login").length).toBe(before + 3);
    expect(last!.headers.get("retry-after")).toBe("20");
    expect(last!.headers.get("ratelimit-remaining")).toBe("0");
    const body = (await last!.json()) as { code: string; message: string };
    expect(body.code).toBe("resource_exhausted");

    // Register shares the strict class but not the bucket of another class.
    const register = await postJson(edge.base, `${identity}/Register`, { email: "x@example.com" });
    expect(register.status).toBe(429);
    const browse = await postJson(edge.base, `${catalog}/ListProducts`, {});
    expect(browse.status).toBe(200);
    expect(browse.headers.get("ratelimit-limit")).toBe("6");
  });

  it("limits authenticated callers per user, not per address", async () => {
    const create = (token: string, sku: string) =>
      postJson(edge.base, `${catalog}/CreateProduct`, { sku, name: "P" }, bearer(token));
    const a: number[] = [];
    for (let i = 0; i < 5; i++) a.push((await create(tokenA, `A-${i}`)).status);
    expect(a).toEqual([200, 200, 200, 200, 429]);
    // Same address, another user: a bucket of its own.
    expect((await create(tokenB, "B-1")).status).toBe(200);
  });

  it("refuses gRPC callers with RESOURCE_EXHAUSTED and retry-after too", async () => {
    const client = createGrpcClient(catalogV1.CatalogService, edge.base.replace("http://", ""));
    try {
      const error = await client
        .createProduct({ sku: "A-grpc", name: "P" }, { metadata: bearer(tokenA) })
        .catch((e: grpc.ServiceError) => e);
      expect((error as grpc.ServiceError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((error as grpc.ServiceError).metadata.get("retry-after")[0]).toMatch(/^\d+$/);
    } finally {
      client.$close();
    }
  });

  it("charges calls with bad tokens to the client address", async () => {
    // The loose bucket of 127.0.0.1 had one call (ListProducts above); five forged tokens empty it.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await postJson(edge.base, `${identity}/GetUser`, {}, bearer(`forged.token.${i}`));
      statuses.push(response.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await postJson(edge.base, `${catalog}/ListProducts`, {})).status).toBe(429);
  });

  it("ignores X-Forwarded-For unless proxies are trusted", async () => {
    const spoofed = await postJson(
      edge.base,
      `${catalog}/ListProducts`,
      {},
      { "x-forwarded-for": "198.51.100.7" },
    );
    expect(spoofed.status).toBe(429);

    const behindProxy = await startTestGateway(upstreams, {
      RATE_LIMIT_LOOSE: "2/1m",
      TRUSTED_PROXY_HOPS: "1",
    });
    try {
      const from = (ip: string) =>
        postJson(behindProxy.base, `${catalog}/ListProducts`, {}, { "x-forwarded-for": `evil, ${ip}` });
      const statuses = [];
      for (const ip of ["198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"]) {
        statuses.push((await from(ip)).status);
      }
      expect(statuses).toEqual([200, 200, 429, 200]);
    } finally {
      await behindProxy.stop();
    }
  });

  it("counts rejections in a metric", async () => {
    const metrics = await (await fetch(`${edge.adminBase}/metrics`)).text();
    expect(metrics).toMatch(/mercato_gateway_rate_limited_total\{class="strict",scope="ip"\} [1-9]/);
    expect(metrics).toMatch(/mercato_gateway_rate_limited_total\{class="default",scope="user"\} [1-9]/);
  });
});

describe("a service's own throttling", () => {
  let upstreams: TestUpstreams;
  let edge: TestGateway;

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    edge = await startTestGateway(upstreams);
  });

  afterAll(async () => {
    await edge?.stop();
    await upstreams?.stop();
  });

  it("maps identity's RESOURCE_EXHAUSTED with a retry-after trailer to 429 + Retry-After", async () => {
    const response = await postJson(edge.base, `${identity}/Login`, {
      email: "throttled@example.com",
      password: "x",
    });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(await response.json()).toEqual({
      code: "resource_exhausted",
      message: "too many failed sign-in attempts; try again in 7 s",
    });

    const client = createGrpcClient(identityV1.IdentityService, edge.base.replace("http://", ""));
    try {
      const error = (await client
        .login({ email: "throttled@example.com", password: "x" })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(error.metadata.get("retry-after")).toEqual(["7"]);
    } finally {
      client.$close();
    }
  });
});

describe("every 429 carries Retry-After", () => {
  let upstreams: TestUpstreams;
  let edge: TestGateway;

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    edge = await startTestGateway(upstreams);
  });

  afterAll(async () => {
    await edge?.stop();
    await upstreams?.stop();
  });

  it("gives an upstream RESOURCE_EXHAUSTED without a retry-after trailer Retry-After: 1", async () => {
    const response = await postJson(edge.base, `${identity}/Login`, {
      email: "quota@example.com",
      password: "x",
    });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("1");
    const client = createGrpcClient(identityV1.IdentityService, edge.base.replace("http://", ""));
    try {
      const error = (await client
        .login({ email: "quota@example.com", password: "x" })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(error.metadata.get("retry-after")).toEqual(["1"]);
    } finally {
      client.$close();
    }
  });
});

describe("several replicas", () => {
  let upstreams: TestUpstreams;
  let replicas: TestGateway[];

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    const env = { GATEWAY_REPLICAS: "2", RATE_LIMIT_STRICT: "10/1m" };
    replicas = await Promise.all([startTestGateway(upstreams, env), startTestGateway(upstreams, env)]);
  });

  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.stop()));
    await upstreams?.stop();
  });

  it("admit about the configured limit together (each enforces limit / GATEWAY_REPLICAS)", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const replica = replicas[i % 2]!;
      const response = await postJson(replica.base, `${identity}/Login`, {
        email: "b@example.com",
        password: "x",
      });
      statuses.push(response.status);
    }
    const admitted = statuses.filter((s) => s !== 429).length;
    // 10 per minute refill 1 token per 12 s across the pair: a fast run admits 10, a slow one 11.
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(11);
    expect(upstreams.callsTo("Login").length).toBe(admitted);
    // A client stuck to one replica gets that replica's share.
    const first = await postJson(replicas[0]!.base, `${catalog}/ListProducts`, {});
    expect(first.headers.get("ratelimit-limit")).toBe("600"); // default loose budget 1200/1m halved
  });
});
