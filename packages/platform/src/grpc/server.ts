import { randomUUID } from "node:crypto";
import {
  create,
  type DescFile,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import {
  type InputOf,
  methodPath,
  type OutputOf,
  type UnaryMethod,
  type UnaryMethodNames,
} from "@mercato/sdk/grpc";
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { type AdminServer, startAdminServer } from "../admin/index.js";
import { type CallContext, runWithContext } from "../context/index.js";
import { codeName, deadlineExceeded, invalidArgument, ServiceError } from "../errors/index.js";
import type { Logger } from "../log/index.js";
import { rpcServerDuration } from "../metrics/index.js";
import { healthFileDescriptorProto } from "./health-descriptor.js";
import { firstValue, metadataGetter } from "./metadata.js";
import { stringViolations } from "./strings.js";

const tracer = trace.getTracer("@mercato/platform/grpc");

/** What a handler knows about the call it serves. */
export interface HandlerContext {
  /** From `x-request-id`, or minted here; echoed in the response headers. */
  readonly requestId: string;
  /** Absolute deadline (epoch ms) when the caller set one. */
  readonly deadline?: number;
  /** Aborted when the caller cancels or the deadline passes: pass it to anything slow. */
  readonly signal: AbortSignal;
  /** The request metadata. */
  readonly metadata: grpc.Metadata;
  /** The user the edge authenticated (`x-user-id`), if any. */
  readonly userId?: string;
  /** That user's role (`x-user-role`), if any. */
  readonly role?: string;
  /** `package.Service/Method`. */
  readonly method: string;
}

/** A unary handler: gets the decoded request, returns (an init shape of) the response. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<O>>;

/** Handlers for every unary method of `S`, keyed by the descriptor's local method names. */
export type ServiceHandlers<S extends DescService> = {
  readonly [K in UnaryMethodNames<S>]: UnaryHandler<InputOf<S, K>, OutputOf<S, K>>;
};

/** A service and its handlers. */
export interface ServiceRegistration<S extends DescService = DescService> {
  readonly service: S;
  readonly handlers: ServiceHandlers<S>;
}

/** Pairs a service with typed handlers (handy when building the `services` list elsewhere). */
export function implement<S extends DescService>(
  service: S,
  handlers: ServiceHandlers<S>,
): ServiceRegistration<S> {
  return { service, handlers };
}

/** Options for {@link createGrpcServer}. */
export interface GrpcServerOptions<S extends readonly DescService[]> {
  /** Names the process in logs. */
  readonly serviceName: string;
  readonly logger: Logger;
  /** The services served, each with its handlers. */
  readonly services: { readonly [I in keyof S]: ServiceRegistration<S[I]> };
  /** Extra files to expose through reflection (the services' files and all their imports are always included). */
  readonly files?: readonly DescFile[];
  /** gRPC bind address (default 127.0.0.1). */
  readonly host?: string;
  /** gRPC port; 0 lets the OS choose. */
  readonly port: number;
  /** Admin HTTP bind address (default: `host`). */
  readonly adminHost?: string;
  /** Admin HTTP port; 0 lets the OS choose. */
  readonly adminPort: number;
  /** Upper bound for finishing in-flight calls at shutdown before they are cut (default 10 s). */
  readonly shutdownGraceMs?: number;
  /**
   * Time between reporting NOT_SERVING and refusing new calls at shutdown, so load balancers and
   * kubelet probes notice first (default 1 s, capped by `shutdownGraceMs`).
   */
  readonly drainDelayMs?: number;
  /** Server credentials (default insecure: the mesh provides mTLS). */
  readonly credentials?: grpc.ServerCredentials;
  /** grpc-js server options. */
  readonly serverOptions?: grpc.ServerOptions;
}

/** A gRPC server with health, reflection and an admin port. */
export interface GrpcServer {
  /** Binds both ports and reports SERVING; resolves with the ports bound. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** Drains and stops: NOT_SERVING, drain delay, graceful shutdown bounded by the grace period. */
  stop(): Promise<void>;
  /** Switches readiness (health status and /readyz) without stopping, e.g. while a dependency is down. */
  setReady(ready: boolean): void;
}

type UntypedHandler = (
  request: MessageShape<DescMessage>,
  ctx: HandlerContext,
) => Promise<MessageInitShape<DescMessage>>;

/** The services' files and every file they import, transitively, each once. */
export function filesWithDependencies(files: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.set(file.proto.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const file of files) visit(file);
  return [...seen.values()];
}

function reflectionInput(files: readonly DescFile[]): Record<string, { fileDescriptorProtos: Buffer[] }> {
  const input: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const file of filesWithDependencies(files)) {
    input[file.proto.name] = {
      fileDescriptorProtos: [Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto))],
    };
  }
  // Expose grpc.health.v1 through reflection too, so `grpcurl ... grpc.health.v1.Health/Check` works.
  input["grpc/health/v1/health.proto"] = { fileDescriptorProtos: [Buffer.from(healthFileDescriptorProto)] };
  return input;
}

