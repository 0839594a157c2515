/**
 * Trace context and metrics of calls at the edge: a span per call when tracing is on (continued from
 * a valid `traceparent`), otherwise the context is only propagated (minted when absent); the RED
 * histogram per method and code.
 */
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { rpcServerDuration } from "@mercato/platform/metrics";
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { codeName, httpStatusOf } from "./errors.js";
import type { Route } from "./routes.js";

const traceparentPattern = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const tracer = trace.getTracer("@mercato/gateway");
const noop = () => {};

/** A span (or just the propagated context) for one forwarded call. */
export interface CallTrace {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  end(code: number): void;
}

// Trace ids come from a pooled random buffer: one randomBytes call per 170 requests, not one each.
let randomPool = Buffer.alloc(0);
let randomOffset = 0;
function randomHex(bytes: number): string {
  if (randomOffset + bytes > randomPool.length) {
    randomPool = randomBytes(4096);
    randomOffset = 0;
  }
  const hex = randomPool.toString("hex", randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

/** The trace id of a traceparent, for logs. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent?.slice(3, 35);
}

/** Starts the trace of one call named `name`, continuing the client's context when it is valid. */
export function createTracer(
  tracing: boolean,
): (name: string, traceparent: string | undefined, tracestate: string | undefined) => CallTrace {
  return (name, traceparent, tracestate) => {
    const validParent =
      traceparent !== undefined && traceparentPattern.test(traceparent) ? traceparent : undefined;
    if (!tracing) {
      if (validParent !== undefined) return { traceparent: validParent, tracestate, end: noop };
      return { traceparent: `00-${randomHex(16)}-${randomHex(8)}-01`, tracestate: undefined, end: noop };
    }
    const carrier: Record<string, string> = {};
    if (validParent !== undefined) carrier.traceparent = validParent;
    if (validParent !== undefined && tracestate !== undefined) carrier.tracestate = tracestate;
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect" } },
      parent,
    );
    const out: Record<string, string> = {};
    propagation.inject(trace.setSpan(otelContext.active(), span), out);
    return {
      traceparent: out.traceparent,
      tracestate: out.tracestate,
      end(code) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (code !== Code.Canceled && code !== 0 && httpStatusOf(code) >= 500) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
        }
        span.end();
      },
    };
  };
}

/** Records one call in the RED histogram. */
export function observeCall(route: Route | undefined, code: number, started: number): void {
  rpcServerDuration.observe(
    { method: route ? route.path.slice(1) : "unknown", code: codeName(code).toUpperCase() },
    (performance.now() - started) / 1000,
  );
}
