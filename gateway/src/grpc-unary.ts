/**
 * A lean gRPC unary client for the edge's hot path: bytes in, bytes out. Sessions come from
 * connect-node's `Http2SessionManager` (one per upstream address: connect, keepalive pings with
 * back-off on `too_many_pings`, a new connection after GOAWAY, idle timeout), statuses are read with
 * `@connectrpc/connect/protocol-grpc`'s helpers (`validateResponse`, `validateTrailer`), and this file
 * adds only what forwarding needs on top: round-robin over the addresses of a target with back-off for
 * failing ones, `dns:` names resolved in the background, 5-byte framing, `grpc-timeout` and a local
 * deadline, cancellation, a bounded response (message size, header list size, session memory), a
 * fresh session before HTTP/2 stream ids run out or after a maximum age, and one retry of a call that
 * provably never reached the service. See docs/decisions.md for why not connect-node's gRPC transport.
 *
 * Failures reject with a `ConnectError`: `isWireError` when the status came from the service (its
 * trailers), otherwise a local failure whose `cause` says what happened (for logs, never for clients).
 */
import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants as h2,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { connect as netConnect } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseContentType, validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { Http2SessionManager } from "@connectrpc/connect-node";

/** Settings of a {@link GrpcUnaryClient}. */
export interface GrpcUnaryOptions {
  /** Largest response message accepted (default 4 MiB, gRPC's usual limit). */
  readonly maxResponseBytes?: number;
  /**
   * Largest response header block (headers or trailers) accepted, advertised to the upstream as
   * SETTINGS_MAX_HEADER_LIST_SIZE (default 32 KiB): a larger one resets only its own stream.
   */
  readonly maxHeaderListBytes?: number;
  /** Memory one HTTP/2 session may use, in MiB (Node's `maxSessionMemory`; default 32). */
  readonly maxSessionMemoryMiB?: number;
  /** A failing address is skipped for this long, doubling up to `maxBackoffMs` (default 100 ms). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Keepalive PING interval while calls are open (default 30 s); unanswered within `pingTimeoutMs`, the session closes. */
  readonly keepaliveMs?: number;
  readonly pingTimeoutMs?: number;
  /** How often a `dns:` name is resolved again (default 30 s), and again after a failed lookup (default 1 s). */
  readonly resolveEveryMs?: number;
  readonly resolveRetryMs?: number;
  /** Streams opened on one session before a fresh one is used (default 2^29; Node runs out at 2^30). */
  readonly maxStreamsPerSession?: number;
  /** Age after which a session takes no new calls and closes once its calls finish (default 30 min). */
  readonly maxSessionAgeMs?: number;
  /** The resolver (default `dns.promises.lookup`); tests give one that fails or hangs. */
  readonly lookup?: (host: string) => Promise<readonly LookupAddress[]>;
}

/** One address of an upstream and its current session manager. */
interface Endpoint {
  readonly key: string;
  manager: Http2SessionManager;
  /** The session the manager last handed out (closed gracefully when the endpoint rotates). */
  session: ClientHttp2Session | undefined;
  streams: number;
  bornAt: number;
  /** Skipped until this time (epoch ms) after a failure. */
  retryAt: number;
  backoffMs: number;
}

/** How the addresses of a target are found. */
type Addresses =
  | { readonly kind: "static"; readonly list: readonly string[] }
  | { readonly kind: "dns"; readonly host: string; readonly port: number };

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

/** What one call sends besides the path and body: extra request metadata (ASCII values). */
export type RequestMetadata = Record<string, string | string[]>;

/** A successful call: the response message and the response headers and trailers. */
export interface UnaryResponse {
  readonly message: Buffer;
  readonly header: Headers;
  readonly trailer: Headers;
}

/** An upstream call in flight. */
export interface UnaryCall {
  readonly result: Promise<UnaryResponse>;
  cancel(): void;
}

/** A local failure: a client-safe message, the real reason as the cause. */
function localError(code: Code, message: string, reason: string, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, undefined, new Error(reason, { cause }));
}

/** A failure before the call reached the service: safe to send again. */
class NotSent extends Error {}

/** Node's response headers as fetch Headers, without pseudo-headers. */
function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, String(value));
  }
  return headers;
}

/** A gRPC unary client for one upstream target. */
export class GrpcUnaryClient {
  private endpoints: Endpoint[] = [];
  private next = 0;
  private resolvedAt = 0;
  private resolving: Promise<void> | undefined;
  private closed = false;
  private readonly addresses: Addresses;
  private readonly options: Required<Omit<GrpcUnaryOptions, "lookup">>;
  private readonly lookup: (host: string) => Promise<readonly LookupAddress[]>;