function epochMs(deadline: grpc.Deadline): number | undefined {
  const value = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(value) ? value : undefined;
}

function logLevel(code: grpc.status): "info" | "warn" | "error" {
  switch (code) {
    case grpc.status.INTERNAL:
    case grpc.status.UNKNOWN:
    case grpc.status.DATA_LOSS:
      return "error";
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return "warn";
    default:
      return "info";
  }
}

class CallAborted extends Error {
  constructor(readonly code: grpc.status) {
    super(code === grpc.status.DEADLINE_EXCEEDED ? "deadline exceeded" : "call cancelled by the client");
    this.name = "CallAborted";
  }
}

function wrapUnary(
  method: UnaryMethod,
  handler: UntypedHandler,
  logger: Logger,
): grpc.handleUnaryCall<Buffer, MessageShape<DescMessage>> {
  const name = methodPath(method).slice(1);
  const spanAttributes = {
    "rpc.system": "grpc",
    "rpc.service": method.parent.typeName,
    "rpc.method": method.name,
  };
  return (call, callback) => {
    const started = performance.now();
    const requestId = firstValue(call.metadata, "x-request-id") ?? randomUUID();
    const headers = new grpc.Metadata();
    headers.set("x-request-id", requestId);
    call.sendMetadata(headers);

    const deadline = epochMs(call.getDeadline());
    const controller = new AbortController();
    const onCancelled = () => controller.abort(new CallAborted(grpc.status.CANCELLED));
    call.once("cancelled", onCancelled);
    // grpc-js answers DEADLINE_EXCEEDED itself when the deadline passes but does not tell the
    // handler; this timer aborts the handler's work.
    const deadlineTimer =
      deadline === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new CallAborted(grpc.status.DEADLINE_EXCEEDED)),
            Math.max(0, deadline - Date.now()),
          );

    const userId = firstValue(call.metadata, "x-user-id");
    const role = firstValue(call.metadata, "x-user-role");
    const callContext: CallContext = {
      requestId,
      signal: controller.signal,
      ...(deadline !== undefined ? { deadline } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(role !== undefined ? { role } : {}),
    };
    const ctx: HandlerContext = {
      ...callContext,
      signal: controller.signal,
      metadata: call.metadata,
      method: name,
    };

    const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: spanAttributes }, parent);

    const serve = async () => {
      let code: grpc.status = grpc.status.OK;
      let failure: ServiceError | undefined;
      try {
        if (deadline !== undefined && deadline <= Date.now()) {
          throw deadlineExceeded("deadline exceeded before the call started");
        }
        let request: MessageShape<DescMessage>;
        try {
          request = fromBinary(method.input, call.request);
        } catch (error) {
          throw invalidArgument(`malformed ${method.input.typeName} message`, error);
        }
        const badStrings = stringViolations(method.input, request);
        if (badStrings.length > 0) throw invalidArgument(badStrings);
        const response = create(method.output, await handler(request, ctx));
        if (controller.signal.aborted) throw controller.signal.reason;
        callback(null, response);
      } catch (thrown) {
        failure =
          thrown instanceof CallAborted
            ? new ServiceError(thrown.code, thrown.message)
            : controller.signal.aborted &&
                controller.signal.reason instanceof CallAborted &&
                !(thrown instanceof ServiceError)
              ? new ServiceError(controller.signal.reason.code, controller.signal.reason.message, {
                  cause: thrown,
                })
              : ServiceError.from(thrown);
        code = failure.code;
        callback({ code: failure.code, details: failure.message, metadata: failure.trailers() });
      } finally {
        clearTimeout(deadlineTimer);
        call.off("cancelled", onCancelled);
        const seconds = (performance.now() - started) / 1000;
        const codeLabel = codeName(code);
        rpcServerDuration.observe({ method: name, code: codeLabel }, seconds);
        span.setAttribute("rpc.grpc.status_code", code);
        if (failure) {
          if (failure.cause !== undefined) span.recordException(failure.cause as Error);
          else span.recordException(failure);
          span.setStatus({ code: SpanStatusCode.ERROR, message: codeLabel });
        }
        span.end();
        const fields: Record<string, unknown> = {
          method: name,
          code: codeLabel,
          durationMs: Math.round(seconds * 1e4) / 10,
        };
        if (failure) {
          fields.error = failure.message;
          if (failure.cause !== undefined) fields.err = failure.cause;
        }
        logger[logLevel(code)](fields, "rpc");
      }
    };
    runWithContext(callContext, () => otelContext.with(trace.setSpan(parent, span), serve));
  };
}

