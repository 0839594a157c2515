import { ProbeService } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureLogger, probeHandlers } from "../../test/probe.js";
import { startTelemetry, type Telemetry } from "../telemetry/index.js";
import { createGrpcServer, createServiceClient, type GrpcServer } from "./index.js";

describe("trace context across hops", () => {
  const exporter = new InMemorySpanExporter();
  const { logger, lines } = captureLogger("tracing-test");
  const servers: GrpcServer[] = [];
  const closers: (() => void)[] = [];
  let telemetry: Telemetry;
  let edgeAddress: string;

  beforeAll(async () => {
    telemetry = startTelemetry({
      serviceName: "tracing-test",
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    let next: string | undefined;
    for (const name of ["c", "b"]) {
      const client = next
        ? createServiceClient(ProbeService, { upstream: "next", address: next, logger })
        : undefined;
      if (client) closers.push(() => client.$close());
      const server = createGrpcServer({
        serviceName: name,
        logger,
        services: [{ service: ProbeService, handlers: probeHandlers(client).handlers }],
        port: 0,
        adminPort: 0,
        drainDelayMs: 0,
      });
      servers.push(server);
      next = `127.0.0.1:${(await server.start()).port}`;
    }
    edgeAddress = next as string;
  });

  afterAll(async () => {
    for (const close of closers) close();
    await Promise.all(servers.map((s) => s.stop()));
    await telemetry.shutdown();
  });

  it("continues one trace from the caller through B to C, and logs carry its ids", async () => {
    const edge = createServiceClient(ProbeService, { upstream: "b", address: edgeAddress, logger });
    const traceId = await trace.getTracer("test").startActiveSpan("edge", async (span) => {
      await edge.relay({ echo: { message: "traced" }, hops: 0 });
      span.end();
      return span.spanContext().traceId;
    });
    edge.$close();

    const spans = exporter.getFinishedSpans();
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const servers = inTrace.filter((s) => s.kind === SpanKind.SERVER).map((s) => s.name);
    const clients = inTrace.filter((s) => s.kind === SpanKind.CLIENT).map((s) => s.name);
    expect(servers.sort()).toEqual([
      "mercato.testing.v1.ProbeService/Echo",
      "mercato.testing.v1.ProbeService/Relay",
    ]);
    expect(clients.sort()).toEqual([
      "mercato.testing.v1.ProbeService/Echo",
      "mercato.testing.v1.ProbeService/Relay",
    ]);
    // C's server span is the child of B's client span.
    const echoServer = inTrace.find((s) => s.kind === SpanKind.SERVER && s.name.endsWith("/Echo"));
    const echoClient = inTrace.find((s) => s.kind === SpanKind.CLIENT && s.name.endsWith("/Echo"));
    expect(echoServer?.parentSpanContext?.spanId).toBe(echoClient?.spanContext().spanId);
    expect(lines.filter((l) => l.msg === "rpc" && l.traceId === traceId)).toHaveLength(2);
  });
});
