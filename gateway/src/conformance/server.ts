/**
 * The "server under test" of the Connect conformance suite (connectconformance --mode server): the
 * real edge, built with `buildGateway`, exposing the suite's ConformanceService, in front of a
 * ConformanceService upstream (connect-node over h2c, answering as the suite's reference server does).
 * So what the suite's reference clients test is the edge's own path: Connect, gRPC and gRPC-Web in,
 * its gRPC client out.
 *
 * Protocol: the runner writes one size-delimited ServerCompatRequest (4-byte big-endian length, then
 * the binary message) to stdin; this answers with a size-delimited ServerCompatResponse on stdout
 * (host and port of the edge) and serves until stdin closes. Logs go to stderr.
 *
 * Usage: node --import tsx server.ts <FileDescriptorSet of connectrpc/conformance/v1 (buf build -o)>
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, createFileRegistry, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import { anyPack, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createLogger } from "@mercato/platform/log";
import { freePort } from "@mercato/testing/servers";
import { Access, buildRouteTable } from "../routes.js";
import { buildGateway, loadGatewayConfig } from "../server.js";

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(process.argv[2] ?? "")));
const schema = (name: string) => {
  const desc = registry.getMessage(`connectrpc.conformance.v1.${name}`);
  if (desc === undefined) throw new Error(`no ${name} in the descriptor set`);
  return desc;
};
const service = registry.getService("connectrpc.conformance.v1.ConformanceService");
if (service === undefined) throw new Error("no ConformanceService in the descriptor set");

type Header = { name: string; value: string[] };
interface Definition {
  responseHeaders: Header[];
  responseTrailers: Header[];
  response:
    | { case: "responseData"; value: Uint8Array }
    | { case: "error"; value: Message & Record<string, unknown> }
    | { case: undefined };
  responseDelayMs: number;
}

/** The request info the reference server echoes: headers, timeout, the request itself. */
function requestInfo(request: Message, ctx: HandlerContext) {
  const headers = new Map<string, string[]>();
  for (const [name, value] of ctx.requestHeader.entries())
    headers.set(name, [...(headers.get(name) ?? []), value]);
  const timeoutMs = ctx.timeoutMs();
  return create(schema("ConformancePayload.RequestInfo"), {
    requestHeaders: [...headers].map(([name, value]) => ({ name, value })),
    ...(timeoutMs !== undefined ? { timeoutMs: BigInt(timeoutMs) } : {}),
    requests: [
      anyPack(
        request.$typeName === schema("UnaryRequest").typeName
          ? schema("UnaryRequest")
          : schema("IdempotentUnaryRequest"),
        request,
      ),
    ],
  });
}

const unary = (responseName: string) => async (request: Message, ctx: HandlerContext) => {
  const definition = (request as unknown as { responseDefinition?: Definition }).responseDefinition;
  const info = requestInfo(request, ctx);
  for (const h of definition?.responseHeaders ?? [])
    for (const v of h.value) ctx.responseHeader.append(h.name, v);
  for (const h of definition?.responseTrailers ?? [])
    for (const v of h.value) ctx.responseTrailer.append(h.name, v);
  if (definition?.response.case === "error") {
    const error = definition.response.value as unknown as {
      code: number;
      message?: string;
      details: { typeUrl: string; value: Uint8Array }[];
    };
    const connectError = new ConnectError(error.message ?? "", error.code as Code);
    for (const detail of error.details) {
      connectError.details.push({
        type: detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1),
        value: detail.value,
      });
    }
    connectError.details.push({
      type: info.$typeName,
      value: toBinary(schema("ConformancePayload.RequestInfo"), info),
    });
    throw connectError;
  }
  if ((definition?.responseDelayMs ?? 0) > 0)
    await new Promise((resolve) => setTimeout(resolve, definition?.responseDelayMs));
  const data = definition?.response.case === "responseData" ? definition.response.value : new Uint8Array(0);
  return create(schema(responseName), { payload: { data, requestInfo: info } });
};

async function readCompatRequest(): Promise<Message & Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    const all = Buffer.concat(chunks);
    if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
      return fromBinary(schema("ServerCompatRequest"), all.subarray(4, 4 + all.readUInt32BE(0))) as never;
    }
  }
  throw new Error("stdin closed before a ServerCompatRequest arrived");
}

const logger = createLogger({ service: "conformance-edge", level: "warn", destination: process.stderr });
const compat = await readCompatRequest();

// The upstream: the ConformanceService as the reference server answers, over h2c.
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
const upstreamPort = (upstream.address() as AddressInfo).port;

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
  logger,
  registry,
  table: buildRouteTable([service], { upstream: "conformance", access: Access.PUBLIC }),
  extraUpstreams: { conformance: `127.0.0.1:${upstreamPort}` },
});
const { port } = await gateway.start();

const response = toBinary(
  schema("ServerCompatResponse"),
  create(schema("ServerCompatResponse"), { host: "127.0.0.1", port }),
);
const length = Buffer.alloc(4);
length.writeUInt32BE(response.length);
process.stdout.write(Buffer.concat([length, response]));

const stop = async () => {
  await gateway.stop();
  upstream.close();
  process.exit(0);
};
process.stdin.on("end", () => void stop());
process.stdin.resume();
process.on("SIGTERM", () => void stop());
