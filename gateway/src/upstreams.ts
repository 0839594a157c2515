/**
 * The edge's channels to the services. Calls carry bytes both ways, so the edge encodes or decodes a
 * message only when the client's protocol needs it, never twice; they go through the lean unary
 * client of grpc-unary.ts (one HTTP/2 session per replica, round-robin), not grpc-js, because this is
 * the hot path.
 */
import { grpcTarget } from "@mercato/platform/grpc";
import {
  GrpcUnaryClient,
  type GrpcUnaryOptions,
  type RequestMetadata,
  type UnaryResponse,
} from "./grpc-unary.js";

/** An upstream call in flight. */
export interface UpstreamCall {
  /** Resolves with the response message and metadata; rejects with a `ConnectError`. */
  readonly result: Promise<UnaryResponse>;
  /** Cancels the call (the client went away); `result` then rejects with CANCELLED. */
  cancel(): void;
}

/** What each call sends besides the body. */
export interface CallMeta {
  readonly requestId: string;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly userId: string | undefined;
  readonly role: string | undefined;
  /** Client headers the edge is configured to pass on (already filtered). */
  readonly forwarded?: Readonly<Record<string, string[]>> | undefined;
}

/** One client per upstream, round-robin over its replicas (addresses as {@link grpcTarget} reads them). */
export class Upstreams {
  private readonly clients = new Map<string, GrpcUnaryClient>();

  private readonly maxDeadlineMs: number;

  /** `maxDeadlineMs` bounds calls sent without a deadline (default 30 s). */
  constructor(
    addresses: Readonly<Record<string, string>>,
    options: GrpcUnaryOptions & { readonly maxDeadlineMs?: number } = {},
  ) {
    this.maxDeadlineMs = options.maxDeadlineMs ?? 30_000;
    for (const [name, address] of Object.entries(addresses)) {
      this.clients.set(name, new GrpcUnaryClient(grpcTarget(address), options));
    }
  }

  /**
   * Calls `path` on `upstream` with an absolute `deadline` (epoch ms); without one, none is sent
   * upstream and the call is cut here after `maxDeadlineMs`.
   */
  unary(
    upstream: string,
    path: string,
    body: Buffer,
    meta: CallMeta,
    deadline: number | undefined,
  ): UpstreamCall {
    const client = this.clients.get(upstream);
    if (!client) throw new Error(`no channel for upstream ${upstream}`);
    const metadata: RequestMetadata = meta.forwarded ? { ...meta.forwarded } : {};
    metadata["x-request-id"] = meta.requestId;
    if (meta.traceparent !== undefined) metadata.traceparent = meta.traceparent;
    if (meta.tracestate !== undefined) metadata.tracestate = meta.tracestate;
    if (meta.userId !== undefined) metadata["x-user-id"] = meta.userId;
    if (meta.role !== undefined) metadata["x-user-role"] = meta.role;
    return client.unary(
      path,
      body,
      metadata,
      deadline ?? Date.now() + this.maxDeadlineMs,
      deadline !== undefined,
    );
  }

  /** Waits until a connection to `upstream` is up (used by tests and readiness checks). */
  waitForReady(upstream: string, deadline: number): Promise<void> {
    const client = this.clients.get(upstream);
    if (!client) return Promise.reject(new Error(`no channel for upstream ${upstream}`));
    return client.waitForReady(deadline);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}
