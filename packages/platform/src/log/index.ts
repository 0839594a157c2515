import { trace } from "@opentelemetry/api";
import { type Logger, type LoggerOptions, pino } from "pino";
import { currentContext } from "../context/index.js";

export type { Logger } from "pino";

/** Field paths whose values never reach a log line. */
export const redactedPaths: readonly string[] = [
  "password",
  "*.password",
  "newPassword",
  "*.newPassword",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "paymentToken",
  "*.paymentToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "metadata.authorization",
  "secret",
  "*.secret",
  "databaseUrl",
  "*.databaseUrl",
];

/** Options for {@link createLogger}. */
export interface LoggerSettings {
  /** Service name written on every line. */
  readonly service: string;
  /** pino level; defaults to "info". */
  readonly level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read them back. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * Creates the one JSON logger a process uses. Every line carries the service, and, when known,
 * the request id of the current call and the trace and span ids of the active span.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    base: { service: settings.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...redactedPaths], censor: "[redacted]" },
    mixin() {
      const fields: Record<string, string> = {};
      const context = currentContext();
      if (context) fields.requestId = context.requestId;
      const span = trace.getActiveSpan()?.spanContext();
      if (span && span.traceId !== "00000000000000000000000000000000") {
        fields.traceId = span.traceId;
        fields.spanId = span.spanId;
      }
      return fields;
    },
  };
  return settings.destination ? pino(options, settings.destination as pino.DestinationStream) : pino(options);
}
