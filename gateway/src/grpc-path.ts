/**
 * gRPC and gRPC-Web at the edge, through connect-node's universal handlers (routes registered from the
 * route table with one generic forwarding implementation, plus server reflection). Before a forwarded
 * call reaches connect, the edge reads its body itself — bounded in size and time — and checks it: one
 * uncompressed (or declared-compressed) frame holding a message that decodes. A malformed frame or
 * message is the client's error (INVALID_ARGUMENT), where connect would answer INTERNAL.
 */
import type { Message, Registry } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "@mercato/platform/log";
import { endAfterAnswer } from "./connection.js";
import { EdgeError } from "./errors.js";
import { decodeBinary, decodeJson, type EdgeRequest, header, readBody } from "./protocol.js";
import { registerReflection } from "./reflection.js";
import type { Route, RouteTable } from "./routes.js";

type EdgeResponse = import("node:http").ServerResponse | import("node:http2").Http2ServerResponse;

/** What the gRPC path needs from the edge. */
export interface GrpcPathOptions {
  readonly table: RouteTable;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  /** The forwarding implementation of one route. */
  readonly forward: (route: Route) => (request: Message, ctx: HandlerContext) => Promise<Message>;
  /** Context values of a request (request id, client address). */
  readonly contextValues: (req: EdgeRequest) => import("@connectrpc/connect").ContextValues;
}

/** A gRPC status as a trailers-only response (one HEADERS frame on HTTP/2). */
export function sendGrpcStatus(req: EdgeRequest, res: EdgeResponse, error: ConnectError): void {
  if (res.headersSent || res.destroyed) return;
  const contentType = header(req.headers["content-type"]) ?? "application/grpc";
  const plain = new ConnectError(error.rawMessage, error.code);
  plain.details = error.details;
  const status = setTrailerStatus(new Headers(), plain);
  const trailers: Record<string, string> = {
    "content-type": contentType.startsWith("application/grpc-web") ? contentType : "application/grpc",
  };
  status.forEach((value, name) => {
    trailers[name] = value;
  });
  if ("stream" in res && res.stream) {
    if (res.stream.destroyed || res.stream.closed || res.stream.headersSent) return;
    const own = res.getHeaders() as Record<string, string>;
    res.stream.respond({ ":status": 200, ...own, ...trailers }, { endStream: true });
    return;
  }
  (res as import("node:http").ServerResponse).writeHead(200, trailers);
  res.end();
}

/**
 * Whether `body` is one well-formed frame of a `route` request; the problem as an EdgeError
 * otherwise. As connect answers: no message or several is UNIMPLEMENTED, a declared but unsupported
 * grpc-encoding is left to connect (UNIMPLEMENTED). Where connect would answer INTERNAL — a truncated
 * frame, a compressed frame without an encoding, bad flags, a message that does not decode — the edge
 * answers INVALID_ARGUMENT: that is the client's error.
 */
function checkBody(req: EdgeRequest, route: Route, body: Buffer, registry: Registry): EdgeError | undefined {
  const invalid = (message: string) => new EdgeError(Code.InvalidArgument, message);
  const encoding = header(req.headers["grpc-encoding"]);
  if (encoding !== undefined && encoding !== "identity") return undefined;
  if (body.length === 0)
    return new EdgeError(Code.Unimplemented, "missing request message for a unary method");
  if (body.length < 5) return invalid("incomplete gRPC message frame");
  const flags = body[0] as number;
  const length = body.readUInt32BE(1);
  if (length > body.length - 5) return invalid("incomplete gRPC message frame");
  if (length < body.length - 5)
    return new EdgeError(Code.Unimplemented, "more than one request message for a unary method");
  if (flags === 1) return invalid("compressed message frame without a grpc-encoding");
  if (flags !== 0) return invalid(`invalid message frame flags ${flags}`);
  const payload = body.subarray(5);
  try {
    if (/\+json\b/i.test(header(req.headers["content-type"]) ?? "")) {
      decodeJson(route.input, payload.toString("utf8"), registry);
    } else {
      decodeBinary(route.input, payload);
    }
  } catch (error) {
    return error instanceof EdgeError ? error : invalid(`malformed ${route.input.typeName} message`);
  }
  return undefined;
}

/** Builds the handler of requests whose content type is application/grpc*. */
export function createGrpcPath(options: GrpcPathOptions): (req: EdgeRequest, res: EdgeResponse) => void {
  const { table, registry, logger } = options;
  const router: ConnectRouter = createConnectRouter({
    connect: false,
    grpc: true,
    grpcWeb: true,
    readMaxBytes: options.maxBodyBytes,
    jsonOptions: { registry },
    // Only what the edge declares (identity); a compressed request gets UNIMPLEMENTED.
    acceptCompression: [],
  });
  for (const route of table.routes.values()) router.rpc(route.method, options.forward(route) as never);
  registerReflection(router, table);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));

  const run = async (req: EdgeRequest, res: EdgeResponse, handler: UniversalHandler, body?: Buffer) => {
    const uReq = universalRequestFromNodeRequest(
      req as never,
      res as never,
      undefined,
      options.contextValues(req),
    );
    const request =
      body === undefined
        ? uReq
        : {
            ...uReq,
            body: (async function* () {
              yield new Uint8Array(body);
            })(),
          };
    await universalResponseToNodeResponse(await handler(request), res as never);
  };

  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const handler = handlers.get(path);
    if (handler === undefined) {
      sendGrpcStatus(req, res, new ConnectError(`unknown RPC ${path.slice(0, 200)}`, Code.Unimplemented));
      return;
    }
    const route = table.routes.get(path);
    const serve = async () => {
      if (route === undefined) return run(req, res, handler); // reflection: a stream, read by connect
      let body: Buffer;
      try {
        // The limit is on the message; the frame adds its 5-byte prefix.
        body = await readBody(req, options.maxBodyBytes + 5, options.bodyTimeoutMs);
      } catch (error) {
        const edgeError =
          error instanceof EdgeError ? error : new EdgeError(Code.InvalidArgument, "unreadable request");
        // A body refused half-way is not read further: the stream, or the connection (in stages, so
        // that the answer survives), ends after the answer.
        endAfterAnswer(res, options.bodyTimeoutMs);
        sendGrpcStatus(req, res, edgeError);
        return;
      }
      const problem = checkBody(req, route, body, registry);
      if (problem !== undefined) {
        sendGrpcStatus(req, res, problem);
        return;
      }
      return run(req, res, handler, body);
    };
    serve().catch((error: unknown) => {
      if (ConnectError.from(error).code === Code.Aborted) return;
      // e.g. an HTTP/1.1 request without a Host header, which connect cannot turn into a URL.
      logger.debug({ err: error, path: path.slice(0, 200) }, "gRPC request refused");
      sendGrpcStatus(req, res, new ConnectError("malformed request", Code.InvalidArgument));
    });
  };
}
