/**
 * The Connect protocol's unary calls on the edge's hand-written fast path: POST with JSON or binary,
 * or GET for NO_SIDE_EFFECTS methods. Admission comes before a byte of the body is read; the body is
 * read with a size cap and a time limit; protobuf-es converts JSON ↔ binary only when the client
 * speaks JSON, and binary is forwarded untouched unless an owner field or a page size must be
 * checked.
 */
import { fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Caller } from "./auth.js";
import type { EdgeOptions, EdgeResponse } from "./edge.js";
import type { EdgeCalls, ResponseHeaders } from "./edge-calls.js";
import { codeName, EdgeError } from "./errors.js";
import type { UnaryResponse } from "./grpc-unary.js";
import { checkIdempotencyKey } from "./idempotency.js";
import {
  decodeBinary,
  decodeJson,
  type EdgeRequest,
  header,
  parseQuery,
  percentDecode,
  readBody,
  timeoutOf,
  toBuffer,
  tooLarge,
} from "./protocol.js";
import type { Route } from "./routes.js";
import { type CallTrace, observeCall } from "./tracing.js";
import type { CallMeta } from "./upstreams.js";

const jsonContentType = /^application\/json(?:;\s*charset=utf-?8)?$/i;
const protoContentType = /^application\/proto$/i;

/** Who is calling, and the headers of the answer being gathered. */
interface CallState {
  readonly requestId: string;
  readonly address: string;
  readonly headers: ResponseHeaders;
}

/** What a Connect request carries: its encoding, and the message when it came in the query (GET). */
interface ConnectRequest {
  readonly binary: boolean;
  readonly body: Buffer | undefined;
}

/** The encoding of a Connect POST, checked (content type, content encoding, protocol version). */
function readPost(req: EdgeRequest): ConnectRequest {
  const contentType = header(req.headers["content-type"]) ?? "";
  let binary: boolean;
  if (protoContentType.test(contentType)) binary = true;
  else if (jsonContentType.test(contentType)) binary = false;
  else {
    throw new EdgeError(
      Code.Unimplemented,
      `unsupported content type "${contentType.slice(0, 100)}": use application/json or application/proto`,
      [],
      415,
    );
  }
  const encoding = header(req.headers["content-encoding"]);
  if (encoding !== undefined && encoding !== "identity") {
    throw new EdgeError(Code.Unimplemented, `unsupported content encoding "${encoding.slice(0, 50)}"`);
  }
  const version = header(req.headers["connect-protocol-version"]);
  if (version !== undefined && version !== "1") {
    throw new EdgeError(
      Code.InvalidArgument,
      `unsupported Connect protocol version "${version.slice(0, 20)}"`,
    );
  }
  return { binary, body: undefined };
}

/** The message of a Connect GET, from its query string, its encoding checked. */
function readGet(route: Route, search: string, maxBodyBytes: number): ConnectRequest {
  if (!route.allowGet) {
    throw new EdgeError(Code.Unimplemented, `${route.method.name} has side effects: use POST`, [], 405, {
      allow: "POST",
    });
  }
  const params = parseQuery(search);
  const encoding = params.get("encoding");
  let binary: boolean;
  if (encoding === "proto") binary = true;
  else if (encoding === "json") binary = false;
  else throw new EdgeError(Code.InvalidArgument, "GET requests need encoding=json or encoding=proto");
  const compression = params.get("compression");
  if (compression !== undefined && compression !== "" && compression !== "identity") {
    throw new EdgeError(Code.Unimplemented, `unsupported compression "${compression.slice(0, 50)}"`);
  }
  const connectVersion = params.get("connect");
  if (connectVersion !== undefined && connectVersion !== "v1") {
    throw new EdgeError(
      Code.InvalidArgument,
      `unsupported Connect protocol version "${connectVersion.slice(0, 20)}"`,
    );
  }
  const raw = percentDecode(params.get("message") ?? "");
  const body = params.get("base64") === "1" ? Buffer.from(raw.toString("latin1"), "base64") : raw;
  if (body.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  return { binary, body };
}

/** The access line that joins the edge's logs to the services' (same request and trace id). */
function logCall(
  logger: EdgeOptions["logger"],
  requestId: string,
  route: Route | undefined,
  code: number,
  trace: CallTrace | undefined,
): void {
  if (!logger.isLevelEnabled("debug")) return;
  const traceparent = trace?.traceparent;
  logger.debug(
    {
      requestId,
      method: route?.path,
      code: codeName(code),
      ...(traceparent ? { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52) } : {}),
    },
    "call",
  );
}

/** The handler of Connect calls. */
export class ConnectPath {
  private readonly defaultDeadlineMs: number | undefined;

  constructor(
    private readonly calls: EdgeCalls,
    private readonly options: EdgeOptions,
  ) {
    this.defaultDeadlineMs = options.defaultDeadlineMs > 0 ? options.defaultDeadlineMs : undefined;
  }

