/**
 * The edge's gRPC channels to the services. Calls carry bytes both ways: grpc-js is given identity
 * (pass-through) serializers, so the edge encodes or decodes a message only when the client's
 * protocol needs it, never twice.
 */
import * as grpc from "@grpc/grpc-js";
import { defaultChannelOptions, grpcTarget } from "@mercato/platform/grpc";
import type { UpstreamName } from "./routes.js";

const passThrough = (value: Buffer): Buffer => value;

/** An upstream call in flight. */
export interface UpstreamCall {
  /** Resolves with the response bytes; rejects with the grpc-js status error. */
  readonly result: Promise<Buffer>;
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
}

/** One grpc-js channel per upstream, round-robin over its replicas (see {@link grpcTarget}). */
export class Upstreams {
  private readonly clients = new Map<UpstreamName, grpc.Client>();

  constructor(addresses: Readonly<Record<UpstreamName, string>>, channelOptions: grpc.ChannelOptions = {}) {
    for (const [name, address] of Object.entries(addresses) as [UpstreamName, string][]) {
      this.clients.set(
        name,
        new grpc.Client(grpcTarget(address), grpc.credentials.createInsecure(), {
          ...defaultChannelOptions,
          "grpc.max_receive_message_length": 16 * 1024 * 1024,
          ...channelOptions,
        }),
      );
    }
  }

  /** Calls `path` on `upstream` with an absolute `deadline` (epoch ms). */
  unary(upstream: UpstreamName, path: string, body: Buffer, meta: CallMeta, deadline: number): UpstreamCall {
    const client = this.clients.get(upstream);
    if (!client) throw new Error(`no channel for upstream ${upstream}`);
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", meta.requestId);
    if (meta.traceparent !== undefined) metadata.set("traceparent", meta.traceparent);
    if (meta.tracestate !== undefined) metadata.set("tracestate", meta.tracestate);
    if (meta.userId !== undefined) metadata.set("x-user-id", meta.userId);
    if (meta.role !== undefined) metadata.set("x-user-role", meta.role);
    let call: grpc.ClientUnaryCall | undefined;
    const result = new Promise<Buffer>((resolve, reject) => {
      call = client.makeUnaryRequest<Buffer, Buffer>(
        path,
        passThrough,
        passThrough,
        body,
        metadata,
        { deadline },
        (error, response) => {
          if (error) reject(error);
          else resolve(response ?? Buffer.alloc(0));
        },
      );
    });
    return { result, cancel: () => call?.cancel() };
  }

  /** Waits until the channel to `upstream` is connected (used by tests and readiness checks). */
  waitForReady(upstream: UpstreamName, deadline: number): Promise<void> {
    const client = this.clients.get(upstream);
    if (!client) return Promise.reject(new Error(`no channel for upstream ${upstream}`));
    return new Promise((resolve, reject) =>
      client.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
    );
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}
