/**
 * Fuzzing the edge of a whole running Mercato: generated hostile inputs (fast-check) for every RPC the
 * edge exposes, over Connect JSON, Connect binary, Connect GET, gRPC (binary and JSON) and gRPC-Web,
 * as an anonymous caller, a customer and the admin; beside it, a customer's well-formed calls to the
 * catalog and the order service must stay fast. Every answer must pass `problemOf` (no internal,
 * unknown or data_loss, no 5xx but an upstream's 503/504, no internals in messages). Bounded: a fixed
 * time budget, 4 requests in flight.
 *
 * Its clients behave as real ones do. The gRPC calls share one HTTP/2 session, reopened if the edge
 * closes it (every such teardown is itself a failure); like grpc-js, that session's own memory does
 * not cap what it sends. Two past failures were told apart that way: ENHANCE_YOUR_CALM resets on every
 * gRPC call after one 80 MB request (seed 1027061600) came from the fuzzer's own session — Node's
 * 10 MiB default `maxSessionMemory` — while the edge had answered each one, so the test was wrong;
 * `fetch failed` after an oversized upload (seed 1027126712) was the edge closing the connection
 * while the client was still sending, so the product was wrong (gateway/src/connection.ts).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { newCustomer, paths } from "../e2e/shop-helpers.js";
import {
  type Answer,
  binaryBody,
  connectCall,
  exposedRpcs,
  grpcCall,
  grpcFrame,
  grpcWebCall,
  Http2Connection,
  http2Session,
  messageJson,
  problemOf,
} from "./hostile.js";

/** How long the generated requests run. */
const budgetMs = 45_000;
/**
 * p99 bound of the well-formed calls beside the fuzzing. Measured on the shared, busy 2-core machine
 * under the fuzzing: p50 30–36 ms, p99 189–227 ms (three runs); the bound leaves room for a machine
 * half as fast and a busier neighbour.
 */
const besideP99BoundMs = 1_500;

