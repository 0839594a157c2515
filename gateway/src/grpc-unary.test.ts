import { createServer, type Http2Server, type Http2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { catalogV1 } from "@mercato/sdk";
import { freePort, startTcpProxy } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcUnaryClient, type UnaryResponse } from "./grpc-unary.js";
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
const soon = () => Date.now() + 5_000;

/** The call's failure (the test fails if it succeeded). */
async function failure(result: Promise<UnaryResponse>): Promise<ConnectError> {
  const error = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

/** The reason a local failure keeps for the logs. */
const reasonOf = (error: ConnectError) => String((error.cause as Error | undefined)?.message);

/** One framed gRPC message. */
const frame = (payload: Buffer, flags = 0) => {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
};

/**
 * A raw HTTP/2 upstream whose answer each test chooses by the request path, to play servers that
 * misbehave; it counts sessions and streams.
 */
async function rawUpstream(answer: (path: string, stream: ServerHttp2Stream, session: Http2Session) => void) {
  const sessions = new Set<Http2Session>();
  let sessionCount = 0;
  let streamCount = 0;
  const server: Http2Server = createServer();
  server.on("session", (session) => {
    sessionCount++;
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    streamCount++;
    stream.on("error", () => {});
    stream.resume();
    stream.on("end", () => answer(String(headers[":path"]), stream, stream.session as Http2Session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    sessions,
    get sessionCount() {
      return sessionCount;
    },
    get streamCount() {
      return streamCount;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

const ok = (stream: ServerHttp2Stream, body = Buffer.from("pong")) => {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(frame(body));
};

describe("the edge's gRPC unary client, against the platform kit", () => {
  let a: TestUpstreams;
  let b: TestUpstreams;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestUpstreams(), startTestUpstreams()]);
  });
  afterAll(async () => {
    await Promise.allSettled([a.stop(), b.stop()]); // b may be stopped already
  });

  it("sends the message and metadata, and returns the response with its headers and trailers", async () => {
    const client = new GrpcUnaryClient(`dns:///${a.catalogAddress}`);
    try {
      const response = await client.unary(listProducts, listBody, { ...meta, "x-user-id": "u-1" }, soon())
        .result;
      expect(
        fromBinary(catalogV1.ListProductsResponseSchema, response.message).products.length,
      ).toBeGreaterThan(0);
      expect(response.header.get("x-request-id")).toBe("grpc-unary-test");
      expect(response.trailer.get("grpc-status")).toBe("0");
      const seen = a.callsTo("ListProducts").at(-1);
      expect(seen?.requestId).toBe("grpc-unary-test");
      expect(seen?.userId).toBe("u-1");
      expect(seen?.deadline).toBeGreaterThan(Date.now());
    } finally {
      client.close();
    }
  });

  it("sends no grpc-timeout when told not to, and still ends the call at its deadline here", async () => {
    const client = new GrpcUnaryClient(`ipv4:${a.catalogAddress}`);
    try {
      await client.unary(listProducts, listBody, meta, soon(), false).result;
      expect(a.callsTo("ListProducts").at(-1)?.deadline).toBeUndefined();
      const late = await failure(
        client.unary(getProduct, productBody("slow"), meta, Date.now() + 300, false).result,
      );
      expect(late.code).toBe(Code.DeadlineExceeded);
      expect(await a.slowCalls.at(-1)?.settled).toBe("aborted");
    } finally {
      client.close();
    }
  });

  it("returns the service's status as a wire error with its message and trailers", async () => {
    const client = new GrpcUnaryClient(`dns:///${a.catalogAddress}`);
    try {
      const error = await failure(client.unary(getProduct, productBody("nope"), meta, soon()).result);
      expect(error.code).toBe(Code.NotFound);
      expect(error.isWireError).toBe(true);
      expect(error.rawMessage).toBe("product nope not found");
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
      expect(late.code).toBe(Code.DeadlineExceeded);
      expect(late.isWireError).toBe(false);
      expect(await a.slowCalls.at(-1)?.settled).toBe("aborted");

      const call = client.unary(getProduct, productBody("slow"), meta, soon());
      const before = a.slowCalls.length;
      while (a.slowCalls.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      call.cancel();
      expect((await failure(call.result)).code).toBe(Code.Canceled);
      expect(await a.slowCalls.at(-1)?.settled).toBe("aborted");
    } finally {
      client.close();
    }
  });

  it("answers UNAVAILABLE when nothing listens, with the reason kept for the logs", async () => {
    const port = await freePort();
    const client = new GrpcUnaryClient(`ipv4:127.0.0.1:${port}`);
    try {
      const error = await failure(client.unary(listProducts, listBody, meta, soon()).result);
      expect(error.code).toBe(Code.Unavailable);
      expect(error.rawMessage).toBe("service unavailable");
      expect(reasonOf(error)).toContain(`127.0.0.1:${port}`);
    } finally {
      client.close();
    }
  });

  it("spreads calls round-robin over replicas and sends them to the others when one stops", async () => {
    const client = new GrpcUnaryClient(`ipv4:${a.catalogAddress},${b.catalogAddress}`);
    try {
      const count = () => [a.callsTo("ListProducts").length, b.callsTo("ListProducts").length] as const;
      const [a0, b0] = count();
      for (let i = 0; i < 10; i++) await client.unary(listProducts, listBody, meta, soon()).result;
      const [a1, b1] = count();
      expect([a1 - a0, b1 - b0]).toEqual([5, 5]);

      await b.stop();
      for (let i = 0; i < 10; i++) await client.unary(listProducts, listBody, meta, soon()).result;
      expect(count()[0] - a1).toBe(10);
    } finally {
      client.close();
    }
  });
});

describe("the edge's gRPC unary client, against upstreams that misbehave", () => {
  it("reads a trailers-only answer, and keeps an oversized header block to its own call", async () => {
    const upstream = await rawUpstream((path, stream) => {
      if (path === "/t/TrailersOnly") {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "5",
            "grpc-message": "no%20such%20thing",
          },
          { endStream: true },
        );
      } else if (path === "/t/HugeTrailer") {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () =>
          stream.sendTrailers({ "grpc-status": "3", "grpc-message": "x".repeat(40_000) }),
        );
        stream.end();
      } else {
        setTimeout(() => ok(stream), 100);
      }
    });
    const client = new GrpcUnaryClient(`ipv4:${upstream.address}`);
    try {
      const trailersOnly = await failure(client.unary("/t/TrailersOnly", Buffer.alloc(0), {}, soon()).result);
      expect([trailersOnly.code, trailersOnly.rawMessage, trailersOnly.isWireError]).toEqual([
        Code.NotFound,
        "no such thing",
        true,
      ]);
      // Calls beside the oversized one share its session and are not disturbed.
      const beside = Array.from(
        { length: 5 },
        () => client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result,
      );
      const huge = await failure(client.unary("/t/HugeTrailer", Buffer.alloc(0), {}, soon()).result);
      expect(huge.code).toBe(Code.ResourceExhausted);
      expect(reasonOf(huge)).toContain("header list over the limit");
      for (const response of await Promise.all(beside)) expect(response.message.toString()).toBe("pong");
      expect(upstream.sessionCount).toBe(1);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  it("refuses oversized and malformed responses as INTERNAL or RESOURCE_EXHAUSTED of that call only", async () => {
    const upstream = await rawUpstream((path, stream) => {
      const respond = (
        headers: Record<string, string>,
        body: Buffer,
        trailers: Record<string, string> = { "grpc-status": "0" },
      ) => {
        stream.respond({ ":status": 200, ...headers }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(trailers));
        stream.end(body);
      };
      const grpc = { "content-type": "application/grpc" };
      if (path === "/t/Big") respond(grpc, frame(Buffer.alloc(2_000)));
      else if (path === "/t/Compressed") respond(grpc, frame(Buffer.from("x"), 1));
      else if (path === "/t/Truncated") respond(grpc, frame(Buffer.from("hello")).subarray(0, 7));
      else if (path === "/t/Html") respond({ "content-type": "text/html" }, Buffer.from("<html>"));
      else if (path === "/t/NoStatus") respond(grpc, frame(Buffer.from("x")), {});
      else if (path === "/t/BadMessage")
        respond(grpc, Buffer.alloc(0), { "grpc-status": "3", "grpc-message": "%E0%A4%A" });
      else if (path === "/t/Http503") {
        stream.respond({ ":status": 503 }, { endStream: true });
      } else ok(stream);
    });
    const client = new GrpcUnaryClient(`ipv4:${upstream.address}`, { maxResponseBytes: 1_000 });
    try {
      const call = (path: string) => failure(client.unary(path, Buffer.alloc(0), {}, soon()).result);
      expect((await call("/t/Big")).code).toBe(Code.ResourceExhausted);
      expect((await call("/t/Compressed")).code).toBe(Code.Internal);
      expect((await call("/t/Truncated")).code).toBe(Code.Internal);
      expect((await call("/t/Html")).code).toBe(Code.Unknown); // the gRPC spec's code for a foreign content type
      const noStatus = await call("/t/NoStatus");
      expect([noStatus.code, reasonOf(noStatus)]).toEqual([
        Code.Internal,
        `${upstream.address} ended a response without a status`,
      ]);
      expect((await call("/t/BadMessage")).code).toBe(Code.Internal);
      expect((await call("/t/Http503")).code).toBe(Code.Unavailable);
      expect((await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result).message.toString()).toBe(
        "pong",
      );
      expect(upstream.sessionCount).toBe(1);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  it("opens a new session after GOAWAY, letting calls in flight on the old one finish", async () => {
    let sendGoaway = true;
    const upstream = await rawUpstream((path, stream, session) => {
      if (path === "/t/Slow") {
        setTimeout(() => ok(stream), 300);
        if (sendGoaway) {
          sendGoaway = false;
          session.goaway(0, stream.id);
        }
      } else ok(stream);
    });
    const client = new GrpcUnaryClient(`ipv4:${upstream.address}`);
    try {
      const slow = client.unary("/t/Slow", Buffer.alloc(0), {}, soon()).result;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const after = await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect(after.message.toString()).toBe("pong");
      expect((await slow).message.toString()).toBe("pong");
      expect(upstream.sessionCount).toBe(2);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  it("moves to a fresh session before stream ids run out and after the maximum age, gracefully", async () => {
    const upstream = await rawUpstream((path, stream) => {
      if (path === "/t/Slow") setTimeout(() => ok(stream), 300);
      else ok(stream);
    });
    const client = new GrpcUnaryClient(`ipv4:${upstream.address}`, { maxStreamsPerSession: 3 });
    try {
      const slow = client.unary("/t/Slow", Buffer.alloc(0), {}, soon()).result;
      for (let i = 0; i < 5; i++) await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect((await slow).message.toString()).toBe("pong"); // the old session let it finish
      expect(upstream.sessionCount).toBe(2);
      await expect.poll(() => upstream.sessions.size).toBe(1); // and then closed
    } finally {
      client.close();
    }
    const aged = new GrpcUnaryClient(`ipv4:${upstream.address}`, { maxSessionAgeMs: 200 });
    try {
      const before = upstream.sessionCount;
      await aged.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      await aged.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect(upstream.sessionCount).toBe(before + 1);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await aged.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect(upstream.sessionCount).toBe(before + 2);
    } finally {
      aged.close();
      await upstream.close();
    }
  });

  it("fails a call whose connection stops answering at the keepalive timeout, not at its deadline", async () => {
    const upstream = await rawUpstream((path, stream) => {
      if (path === "/t/Ok") ok(stream);
      // "/t/Hang": never answers
    });
    const [host, port] = upstream.address.split(":");
    const proxy = await startTcpProxy({ host: host as string, port: Number(port) });
    const client = new GrpcUnaryClient(`ipv4:${proxy.address}`, { keepaliveMs: 200, pingTimeoutMs: 300 });
    try {
      await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      const started = Date.now();
      const hanging = client.unary("/t/Hang", Buffer.alloc(0), {}, Date.now() + 20_000).result;
      await new Promise((resolve) => setTimeout(resolve, 50));
      proxy.blackhole(true);
      const error = await failure(hanging);
      expect(error.code).toBe(Code.Unavailable);
      expect(Date.now() - started).toBeLessThan(10_000);
      proxy.blackhole(false);
      await expect
        .poll(
          async () =>
            (
              await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result.catch(() => undefined)
            )?.message.toString(),
          { timeout: 10_000 },
        )
        .toBe("pong");
    } finally {
      client.close();
      await proxy.close();
      await upstream.close();
    }
  });

  it("keeps serving the known addresses while DNS fails, without a lookup on every call", async () => {
    const upstream = await rawUpstream((_path, stream) => ok(stream));
    const [, port] = upstream.address.split(":");
    let lookups = 0;
    let failing = false;
    const client = new GrpcUnaryClient(`dns:///upstream.test:${port}`, {
      resolveEveryMs: 100,
      resolveRetryMs: 1_000,
      lookup: async () => {
        lookups++;
        if (failing) {
          await new Promise((resolve) => setTimeout(resolve, 1_500)); // a resolver timing out
          throw new Error("getaddrinfo EAI_AGAIN upstream.test");
        }
        return [{ address: "127.0.0.1", family: 4 }];
      },
    });
    try {
      await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      failing = true;
      await new Promise((resolve) => setTimeout(resolve, 150));
      const started = Date.now();
      for (let i = 0; i < 20; i++) await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect(Date.now() - started).toBeLessThan(1_000); // no call waited for the hanging lookup
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      const lookupsAfterFailure = lookups;
      for (let i = 0; i < 20; i++) await client.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result;
      expect(lookups - lookupsAfterFailure).toBeLessThanOrEqual(1); // retried after resolveRetryMs, not per call
    } finally {
      client.close();
    }
    const unresolvable = new GrpcUnaryClient("dns:///nothing.test:1", {
      lookup: async () => {
        throw new Error("getaddrinfo ENOTFOUND nothing.test");
      },
    });
    const error = await failure(unresolvable.unary("/t/Ok", Buffer.alloc(0), {}, soon()).result);
    expect(error.code).toBe(Code.Unavailable);
    expect(reasonOf(error)).toContain("ENOTFOUND");
    unresolvable.close();
    await upstream.close();
  });
});
