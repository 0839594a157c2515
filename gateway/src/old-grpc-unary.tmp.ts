/**
 * A lean gRPC unary client over node:http2 for the edge's hot path: bytes in, bytes out, one HTTP/2
 * session per upstream address, calls spread round-robin over the addresses whose session is not
 * failing. It does only what forwarding needs — 5-byte framing, `grpc-timeout` and a local deadline,
 * request metadata, status and trailers, cancellation, reconnect with backoff, GOAWAY (new calls go to
 * a new session), keepalive pings — and costs about half of grpc-js's CPU per call (see
 * docs/decisions.md). Failures reject with {@link UpstreamStatusError}, which has grpc-js's
 * `ServiceError` shape (code, details, metadata), so one mapping serves both.
 */
import { lookup } from "node:dns/promises";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants as h2,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { connect as netConnect } from "node:net";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "@mercato/platform/errors";

/** A failed call, shaped like grpc-js's `ServiceError`. */
export class UpstreamStatusError extends Error {
  constructor(
    readonly code: Code,
    readonly details: string,
    readonly metadata: Metadata = new Metadata(),
  ) {
    super(`${code} ${Code[code] ?? "UNKNOWN"}: ${details}`);
    this.name = "UpstreamStatusError";
  }
}

/** Settings of a {@link GrpcUnaryClient}. */
export interface GrpcUnaryOptions {
  /** Largest response message accepted (default 16 MiB). */
  readonly maxResponseBytes?: number;
  /** A failing address is skipped for this long, doubling up to `maxBackoffMs` (default 100 ms). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Interval of keepalive pings on a session (default 30 s; a ping unanswered for 10 s closes it). */
  readonly keepaliveMs?: number;
  /** How often a `dns:` name is resolved again (default 30 s). */
  readonly resolveEveryMs?: number;
}

/** One address of an upstream and its session. */
interface Endpoint {
  readonly key: string;
  readonly open: () => ClientHttp2Session;
  session: ClientHttp2Session | undefined;
  /** Skipped until this time (epoch ms) after a failure. */
  retryAt: number;
  backoffMs: number;
}

/** How the addresses of a target are found. */
type Addresses =
  | { readonly kind: "static"; readonly list: readonly string[] }
  | {
      readonly kind: "dns";
      readonly host: string;
      readonly port: number;
    };

const maxTimeoutValue = 99_999_999; // grpc-timeout allows at most 8 digits

function parsePort(value: string, target: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`bad port in target ${target}`);
  return port;
}

/** The addresses of a grpc-js style target (`ipv4:`, `ipv6:`, `dns:`, `unix:`), as `host:port` or `unix:path`. */
export function parseTarget(target: string): Addresses {
  if (target.startsWith("unix:")) return { kind: "static", list: [target.replace(/^unix:(\/\/)?/, "unix:")] };
  const list = /^ipv[46]:(.*)$/.exec(target)?.[1];
  if (list !== undefined) return { kind: "static", list: list.split(",").map((a) => a.trim()) };
  const name = /^dns:(?:\/\/[^/]*\/)?(.*)$/.exec(target)?.[1] ?? target;
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(name);
  if (!match?.[1] || !match[2]) throw new Error(`unsupported upstream target ${target}`);
  const host = match[1].replace(/^\[|\]$/g, "");
  return { kind: "dns", host, port: parsePort(match[2], target) };
}

/** Reads the status of a response's trailers (or of a trailers-only response). */
function statusOf(headers: IncomingHttpHeaders): { code: Code; details: string } | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(raw);
  const message = headers["grpc-message"];
  let details = typeof message === "string" ? message : "";
  if (details.includes("%")) {
    try {
      details = decodeURIComponent(details);
    } catch {
      // left as sent
    }
  }
  return { code: Number.isInteger(code) && code >= 0 && code <= 16 ? code : Code.UNKNOWN, details };
}

/** The gRPC code of an HTTP status that is not 200 (the gRPC over HTTP/2 spec's table). */
function codeOfHttpStatus(status: number): Code {
  if (status === 400) return Code.INTERNAL;
  if (status === 401) return Code.UNAUTHENTICATED;
  if (status === 403) return Code.PERMISSION_DENIED;
  if (status === 404) return Code.UNIMPLEMENTED;
  if (status === 429 || status === 502 || status === 503 || status === 504) return Code.UNAVAILABLE;
  return Code.UNKNOWN;
}

/** What one call sends besides the path and body: extra request metadata (ASCII values). */
export type RequestMetadata = Record<string, string>;

/** An upstream call in flight. */
export interface UnaryCall {
  readonly result: Promise<Buffer>;
  cancel(): void;
}

/** A gRPC unary client for one upstream target. */
export class GrpcUnaryClient {
  private endpoints: Endpoint[] = [];
  private next = 0;
  private resolvedAt = 0;
  private resolving: Promise<void> | undefined;
  private closed = false;
  private readonly addresses: Addresses;
  private readonly maxResponseBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly keepaliveMs: number;
  private readonly resolveEveryMs: number;