describe("the edge under hostile input (fuzz)", () => {
  let e2e: E2eSystem;
  let customer: string;
  let fuzzCustomer: string;
  let adminToken: string;
  beforeAll(async () => {
    e2e = await startE2eSystem({ name: "fuzz" });
    customer = (await newCustomer(e2e)).token;
    // The fuzzing may delete its own callers (DeleteUser with an empty id is "myself"): its own customer.
    fuzzCustomer = (await newCustomer(e2e)).token;
    adminToken = await e2e.login(admin.email, admin.password);
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  it("answers the issue's cases with client errors, bounded and fast", async () => {
    const order = `${paths.order}/PlaceOrder`;
    const lines = await e2e.call(
      order,
      { idempotencyKey: "k", lines: Array.from({ length: 400 }, () => ({})) },
      customer,
    );
    expect(lines.status).toBe(400);
    expect(lines.body.code).toBe("invalid_argument");
    expect(lines.body.message.length).toBeLessThanOrEqual(600);
    const payment = await e2e.call(
      `${paths.payment}/GetPayment`,
      { orderId: "x".repeat(100_000) },
      adminToken,
    );
    expect(payment.status).toBeLessThan(500);
    expect(JSON.stringify(payment.body).length).toBeLessThan(2_000);
    const nul = await e2e.call(`${paths.catalog}/ListProducts`, { query: "a\u0000b" });
    expect([nul.status, nul.body.code]).toEqual([400, "invalid_argument"]);
    expect(nul.body.details[0].debug.fieldViolations[0].field).toBe("query");
    const enumName = await e2e.call(`${paths.order}/ListAllOrders`, { status: "NOT_A_STATUS" }, adminToken);
    expect([enumName.status, enumName.body.code]).toEqual([400, "invalid_argument"]);
    const session = http2Session(e2e.url);
    try {
      for (const garbage of [
        Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]),
        Buffer.from([1, 0, 0, 0, 1, 7]),
      ]) {
        const answer = await grpcCall(session, `${paths.catalog}/ListProducts`, "application/grpc", garbage);
        expect(answer.code).toBe("invalid_argument");
      }
    } finally {
      session.close();
    }
  });

  it("never answers internal, unknown, a 5xx of its own or internals, and calls beside it stay fast", async () => {
    const rpcs = exposedRpcs();
    expect(rpcs.length).toBeGreaterThan(30);
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const tokens = [undefined, fuzzCustomer, adminToken];
    const protocols = ["json", "proto", "get", "grpc", "grpc+json", "grpc-web"] as const;
    type Protocol = (typeof protocols)[number];
    interface Hostile {
      readonly rpc: (typeof rpcs)[number];
      readonly protocol: Protocol;
      readonly token: string | undefined;
      readonly body: string | Uint8Array;
    }
    const requestArb: fc.Arbitrary<Hostile> = fc
      .tuple(fc.constantFrom(...rpcs), fc.constantFrom(...protocols), fc.constantFrom(...tokens))
      .chain(([rpc, protocol, token]): fc.Arbitrary<Hostile> => {
        const make = (body: string | Uint8Array): Hostile => ({ rpc, protocol, token, body });
        const json = messageJson(rpc.method.input).map((v) => JSON.stringify(v));
        const bin = binaryBody(rpc.method.input);
        if (protocol === "json") return json.map(make);
        if (protocol === "proto" || protocol === "get") return bin.map(make);
        const payload = protocol === "grpc+json" ? json.map((t) => new Uint8Array(Buffer.from(t))) : bin;
        return payload.chain((p) => grpcFrame(p)).map(make);
      });
    // DeleteUser with a token deletes that caller ("" is "myself"), which would turn the rest of the run
    // into 401s: it is fuzzed anonymously only.
    const requests = fc
      .sample(requestArb, { numRuns: 4_000, seed })
      .filter((r) => r.token === undefined || !r.rpc.path.endsWith("/DeleteUser"));

    const connection = new Http2Connection(e2e.url);
    const problems: string[] = [];
    const codes = new Map<string, number>();
    const send = async (r: Hostile): Promise<Answer> => {
      const token = r.token;
      switch (r.protocol) {
        case "json":
          return connectCall(e2e.url, r.rpc.path, {
            method: "POST",
            contentType: "application/json",
            body: r.body,
            ...(token ? { token } : {}),
          });
        case "proto":
          return connectCall(e2e.url, r.rpc.path, {
            method: "POST",
            contentType: "application/proto",
            body: r.body,
            ...(token ? { token } : {}),
          });
        case "get": {
          const query = `?encoding=proto&base64=1&message=${encodeURIComponent(Buffer.from(r.body).toString("base64url"))}`;
          return connectCall(e2e.url, r.rpc.path, {
            method: r.rpc.get ? "GET" : "POST",
            query,
            ...(token ? { token } : {}),
          });
        }
        case "grpc":
          return grpcCall(connection.session(), r.rpc.path, "application/grpc", Buffer.from(r.body), token);
        case "grpc+json":
          return grpcCall(
            connection.session(),
            r.rpc.path,
            "application/grpc+json",
            Buffer.from(r.body),
            token,
          );
        default:
          return grpcWebCall(e2e.url, r.rpc.path, "application/grpc-web+proto", Buffer.from(r.body), token);
      }
    };

    // Beside the fuzzing: a customer's well-formed reads of the catalog and of the order service.
    const latencies: number[] = [];
    const besideFailures: string[] = [];
    let fuzzing = true;
    const beside = (async () => {
      const listOrders = create((await import("@mercato/sdk")).orderV1.ListOrdersRequestSchema, {
        pageSize: 5,
      });
      const bytes = toBinary((await import("@mercato/sdk")).orderV1.ListOrdersRequestSchema, listOrders);
      for (let i = 0; fuzzing; i++) {
        const started = performance.now();
        const answer =
          i % 2 === 0
            ? await connectCall(e2e.url, `${paths.catalog}/ListProducts`, {
                method: "POST",
                contentType: "application/json",
                body: '{"pageSize":5}',
              })
            : await connectCall(e2e.url, `${paths.order}/ListOrders`, {
                method: "POST",
                contentType: "application/proto",
                body: bytes,
                token: customer,
              });
        latencies.push(performance.now() - started);
        if (answer.code !== "ok") besideFailures.push(`${answer.path}: ${answer.code} ${answer.message}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    const deadline = Date.now() + budgetMs;
    let sent = 0;
    const worker = async () => {
      while (Date.now() < deadline && sent < requests.length) {
        const request = requests[sent++] as Hostile;
        const answer = await send(request).catch((error: unknown) => ({
          protocol: request.protocol,
          path: request.rpc.path,
          httpStatus: 0,
          code: "transport-failure",
          message: String(error),
        }));
        codes.set(answer.code, (codes.get(answer.code) ?? 0) + 1);
        const problem = answer.code === "transport-failure" ? answer.message : problemOf(answer);
        if (problem !== undefined && problems.length < 20) {
          problems.push(
            `${problem}: ${request.protocol} ${request.rpc.path} → ${answer.httpStatus} ${answer.code} "${answer.message.slice(0, 200)}"`,
          );
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    fuzzing = false;
    await beside;
    connection.close();

    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
    console.info(
      `fuzz seed ${seed}: ${sent} hostile requests over ${rpcs.length} RPCs; codes ${JSON.stringify(Object.fromEntries(codes))}; ` +
        `beside: ${latencies.length} calls, p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
    expect(problems, `seed ${seed}`).toEqual([]);
    expect(connection.teardowns, `seed ${seed}`).toEqual([]);
    expect(sent).toBeGreaterThan(200);
    expect(besideFailures).toEqual([]);
    expect(p99).toBeLessThan(besideP99BoundMs);
  }, 240_000);
});
