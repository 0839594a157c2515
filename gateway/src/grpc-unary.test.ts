import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@mercato/platform/errors";
import { catalogV1 } from "@mercato/sdk";
import { freePort } from "@mercato/testing/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcUnaryClient, UpstreamStatusError } from "./grpc-unary.js";
import { startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const listProducts = "/mercato.catalog.v1.CatalogService/ListProducts";
const getProduct = "/mercato.catalog.v1.CatalogService/GetProduct";
const listBody = Buffer.from(
  toBinary(catalogV1.ListProductsRequestSchema, create(catalogV1.ListProductsRequestSchema)),
);
const productBody = (productId: string) =>
  Buffer.from(
    toBinary(catalogV1.GetProductRequestSchema, create(catalogV1.GetProductRequestSchema, { productId })),
  );
const meta = { "x-request-id": "grpc-unary-test" };

/** The call's failure (the test fails if it succeeded). */
async function failure(result: Promise<Buffer>): Promise<UpstreamStatusError> {
  const error = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamStatusError);
  return error as UpstreamStatusError;
}

describe("the edge's gRPC unary client", () => {
  let a: TestUpstreams;
  let b: TestUpstreams;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestUpstreams(), startTestUpstreams()]);
  });
  afterAll(async () => {
    await Promise.allSettled([a.stop(), b.stop()]); // b may be stopped already
  });

  it("sends the message and metadata, and returns the response bytes", async () => {
    const client = new GrpcUnaryClient(`dns:///${a.catalogAddress}`);
    try {
      const bytes = await client.unary(
        listProducts,
        listBody,
        { ...meta, "x-user-id": "u-1" },
        Date.now() + 5_000,
      ).result;
      const response = fromBinary(catalogV1.ListProductsResponseSchema, bytes);
      expect(response.products.length).toBeGreaterThan(0);
      const seen = a.callsTo("ListProducts").at(-1);
      expect(seen?.requestId).toBe("grpc-unary-test");
      expect(seen?.userId).toBe("u-1");
      expect(seen?.deadline).toBeGreaterThan(Date.now());
    } finally {
      client.close();
    }
  });

  it("returns the service's status and message, and its trailers as metadata", async () => {
    const client = new GrpcUnaryClient(`dns:///${a.catalogAddress}`);
    try {
      const error = await failure(
        client.unary(getProduct, productBody("nope"), meta, Date.now() + 5_000).result,
      );
      expect(error.code).toBe(Code.NOT_FOUND);
      expect(error.details).toBe("product nope not found");
      expect(error.metadata.get("grpc-status")).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("ends a call at its deadline and when it is cancelled; the service sees both", async () => {
    const client = new GrpcUnaryClient(`dns:///${a.catalogAddress}`);
    try {
      const late = await failure(
        client.unary(getProduct, productBody("slow"), meta, Date.now() + 300).result,
      );
      expect(late.code).toBe(Code.DEADLINE_EXCEEDED);
      expect(await a.slowCalls.at(-1)?.settled).toBe("aborted");

      const call = client.unary(getProduct, productBody("slow"), meta, Date.now() + 5_000);
      const before = a.slowCalls.length;
      while (a.slowCalls.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      call.cancel();
      expect((await failure(call.result)).code).toBe(Code.CANCELLED);
      expect(await a.slowCalls.at(-1)?.settled).toBe("aborted");
    } finally {
      client.close();
    }
  });

  it("answers UNAVAILABLE when nothing listens", async () => {
    const client = new GrpcUnaryClient(`ipv4:127.0.0.1:${await freePort()}`);
    try {
      const error = await failure(client.unary(listProducts, listBody, meta, Date.now() + 5_000).result);
      expect(error.code).toBe(Code.UNAVAILABLE);
    } finally {
      client.close();
    }
  });

  it("spreads calls round-robin over replicas and sends them to the others when one stops", async () => {
    const client = new GrpcUnaryClient(`ipv4:${a.catalogAddress},${b.catalogAddress}`);
    try {
      const count = () => [a.callsTo("ListProducts").length, b.callsTo("ListProducts").length] as const;
      const [a0, b0] = count();
      for (let i = 0; i < 10; i++)
        await client.unary(listProducts, listBody, meta, Date.now() + 5_000).result;
      const [a1, b1] = count();
      expect([a1 - a0, b1 - b0]).toEqual([5, 5]);

      await b.stop();
      for (let i = 0; i < 10; i++)
        await client.unary(listProducts, listBody, meta, Date.now() + 5_000).result;
      expect(count()[0] - a1).toBe(10);
    } finally {
      client.close();
    }
  });
});
