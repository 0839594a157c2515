import {
  type Context,
  context,
  propagation,
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
