import { PassThrough } from "node:stream";
import { context, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { runWithContext } from "../context/index.js";
import { startTelemetry } from "../telemetry/index.js";
import { createLogger } from "./index.js";

function capture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
  });
  return { stream, lines };
}

describe("createLogger", () => {
  it("writes JSON with service, level, request id, trace id and span id", async () => {
    startTelemetry({ serviceName: "log-test" });
    const { stream, lines } = capture();
    const logger = createLogger({ service: "catalog", destination: stream });
    const span = trace.getTracer("test").startSpan("work");
    context.with(trace.setSpan(context.active(), span), () => {
      runWithContext({ requestId: "req-1" }, () => logger.info({ sku: "A-1" }, "reserved"));
    });
    span.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      service: "catalog",
      level: "info",
      requestId: "req-1",
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      sku: "A-1",
      msg: "reserved",
    });
  });

  it("redacts secrets at top level and one level down", async () => {
    const { stream, lines } = capture();
    const logger = createLogger({ service: "identity", destination: stream });
    logger.info(
      { password: "hunter2", request: { refreshToken: "r", paymentToken: "tok_visa", email: "a@b.c" } },
      "x",
    );
    await new Promise((resolve) => setImmediate(resolve));
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("tok_visa");
    expect(lines[0]).toMatchObject({
      password: "[redacted]",
      request: { refreshToken: "[redacted]", email: "a@b.c" },
    });
  });
});
