import { type OtlpCollector, OtlpSpanKind, startOtlpCollector, waitFor } from "@mercato/testing";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentContext, runWithContext } from "../context/index.js";
import { reasonLabel } from "../metrics/index.js";
import { captureOrigin, runInOrigin, startTelemetry, type Telemetry, withSpan } from "./index.js";

describe("telemetry exported over OTLP/HTTP", () => {
  let collector: OtlpCollector;
  let telemetry: Telemetry;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    // Read by the batch span processor when it is created: export within 0.1 s instead of 5 s.
    process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
    telemetry = startTelemetry({ serviceName: "telemetry-test", otlpEndpoint: collector.endpoint });
  });

  afterAll(async () => {
    await telemetry.shutdown();
    await collector.close();
  });

  it("exports spans with their service, kind, parent and attributes", async () => {
    const tracer = trace.getTracer("test");
    const root = tracer.startSpan("root", { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(context.active(), root), () =>
      withSpan("child", { attributes: { "mercato.test": "yes" } }, async () => undefined),
    );
    await expect(
      context.with(trace.setSpan(context.active(), root), () =>
        withSpan("failing", {}, async () => {
          throw new Error("boom");
        }),
      ),
    ).rejects.toThrow("boom");
    root.end();
    // The batch processor exports within its schedule delay; shutdown would end the test's provider.
    await waitFor(
      () => collector.spans().filter((s) => s.traceId === root.spanContext().traceId).length === 3,
      {
        timeoutMs: 15_000,
      },
    );
    const spans = collector.spans().filter((s) => s.traceId === root.spanContext().traceId);
    const byName = new Map(spans.map((s) => [s.name, s]));
    expect(byName.get("root")).toMatchObject({
      service: "telemetry-test",
      kind: OtlpSpanKind.SERVER,
      parentSpanId: "",
    });
    expect(byName.get("child")).toMatchObject({
      kind: OtlpSpanKind.INTERNAL,
      parentSpanId: root.spanContext().spanId,
      attributes: { "mercato.test": "yes" },
      statusCode: 0,
    });
    expect(byName.get("failing")).toMatchObject({ parentSpanId: root.spanContext().spanId, statusCode: 2 });
  });

  it("continues a request and its trace later from a captured origin", async () => {
    const span = trace.getTracer("test").startSpan("place");
    const origin = context.with(trace.setSpan(context.active(), span), () =>
      runWithContext({ requestId: "req-origin" }, () => captureOrigin()),
    );
    span.end();
    expect(origin["x-request-id"]).toBe("req-origin");
    expect(origin.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);

    const seen = runInOrigin(origin, "fallback", () => ({
      requestId: currentContext()?.requestId,
      parent: trace.getSpanContext(context.active())?.spanId,
    }));
    expect(seen).toEqual({ requestId: "req-origin", parent: span.spanContext().spanId });
    const fresh = runInOrigin(null, "saga:1", () => ({
      requestId: currentContext()?.requestId,
      parent: trace.getSpanContext(context.active()),
    }));
    expect(fresh).toEqual({ requestId: "saga:1", parent: undefined });
  });
});

describe("reasonLabel", () => {
  it("keeps the fixed class of a reason and drops its details", () => {
    expect(reasonLabel("payment declined: card_declined")).toBe("payment_declined");
    expect(reasonLabel("out of stock: SKU-1 has 0")).toBe("out_of_stock");
    expect(reasonLabel("payment not authorized (PAYMENT_STATUS_FAILED)")).toBe("payment_not_authorized");
    expect(reasonLabel("")).toBe("none");
    expect(reasonLabel(undefined)).toBe("none");
    expect(reasonLabel("x".repeat(100))).toHaveLength(40);
  });
});
