import { connect as http2Connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, rawExchange, startTestGateway, type TestGateway } from "./testing/gateway.js";
import { signToken, startTestUpstreams, type TestUpstreams } from "./testing/upstreams.js";

const catalog = "/mercato.catalog.v1.CatalogService";
const identity = "/mercato.identity.v1.IdentityService";
const inventory = "/mercato.inventory.v1.InventoryService";
const allowedOrigin = "https://shop.example.com";

let upstreams: TestUpstreams;
let edge: TestGateway;
let adminToken: string;

beforeAll(async () => {
  upstreams = await startTestUpstreams();
  edge = await startTestGateway(upstreams, { CORS_ORIGINS: allowedOrigin, MAX_BODY_BYTES: "4096" });
  adminToken = await signToken(upstreams.jwks[0]!, {
    sub: "0190a1b2-0000-7000-8000-00000000a001",
    role: "admin",
  });
});

afterAll(async () => {
  await edge?.stop();
  await upstreams?.stop();
});

/** What gives away internals: stack frames, error class prefixes, file paths, addresses. */
const leak =
  /Error:|\sat\s|\/srv\/|\/work\/|\/home\/|node_modules|\.[cm]?[jt]s:\d|ECONNREFUSED|\d+\.\d+\.\d+\.\d+:\d+/;

interface Answer {
  readonly name: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
}

