import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { catalogV1 } from "@mercato/sdk";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotencyStore } from "./idempotency.js";
import { bearer, postJson, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const catalog = "/mercato.catalog.v1.CatalogService";
const identity = "/mercato.identity.v1.IdentityService";

/** A status the service sent (from its trailers), as the edge's client rejects with it. */
const grpcError = (code: grpc.status, details: string) =>
  Object.assign(new ConnectError(details, code as number as ConnectCode), { isWireError: true });
/** A failure the edge's client saw itself (no status from the service). */
const localError = (code: grpc.status, reason: string) =>
  new ConnectError(
    "service unavailable",
    code as number as ConnectCode,
    undefined,
    undefined,
    new Error(reason),
  );

/** An upstream response carrying `text` as its message. */
const reply = (text: string) => ({
  message: Buffer.from(text),
  header: new Headers(),
  trailer: new Headers(),
});

describe("the idempotency store", () => {
  const options = { ttlMs: 1_000, maxEntries: 3, maxResponseBytes: 100 };

  it("replays within the TTL, runs again after it, and refuses another request under the same key", async () => {
    let now = 0;
    const store = new IdempotencyStore({ ...options, now: () => now });
    let calls = 0;
    const call = async () => reply(`response ${++calls}`);
    const body = Buffer.from("request");
    expect(await store.run("u1", "k", "/M", body, call)).toEqual({
      response: reply("response 1"),
      replayed: false,
    });
    expect(await store.run("u1", "k", "/M", body, call)).toEqual({
      response: reply("response 1"),
      replayed: true,
    });
    await expect(store.run("u1", "k", "/M", Buffer.from("other"), call)).rejects.toMatchObject({
      code: ConnectCode.FailedPrecondition,
      httpStatus: 422,
    });
    await expect(store.run("u1", "k", "/Other", body, call)).rejects.toMatchObject({ httpStatus: 422 });
    expect((await store.run("u2", "k", "/M", body, call)).replayed).toBe(false); // another user
    now += 1_001;
    expect(await store.run("u1", "k", "/M", body, call)).toEqual({
      response: reply("response 3"),
      replayed: false,
    });
    expect(calls).toBe(3);
  });

  it("is bounded, stores definitive errors, and forgets transient ones and large responses", async () => {
    const store = new IdempotencyStore(options);
    for (let i = 0; i < 10; i++) await store.run("u", `k${i}`, "/M", Buffer.alloc(0), async () => reply("x"));
    expect(store.size).toBe(3);

    let calls = 0;
    const invalid = async () => {
      calls++;
      throw grpcError(grpc.status.INVALID_ARGUMENT, "name must not be empty");
    };
    await expect(store.run("u", "bad", "/M", Buffer.alloc(0), invalid)).rejects.toMatchObject({
      code: ConnectCode.InvalidArgument,
    });
    await expect(store.run("u", "bad", "/M", Buffer.alloc(0), invalid)).rejects.toMatchObject({
      code: ConnectCode.InvalidArgument,
      headers: { "idempotent-replayed": "true" },
    });
    expect(calls).toBe(1);

    const down = async () => {
      calls++;
      throw localError(grpc.status.UNAVAILABLE, "connection refused 10.0.0.1");
    };
    await expect(store.run("u", "down", "/M", Buffer.alloc(0), down)).rejects.toMatchObject({
      code: ConnectCode.Unavailable,
      rawMessage: "service unavailable, try again later",
    });
    await expect(store.run("u", "down", "/M", Buffer.alloc(0), down)).rejects.toMatchObject({
      code: ConnectCode.Unavailable,
    });
    expect(calls).toBe(3);

    let big = 0;
    const large = async () => ({ ...reply(""), message: Buffer.alloc(101 + 0 * ++big) });
    await store.run("u", "big", "/M", Buffer.alloc(0), large);
    expect((await store.run("u", "big", "/M", Buffer.alloc(0), large)).replayed).toBe(false);
    expect(big).toBe(2);
  });
});

describe("Idempotency-Key at the edge", () => {
  let upstreams: TestUpstreams;
  let edge: TestGateway;
  let adminA: string;
  let adminB: string;

  beforeAll(async () => {
    upstreams = await startTestUpstreams();
    edge = await startTestGateway(upstreams);
    adminA = await signToken(upstreams.jwks[0]!, {
      sub: "0190a1b2-0000-7000-8000-00000000a0a1",
      role: "admin",
    });
    adminB = await signToken(upstreams.jwks[0]!, {
      sub: "0190a1b2-0000-7000-8000-00000000a0b2",
      role: "admin",
    });
  });

  afterAll(async () => {
    await edge?.stop();
    await upstreams?.stop();
  });

  const createProduct = (token: string, body: unknown, key?: string) =>
    postJson(edge.base, `${catalog}/CreateProduct`, body, {
      ...bearer(token),
      ...(key !== undefined ? { "idempotency-key": key } : {}),
    });

  it("replays the stored response for the same key and user, with one upstream call", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    const first = await createProduct(adminA, { sku: "IDEM-1", name: "Mug" }, "key-1");
    const second = await createProduct(adminA, { sku: "IDEM-1", name: "Mug" }, "key-1");
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.json()).toEqual(await first.json());
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 1);

    // The same request in the binary encoding is the same request: replayed in binary.
    const binary = await fetch(`${edge.base}${catalog}/CreateProduct`, {
      method: "POST",
      headers: { "content-type": "application/proto", "idempotency-key": "key-1", ...bearer(adminA) },
      body: toBinary(
        catalogV1.CreateProductRequestSchema,
        create(catalogV1.CreateProductRequestSchema, { sku: "IDEM-1", name: "Mug" }),
      ),
    });
    expect(binary.headers.get("idempotent-replayed")).toBe("true");
    const decoded = fromBinary(
      catalogV1.CreateProductResponseSchema,
      new Uint8Array(await binary.arrayBuffer()),
    );
    expect(decoded.product?.sku).toBe("IDEM-1");
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 1);
  });

  it("refuses the same key with a different request (422 failed_precondition), reaching nothing", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    await createProduct(adminA, { sku: "IDEM-2", name: "Cup" }, "key-2");
    const reused = await createProduct(adminA, { sku: "IDEM-2", name: "Different" }, "key-2");
    expect(reused.status).toBe(422);
    expect(await reused.json()).toEqual({
      code: "failed_precondition",
      message: "this Idempotency-Key was already used with a different request",
    });
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 1);
  });

  it("keeps users apart: another user's identical key is another request", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    await createProduct(adminA, { sku: "IDEM-3", name: "Cup" }, "shared-key");
    const other = await createProduct(adminB, { sku: "IDEM-3", name: "Cup" }, "shared-key");
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 2);
  });

  it("makes one upstream call for concurrent duplicates (single flight)", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        createProduct(adminA, { sku: "IDEM-4", name: "Slow", description: "slow" }, "key-concurrent"),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(7);
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 1);
  });

  it("replays a definitive error too, and works for gRPC clients (metadata idempotency-key)", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    const first = await createProduct(adminA, { sku: "IDEM-5" }, "key-invalid");
    const again = await createProduct(adminA, { sku: "IDEM-5" }, "key-invalid");
    expect([first.status, again.status]).toEqual([400, 400]);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 1);

    const client = createGrpcClient(catalogV1.CatalogService, edge.base.replace("http://", ""));
    try {
      const metadata = { ...bearer(adminA), "idempotency-key": "key-grpc" };
      const one = await client.createProduct({ sku: "IDEM-6", name: "Plate" }, { metadata });
      const two = await client.createProduct({ sku: "IDEM-6", name: "Plate" }, { metadata });
      expect(two).toEqual(one);
      expect(upstreams.callsTo("CreateProduct").length).toBe(before + 2);
    } finally {
      client.$close();
    }
  });

  it("does nothing without a key, for anonymous callers, or for side-effect-free methods", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    await createProduct(adminA, { sku: "IDEM-7", name: "Bowl" });
    await createProduct(adminA, { sku: "IDEM-7", name: "Bowl" });
    expect(upstreams.callsTo("CreateProduct").length).toBe(before + 2);

    const logins = upstreams.callsTo("Login").length;
    for (let i = 0; i < 2; i++) {
      await postJson(
        edge.base,
        `${identity}/Login`,
        { email: "a@example.com", password: "x" },
        { "idempotency-key": "anon" },
      );
    }
    expect(upstreams.callsTo("Login").length).toBe(logins + 2);

    const lists = upstreams.callsTo("ListProducts").length;
    for (let i = 0; i < 2; i++) {
      await postJson(
        edge.base,
        `${catalog}/ListProducts`,
        {},
        { ...bearer(adminA), "idempotency-key": "read" },
      );
    }
    expect(upstreams.callsTo("ListProducts").length).toBe(lists + 2);
  });

  it("refuses a malformed Idempotency-Key", async () => {
    const before = upstreams.callsTo("CreateProduct").length;
    for (const key of ["x".repeat(256), "has space"]) {
      const response = await createProduct(adminA, { sku: "IDEM-8", name: "Jug" }, key);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe("invalid_argument");
    }
    expect(upstreams.callsTo("CreateProduct").length).toBe(before);
  });
});