  constructor(
    readonly target: string,
    options: GrpcUnaryOptions = {},
  ) {
    this.addresses = parseTarget(target);
    this.options = {
      maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024,
      maxHeaderListBytes: options.maxHeaderListBytes ?? 32 * 1024,
      maxSessionMemoryMiB: options.maxSessionMemoryMiB ?? 32,
      initialBackoffMs: options.initialBackoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 2_000,
      keepaliveMs: options.keepaliveMs ?? 30_000,
      pingTimeoutMs: options.pingTimeoutMs ?? 10_000,
      resolveEveryMs: options.resolveEveryMs ?? 30_000,
      resolveRetryMs: options.resolveRetryMs ?? 1_000,
      maxStreamsPerSession: options.maxStreamsPerSession ?? 2 ** 29,
      maxSessionAgeMs: options.maxSessionAgeMs ?? 30 * 60_000,
    };
    this.lookup = options.lookup ?? ((host) => dnsLookup(host, { all: true }));
    if (this.addresses.kind === "static") this.endpoints = this.addresses.list.map((a) => this.endpoint(a));
  }

  /**
   * Calls `path` with `body` (one serialized message) before `deadline` (epoch ms). The deadline is
   * sent as `grpc-timeout` unless `sendTimeout` is false (then it only bounds the call here).
   */
  unary(
    path: string,
    body: Buffer,
    metadata: RequestMetadata,
    deadline: number,
    sendTimeout = true,
  ): UnaryCall {
    const controller = new AbortController();
    const result = (async () => {
      await this.refreshAddresses();
      // A call refused before it reached the service (no session, GOAWAY, refused stream) is safe to
      // send once more, to another address when there is one.
      for (let attempt = 0; ; attempt++) {
        const endpoint = this.pick();
        try {
          return await this.attempt(endpoint, path, body, metadata, deadline, sendTimeout, controller.signal);
        } catch (error) {
          if (!(error instanceof NotSent)) throw error;
          this.failed(endpoint);
          if (attempt >= 1 || controller.signal.aborted) {
            throw localError(Code.Unavailable, "service unavailable", error.message, error.cause);
          }
        }
      }
    })();
    return { result, cancel: () => controller.abort() };
  }

