import { execFile } from "node:child_process";
import { connect } from "node:http2";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EchoRequestSchema, ProbeService } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { createGrpcClient, type GrpcClient } from "@mercato/sdk/grpc";
import { requireTool } from "@mercato/testing";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureLogger, type ProbeStats, probeHandlers } from "../../test/probe.js";
import { fieldViolationsOf, statusLimits } from "../errors/index.js";
import { createGrpcServer, type GrpcServer } from "./index.js";

const run = promisify(execFile);

function grpcError(error: unknown): grpc.ServiceError {
  expect(error).toBeInstanceOf(Error);
  return error as grpc.ServiceError;
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return grpcError(error);
  }
  throw new Error("expected the call to fail");
}

type HealthClient = grpc.Client & {
  Check(
    request: { service: string },
    callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
  ): void;
};

function healthStatus(client: HealthClient, service = ""): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (error, response) => (error ? reject(error) : resolve(response?.status ?? ""))),
  );
}

describe("createGrpcServer", () => {
  const { logger, lines } = captureLogger();
  let server: GrpcServer;
  let stats: ProbeStats;
  let port: number;
  let adminPort: number;
  let client: GrpcClient<typeof ProbeService>;
  let health: HealthClient;

  beforeAll(async () => {
    const probe = probeHandlers(undefined, logger);
    stats = probe.stats;
    server = createGrpcServer({
      serviceName: "probe",
      logger,
      services: [{ service: ProbeService, handlers: probe.handlers }],
      port: 0,
      adminPort: 0,
      drainDelayMs: 300,
      shutdownGraceMs: 2_000,
    });
    ({ port, adminPort } = await server.start());
    client = createGrpcClient(ProbeService, `127.0.0.1:${port}`);
    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    health = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
  });

  afterAll(async () => {
    client?.$close();
    health?.close();
    await server?.stop();
  });

  it("answers a typed call and echoes the caller's request id in the response headers", async () => {
    let echoed: string | undefined;
    const response = await client.echo(
      { message: "hello" },
      {
        metadata: { "x-request-id": "req-123" },
        onHeader: (md) => (echoed = md.get("x-request-id")[0] as string),
      },
    );
    expect(response.message).toBe("hello");
    expect(response.requestId).toBe("req-123");
    expect(response.deadlineRemainingMs).toBe(-1n);
    expect(echoed).toBe("req-123");
  });

  it("mints a request id when the caller sends none", async () => {
    const response = await client.echo({ message: "x" });
    expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("passes the caller's deadline to the handler", async () => {
    // The handler sees what remains of the caller's deadline: at most all of it, and at least what was
    // left when the answer came back (measured, so a slow machine cannot fail it).
    const started = Date.now();
    const response = await client.echo({ message: "d" }, { deadline: started + 2_000 });
    expect(Number(response.deadlineRemainingMs)).toBeGreaterThanOrEqual(2_000 - (Date.now() - started));
    expect(Number(response.deadlineRemainingMs)).toBeLessThanOrEqual(2_000);
  });

  it("aborts the handler's work when the deadline passes, and when the caller cancels", async () => {
    const before = stats.aborted;
    const started = Date.now();
    const timedOut = await failure(client.echo({ delayMs: 10_000 }, { deadline: Date.now() + 200 }));
    expect(timedOut.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Ended by the 200 ms deadline, not by the handler's 10 s: how soon after 200 ms depends on the
    // machine, so the bound is the work it was spared.
    expect(Date.now() - started).toBeLessThan(10_000 / 3);
    await expect.poll(() => stats.aborted).toBe(before + 1);

    const controller = new AbortController();
    const pending = client.echo({ delayMs: 10_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await failure(pending)).code).toBe(grpc.status.CANCELLED);
    await expect.poll(() => stats.aborted).toBe(before + 2);
    expect(lines.some((l) => l.msg === "echo delay aborted")).toBe(true);
  });

  it("answers DEADLINE_EXCEEDED without running the handler when the deadline has already passed", async () => {
    const before = stats.echoCalls;
    // grpc-js clients refuse to send an expired deadline, so speak HTTP/2 directly with grpc-timeout 1ns.
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const message = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "late" }));
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      const stream = session.request({
        ":method": "POST",
        ":path": "/mercato.testing.v1.ProbeService/Echo",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "1n",
      });
      const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        stream.on("trailers", (headers) => resolve(headers));
        stream.on("response", (headers) => {
          if (headers["grpc-status"] !== undefined) resolve(headers);
        });
        stream.on("error", reject);
        stream.resume();
        stream.end(frame);
      });
      expect(Number(trailers["grpc-status"])).toBe(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      session.close();
    }
    expect(stats.echoCalls).toBe(before);
  });

  it("answers UNIMPLEMENTED for an unknown method", async () => {
    const raw = client.$client;
    const error = await failure(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest(
          "/mercato.testing.v1.ProbeService/Nope",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      ),
    );
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("answers INVALID_ARGUMENT for a malformed request message", async () => {
    const raw = client.$client;
    const error = await failure(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest(
          "/mercato.testing.v1.ProbeService/Echo",
          (b: Buffer) => b,
          (b: Buffer) => b,
          // field 1, length-delimited, claims 100 bytes and has 2
          Buffer.from([0x0a, 0x64, 0x41, 0x42]),
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      ),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain("malformed");
  });

  it("sends field violations that the client decodes", async () => {
    const error = await failure(client.echo({ failCode: grpc.status.INVALID_ARGUMENT }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(error)).toEqual([
      { field: "message", description: "must not be empty" },
      { field: "delay_ms", description: "must be at most 60000" },
    ]);
  });

  it("refuses NUL characters in any request string with INVALID_ARGUMENT naming the field", async () => {
    const before = stats.echoCalls;
    const error = await failure(client.echo({ message: "a\u0000b" }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolationsOf(error)).toEqual([
      { field: "message", description: "must not contain NUL characters" },
    ]);
    const nested = await failure(client.relay({ echo: { message: "\u0000" } }));
    expect(fieldViolationsOf(nested)).toEqual([
      { field: "echo.message", description: "must not contain NUL characters" },
    ]);
    expect(stats.echoCalls).toBe(before);
  });

  it("bounds a status that grows with its input, so it never endangers the connection", async () => {
    const lineCount = 4_000; // ~ PlaceOrder with 4,000 empty lines
    const many = await failure(client.echo({ failCode: 3, message: "\n".repeat(lineCount - 1) }));
    expect(many.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(many.details.length).toBeLessThanOrEqual(statusLimits.messageChars);
    expect(many.details).toContain(`(and ${lineCount - statusLimits.summarised} more)`);
    expect(fieldViolationsOf(many)).toHaveLength(statusLimits.violations);

    const id = "x".repeat(100_000); // ~ GetPayment with a 100 KB order id, echoed in "not found"
    const [echoed, beside] = await Promise.all([
      failure(client.echo({ failCode: 5, message: id })),
      client.echo({ message: "beside" }),
    ]);
    expect(echoed.code).toBe(grpc.status.NOT_FOUND);
    expect(echoed.details.length).toBeLessThanOrEqual(statusLimits.messageChars);
    expect(echoed.details.startsWith("xxxx")).toBe(true);
    expect(beside.message).toBe("beside");
  });

  it("never sends an internal error's message, and logs it", async () => {
    const error = await failure(
      client.echo({ failCode: grpc.status.INTERNAL }, { metadata: { "x-request-id": "boom-1" } }),
    );
    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toBe("internal error");
    expect(JSON.stringify(error.metadata.getMap())).not.toContain("hunter2");
    const line = lines.find((l) => l.requestId === "boom-1" && l.msg === "rpc");
    expect(line).toMatchObject({
      level: "error",
      code: "INTERNAL",
      method: "mercato.testing.v1.ProbeService/Echo",
    });
    expect(JSON.stringify(line)).toContain("hunter2");
  });

  it("maps a ServiceError to its code", async () => {
    const error = await failure(client.echo({ failCode: grpc.status.NOT_FOUND }));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(error.details).toBe("failing with NOT_FOUND as asked");
  });

  it("serves /healthz, /readyz and /metrics on the admin port, and health follows readiness", async () => {
    const base = `http://127.0.0.1:${adminPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /mercato_rpc_server_duration_seconds_count\{method="mercato.testing.v1.ProbeService\/Echo",code="OK"\} \d+/,
    );
    expect(await healthStatus(health)).toBe("SERVING");
    expect(await healthStatus(health, "mercato.testing.v1.ProbeService")).toBe("SERVING");

    server.setReady(false);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect(await healthStatus(health)).toBe("NOT_SERVING");
    server.setReady(true);
    expect(await healthStatus(health, "mercato.testing.v1.ProbeService")).toBe("SERVING");
  });

  const grpcurl = requireTool("grpcurl");
  it("works with grpcurl and no proto files: list, describe, call, health", async () => {
    const target = `127.0.0.1:${port}`;
    const tool = grpcurl as string;
    const list = await run(tool, ["-plaintext", target, "list"]);
    expect(list.stdout.split("\n")).toContain("mercato.testing.v1.ProbeService");
    expect(list.stdout.split("\n")).toContain("grpc.health.v1.Health");

    const described = await run(tool, ["-plaintext", target, "describe", "mercato.testing.v1.ProbeService"]);
    expect(described.stdout).toContain(
      "rpc Echo ( .mercato.testing.v1.EchoRequest ) returns ( .mercato.testing.v1.EchoResponse )",
    );
    const message = await run(tool, ["-plaintext", target, "describe", "mercato.testing.v1.EchoRequest"]);
    expect(message.stdout).toContain("int32 delay_ms = 2;");

    const call = await run(tool, [
      "-plaintext",
      "-H",
      "x-request-id: grpcurl-1",
      "-d",
      '{"message":"from grpcurl"}',
      target,
      "mercato.testing.v1.ProbeService/Echo",
    ]);
    expect(JSON.parse(call.stdout)).toMatchObject({ message: "from grpcurl", requestId: "grpcurl-1" });

    const check = await run(tool, ["-plaintext", target, "grpc.health.v1.Health/Check"]);
    expect(JSON.parse(check.stdout)).toEqual({ status: "SERVING" });
  });

  it("reports NOT_SERVING while draining at shutdown, then stops", async () => {
    const probe = probeHandlers();
    const draining = createGrpcServer({
      serviceName: "draining",
      logger,
      services: [{ service: ProbeService, handlers: probe.handlers }],
      port: 0,
      adminPort: 0,
      drainDelayMs: 500,
      shutdownGraceMs: 2_000,
    });
    const ports = await draining.start();
    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    const checker = new Health(
      `127.0.0.1:${ports.port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as HealthClient;
    const probeClient = createGrpcClient(ProbeService, `127.0.0.1:${ports.port}`);
    try {
      expect(await healthStatus(checker)).toBe("SERVING");
      const inFlight = probeClient.echo({ message: "in flight", delayMs: 300 });
      const stopped = draining.stop();
      expect(await healthStatus(checker)).toBe("NOT_SERVING");
      expect(await healthStatus(checker, "mercato.testing.v1.ProbeService")).toBe("NOT_SERVING");
      expect((await fetch(`http://127.0.0.1:${ports.adminPort}/readyz`)).status).toBe(503);
      expect((await inFlight).message).toBe("in flight");
      await stopped;
      await expect(fetch(`http://127.0.0.1:${ports.adminPort}/healthz`)).rejects.toThrow();
    } finally {
      checker.close();
      probeClient.$close();
    }
  });
});
