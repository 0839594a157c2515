/**
 * The one HTTP client for requests to URLs users give (webhooks): the destination is checked by the
 * policy (see guard.ts), the connection goes to exactly the address that was checked (the host name is
 * kept for the Host header, SNI and the certificate check), redirects are never followed, and the
 * whole exchange is bounded in time and the response in size.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { SecureContextOptions } from "node:tls";
import { type Destination, destinationChecker, type Lookup, type OutboundPolicy } from "./guard.js";

/** What goes out. */
export interface OutboundRequest {
  readonly url: string;
  readonly method?: "POST" | "PUT" | "GET";
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Bound of the whole exchange: resolving, connecting, TLS, sending and reading the response (ms). */
  readonly timeoutMs: number;
  /** Ends the request early (e.g. at shutdown). */
  readonly signal?: AbortSignal;
}

/** What came back. Redirects are answers like any other: `location` is never followed. */
export interface OutboundResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** At most `maxResponseBytes` of the body. */
  readonly body: Buffer;
  /** True when the body was longer and the rest was not read (the connection was closed). */
  readonly truncated: boolean;
  /** The address the request went to. */
  readonly address: string;
}

/** A transport failure (not a refusal by policy): timeout, connection or TLS failure. */
export class OutboundFailure extends Error {
  constructor(
    readonly kind: "timeout" | "aborted" | "connection",
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "OutboundFailure";
  }
}

/** Options of {@link createOutboundClient}. */
export interface OutboundClientOptions {
  readonly policy: OutboundPolicy;
  /** The resolver (tests inject one); default the system's. */
  readonly lookup?: Lookup;
  /** Longest response body kept; the rest is not read (default 64 KiB). */
  readonly maxResponseBytes?: number;
  /** Extra trust for TLS (tests with a self-signed receiver). */
  readonly tls?: Pick<SecureContextOptions, "ca">;
}

/** The guarded client: `check` a URL (at registration), `send` a request (checking again). */
export interface OutboundClient {
  /**
   * Checks `url` against the policy, resolving its host once.
   *
   * @throws DestinationRefused (message safe for the user) or ResolutionUnavailable (try later)
   */
  check(url: string): Promise<Destination>;
  /**
   * Checks the URL again and sends the request to the checked address.
   *
   * @throws DestinationRefused, ResolutionUnavailable or OutboundFailure
   */
  send(request: OutboundRequest): Promise<OutboundResponse>;
}

function combinedSignal(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

function failureOf(error: unknown, signal: AbortSignal, timeoutMs: number): OutboundFailure {
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    return reason?.name === "TimeoutError"
      ? new OutboundFailure("timeout", `no complete answer within ${timeoutMs} ms`, error)
      : new OutboundFailure("aborted", "request aborted", error);
  }
  const cause = error as { code?: string; message?: string };
  return new OutboundFailure(
    "connection",
    `request failed: ${cause.code ?? cause.message ?? "error"}`,
    error,
  );
}

/** Creates the guarded client for `options.policy`. */
export function createOutboundClient(options: OutboundClientOptions): OutboundClient {
  const check = destinationChecker(options.policy, options.lookup);
  const maxResponseBytes = options.maxResponseBytes ?? 65_536;

  const exchange = (destination: Destination, request: OutboundRequest, signal: AbortSignal) =>
    new Promise<OutboundResponse>((resolve, reject) => {
      const { url, hostname, address, family, port } = destination;
      const secure = url.protocol === "https:";
      const body = request.body === undefined ? undefined : Buffer.from(request.body);
      const send = secure ? httpsRequest : httpRequest;
      const req = send({
        // The checked address itself: no name is resolved again.
        host: address,
        family,
        port,
        method: request.method ?? "POST",
        path: `${url.pathname}${url.search}`,
        headers: {
          ...request.headers,
          host: url.host,
          ...(body ? { "content-length": String(body.length) } : {}),
        },
        agent: false,
        signal,
        ...(secure
          ? {
              // SNI and the certificate check use the name the user gave, not the address.
              servername: hostname === "" ? undefined : hostname,
              rejectUnauthorized: true,
              ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
            }
          : {}),
      });
      req.once("error", (error) => reject(failureOf(error, signal, request.timeoutMs)));
      req.once("response", (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let truncated = false;
        const finish = () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            truncated,
            address,
          });
        res.on("data", (chunk: Buffer) => {
          if (truncated) return;
          const room = maxResponseBytes - kept;
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room));
            kept = maxResponseBytes;
            truncated = true;
            // The rest is not read: the connection is closed under it.
            req.destroy();
            finish();
            return;
          }
          chunks.push(chunk);
          kept += chunk.length;
        });
        res.once("end", finish);
        res.once("error", (error) => {
          if (!truncated) reject(failureOf(error, signal, request.timeoutMs));
        });
      });
      req.end(body);
    });

  return {
    check,
    async send(request) {
      const signal = combinedSignal(request.timeoutMs, request.signal);
      const destination = await raceSignal(check(request.url), signal, request.timeoutMs);
      return exchange(destination, request, signal);
    },
  };
}

/** `promise`, or an OutboundFailure when `signal` aborts first (a resolver that hangs). */
async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) throw failureOf(signal.reason, signal, timeoutMs);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(failureOf(signal.reason, signal, timeoutMs));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
