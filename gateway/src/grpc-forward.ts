/**
 * The forwarding implementation of every route on the gRPC and gRPC-Web path (grpc-path.ts registers
 * it with connect-node): the same admission, owner rule, page-size cap, Idempotency-Key cache, headers
 * passed both ways and failure log line as the Connect fast path, with errors sent as gRPC statuses.
 */
import { randomUUID } from "node:crypto";
import { type Message, toBinary } from "@bufbuild/protobuf";
import {
  ConnectError,
  type ContextValues,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { EdgeOptions } from "./edge.js";
import type { EdgeCalls } from "./edge-calls.js";
import type { EdgeError } from "./errors.js";
import { checkIdempotencyKey } from "./idempotency.js";
import { decodeBinary, type EdgeRequest, toBuffer } from "./protocol.js";
import type { Route } from "./routes.js";
import { type CallTrace, observeCall } from "./tracing.js";
import type { CallMeta } from "./upstreams.js";

/** What the edge knows of a request before connect reads it. */
export interface RequestState {
  readonly requestId: string;
  /** The client's address (rate-limit key of anonymous calls). */
  readonly address: string;
}
const requestStateKey = createContextKey<RequestState>({ requestId: "", address: "unknown" });
const kState = Symbol("mercato.gateway.request");

/** Attaches the request id and client address to a request headed for connect. */
export function attachRequestState(req: EdgeRequest, state: RequestState): void {
  (req as unknown as Record<symbol, RequestState>)[kState] = state;
}

/** The context values of a request: its attached state (or a fresh request id). */
export function requestContextValues(req: EdgeRequest): ContextValues {
  return createContextValues().set(
    requestStateKey,
    (req as unknown as Record<symbol, RequestState>)[kState] ?? {
      requestId: randomUUID(),
      address: req.socket?.remoteAddress ?? "unknown",
    },
  );
}

/** An edge error as connect-node sends it on the gRPC path: only the allowed metadata travels. */
function toGrpcError(error: EdgeError, forwardedBack: EdgeCalls["forwardedBack"]): ConnectError {
  const metadata = new globalThis.Headers();
  for (const [name, value] of Object.entries(error.headers ?? {})) {
    if (name !== "allow") metadata.set(name, value);
  }
  forwardedBack(error.metadata, (name, value) => metadata.append(name, value));
  const grpcError = new ConnectError(error.rawMessage, error.code, metadata);
  grpcError.details = error.details;
  return grpcError;
}

/** Builds the forwarding implementation of one route. */
export function createForward(calls: EdgeCalls, options: EdgeOptions) {
  const { maxDeadlineMs } = options;
  const defaultDeadlineMs = options.defaultDeadlineMs > 0 ? options.defaultDeadlineMs : undefined;

  /** Admits and forwards one call; the answer's message, headers and trailers. */
  const call = async (
    route: Route,
    request: Message,
    ctx: HandlerContext,
    requestId: string,
    address: string,
    onTrace: (trace: CallTrace) => void,
  ): Promise<Message> => {
    const idempotencyKey = route.mutating
      ? (ctx.requestHeader.get("idempotency-key") ?? undefined)
      : undefined;
    if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);
    const { caller, rateHeaders } = await calls.admit(
      route,
      ctx.requestHeader.get("authorization") ?? undefined,
      address,
    );
    for (const [name, value] of Object.entries(rateHeaders ?? {})) ctx.responseHeader.set(name, value);
    calls.prepare(route, request, caller);
    const body = toBuffer(toBinary(route.input, request));
    const timeoutMs = ctx.timeoutMs() ?? defaultDeadlineMs;
    const trace = calls.startTrace(
      route.path.slice(1),
      ctx.requestHeader.get("traceparent") ?? undefined,
      ctx.requestHeader.get("tracestate") ?? undefined,
    );
    onTrace(trace);
    const meta: CallMeta = {
      requestId,
      traceparent: trace.traceparent,
      tracestate: trace.tracestate,
      userId: caller?.userId,
      role: caller?.role,
      ...(calls.forwardsRequests ? { forwarded: calls.forwardedFrom([...ctx.requestHeader.entries()]) } : {}),
    };
    const deadline = calls.deadlineOf(
      timeoutMs === undefined ? undefined : Math.min(timeoutMs, maxDeadlineMs),
    );
    const running = calls.invoke(route, caller, idempotencyKey, body, meta, deadline);
    const onAbort = () => running.cancel();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const result = await running.result;
      if (result.replayed) ctx.responseHeader.set("idempotent-replayed", "true");
      calls.afterSuccess(route, request);
      calls.forwardedBack(result.response.header, (name, value) => ctx.responseHeader.append(name, value));
      calls.forwardedBack(result.response.trailer, (name, value) => ctx.responseTrailer.append(name, value));
      return decodeBinary(route.output, result.response.message);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
  };

  return (route: Route) =>
    async (request: Message, ctx: HandlerContext): Promise<Message> => {
      const started = performance.now();
      let code = 0;
      let trace: CallTrace | undefined;
      const { requestId, address } = ctx.values.get(requestStateKey);
      try {
        return await call(route, request, ctx, requestId, address, (t) => {
          trace = t;
        });
      } catch (thrown) {
        const error = calls.asEdgeError(thrown);
        code = error.code;
        calls.logFailure(requestId, route, error, trace);
        throw toGrpcError(error, calls.forwardedBack);
      } finally {
        trace?.end(code);
        observeCall(route, code, started);
      }
    };
}