  /** Resolves once a session to some address is connected, or rejects at `deadline`. */
  async waitForReady(deadline: number): Promise<void> {
    for (;;) {
      await this.refreshAddresses().catch(() => {});
      const endpoint = this.endpoints.length > 0 ? this.pick() : undefined;
      if (endpoint !== undefined) {
        const state = await Promise.race([
          endpoint.manager.connect(),
          new Promise<"timeout">((resolve) =>
            setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now())).unref(),
          ),
        ]);
        if (state === "open" || state === "idle") return;
      }
      if (Date.now() >= deadline) {
        throw localError(Code.DeadlineExceeded, "deadline exceeded", `${this.target} not ready in time`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Closes every session; calls after this fail. */
  close(): void {
    this.closed = true;
    for (const endpoint of this.endpoints) endpoint.manager.abort();
  }

  private endpoint(address: string): Endpoint {
    return {
      key: address,
      manager: this.manager(address),
      session: undefined,
      streams: 0,
      bornAt: Date.now(),
      retryAt: 0,
      backoffMs: this.options.initialBackoffMs,
    };
  }

  private manager(address: string): Http2SessionManager {
    const unix = address.startsWith("unix:");
    const createConnection = () => {
      if (unix) return netConnect(address.slice(5));
      const colon = address.lastIndexOf(":");
      const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
      // Small request and response frames must not wait for an ACK (Nagle).
      return netConnect({ host, port: Number(address.slice(colon + 1)), noDelay: true });
    };
    return new Http2SessionManager(
      unix ? "http://localhost" : `http://${address}`,
      { pingIntervalMs: this.options.keepaliveMs, pingTimeoutMs: this.options.pingTimeoutMs },
      {
        createConnection,
        maxSessionMemory: this.options.maxSessionMemoryMiB,
        settings: { maxHeaderListSize: this.options.maxHeaderListBytes, enablePush: false },
      },
    );
  }

  /** A new session for an endpoint whose session is old or near the end of its stream ids. */
  private rotate(endpoint: Endpoint): void {
    const old = endpoint.session;
    endpoint.manager = this.manager(endpoint.key);
    endpoint.session = undefined;
    endpoint.streams = 0;
    endpoint.bornAt = Date.now();
    // Graceful: calls in flight on the old session finish, then it closes.
    if (old !== undefined && !old.closed && !old.destroyed) old.close();
  }

  private failed(endpoint: Endpoint): void {
    endpoint.retryAt = Date.now() + endpoint.backoffMs;
    endpoint.backoffMs = Math.min(endpoint.backoffMs * 2, this.options.maxBackoffMs);
  }

  /**
   * Keeps a `dns:` target's addresses fresh. Known addresses keep serving while a lookup runs in the
   * background; only a target with none yet waits for it. A failed lookup counts as a refresh too
   * (retried after `resolveRetryMs`), so a DNS outage never adds a lookup to every call.
   */
  private refreshAddresses(): Promise<void> {
    if (this.addresses.kind !== "dns" || Date.now() - this.resolvedAt <= this.options.resolveEveryMs) {
      return Promise.resolve();
    }
    const running = this.resolve();
    if (this.endpoints.length > 0) {
      running.catch(() => {});
      return Promise.resolve();
    }
    return running;
  }

  private resolve(): Promise<void> {
    const addresses = this.addresses;
    if (addresses.kind !== "dns") return Promise.resolve();
    this.resolving ??= (async () => {
      try {
        const found = await this.lookup(addresses.host);
        if (found.length === 0) throw new Error("no addresses");
        const keys = found.map((a) =>
          a.family === 6 ? `[${a.address}]:${addresses.port}` : `${a.address}:${addresses.port}`,
        );
        const kept = this.endpoints.filter((e) => keys.includes(e.key));
        for (const gone of this.endpoints) if (!keys.includes(gone.key)) gone.session?.close();
        const added = keys.filter((k) => !kept.some((e) => e.key === k)).map((k) => this.endpoint(k));
        this.endpoints = [...kept, ...added];
        this.resolvedAt = Date.now();
      } catch (error) {
        this.resolvedAt = Date.now() - this.options.resolveEveryMs + this.options.resolveRetryMs;
        if (this.endpoints.length === 0) {
          throw localError(
            Code.Unavailable,
            "service unavailable",
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
    if (n === 0) throw localError(Code.Unavailable, "service unavailable", `no address for ${this.target}`);
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

  private async attempt(
    endpoint: Endpoint,
    path: string,
    body: Buffer,
    metadata: RequestMetadata,
    deadline: number,
    sendTimeout: boolean,
    signal: AbortSignal,
  ): Promise<UnaryResponse> {
    if (this.closed) throw new NotSent("client closed");
    const timeoutMs = deadline - Date.now();
    if (timeoutMs <= 0)
      throw localError(Code.DeadlineExceeded, "deadline exceeded", "deadline passed before the call");
    if (signal.aborted) throw localError(Code.Canceled, "request canceled", "cancelled before the call");
    const o = this.options;
    if (endpoint.streams >= o.maxStreamsPerSession || Date.now() - endpoint.bornAt >= o.maxSessionAgeMs) {
      this.rotate(endpoint);
    }
    endpoint.streams++;
    const headers: OutgoingHttpHeaders = {
      "content-type": "application/grpc+proto",
      te: "trailers",
      ...metadata,
    };
    if (sendTimeout) headers["grpc-timeout"] = `${Math.min(Math.ceil(timeoutMs), maxTimeoutValue)}m`;
    // Waiting for a connection is bounded by the deadline and the cancellation too.
    let stopReason: ConnectError | undefined;
    let stop: (error: ConnectError) => void = () => {};
    const stopped = new Promise<never>((_, reject) => {
      stop = (error) => {
        stopReason ??= error;
        reject(error);
      };
    });
    stopped.catch(() => {});
    const timer = setTimeout(
      () =>
        stop(
          localError(Code.DeadlineExceeded, "deadline exceeded", `no answer from ${endpoint.key} in time`),
        ),
      timeoutMs,
    );
    const onAbort = () =>
      stop(localError(Code.Canceled, "request canceled", "cancelled by the edge's client"));
    signal.addEventListener("abort", onAbort, { once: true });
    let stream: ClientHttp2Stream | undefined;
    try {
      try {
        stream = await Promise.race([
          endpoint.manager.request("POST", path, headers, { endStream: false }),
          stopped,
        ]);
      } catch (error) {
        if (error === stopReason) throw error;
        throw new NotSent(`cannot reach ${endpoint.key}`, { cause: error });
      }
      const session = stream.session as ClientHttp2Session;
      if (endpoint.session !== session) {
        // The manager stops listening to a session it has moved on from; a late error (a PING
        // timing out while the old session drains) must not become an uncaught exception.
        session.on("error", () => {});
        endpoint.session = session;
      }
      const response = this.exchange(endpoint, stream, body);
      response.catch(() => {}); // settled by the race below, or ignored after a deadline or cancellation
      return await Promise.race([response, stopped]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (stream !== undefined && !stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    }
  }

  /** Sends one framed message on `stream` and reads the answer. */
  private exchange(endpoint: Endpoint, stream: ClientHttp2Stream, body: Buffer): Promise<UnaryResponse> {
    const max = this.options.maxResponseBytes;
    const session = stream.session as ClientHttp2Session; // a closed stream no longer knows it
    return new Promise<UnaryResponse>((resolve, reject) => {
      let header: Headers | undefined;
      let trailer: Headers | undefined;
      let failure: ConnectError | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const fail = (error: ConnectError) => {
        failure ??= error;
        if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
      };
      stream.on("response", (head) => {
        header = toHeaders(head);
        try {
          const { foundStatus, headerError } = validateResponse(Number(head[":status"]), header);
          if (headerError !== undefined) fail(headerError);
          else if (foundStatus)
            trailer = header; // trailers-only
          else if (parseContentType(header.get("content-type"))?.binary !== true) {
            fail(
              localError(
                Code.Internal,
                "internal error",
                `${endpoint.key} answered ${header.get("content-type")}`,
              ),
            );
          }
        } catch (error) {
          fail(upstreamFailure(error, `${endpoint.key} sent an invalid response head`));
        }
      });
      stream.on("trailers", (tail) => {
        trailer = toHeaders(tail);
      });
      stream.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > max + 5) {
          fail(
            localError(
              Code.ResourceExhausted,
              "response too large",
              `${endpoint.key} sent more than ${max} bytes`,
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      stream.on("error", () => {
        // reported by "close" with the stream's RST code
      });
      stream.once("close", () => {
        if (failure !== undefined) return reject(failure);
        if (header === undefined || trailer === undefined) {
          return reject(this.lost(endpoint, stream, header !== undefined, session));
        }
        try {
          validateTrailer(trailer, header);
        } catch (error) {
          return reject(upstreamFailure(error, `${endpoint.key} sent an invalid status`));
        }
        const message = unframe(Buffer.concat(chunks, size), endpoint.key);
        if (message instanceof ConnectError) return reject(message);
        resolve({ message, header, trailer });
      });
      stream.on("data", () => endpoint.manager.notifyResponseByteRead(stream));
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.end(frame);
    });
  }

  /** Why a stream closed without a status. */
  private lost(
    endpoint: Endpoint,
    stream: ClientHttp2Stream,
    responded: boolean,
    session: ClientHttp2Session,
  ): Error {
    const rst = stream.rstCode;
    if (!responded && (rst === h2.NGHTTP2_REFUSED_STREAM || stream.id === undefined || !stream.sentHeaders)) {
      return new NotSent(`call to ${endpoint.key} refused before it was sent (HTTP/2 code ${rst})`);
    }
    if (!responded && rst === h2.NGHTTP2_NO_ERROR && session.destroyed) {
      return new NotSent(`connection to ${endpoint.key} closed before the call was sent`);
    }
    if (responded && rst === h2.NGHTTP2_NO_ERROR && !session.destroyed) {
      return localError(Code.Internal, "internal error", `${endpoint.key} ended a response without a status`);
    }
    if (rst === h2.NGHTTP2_ENHANCE_YOUR_CALM) {
      return localError(
        Code.ResourceExhausted,
        "response too large",
        `${endpoint.key}: header list over the limit`,
      );
    }
    return localError(
      Code.Unavailable,
      "service unavailable",
      `connection to ${endpoint.key} lost (HTTP/2 code ${rst})`,
    );
  }
}

/** A thrown status of the upstream kept as is; anything else becomes INTERNAL with it as the cause. */
function upstreamFailure(error: unknown, reason: string): ConnectError {
  if (error instanceof ConnectError) return error;
  return localError(Code.Internal, "internal error", reason, error);
}

/** The one message of a unary response body, or why it is not one. */
function unframe(data: Buffer, from: string): Buffer | ConnectError {
  if (data.length < 5) return localError(Code.Internal, "internal error", `${from} sent no response message`);
  if (data[0] !== 0) {
    return localError(
      Code.Internal,
      "internal error",
      `${from} sent a message with flags ${data[0]} (compressed?)`,
    );
  }
  const length = data.readUInt32BE(1);
  if (length !== data.length - 5) {
    return localError(Code.Internal, "internal error", `${from} sent a malformed response frame`);
  }
  return data.subarray(5);
}
