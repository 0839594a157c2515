/**
 * A lean gRPC unary client for the edge's hot path: bytes in, bytes out. Sessions come from
 * connect-node's `Http2SessionManager`, one per upstream address (grpc-endpoints.ts: addresses,
 * round-robin, back-off, session rotation); statuses are read with `@connectrpc/connect/protocol-grpc`'s
 * helpers (`validateResponse`, `validateTrailer`). This file adds what forwarding needs on top: 5-byte
 * framing, `grpc-timeout` and a local deadline, cancellation, a bounded response (message size, header
 * list size, session memory), and one retry of a call that provably never reached the service. See
 * docs/decisions.md for why not connect-node's gRPC transport.
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
import { Code, ConnectError } from "@connectrpc/connect";
import { parseContentType, validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { type Endpoint, EndpointPool, type EndpointSettings, localError } from "./grpc-endpoints.js";

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

const maxTimeoutValue = 99_999_999; // grpc-timeout allows at most 8 digits

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
  private closed = false;
  private readonly pool: EndpointPool;
  private readonly maxResponseBytes: number;

  constructor(
    readonly target: string,
    options: GrpcUnaryOptions = {},
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? 4 * 1024 * 1024;
    const settings: EndpointSettings = {
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
      lookup: options.lookup ?? ((host) => dnsLookup(host, { all: true })),
    };
    this.pool = new EndpointPool(target, settings);
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
      await this.pool.refresh();
      // A call refused before it reached the service (no session, GOAWAY, refused stream) is safe to
      // send once more, to another address when there is one.
      for (let attempt = 0; ; attempt++) {
        const endpoint = this.pool.pick();
        try {
          return await this.attempt(endpoint, path, body, metadata, deadline, sendTimeout, controller.signal);
        } catch (error) {
          if (!(error instanceof NotSent)) throw error;
          this.pool.failed(endpoint);
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
      await this.pool.refresh().catch(() => {});
      const endpoint = this.pool.known ? this.pool.pick() : undefined;
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
    this.pool.close();
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
    this.pool.claim(endpoint);
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
      this.pool.adopt(endpoint, stream.session as ClientHttp2Session);
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
    const max = this.maxResponseBytes;
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
