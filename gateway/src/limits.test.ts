import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { Worker } from "node:worker_threads";
import { create, toBinary } from "@bufbuild/protobuf";
import { catalogV1, identityV1 } from "@mercato/sdk";
import { createGrpcClient } from "@mercato/sdk/grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  postJson,
  rawExchange as rawOn,
  startTestGateway,
  type TestGateway,
} from "./testing/gateway.js";
import { signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const catalog = "/mercato.catalog.v1.CatalogService";
const identity = "/mercato.identity.v1.IdentityService";
const adminId = "0190a1b2-0000-7000-8000-00000000a001";

let upstreams: TestUpstreams;
let edge: TestGateway;
let adminToken: string;

beforeAll(async () => {
  upstreams = await startTestUpstreams();
  edge = await startTestGateway(upstreams, {
    MAX_BODY_BYTES: "4096",
    MAX_PAGE_SIZE: "50",
    MAX_DEADLINE_MS: "400",
    DEFAULT_DEADLINE_MS: "300",
    HTTP_HEADERS_TIMEOUT_MS: "500",
    HTTP_REQUEST_TIMEOUT_MS: "1000",
    HTTP_KEEPALIVE_TIMEOUT_MS: "500",
    HTTP2_IDLE_TIMEOUT_MS: "800",
  });
  adminToken = await signToken(upstreams.jwks[0]!, { sub: adminId, role: "admin" });
});

afterAll(async () => {
  await edge?.stop();
  await upstreams?.stop();
});

const rawExchange = (send: Parameters<typeof rawOn>[1], giveUpMs?: number) =>
  rawOn(edge.port, send, giveUpMs);

describe("request bodies", () => {
  it("refuses a chunked body over the limit (no content-length) with 413 and closes the connection", async () => {
    const before = upstreams.calls.length;
    let pump: NodeJS.Timeout | undefined;
    const result = await rawExchange((write) => {
      write(
        `POST ${catalog}/ListProducts HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
      );
      const chunk = `400\r\n${"x".repeat(1024)}\r\n`;
      pump = setInterval(() => write(chunk), 2); // never ends
    });
    clearInterval(pump);
    expect(result.closedByServer).toBe(true);
    expect(result.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.response).toContain('"code":"resource_exhausted"');
    expect(upstreams.calls.length).toBe(before);
  });

  it("refuses an HTTP/2 body over the limit without content-length, and resets the stream", async () => {
    const before = upstreams.calls.length;
    const session = http2Connect(edge.base);
    try {
      const outcome = await new Promise<{ status: unknown; body: string }>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": `${catalog}/ListProducts`,
          "content-type": "application/json",
        });
        let status: unknown;
        let body = "";
        stream.on("response", (headers) => {
          status = headers[":status"];
        });
        stream.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        stream.on("close", () => resolve({ status, body }));
        stream.on("error", reject);
        // The server resets the stream (RST_STREAM NO_ERROR) after its answer: the client sees the
        // stream closed while it still had more to send.
        const pump = setInterval(() => {
          if (stream.closed || stream.destroyed) {
            clearInterval(pump);
            resolve({ status, body });
          } else stream.write(Buffer.alloc(1024, 0x20));
        }, 2);
      });
      expect(outcome.status).toBe(413);
      expect(outcome.body).toContain("resource_exhausted");
    } finally {
      session.destroy();
    }
    expect(upstreams.calls.length).toBe(before);
  });

  it("refuses a declared content-length over the limit before reading it", async () => {
    const result = await rawExchange((write) =>
      write(
        `POST ${catalog}/ListProducts HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 999999\r\n\r\n{`,
      ),
    );
    expect(result.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.closedByServer).toBe(true);
  });

  it("answers malformed JSON and ill-typed messages with invalid_argument, reaching nothing", async () => {
    const before = upstreams.calls.length;
    for (const body of ["{not json", '{"pageSize": "many"}', "[1,2]", '"text"', "\u0000\u0001"]) {
      const response = await postJson(edge.base, `${catalog}/ListProducts`, body);
      expect(response.status, body).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe("invalid_argument");
    }
    const binary = await fetch(`${edge.base}${catalog}/ListProducts`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    expect(binary.status).toBe(400);
    expect(upstreams.calls.length).toBe(before);
  });
});

/** A raw gRPC call on `session`: the HTTP status and the grpc-status, from headers or trailers. */
function grpcExchange(
  session: ClientHttp2Session,
  path: string,
  body: Buffer,
): Promise<{ status: string | undefined; rst: number }> {
  return new Promise((resolve) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let status: string | undefined;
    stream.on("response", (h) => {
      status ??= h["grpc-status"] as string | undefined;
    });
    stream.on("trailers", (h) => {
      status ??= h["grpc-status"] as string | undefined;
    });
    stream.on("error", () => {});
    stream.on("close", () => resolve({ status, rst: stream.rstCode ?? 0 }));
    stream.resume();
    stream.end(body);
  });
}

const grpcFrame = (payload: Buffer) => {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
};

/** One HTTP/1.1 upload for {@link uploadElsewhere}: what is sent, and the answer's status read back. */
interface Upload {
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The body: `size` bytes of "x", in a gRPC frame when `framed`. */
  readonly size: number;
  readonly framed?: boolean;
}

/**
 * Runs uploads with fetch from a worker thread and returns "<HTTP status> <grpc-status or Connect
 * code>" or the fetch error of each. Another thread, because in this one the client and the edge
 * share an event loop, and the race between the client still sending and the edge closing never
 * happens.
 */
async function uploadElsewhere(base: string, uploads: readonly Upload[]): Promise<string[]> {
  const worker = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
    const run = async ({ path, headers, size, framed }) => {
      const payload = Buffer.alloc(size, "x");
      let body = payload;
      if (framed) {
        body = Buffer.alloc(5 + size);
        body.writeUInt32BE(size, 1);
        payload.copy(body, 5);
      }
      try {
        const response = await fetch(workerData.base + path, { method: "POST", headers, body });
        const text = await response.text();
        const code = response.headers.get("grpc-status") ?? JSON.parse(text).code;
        return response.status + " " + code;
      } catch (error) {
        return "failed: " + error.message + " (" + (error.cause?.message ?? "") + ")";
      }
    };
    Promise.all(workerData.uploads.map(run)).then((answers) => parentPort.postMessage(answers));`,
    { eval: true, workerData: { base, uploads } },
  );
  try {
    return await new Promise<string[]>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  } finally {
    await worker.terminate();
  }
}

describe("answers to requests refused while the client is still sending", () => {
  // The default timeouts, so that the answer is what is tested, not how fast this machine uploads.
  let roomy: TestGateway;
  beforeAll(async () => {
    roomy = await startTestGateway(upstreams, { MAX_BODY_BYTES: "4096" });
  });
  afterAll(async () => {
    await roomy?.stop();
  });

  // Closing the socket at once made the client's TCP stack receive a reset that erased the answer:
  // a third to a half of such uploads failed with "fetch failed: EPIPE" instead of reading a 413.
  it("answers 413 to oversized HTTP/1.1 uploads (Connect and gRPC-Web) and closes the connection in stages", async () => {
    const path = `${catalog}/ListProducts`;
    const connect: Upload = { path, headers: { "content-type": "application/json" }, size: 8 * 1_048_576 };
    const grpcWeb: Upload = {
      path,
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      size: 8 * 1_048_576,
      framed: true,
    };
    const answers = await uploadElsewhere(roomy.base, [...Array(6).fill(connect), ...Array(3).fill(grpcWeb)]);
    expect(answers).toEqual([...Array(6).fill("413 resource_exhausted"), ...Array(3).fill("200 8")]);
  });

  it("answers 431 to oversized headers while the body is still coming", async () => {
    const upload: Upload = {
      path: `${catalog}/ListProducts`,
      headers: { "content-type": "application/json", "x-padding": "p".repeat(20_000) },
      size: 4 * 1_048_576,
    };
    expect(await uploadElsewhere(roomy.base, Array(4).fill(upload))).toEqual(
      Array(4).fill("431 resource_exhausted"),
    );
  });

  it("costs an oversized HTTP/2 upload only its stream: the same session answers the next calls", async () => {
    // As grpc-js does: the client's own session memory is not what limits its message sizes.
    const session = http2Connect(roomy.base, { maxSessionMemory: 1024 });
    session.on("error", () => {});
    try {
      const big = grpcFrame(Buffer.alloc(16 * 1_048_576, 0x20));
      const refused = await Promise.all(
        Array.from({ length: 3 }, () => grpcExchange(session, `${catalog}/ListProducts`, big)),
      );
      expect(refused.map((r) => r.status)).toEqual(["8", "8", "8"]);
      for (let i = 0; i < 3; i++) {
        const next = await grpcExchange(session, `${catalog}/ListProducts`, grpcFrame(Buffer.alloc(0)));
        expect(next).toEqual({ status: "0", rst: 0 });
      }
      expect(session.closed || session.destroyed).toBe(false);
    } finally {
      session.destroy();
    }
  });
});

describe("page sizes", () => {
  it("caps page_size at MAX_PAGE_SIZE in JSON, binary and gRPC requests, leaving smaller ones alone", async () => {
    await postJson(edge.base, `${catalog}/ListProducts`, { pageSize: 100_000 });
    expect(upstreams.callsTo("ListProducts").at(-1)?.request).toMatchObject({ pageSize: 50 });
    await postJson(edge.base, `${catalog}/ListProducts`, { pageSize: 7 });
    expect(upstreams.callsTo("ListProducts").at(-1)?.request).toMatchObject({ pageSize: 7 });

    await fetch(`${edge.base}${catalog}/ListProducts`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: toBinary(
        catalogV1.ListProductsRequestSchema,
        create(catalogV1.ListProductsRequestSchema, { pageSize: 5000, categoryId: "kitchen" }),
      ),
    });
    expect(upstreams.callsTo("ListProducts").at(-1)?.request).toMatchObject({
      pageSize: 50,
      categoryId: "kitchen",
    });

    const message = encodeURIComponent(JSON.stringify({ pageSize: 999 }));
    await fetch(`${edge.base}${catalog}/ListProducts?encoding=json&message=${message}`);
    expect(upstreams.callsTo("ListProducts").at(-1)?.request).toMatchObject({ pageSize: 50 });

    const client = createGrpcClient(catalogV1.CatalogService, edge.base.replace("http://", ""));
    const users = createGrpcClient(identityV1.IdentityService, edge.base.replace("http://", ""));
    try {
      await client.listProducts({ pageSize: 2_000_000 });
      expect(upstreams.callsTo("ListProducts").at(-1)?.request).toMatchObject({ pageSize: 50 });
      await users.listUsers({ pageSize: 201 }, { metadata: bearer(adminToken) });
      expect(upstreams.callsTo("ListUsers").at(-1)?.request).toMatchObject({ pageSize: 50 });
    } finally {
      client.$close();
      users.$close();
    }
  });

  it("finds every page_size field of every exposed request", () => {
    const paths = [...edge.gateway.table.routes.values()]
      .filter((r) => r.pageSizePaths.length > 0)
      .map((r) => r.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        `${catalog}/ListProducts`,
        `${catalog}/ListCategories`,
        `${catalog}/ListReviews`,
        `${identity}/ListUsers`,
        "/mercato.order.v1.OrderService/ListOrders",
      ]),
    );
    const reviews = edge.gateway.table.routes.get(`${catalog}/ListReviews`)!;
    expect(reviews.pageSizePaths.map((p) => p.map((f) => f.name).join("."))).toEqual(["page_size"]);
  });
});

describe("deadlines", () => {
  it("caps client deadlines of Connect and gRPC calls at MAX_DEADLINE_MS", async () => {
    await postJson(edge.base, `${catalog}/ListProducts`, {}, { "connect-timeout-ms": "3600000" });
    expect(upstreams.callsTo("ListProducts").at(-1)!.deadline! - Date.now()).toBeLessThanOrEqual(400);

    const client = createGrpcClient(catalogV1.CatalogService, edge.base.replace("http://", ""));
    try {
      await client.listProducts({}, { deadline: Date.now() + 3_600_000 });
      expect(upstreams.callsTo("ListProducts").at(-1)!.deadline! - Date.now()).toBeLessThanOrEqual(400);
    } finally {
      client.$close();
    }
  });
});

describe("slow and never-finishing clients", () => {
  it("closes a connection that never sends a byte within the headers timeout", async () => {
    const result = await rawExchange(() => {});
    expect(result.closedByServer).toBe(true);
    expect(result.closedAfterMs).toBeLessThan(1_500);
  });

  it("closes a connection that sends half of the request headers", async () => {
    const result = await rawExchange((write) =>
      write(`POST ${catalog}/ListProducts HTTP/1.1\r\nhost: edge\r\n`),
    );
    expect(result.closedByServer).toBe(true);
    expect(result.closedAfterMs).toBeLessThan(2_000);
    expect(result.response).not.toMatch(/Error:| at |node_modules/);
  });

  it("answers 408 and closes when the body never finishes", async () => {
    const before = upstreams.calls.length;
    const result = await rawExchange((write) =>
      write(
        `POST ${catalog}/ListProducts HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"page`,
      ),
    );
    expect(result.closedByServer).toBe(true);
    expect(result.closedAfterMs).toBeLessThan(2_500);
    expect(result.response).toMatch(/^HTTP\/1\.1 408 /);
    expect(upstreams.calls.length).toBe(before);
  });

  it("closes an idle keep-alive connection after the keep-alive timeout", async () => {
    const result = await rawExchange((write) =>
      write(
        `POST ${catalog}/ListProducts HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
      ),
    );
    expect(result.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(result.closedByServer).toBe(true);
    expect(result.closedAfterMs).toBeLessThan(2_000);
  });

  it("closes an HTTP/2 session that sends nothing after the preface within the idle timeout", async () => {
    const session = http2Connect(edge.base);
    const started = Date.now();
    await new Promise((resolve) => session.once("close", resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it("answers DEADLINE_EXCEEDED to a gRPC request that never finishes within the request timeout, and ends its stream", async () => {
    const session = http2Connect(edge.base);
    try {
      const started = Date.now();
      const stream = session.request({
        ":method": "POST",
        ":path": `${catalog}/ListProducts`,
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      let status: unknown;
      stream.on("response", (h) => {
        status = h["grpc-status"];
      });
      stream.write(Buffer.from([0, 0, 0, 0, 10, 0x08])); // a frame promising 10 bytes, 1 sent
      const pinger = setInterval(() => session.ping(() => {}), 200); // keeps the session busy
      await new Promise((resolve) => stream.once("close", resolve));
      clearInterval(pinger);
      expect(status).toBe("4");
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      session.destroy();
    }
  });

  it("answers 408 on an HTTP/2 stream whose body never finishes, and the session goes", async () => {
    const session = http2Connect(edge.base);
    const started = Date.now();
    const stream = session.request({
      ":method": "POST",
      ":path": `${catalog}/ListProducts`,
      "content-type": "application/json",
    });
    stream.write('{"pageSize"');
    const status = await new Promise((resolve) => stream.on("response", (h) => resolve(h[":status"])));
    expect(status).toBe(408);
    stream.resume();
    await new Promise((resolve) => session.once("close", resolve));
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