  /** Serves one Connect request: the answer, or the error as Connect JSON, and the log lines. */
  async serve(
    req: EdgeRequest,
    res: EdgeResponse,
    requestId: string,
    address: string,
    headers: ResponseHeaders,
  ): Promise<void> {
    const started = performance.now();
    let route: Route | undefined;
    let code = 0;
    let trace: CallTrace | undefined;
    try {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      route = this.options.table.routes.get(path);
      if (!route) throw new EdgeError(Code.Unimplemented, `unknown RPC ${path.slice(0, 200)}`, [], 404);
      const search = q < 0 ? "" : url.slice(q + 1);
      await this.forward(req, res, route, search, { requestId, address, headers }, (t) => {
        trace = t;
      });
    } catch (thrown) {
      const error = this.calls.asEdgeError(thrown);
      code = error.code;
      this.calls.sendError(res, headers, error);
      this.calls.logFailure(requestId, route, error, trace);
    } finally {
      trace?.end(code);
      observeCall(route, code, started);
      logCall(this.options.logger, requestId, route, code, trace);
    }
  }

  /** Reads, admits and forwards one call, and answers with the upstream's response. */
  private async forward(
    req: EdgeRequest,
    res: EdgeResponse,
    route: Route,
    search: string,
    { requestId, address, headers }: CallState,
    onTrace: (trace: CallTrace) => void,
  ): Promise<void> {
    const { calls, options } = this;
    const { binary, body: queryBody } = this.readRequest(req, route, search);
    const timeoutMs = timeoutOf(
      header(req.headers["connect-timeout-ms"]),
      this.defaultDeadlineMs,
      options.maxDeadlineMs,
    );
    const idempotencyKey = route.mutating ? header(req.headers["idempotency-key"]) : undefined;
    if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);

    // Who calls and whether their bucket has a token, before a byte of the body is read.
    const { caller, rateHeaders } = await calls.admit(route, header(req.headers.authorization), address);
    if (rateHeaders !== undefined) Object.assign(headers, rateHeaders);
    const body = queryBody ?? (await readBody(req, options.maxBodyBytes, options.bodyTimeoutMs));
    const { upstreamBody, message } = this.upstreamBodyOf(route, binary, body, caller);

    const trace = calls.startTrace(
      route.path.slice(1),
      header(req.headers.traceparent),
      header(req.headers.tracestate),
    );
    onTrace(trace);
    const meta: CallMeta = {
      requestId,
      traceparent: trace.traceparent,
      tracestate: trace.tracestate,
      userId: caller?.userId,
      role: caller?.role,
      ...(calls.forwardsRequests ? { forwarded: calls.forwardedFrom(Object.entries(req.headers)) } : {}),
    };
    const call = calls.invoke(route, caller, idempotencyKey, upstreamBody, meta, calls.deadlineOf(timeoutMs));
    const onClose = () => {
      if (!res.writableEnded) call.cancel();
    };
    res.once("close", onClose);
    try {
      const result = await call.result;
      if (result.replayed) headers["idempotent-replayed"] = "true";
      calls.afterSuccess(route, message);
      this.answer(res, route, binary, headers, result.response);
    } finally {
      res.off("close", onClose);
    }
  }

  /** The message of a Connect request (POST body or GET query), its encoding checked. */
  private readRequest(req: EdgeRequest, route: Route, search: string): ConnectRequest {
    if (req.method === "POST") return readPost(req);
    if (req.method === "GET") return readGet(route, search, this.options.maxBodyBytes);
    throw new EdgeError(
      Code.Unimplemented,
      `method ${String(req.method).slice(0, 20)} not allowed`,
      [],
      405,
      { allow: route.allowGet ? "GET, POST" : "POST" },
    );
  }

  /** The bytes sent upstream, and the request message when the edge had to read it. */
  private upstreamBodyOf(route: Route, binary: boolean, body: Buffer, caller: Caller | undefined) {
    if (binary) {
      if (route.ownerField === undefined && route.pageSizePaths.length === 0) {
        return { upstreamBody: body, message: undefined };
      }
      const message = decodeBinary(route.input, body);
      const changed = this.calls.prepare(route, message, caller);
      return { upstreamBody: changed ? toBuffer(toBinary(route.input, message)) : body, message };
    }
    const message = decodeJson(route.input, body.toString("utf8"), this.options.registry);
    this.calls.prepare(route, message, caller);
    return { upstreamBody: toBuffer(toBinary(route.input, message)), message };
  }

  /** The upstream's answer, written in the client's encoding with the headers passed back. */
  private answer(
    res: EdgeResponse,
    route: Route,
    binary: boolean,
    headers: ResponseHeaders,
    response: UnaryResponse,
  ): void {
    this.calls.forwardedBack(response.header, (name, value) => {
      headers[name] = value;
    });
    this.calls.forwardedBack(response.trailer, (name, value) => {
      headers[`trailer-${name}`] = value;
    });
    if (binary) {
      this.calls.send(res, 200, headers, "application/proto", response.message);
      return;
    }
    const registry = this.options.registry;
    const json = toJsonString(route.output, fromBinary(route.output, response.message), { registry });
    this.calls.send(res, 200, headers, "application/json", Buffer.from(json));
  }
}
