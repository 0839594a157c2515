/**
 * The "server under test" of the Connect conformance suite (connectconformance --mode server): the
 * real edge, built with `buildGateway`, exposing the suite's ConformanceService, in front of a
 * ConformanceService upstream (connect-node over h2c, answering as the suite's reference server does).
 * So what the suite's reference clients test is the edge's own path: Connect, gRPC and gRPC-Web in,
 * its gRPC client out.
 *
 * The runner starts a program per server configuration and gives it 10 s to answer; on a busy machine
 * a fresh Node process loading the gateway takes longer. So the edges run inside the test's own
 * (warm) process: the program the runner starts is `shim.mjs`, which passes the ServerCompatRequest
 * here through a local control port and the ServerCompatResponse back (see conformance.test.ts).
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import {
  create,
  type DescService,
  type FileRegistry,
  fromBinary,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createLogger } from "@mercato/platform/log";
import { freePort } from "@mercato/testing/servers";
import { Access, buildRouteTable } from "../routes.js";
import { buildGateway, loadGatewayConfig } from "../server.js";

type Header = { name: string; value: string[] };
interface Definition {
  responseHeaders: Header[];
  responseTrailers: Header[];
  response:
    | { case: "responseData"; value: Uint8Array }
    | {
        case: "error";
        value: { code: number; message?: string; details: { typeUrl: string; value: Uint8Array }[] };
      }
    | { case: undefined };
  responseDelayMs: number;
}

/** A running edge (and its upstream) for one server configuration of the runner. */
export interface EdgeUnderTest {
  /** The binary ServerCompatResponse (host and port of the edge). */
  readonly response: Uint8Array;
  stop(): Promise<void>;
}

/** A message of the conformance protos, by its name in `connectrpc.conformance.v1`. */
function schemaOf(registry: FileRegistry, name: string) {
  const desc = registry.getMessage(`connectrpc.conformance.v1.${name}`);
  if (desc === undefined) throw new Error(`no ${name} in the descriptor set`);
  return desc;
}

/** The upstream: the ConformanceService as the reference server answers, over h2c. */
async function startConformanceUpstream(
  registry: FileRegistry,
  service: DescService,
): Promise<{ port: number; close(): void }> {
  const schema = (name: string) => schemaOf(registry, name);

  /** The request info the reference server echoes: headers, timeout, the request itself. */
  const requestInfo = (request: Message, ctx: HandlerContext) => {
    const headers = new Map<string, string[]>();
    for (const [name, value] of ctx.requestHeader.entries())
      headers.set(name, [...(headers.get(name) ?? []), value]);
    const timeoutMs = ctx.timeoutMs();
    const requestSchema = registry.getMessage(request.$typeName);
    return create(schema("ConformancePayload.RequestInfo"), {
      requestHeaders: [...headers].map(([name, value]) => ({ name, value })),
      ...(timeoutMs !== undefined ? { timeoutMs: BigInt(timeoutMs) } : {}),
      requests: requestSchema ? [anyPack(requestSchema, request)] : [],
    });
  };

  const unary = (responseName: string) => async (request: Message, ctx: HandlerContext) => {
    const definition = (request as unknown as { responseDefinition?: Definition }).responseDefinition;
    const info = requestInfo(request, ctx);
    for (const h of definition?.responseHeaders ?? [])
      for (const v of h.value) ctx.responseHeader.append(h.name, v);
    for (const h of definition?.responseTrailers ?? [])
      for (const v of h.value) ctx.responseTrailer.append(h.name, v);
    if (definition?.response.case === "error") {
      const error = definition.response.value;
      const connectError = new ConnectError(error.message ?? "", error.code as Code);
      for (const detail of error.details) {
        const type = detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1);
        connectError.details.push({ type, value: detail.value });
      }
      connectError.details.push({
        type: info.$typeName,
        value: toBinary(schema("ConformancePayload.RequestInfo"), info),
      });
      throw connectError;
    }
    const delay = definition?.responseDelayMs ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const data = definition?.response.case === "responseData" ? definition.response.value : new Uint8Array(0);
    return create(schema(responseName), { payload: { data, requestInfo: info } });
  };

  const upstream = createServer(
    connectNodeAdapter({
      routes(router) {
        for (const method of service.methods) {
          if (method.name === "Unary") router.rpc(method, unary("UnaryResponse") as never);
          else if (method.name === "IdempotentUnary")
            router.rpc(method, unary("IdempotentUnaryResponse") as never);
          else if (method.name === "Unimplemented") {
            router.rpc(method, (async () => {
              throw new ConnectError(
                `${service.typeName}.Unimplemented is not implemented`,
                Code.Unimplemented,
              );
            }) as never);
          }
        }
      },
    }),
  );
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  return { port: (upstream.address() as AddressInfo).port, close: () => upstream.close() };
}

/** Starts an upstream and an edge for one binary ServerCompatRequest. */
export async function startEdgeUnderTest(
  registry: FileRegistry,
  compatBytes: Uint8Array,
): Promise<EdgeUnderTest> {
  const schema = (name: string) => schemaOf(registry, name);
  const service = registry.getService("connectrpc.conformance.v1.ConformanceService");
  if (service === undefined) throw new Error("no ConformanceService in the descriptor set");
  const compat = fromBinary(schema("ServerCompatRequest"), compatBytes) as Message & {
    messageReceiveLimit?: number;
  };
  const upstream = await startConformanceUpstream(registry, service);
  const upstreamPort = upstream.port;

  // The edge, exposing the service; what it supports is declared in config.yaml.
  const limit = Number(compat.messageReceiveLimit ?? 0);
  const config = loadGatewayConfig({
    PORT: "0",
    ADMIN_PORT: "0",
    IDENTITY_ADDRESS: `127.0.0.1:${await freePort()}`, // no identity: every route is PUBLIC
    RATE_LIMIT_ENABLED: "false",
    DEFAULT_DEADLINE_MS: "0",
    MAX_DEADLINE_MS: "300000",
    HTTP2_IDLE_TIMEOUT_MS: "600000",
    FORWARD_REQUEST_HEADERS: "x-conformance-test",
    FORWARD_RESPONSE_HEADERS: "x-custom-*",
    ...(limit > 0 ? { MAX_BODY_BYTES: String(limit) } : {}),
    WEB_ROOT: "/nonexistent",
  });
  const gateway = buildGateway({
    config,
    logger: createLogger({ service: "conformance-edge", level: "silent" }),
    registry,
    table: buildRouteTable([service], { upstream: "conformance", access: Access.PUBLIC }),
    extraUpstreams: { conformance: `127.0.0.1:${upstreamPort}` },
  });
  const { port } = await gateway.start();
  const response = toBinary(
    schema("ServerCompatResponse"),
    create(schema("ServerCompatResponse"), { host: "127.0.0.1", port }),
  );
  return {
    response,
    async stop() {
      await gateway.stop();
      upstream.close();
    },
  };
}
