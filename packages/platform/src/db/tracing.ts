import { SpanKind, trace } from "@opentelemetry/api";
import { withSpan } from "../telemetry/index.js";

/**
 * Runs a transaction in a client span (`db.transaction`) when it is part of traced work. Without an
 * active span (a relay or sweeper polling) it runs untraced, so idle background loops do not fill
 * the tracing backend with one-span traces. No SQL text or values are recorded: they may hold
 * personal data.
 */
export function tracedTransaction<T>(run: () => Promise<T>): Promise<T> {
  if (trace.getActiveSpan() === undefined) return run();
  return withSpan(
    "db.transaction",
    { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } },
    run,
  );
}