function serviceDefinition(service: DescService, handlers: Record<string, UntypedHandler>, logger: Logger) {
  const definition: Record<string, grpc.MethodDefinition<Buffer, MessageShape<DescMessage>>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const handler = handlers[method.localName];
    if (!handler) throw new Error(`no handler for ${service.typeName}/${method.name}`);
    const unary = method as UnaryMethod;
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: false,
      // Decoding happens in the wrapper so a malformed message becomes INVALID_ARGUMENT (grpc-js
      // would answer INTERNAL for a deserializer that throws).
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (value: MessageShape<DescMessage>) => Buffer.from(toBinary(unary.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(unary.output, bytes),
      originalName: method.name,
    } satisfies grpc.MethodDefinition<Buffer, MessageShape<DescMessage>>;
    implementation[method.localName] = wrapUnary(unary, handler, logger);
  }
  return { definition, implementation };
}

/**
 * Creates a gRPC server for `services` with grpc.health.v1 (overall "" and per service), server
 * reflection v1 and v1alpha built from the services' descriptors (so grpcurl needs no proto
 * files), and an admin HTTP port (/healthz, /readyz, /metrics).
 *
 * Every call: takes or mints `x-request-id` (echoed in the response headers), runs the handler in
 * the call context (request id, deadline, abort signal, user) and a server span continued from
 * `traceparent`, refuses calls whose deadline has passed, answers INVALID_ARGUMENT for a request
 * that does not decode or has a string with a NUL character or a lone surrogate (naming the field), maps {@link ServiceError}s to their status (with field violations in
 * `grpc-status-details-bin`) and anything else to INTERNAL "internal error", records the RED
 * histogram, and writes one log line.
 */
export function createGrpcServer<const S extends readonly DescService[]>(
  options: GrpcServerOptions<S>,
): GrpcServer {
  const { logger } = options;
  const host = options.host ?? "127.0.0.1";
  const shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
  const drainDelayMs = Math.min(options.drainDelayMs ?? 1_000, shutdownGraceMs);
  const registrations = options.services as readonly ServiceRegistration[];
  const serviceNames = registrations.map((r) => r.service.typeName);

  const server = new grpc.Server(options.serverOptions);
  for (const { service, handlers } of registrations) {
    const { definition, implementation } = serviceDefinition(
      service,
      handlers as unknown as Record<string, UntypedHandler>,
      logger,
    );
    server.addService(definition, implementation);
  }

  const health = new HealthImplementation();
  const setHealth = (status: ServingStatus) => {
    for (const name of ["", ...serviceNames]) health.setStatus(name, status);
  };
  setHealth("NOT_SERVING");
  health.addToServer(server);

  const files = [...registrations.map((r) => r.service.file), ...(options.files ?? [])];
  // ReflectionService only reads `fileDescriptorProtos` from each entry of the proto-loader
  // package definition it is typed for.
  const reflectionPackage = reflectionInput(files) as unknown as ConstructorParameters<
    typeof ReflectionService
  >[0];
  new ReflectionService(reflectionPackage).addToServer(server);

  let serving = false;
  let ready = true;
  let admin: AdminServer | undefined;
  let stopping: Promise<void> | undefined;

  const applyReadiness = () => setHealth(serving && ready ? "SERVING" : "NOT_SERVING");

  return {
    async start() {
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(
          `${host}:${options.port}`,
          options.credentials ?? grpc.ServerCredentials.createInsecure(),
          (error, bound) => (error ? reject(error) : resolve(bound)),
        ),
      );
      try {
        admin = await startAdminServer({
          host: options.adminHost ?? host,
          port: options.adminPort,
          isReady: () => serving && ready,
          logger,
        });
      } catch (error) {
        server.forceShutdown();
        throw error;
      }
      serving = true;
      applyReadiness();
      logger.info({ port, adminPort: admin.port, services: serviceNames }, `${options.serviceName} serving`);
      return { port, adminPort: admin.port };
    },

    setReady(value) {
      ready = value;
      applyReadiness();
    },

    stop() {
      stopping ??= (async () => {
        serving = false;
        applyReadiness();
        logger.info({ drainDelayMs, shutdownGraceMs }, `${options.serviceName} draining`);
        await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
        await new Promise<void>((resolve) => {
          const force = setTimeout(
            () => {
              logger.warn({ shutdownGraceMs }, "grace period over: cutting in-flight calls");
              server.forceShutdown();
              resolve();
            },
            Math.max(0, shutdownGraceMs - drainDelayMs),
          );
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await admin?.close();
        logger.info(`${options.serviceName} stopped`);
      })();
      return stopping;
    },
  };
}
