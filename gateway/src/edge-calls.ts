/**
 * What the edge's two paths (the Connect fast path and gRPC/gRPC-Web) share: admission and the
 * per-call trace, the configured headers passed both ways, answers and errors written as Connect JSON,
 * the log line saying why a call failed, and the upstream call itself, through the Idempotency-Key
 * cache when the caller sent a key for a mutating RPC.
 */
import type { ServerResponse } from "node:http";
import type { Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAdmission } from "./admission.js";
import type { Caller } from "./auth.js";
import { endAfterAnswer } from "./connection.js";
import type { EdgeOptions, EdgeResponse } from "./edge.js";
import {
  codeName,
  connectErrorJson,
  EdgeError,
  failureReason,
  fromUpstream,
  httpStatusOf,
} from "./errors.js";
import { checkIdempotencyKey, type KeyedResult } from "./idempotency.js";
import { headerFilter } from "./protocol.js";
import type { Route } from "./routes.js";
import { type CallTrace, createTracer, traceIdOf } from "./tracing.js";
import type { CallMeta } from "./upstreams.js";

/** Response headers being gathered for one answer. */
export type ResponseHeaders = Record<string, string>;

/** The shared pieces, built once per edge handler. */
export type EdgeCalls = ReturnType<typeof createEdgeCalls>;

/** Passes on the metadata the configuration lets through, one name and value at a time. */
type ForwardBack = (
  metadata: globalThis.Headers | undefined,
  each: (name: string, value: string) => void,
) => void;

const noop = () => {};

/** Builds the pieces both paths share from the edge's options. */
export function createEdgeCalls(options: EdgeOptions) {
  const forwardRequest = headerFilter(options.forwardRequestHeaders ?? []);
  const forwardResponse = headerFilter(options.forwardResponseHeaders ?? []);
  const forwardsRequests = (options.forwardRequestHeaders ?? []).length > 0;
  const forwardsResponses = (options.forwardResponseHeaders ?? []).length > 0;

  /** The client headers passed on upstream, by the configured list. */
  const forwardedFrom = (entries: Iterable<[string, string | string[] | undefined]>) => {
    if (!forwardsRequests) return undefined;
    let out: Record<string, string[]> | undefined;
    for (const [name, value] of entries) {
      if (value === undefined || !forwardRequest(name)) continue;
      out ??= {};
      const values = Array.isArray(value) ? value : [value];
      const key = name.toLowerCase();
      out[key] = [...(out[key] ?? []), ...values];
    }
    return out;
  };

  /** The upstream metadata passed on to the client, by the configured list. */
  const forwardedBack: ForwardBack = (metadata, each) => {
    if (!forwardsResponses || metadata === undefined) return;
    metadata.forEach((value, name) => {
      if (forwardResponse(name)) each(name, value);
    });
  };

  return {
    ...createAdmission(options.verifier, options.limiter, options.maxPageSize),
    startTrace: createTracer(options.tracing),
    forwardsRequests,
    forwardedFrom,
    forwardedBack,
    ...createAnswers(options, forwardedBack),
    ...createInvoker(options),
  };
}

/** Writing answers and errors, and the log line of a failed call. */
function createAnswers(options: EdgeOptions, forwardedBack: ForwardBack) {
  const { logger, bodyTimeoutMs } = options;

  const send = (
    res: EdgeResponse,
    status: number,
    headers: ResponseHeaders,
    contentType: string,
    body: Uint8Array,
  ) => {
    if (res.destroyed || res.headersSent) return;
    headers["content-type"] = contentType;
    headers["content-length"] = String(body.length);
    (res as ServerResponse).writeHead(status, headers);
    res.end(body);
  };

  const sendError = (res: EdgeResponse, headers: ResponseHeaders, error: EdgeError) => {
    if (error.headers) Object.assign(headers, error.headers);
    forwardedBack(error.metadata, (name, value) => {
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    });
    // A body refused half-way (too large, too slow) is not read further: the connection (HTTP/1.1,
    // closed in stages so that the answer survives) or the stream (HTTP/2) ends after the answer.
    if (error.httpStatus === 413 || error.httpStatus === 408) endAfterAnswer(res, bodyTimeoutMs);
    send(
      res,
      error.httpStatus ?? httpStatusOf(error.code),
      headers,
      "application/json",
      connectErrorJson(error),
    );
  };

  /**
   * One log line per failed call saying why: the code, the upstream that answered (if one did), the
   * cause chain, the request id and the trace id. Server-side failures are warnings, answers of the
   * services info, the edge's own refusals (auth, limits, bad input) debug.
   */
  const logFailure = (requestId: string, route: Route | undefined, error: EdgeError, trace?: CallTrace) => {
    const level =
      httpStatusOf(error.code) >= 500 && error.code !== Code.Unimplemented
        ? "warn"
        : error.upstream
          ? "info"
          : "debug";
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        requestId,
        traceId: traceIdOf(trace?.traceparent),
        method: route?.path,
        code: codeName(error.code),
        upstream: error.upstream,
        message: error.rawMessage,
        reason: failureReason(error),
      },
      "call failed",
    );
  };

  const asEdgeError = (error: unknown): EdgeError => {
    if (error instanceof EdgeError) return error;
    if (error instanceof ConnectError) {
      return new EdgeError(error.code, error.rawMessage, [], undefined, undefined, { cause: error });
    }
    return new EdgeError(Code.Internal, "internal error", [], undefined, undefined, { cause: error });
  };

  return { send, sendError, logFailure, asEdgeError };
}

/** The upstream call, and what follows a successful one. */
function createInvoker(options: EdgeOptions) {
  const { upstreams, idempotency } = options;

  /**
   * The upstream call, through the Idempotency-Key cache when the caller sent a key for a mutating
   * RPC. A keyed call is not cancelled when its client goes away: its outcome is what the client's
   * retry will be answered with.
   */
  const invoke = (
    route: Route,
    caller: Caller | undefined,
    idempotencyKey: string | undefined,
    body: Buffer,
    meta: CallMeta,
    deadline: number | undefined,
  ): { result: Promise<KeyedResult>; cancel: () => void } => {
    const call = () => upstreams.unary(route.upstream, route.path, body, meta, deadline);
    if (idempotencyKey === undefined || caller === undefined || !route.mutating) {
      const running = call();
      return {
        result: running.result.then(
          (response) => ({ response, replayed: false }),
          (error: unknown) => {
            throw fromUpstream(error, route.upstream);
          },
        ),
        cancel: () => running.cancel(),
      };
    }
    const key = checkIdempotencyKey(idempotencyKey);
    const result = idempotency.run(caller.userId, key, route.path, body, () => call().result, route.upstream);
    return { result, cancel: noop };
  };

  /** A DeleteUser served here: the user's tokens stop working on this replica at once. */
  const afterSuccess = (route: Route, message: Message | undefined) => {
    if (options.users === undefined || message === undefined || route.ownerField === undefined) return;
    if (route.upstream !== "identity" || route.method.name !== "DeleteUser") return;
    const userId = (message as unknown as Record<string, unknown>)[route.ownerField.localName];
    if (typeof userId === "string" && userId !== "") options.users.markDeleted(userId);
  };

  /** The absolute deadline of a call with `timeoutMs` (undefined: none upstream, the edge's cap locally). */
  const deadlineOf = (timeoutMs: number | undefined) =>
    timeoutMs === undefined ? undefined : Date.now() + timeoutMs;

  return { invoke, afterSuccess, deadlineOf };
}