  constructor(
    readonly target: string,
    options: GrpcUnaryOptions = {},
  ) {
    this.addresses = parseTarget(target);
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.keepaliveMs = options.keepaliveMs ?? 30_000;
    this.resolveEveryMs = options.resolveEveryMs ?? 30_000;
    if (this.addresses.kind === "static") this.endpoints = this.addresses.list.map((a) => this.endpoint(a));
  }

  /** Calls `path` with `body` (one serialized message) before `deadline` (epoch ms). */
  unary(path: string, body: Buffer, metadata: RequestMetadata, deadline: number): UnaryCall {
    let cancelled = false;
    let stream: ClientHttp2Stream | undefined;
    const result = (async () => {
      if (this.addresses.kind === "dns" && Date.now() - this.resolvedAt > this.resolveEveryMs) {
        await this.resolve();
      }
      // A call refused before it reached the service (no session, GOAWAY, refused stream) is safe to
      // send once more, to another address when there is one.
      for (let attempt = 0; ; attempt++) {
        if (cancelled) throw new UpstreamStatusError(Code.CANCELLED, "call cancelled");
        const endpoint = this.pick();
        try {
          return await this.attempt(endpoint, path, body, metadata, deadline, (s) => {
            stream = s;
          });
        } catch (error) {
          if (!(error instanceof NotSent) || attempt >= 1) {
            throw error instanceof NotSent ? new UpstreamStatusError(Code.UNAVAILABLE, error.message) : error;
          }
        }
      }
    })();
    return {
      result,
      cancel: () => {
        cancelled = true;
        stream?.close(h2.NGHTTP2_CANCEL);
      },
    };
  }

