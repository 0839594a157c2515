/**
 * A small OTLP/HTTP trace receiver for tests: processes export to it through
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, and the test reads the spans back. It accepts the OTLP JSON
 * encoding (what `@opentelemetry/exporter-trace-otlp-http` sends), gzip-compressed or not, on
 * `POST /v1/traces`; a protobuf body is refused with 415 so a misconfigured exporter shows at once.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/** OTLP span kinds (`SpanKind` in the OTLP protocol: 0 unspecified, 1 internal … 5 consumer). */
export const OtlpSpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

/** One received span, flattened: attribute values as plain strings, numbers or booleans. */
export interface CollectedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** See {@link OtlpSpanKind}. */
  readonly kind: number;
  /** `service.name` of the process that exported it. */
  readonly service: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Span links (trace and span ids). */
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  /** Every attribute value of the span, its events and its links, as strings (to search for leaks). */
  readonly values: readonly string[];
}

/** A running collector. */
export interface OtlpCollector {
  /** Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://127.0.0.1:43187`. */
  readonly endpoint: string;
  /** Every span received so far, in arrival order. */
  spans(): readonly CollectedSpan[];
  /** Stops listening. */
  close(): Promise<void>;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  events?: { attributes?: OtlpKeyValue[] }[];
  links?: { traceId: string; spanId: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number };
}
interface OtlpTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function plain(value: OtlpAnyValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  if (value.kvlistValue) return attributeMap(value.kvlistValue.values);
  return value.bytesValue;
}

function attributeMap(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = plain(value);
  return out;
}

function valuesOf(span: OtlpSpan): string[] {
  const lists = [span.attributes, ...(span.events ?? []).map((e) => e.attributes)];
  lists.push(...(span.links ?? []).map((l) => l.attributes));
  return lists.flatMap((list) => Object.values(attributeMap(list)).map((v) => JSON.stringify(v)));
}

/** Flattens one OTLP JSON export request into spans. */
export function parseOtlpTraces(body: OtlpTraceRequest): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const service = String(attributeMap(resourceSpans.resource?.attributes)["service.name"] ?? "");
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: span.kind ?? 0,
          service,
          attributes: attributeMap(span.attributes),
          links: (span.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
          statusCode: span.status?.code ?? 0,
          values: valuesOf(span),
        });
      }
    }
  }
  return spans;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return request.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body;
}

/** Starts a collector on a free port of 127.0.0.1. */
export async function startOtlpCollector(): Promise<OtlpCollector> {
  const received: CollectedSpan[] = [];
  const server: Server = createServer((request, response) => {
    if (request.method !== "POST" || request.url !== "/v1/traces") {
      response.writeHead(404).end();
      return;
    }
    if (!(request.headers["content-type"] ?? "").startsWith("application/json")) {
      response.writeHead(415, { "content-type": "text/plain" }).end("only OTLP JSON is accepted\n");
      return;
    }
    readBody(request).then(
      (body) => {
        try {
          received.push(...parseOtlpTraces(JSON.parse(body.toString("utf8")) as OtlpTraceRequest));
        } catch (error) {
          response.writeHead(400, { "content-type": "text/plain" }).end(`${String(error)}\n`);
          return;
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      },
      () => response.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