async function viaFetch(name: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${edge.base}${path}`, init);
  return {
    name,
    status: response.status,
    headers: Object.fromEntries(response.headers),
    text: await response.text(),
  };
}

const post = (name: string, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  viaFetch(name, path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

/** One HTTP/2 request with raw bytes; headers, body and trailers together. */
function viaHttp2(name: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(edge.base);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ...headers });
    let status = 0;
    const seen: Record<string, string> = {};
    let text = "";
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":")) seen[k] = String(v);
    });
    stream.on("trailers", (t) => {
      for (const [k, v] of Object.entries(t)) seen[k] = String(v);
    });
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
    });
    stream.on("close", () => {
      session.close();
      resolve({ name, status, headers: seen, text });
    });
    stream.end(body);
  });
}

describe("no internals in any answer", () => {
  it("holds for every kind of bad request, over HTTP/1.1, HTTP/2, Connect, gRPC and gRPC-Web", async () => {
    const frame = (payload: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload]);
    const answers: Answer[] = [
      await post("unknown RPC", `${catalog}/Nope`, "{}"),
      await post("unknown service", "/evil.Service/Method", "{}"),
      await post("path traversal", "/../../etc/passwd", "{}"),
      await post("malformed JSON", `${catalog}/ListProducts`, "{not json"),
      await post("wrong JSON type", `${catalog}/ListProducts`, '{"pageSize":"many"}'),
      await post("deeply nested JSON", `${catalog}/ListProducts`, `${"[".repeat(2000)}${"]".repeat(2000)}`),
      await post("unknown enum value (ignored)", `${catalog}/ListProducts`, '{"sort":"SIDEWAYS"}'),
      await post("wrong media type", `${catalog}/ListProducts`, "x", { "content-type": "text/html" }),
      await post("gzip body", `${catalog}/ListProducts`, "x", { "content-encoding": "gzip" }),
      await post("bad protocol version", `${catalog}/ListProducts`, "{}", {
        "connect-protocol-version": "9",
      }),
      await post("bad timeout", `${catalog}/ListProducts`, "{}", { "connect-timeout-ms": "soon" }),
      await post("too large", `${catalog}/ListProducts`, JSON.stringify({ query: "x".repeat(10_000) })),
      await post("garbage binary", `${catalog}/ListProducts`, "\u00ff\u00ff\u00ff", {
        "content-type": "application/proto",
      }),
      await post("no token", `${identity}/GetUser`, "{}"),
      await post("basic auth", `${identity}/GetUser`, "{}", { authorization: "Basic YWRtaW46YWRtaW4=" }),
      await post("garbage token", `${identity}/GetUser`, "{}", bearer("a.b.c")),
      await post("bogus token on an admin RPC", `${identity}/ListUsers`, "{}", bearer("x")),
      await post("bad idempotency key", `${catalog}/CreateProduct`, "{}", {
        ...bearer(adminToken),
        "idempotency-key": "with space",
      }),
      await post("service down", `${inventory}/GetStock`, '{"sku":"X"}'),
      await post("service crashes", `${catalog}/GetProduct`, '{"productId":"crash"}'),
      await post("service leaks in INTERNAL", `${catalog}/GetProduct`, '{"productId":"leak"}'),
      await post("internal RPC", `${inventory}/Reserve`, "{}"),
      await viaFetch("GET without encoding", `${catalog}/ListProducts?message=%7B%7D`),
      await viaFetch("GET with bad base64", `${catalog}/ListProducts?encoding=proto&base64=1&message=%%%`),
      await viaFetch("GET with bad JSON", `${catalog}/ListProducts?encoding=json&message=%7Bx`),
      await viaFetch("GET on a mutation", `${catalog}/CreateProduct?encoding=json&message=%7B%7D`),
      await viaFetch("PUT", `${catalog}/ListProducts`, { method: "PUT", body: "{}" }),
      await viaFetch("DELETE", `${catalog}/ListProducts`, { method: "DELETE" }),
      await viaFetch("disallowed preflight", `${catalog}/ListProducts`, {
        method: "OPTIONS",
        headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
      }),
      await viaFetch("gRPC-Web garbage", `${catalog}/ListProducts`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: Buffer.from([1, 2, 3, 4, 5, 6, 7]),
      }),
      await viaFetch("gRPC-Web unknown method", `${catalog}/Nope`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto" },
        body: frame(Buffer.alloc(0)),
      }),
      await viaHttp2(
        "gRPC garbage frame",
        { ":path": `${catalog}/ListProducts`, "content-type": "application/grpc", te: "trailers" },
        Buffer.from([0, 0, 0, 0, 9, 0xff, 0xff]),
      ),
      await viaHttp2(
        "gRPC garbage message",
        { ":path": `${catalog}/ListProducts`, "content-type": "application/grpc", te: "trailers" },
        frame(Buffer.from([0xff, 0xff, 0xff])),
      ),
      await viaHttp2(
        "gRPC compressed without encoding",
        { ":path": `${catalog}/ListProducts`, "content-type": "application/grpc", te: "trailers" },
        Buffer.from([1, 0, 0, 0, 1, 0]),
      ),
      await viaHttp2(
        "gRPC crash upstream",
        { ":path": `${catalog}/GetProduct`, "content-type": "application/grpc", te: "trailers" },
        frame(Buffer.from([0x0a, 5, ...Buffer.from("crash")])),
      ),
      await viaHttp2(
        "Connect over HTTP/2, bad JSON",
        { ":path": `${catalog}/ListProducts`, "content-type": "application/json" },
        Buffer.from("{oops"),
      ),
    ];

    // The pattern does catch what the crashing double throws.
    expect("Error: boom at /srv/catalog/src/handlers.ts:42 (connect ECONNREFUSED 10.1.2.3:5432)").toMatch(
      leak,
    );
    for (const answer of answers) {
      const everything = `${answer.status} ${JSON.stringify(answer.headers)} ${answer.text}`;
      expect(everything, answer.name).not.toMatch(leak);
      expect(answer.status, answer.name).toBeGreaterThan(0);
      expect(answer.headers.server, answer.name).toBeUndefined();
      expect(answer.headers["x-powered-by"], answer.name).toBeUndefined();
      expect(answer.headers["x-content-type-options"], answer.name).toBe("nosniff");
      expect(answer.headers["x-request-id"], answer.name).toBeTruthy();
    }
    const crash = answers.find((a) => a.name === "service crashes")!;
    expect(crash.status).toBe(500);
    expect(JSON.parse(crash.text)).toEqual({ code: "internal", message: "internal error" });
    expect(answers.find((a) => a.name === "gRPC crash upstream")!.headers["grpc-message"]).toBe(
      "internal%20error",
    );
  });

  it("holds for requests the HTTP parser refuses (status, nosniff, no banner, a fixed Connect error)", async () => {
    const payloads = [
      "GARBAGE\r\n\r\n",
      "GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
      `GET / HTTP/1.1\r\nhost: a\r\nx-big: ${"a".repeat(64 * 1024)}\r\n\r\n`,
      "POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n",
    ];
    for (const payload of payloads) {
      const { response } = await rawExchange(edge.port, (write) => write(payload));
      expect(response, payload.slice(0, 30)).toMatch(/^HTTP\/1\.1 (400|431) /);
      expect(response.toLowerCase()).toContain("x-content-type-options: nosniff");
      expect(response.toLowerCase()).not.toContain("server:");
      expect(response).not.toMatch(leak);
      expect(response).toMatch(
        /\r\n\r\n\{"code":"(invalid_argument|resource_exhausted)","message":"[A-Za-z ]+"\}$/,
      );
    }
  });
});

describe("CORS", () => {
  it("answers preflights for allowed origins with the methods, headers and exposed headers", async () => {
    const allowed = await fetch(`${edge.base}${catalog}/CreateProduct`, {
      method: "OPTIONS",
      headers: {
        origin: allowedOrigin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, idempotency-key",
      },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(allowedOrigin);
    expect(allowed.headers.get("access-control-allow-methods")).toBe("GET, POST");
    const allowedHeaders = allowed.headers.get("access-control-allow-headers") ?? "";
    for (const name of ["authorization", "content-type", "idempotency-key", "connect-protocol-version"]) {
      expect(allowedHeaders).toContain(name);
    }
    expect(allowed.headers.get("access-control-max-age")).toBe("7200");
    expect(allowed.headers.get("vary")).toBe("Origin");
    expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();

    const actual = await fetch(`${edge.base}${catalog}/ListProducts`, {
      method: "POST",
      headers: { origin: allowedOrigin, "content-type": "application/json" },
      body: "{}",
    });
    expect(actual.headers.get("access-control-allow-origin")).toBe(allowedOrigin);
    const exposed = actual.headers.get("access-control-expose-headers") ?? "";
    for (const name of [
      "retry-after",
      "ratelimit-limit",
      "ratelimit-remaining",
      "ratelimit-reset",
      "x-request-id",
    ]) {
      expect(exposed).toContain(name);
    }
  });

  it("gives other origins nothing: no CORS headers on preflights or on actual calls", async () => {
    for (const origin of ["https://evil.example.com", "https://shop.example.com.evil.com", "null"]) {
      const preflight = await fetch(`${edge.base}${catalog}/ListProducts`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(403);
      for (const [name] of preflight.headers) expect(name.startsWith("access-control-")).toBe(false);
      const actual = await fetch(`${edge.base}${catalog}/ListProducts`, {
        method: "POST",
        headers: { origin, "content-type": "application/json" },
        body: "{}",
      });
      for (const [name] of actual.headers) expect(name.startsWith("access-control-")).toBe(false);
    }
    // A preflight without a requested method is not a preflight.
    const bare = await fetch(`${edge.base}${catalog}/ListProducts`, {
      method: "OPTIONS",
      headers: { origin: allowedOrigin },
    });
    expect(bare.status).toBe(403);
    expect(bare.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("answers no preflight at all when no origins are configured", async () => {
    const closed = await startTestGateway(upstreams);
    try {
      const preflight = await fetch(`${closed.base}${catalog}/ListProducts`, {
        method: "OPTIONS",
        headers: { origin: allowedOrigin, "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      expect(preflight.headers.get("vary")).toBeNull();
    } finally {
      await closed.stop();
    }
  });
});