  /** Resolves once a session to some address is connected, or rejects at `deadline`. */
  async waitForReady(deadline: number): Promise<void> {
    for (;;) {
      if (this.addresses.kind === "dns") await this.resolve().catch(() => {});
      const endpoint = this.endpoints.length > 0 ? this.pick() : undefined;
      if (endpoint !== undefined) {
        const session = this.sessionOf(endpoint);
        const connected = await new Promise<boolean>((resolve) => {
          if (!session.connecting && !session.destroyed) {
            resolve(true);
            return;
          }
          const done = (ok: boolean) => {
            clearTimeout(timer);
            resolve(ok);
          };
          const timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
          session.once("connect", () => done(true));
          session.once("close", () => done(false));
        });
        if (connected) return;
      }
      if (Date.now() >= deadline) throw new UpstreamStatusError(Code.DEADLINE_EXCEEDED, "upstream not ready");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Closes every session; calls after this fail. */
  close(): void {
    this.closed = true;
    for (const endpoint of this.endpoints) endpoint.session?.close();
  }

  private endpoint(address: string): Endpoint {
    const socket = () => {
      if (address.startsWith("unix:")) return netConnect(address.slice(5));
      const colon = address.lastIndexOf(":");
      const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
      // Small request and response frames must not wait for an ACK (Nagle).
      return netConnect({ host, port: Number(address.slice(colon + 1)), noDelay: true });
    };
    const authority = address.startsWith("unix:") ? "http://localhost" : `http://${address}`;
    const open = () => connect(authority, { createConnection: socket });
    return { key: address, open, session: undefined, retryAt: 0, backoffMs: this.initialBackoffMs };
  }

  private resolve(): Promise<void> {
    const addresses = this.addresses;
    if (addresses.kind !== "dns") return Promise.resolve();
    this.resolving ??= (async () => {
      try {
        const found = await lookup(addresses.host, { all: true });
        const keys = found.map((a) =>
          a.family === 6 ? `[${a.address}]:${addresses.port}` : `${a.address}:${addresses.port}`,
        );
        const kept = this.endpoints.filter((e) => keys.includes(e.key));
        for (const gone of this.endpoints) if (!keys.includes(gone.key)) gone.session?.close();
        const added = keys.filter((k) => !kept.some((e) => e.key === k)).map((k) => this.endpoint(k));
        this.endpoints = [...kept, ...added];
        this.resolvedAt = Date.now();
      } catch (error) {
        if (this.endpoints.length === 0) {
          throw new UpstreamStatusError(
            Code.UNAVAILABLE,
            `cannot resolve ${addresses.host}: ${(error as Error).message}`,
          );
        }
      } finally {
        this.resolving = undefined;
      }
    })();
    return this.resolving;
  }

  /** The next address round-robin, skipping those in back-off while another is usable. */
  private pick(): Endpoint {
    const n = this.endpoints.length;
    if (n === 0) throw new NotSent(`no address for ${this.target}`);
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const endpoint = this.endpoints[(this.next + i) % n] as Endpoint;
      if (endpoint.retryAt <= now) {
        this.next = (this.next + i + 1) % n;
        return endpoint;
      }
    }
    const endpoint = this.endpoints[this.next % n] as Endpoint;
    this.next = (this.next + 1) % n;
    return endpoint;
  }

  private sessionOf(endpoint: Endpoint): ClientHttp2Session {
    const current = endpoint.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    if (this.closed) throw new NotSent("client closed");
    const session = endpoint.open();
    endpoint.session = session;
    const forget = () => {
      if (endpoint.session === session) endpoint.session = undefined;
    };
    session.once("connect", () => {
      endpoint.backoffMs = this.initialBackoffMs;
      endpoint.retryAt = 0;
    });
    session.on("error", () => {
      endpoint.retryAt = Date.now() + endpoint.backoffMs;
      endpoint.backoffMs = Math.min(endpoint.backoffMs * 2, this.maxBackoffMs);
    });
    session.once("goaway", forget);
    session.once("close", forget);
    const ping = setInterval(() => {
      const timer = setTimeout(() => session.destroy(), 10_000).unref();
      const sent = session.ping((error) => {
        clearTimeout(timer);
        if (error) session.destroy();
      });
      if (!sent) clearTimeout(timer);
    }, this.keepaliveMs).unref();
    session.once("close", () => clearInterval(ping));
    // An idle session must not keep the process alive; a call in flight does through its deadline timer.
    session.unref();
    return session;
  }

  private attempt(
    endpoint: Endpoint,
    path: string,
    body: Buffer,
    metadata: RequestMetadata,
    deadline: number,
    started: (stream: ClientHttp2Stream) => void,
  ): Promise<Buffer> {
    const timeoutMs = deadline - Date.now();
    if (timeoutMs <= 0)
      return Promise.reject(new UpstreamStatusError(Code.DEADLINE_EXCEEDED, "deadline exceeded"));
    let session: ClientHttp2Session;
    try {
      session = this.sessionOf(endpoint);
    } catch (error) {
      return Promise.reject(error);
    }
    const headers: OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${Math.min(Math.ceil(timeoutMs), maxTimeoutValue)}m`,
      ...metadata,
    };
    return new Promise<Buffer>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: false });
      } catch (error) {
        reject(new NotSent((error as Error).message));
        return;
      }
      started(stream);
      let responded = false;
      let status: { code: Code; details: string } | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      let deadlineHit = false;
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => {
        deadlineHit = true;
        stream.close(h2.NGHTTP2_CANCEL);
      }, timeoutMs);

      stream.on("response", (head) => {
        responded = true;
        const httpStatus = Number(head[":status"]);
        if (httpStatus !== 200) {
          status = { code: codeOfHttpStatus(httpStatus), details: `upstream answered HTTP ${httpStatus}` };
          return;
        }
        const trailersOnly = statusOf(head);
        if (trailersOnly !== undefined) {
          status = trailersOnly;
          trailers = head;
        }
      });
      stream.on("trailers", (tail) => {
        trailers = tail;
        status ??= statusOf(tail);
      });
      stream.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxResponseBytes + 5) {
          status = { code: Code.RESOURCE_EXHAUSTED, details: "upstream response too large" };
          stream.close(h2.NGHTTP2_CANCEL);
          return;
        }
        chunks.push(chunk);
      });
      stream.on("error", () => {
        // reported by "close" with the stream's RST code
      });
      stream.once("close", () => {
        clearTimeout(timer);
        if (deadlineHit) {
          reject(new UpstreamStatusError(Code.DEADLINE_EXCEEDED, "deadline exceeded"));
          return;
        }
        if (status === undefined) {
          const rst = stream.rstCode;
          if (rst === h2.NGHTTP2_CANCEL) reject(new UpstreamStatusError(Code.CANCELLED, "call cancelled"));
          else if (
            !responded &&
            (rst === h2.NGHTTP2_REFUSED_STREAM || stream.id === undefined || !stream.sentHeaders)
          ) {
            reject(new NotSent(`call to ${endpoint.key} refused before it was sent`));
          } else if (!responded && rst === h2.NGHTTP2_NO_ERROR && session.destroyed) {
            reject(new NotSent(`connection to ${endpoint.key} closed before the call was sent`));
          } else {
            reject(
              new UpstreamStatusError(
                Code.UNAVAILABLE,
                `connection to ${endpoint.key} lost (HTTP/2 code ${rst})`,
              ),
            );
          }
          return;
        }
        if (status.code !== Code.OK) {
          reject(
            new UpstreamStatusError(
              status.code,
              status.details,
              trailers ? trailerMetadata(trailers) : undefined,
            ),
          );
          return;
        }
        const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
        if (data.length < 5) {
          reject(new UpstreamStatusError(Code.INTERNAL, "upstream sent no response message"));
          return;
        }
        if (data[0] !== 0) {
          reject(
            new UpstreamStatusError(Code.INTERNAL, "upstream sent a compressed message (none was accepted)"),
          );
          return;
        }
        const length = data.readUInt32BE(1);
        if (length !== data.length - 5) {
          reject(new UpstreamStatusError(Code.INTERNAL, "upstream sent a malformed response frame"));
          return;
        }
        resolve(data.subarray(5));
      });

      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.end(frame);
    });
  }
}

/** A failure before the call reached the service: safe to send again. */
class NotSent extends Error {}

/** Trailers as grpc-js presents them: the status itself is not part of the metadata. */
function trailerMetadata(trailers: IncomingHttpHeaders): Metadata {
  const metadata = Metadata.fromHttp2Headers(trailers);
  for (const key of ["grpc-status", "grpc-message", ":status", "content-type"]) metadata.remove(key);
  return metadata;
}
