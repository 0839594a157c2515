import {
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  TraceFlags,
  trace,
} from "@opentelemetry/api";

/** Header with the event's full protobuf type name, e.g. `mercato.order.v1.OrderPlaced`. */
export const EVENT_TYPE_HEADER = "Mercato-Event-Type";
/**
 * Header with the event id. Equal to `Nats-Msg-Id` when the relay publishes, but it survives a
 * republish under another message id (a replay from the dead-letter stream), so consumers key their
 * inbox on it.
 */
export const EVENT_ID_HEADER = "Mercato-Event-Id";
/** Header with the request id of the call that produced the event. */
export const REQUEST_ID_HEADER = "x-request-id";
/** W3C trace context header. */
export const TRACEPARENT_HEADER = "traceparent";

/** Headers of a dead-lettered message. */
export const DLQ_HEADERS = {
  error: "Mercato-Dlq-Error",
  subject: "Mercato-Dlq-Subject",
  stream: "Mercato-Dlq-Stream",
  sequence: "Mercato-Dlq-Sequence",
  consumer: "Mercato-Dlq-Consumer",
  deliveries: "Mercato-Dlq-Deliveries",
} as const;

/**
 * The active trace context as headers. Uses the registered propagator, and writes a W3C
 * `traceparent` itself when none is registered (no SDK started) but a span is active, so events keep
 * their trace whatever the process's telemetry setup.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  const span = trace.getSpanContext(ctx);
  if (carrier[TRACEPARENT_HEADER] === undefined && span !== undefined && isSpanContextValid(span)) {
    const flags = (span.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? "01" : "00";
    carrier[TRACEPARENT_HEADER] = `00-${span.traceId}-${span.spanId}-${flags}`;
  }
  return carrier;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote trace context carried by `headers` (the inverse of {@link traceHeaders}). */
export function contextFromHeaders(headers: Readonly<Record<string, string>>): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, headers);
  if (trace.getSpanContext(extracted) !== undefined) return extracted;
  const match = TRACEPARENT.exec(headers[TRACEPARENT_HEADER] ?? "");
  if (!match?.[1] || !match[2] || !match[3]) return extracted;
  const spanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: Number.parseInt(match[3], 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(extracted, spanContext) : extracted;
}
