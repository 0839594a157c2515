import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { currentContext, runWithContext } from "../context/index.js";

/** Options for {@link startTelemetry}. */
export interface TelemetrySettings {
  /** `service.name` on every span. */
  readonly serviceName: string;
  /** OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); spans are exported only when set. */
  readonly otlpEndpoint?: string | undefined;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  readonly spanProcessors?: readonly SpanProcessor[];
}

/** What {@link startTelemetry} returns: flush and stop exporting on shutdown. */
export interface Telemetry {
  shutdown(): Promise<void>;
}

let started: Telemetry | undefined;

/**
 * Starts tracing for this process, once. A tracer provider, the W3C trace-context propagator and
 * an async-local context manager are always registered, so trace and span ids exist and travel
 * across gRPC metadata and NATS headers even when nothing is exported; spans leave the process
 * only when an OTLP endpoint is configured.
 */
export function startTelemetry(settings: TelemetrySettings): Telemetry {
  if (started) return started;
  const processors: SpanProcessor[] = [...(settings.spanProcessors ?? [])];
  if (settings.otlpEndpoint) {
    const url = `${settings.otlpEndpoint.replace(/\/$/, "")}/v1/traces`;
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  started = {
    async shutdown() {
      await provider.shutdown();
    },
  };
  return started;
}

/** A flat string map used as a propagation carrier (gRPC metadata and NATS headers are adapted to it). */
export type Carrier = Record<string, string>;

const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};
const setter: TextMapSetter<Carrier> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** Writes the active (or given) context's `traceparent`/`tracestate` into a new carrier. */
export function injectTraceContext(from: Context = context.active()): Carrier {
  const carrier: Carrier = {};
  propagation.inject(from, carrier, setter);
  return carrier;
}

/** Reads `traceparent`/`tracestate` from a carrier into a context derived from the active one. */
export function extractTraceContext(carrier: Carrier): Context {
  return propagation.extract(context.active(), carrier, getter);
}

const ORIGIN_REQUEST_ID = "x-request-id";

/**
 * The current request id and trace context as a small string map, to store with work that goes on
 * after the call returns (a saga row), so that work can later run as part of the same request.
 */
export function captureOrigin(): Carrier {
  const origin = injectTraceContext();
  const requestId = currentContext()?.requestId;
  if (requestId !== undefined) origin[ORIGIN_REQUEST_ID] = requestId;
  return origin;
}

/**
 * Runs `fn` with the request id and trace context of an `origin` from {@link captureOrigin}: its
 * logs carry that request id and its spans join that trace. Without an origin (older rows) it runs
 * under `fallbackRequestId` in a new trace.
 */
export function runInOrigin<T>(
  origin: Readonly<Carrier> | null | undefined,
  fallbackRequestId: string,
  fn: () => T,
): T {
  const carrier = { ...origin };
  const parent = propagation.extract(ROOT_CONTEXT, carrier, getter);
  return runWithContext({ requestId: carrier[ORIGIN_REQUEST_ID] ?? fallbackRequestId }, () =>
    context.with(parent, fn),
  );
}

const tracer = trace.getTracer("@mercato/platform");

/**
 * Runs `fn` in an active span named `name` (kind INTERNAL unless `options` say otherwise) that ends
 * when `fn` settles; a rejection is recorded on the span, marked as an error, and rethrown.
 */
export function withSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error instanceof Error ? error : new Error(String(error)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : "" });
      throw error;
    } finally {
      span.end();
    }
  });
}
