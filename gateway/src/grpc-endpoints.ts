/**
 * Where the lean gRPC client (grpc-unary.ts) sends a call: the addresses of one upstream target, read
 * as grpc-js reads targets (`ipv4:`, `ipv6:`, `dns:`, `unix:`), `dns:` names resolved again in the
 * background, round-robin over the addresses with back-off for failing ones, and per address a
 * connect-node `Http2SessionManager` (connect, keepalive pings with back-off on `too_many_pings`, a
 * new connection after GOAWAY, idle timeout) replaced by a fresh one before HTTP/2 stream ids run out
 * or after a maximum age.
 */
import type { LookupAddress } from "node:dns";
import type { ClientHttp2Session } from "node:http2";
import { connect as netConnect } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { Http2SessionManager } from "@connectrpc/connect-node";

/** How the endpoints of a target are kept (every field set; defaults live in grpc-unary.ts). */
export interface EndpointSettings {
  readonly maxHeaderListBytes: number;
  readonly maxSessionMemoryMiB: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly keepaliveMs: number;
  readonly pingTimeoutMs: number;
  readonly resolveEveryMs: number;
  readonly resolveRetryMs: number;
  readonly maxStreamsPerSession: number;
  readonly maxSessionAgeMs: number;
  readonly lookup: (host: string) => Promise<readonly LookupAddress[]>;
}

/** One address of an upstream and its current session manager. */
export interface Endpoint {
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
export type Addresses =
  | { readonly kind: "static"; readonly list: readonly string[] }
  | { readonly kind: "dns"; readonly host: string; readonly port: number };

/** A local failure of the upstream client: a client-safe message, the real reason as the cause. */
export function localError(code: Code, message: string, reason: string, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, undefined, new Error(reason, { cause }));
}

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

/** The endpoints of one target. */
export class EndpointPool {
  private endpoints: Endpoint[] = [];
  private next = 0;
  private resolvedAt = 0;
  private resolving: Promise<void> | undefined;
  private readonly addresses: Addresses;

  constructor(
    readonly target: string,
    private readonly settings: EndpointSettings,
  ) {
    this.addresses = parseTarget(target);
    if (this.addresses.kind === "static") this.endpoints = this.addresses.list.map((a) => this.endpoint(a));
  }

  /** Whether some address is known. */
  get known(): boolean {
    return this.endpoints.length > 0;
  }

  /**
   * Keeps a `dns:` target's addresses fresh. Known addresses keep serving while a lookup runs in the
   * background; only a target with none yet waits for it. A failed lookup counts as a refresh too
   * (retried after `resolveRetryMs`), so a DNS outage never adds a lookup to every call.
   */
  refresh(): Promise<void> {
    if (this.addresses.kind !== "dns" || Date.now() - this.resolvedAt <= this.settings.resolveEveryMs) {
      return Promise.resolve();
    }
    const running = this.resolve();
    if (this.endpoints.length > 0) {
      running.catch(() => {});
      return Promise.resolve();
    }
    return running;
  }

  /** The next address round-robin, skipping those in back-off while another is usable. */
  pick(): Endpoint {
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

  /** Counts a stream about to open on `endpoint`, on a fresh session if the current one is due. */
  claim(endpoint: Endpoint): void {
    const { maxStreamsPerSession, maxSessionAgeMs } = this.settings;
    if (endpoint.streams >= maxStreamsPerSession || Date.now() - endpoint.bornAt >= maxSessionAgeMs) {
      this.rotate(endpoint);
    }
    endpoint.streams++;
  }

  /** Notes the session a stream of `endpoint` was opened on. */
  adopt(endpoint: Endpoint, session: ClientHttp2Session): void {
    if (endpoint.session === session) return;
    // The manager stops listening to a session it has moved on from; a late error (a PING timing out
    // while the old session drains) must not become an uncaught exception.
    session.on("error", () => {});
    endpoint.session = session;
  }

  /** Skips `endpoint` for a while, doubling the back-off. */
  failed(endpoint: Endpoint): void {
    endpoint.retryAt = Date.now() + endpoint.backoffMs;
    endpoint.backoffMs = Math.min(endpoint.backoffMs * 2, this.settings.maxBackoffMs);
  }

  /** Closes every session. */
  close(): void {
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
      backoffMs: this.settings.initialBackoffMs,
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
      { pingIntervalMs: this.settings.keepaliveMs, pingTimeoutMs: this.settings.pingTimeoutMs },
      {
        createConnection,
        maxSessionMemory: this.settings.maxSessionMemoryMiB,
        settings: { maxHeaderListSize: this.settings.maxHeaderListBytes, enablePush: false },
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

  private resolve(): Promise<void> {
    const addresses = this.addresses;
    if (addresses.kind !== "dns") return Promise.resolve();
    this.resolving ??= (async () => {
      try {
        const found = await this.settings.lookup(addresses.host);
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
        this.resolvedAt = Date.now() - this.settings.resolveEveryMs + this.settings.resolveRetryMs;
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
}
