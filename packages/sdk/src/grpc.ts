/**
 * Adapter between protobuf-es v2 service descriptors and @grpc/grpc-js: a grpc-js
 * `ServiceDefinition` built from a `GenService`, and a typed, promise-based unary client.
 *
 * @packageDocumentation
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/** A unary method descriptor with typed input and output. */
export type UnaryMethod<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> = DescMethod & {
  readonly methodKind: "unary";
  readonly input: I;
  readonly output: O;
};

/** The keys of `S["method"]` that are unary RPCs. */
export type UnaryMethodNames<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends { readonly methodKind: "unary" } ? K : never;
}[keyof S["method"]];

/** Input message descriptor of method `K` of service `S`. */
export type InputOf<S extends DescService, K extends keyof S["method"]> = S["method"][K]["input"];
/** Output message descriptor of method `K` of service `S`. */
export type OutputOf<S extends DescService, K extends keyof S["method"]> = S["method"][K]["output"];

/** Per-call options for {@link createGrpcClient}'s methods. */
export interface CallOptions {
  /** Request metadata (headers). */
  readonly metadata?: grpc.Metadata | Readonly<Record<string, string>>;
  /** Absolute deadline: a `Date` or epoch milliseconds. */
  readonly deadline?: Date | number;
  /** Cancels the call when aborted; the promise then rejects with CANCELLED. */
  readonly signal?: AbortSignal;
  /** Called with the response headers when they arrive. */
  readonly onHeader?: (metadata: grpc.Metadata) => void;
}

/** One typed unary method of a {@link GrpcClient}. */
export type UnaryCall<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/**
 * A typed promise client: one method per unary RPC, named like the descriptor's `method` keys
 * (lowerCamelCase). Failures reject with the grpc-js `ServiceError` (`code`, `details`, `metadata`).
 * `$close()` closes the channel; `$client` is the underlying grpc-js client.
 */
export type GrpcClient<S extends DescService> = {
  readonly [K in UnaryMethodNames<S>]: UnaryCall<InputOf<S, K>, OutputOf<S, K>>;
} & {
  readonly $client: grpc.Client;
  $close(): void;
};

/** Options for {@link createGrpcClient}. */
export interface GrpcClientOptions {
  /** Channel credentials; insecure (plaintext) by default. */
  readonly credentials?: grpc.ChannelCredentials;
  /** grpc-js channel options, e.g. `grpc.service_config`. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** The gRPC path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** Serializer for a message type: accepts an init shape or a message. */
export function serializerFor<D extends DescMessage>(schema: D): (value: MessageInitShape<D>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, create(schema, value));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Deserializer for a message type. Throws on malformed input. */
export function deserializerFor<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * A grpc-js `ServiceDefinition` for the unary methods of `service`, keyed by the descriptor's
 * local (lowerCamelCase) method names. Server handlers passed to `server.addService` use the same keys.
 */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: false,
      requestSerialize: serializerFor(method.input) as (value: unknown) => Buffer,
      requestDeserialize: deserializerFor(method.input),
      responseSerialize: serializerFor(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializerFor(method.output),
      originalName: method.name,
    };
  }
  return definition;
}

function toMetadata(input: CallOptions["metadata"]): grpc.Metadata {
  if (input instanceof grpc.Metadata) return input;
  const metadata = new grpc.Metadata();
  if (input) for (const [key, value] of Object.entries(input)) metadata.set(key, value);
  return metadata;
}

function cancelledError(reason: unknown): grpc.ServiceError {
  const details = reason instanceof Error ? reason.message : "call cancelled";
  return Object.assign(new Error(`${grpc.status.CANCELLED} CANCELLED: ${details}`), {
    code: grpc.status.CANCELLED,
    details,
    metadata: new grpc.Metadata(),
  });
}

/**
 * Makes one unary call on a grpc-js client. Exposed so wrappers (retries, breakers) can reuse the
 * same plumbing without going through {@link createGrpcClient}.
 */
export function unaryCall<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: UnaryMethod<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(cancelledError(signal.reason));
  return new Promise((resolve, reject) => {
    const callOptions: grpc.CallOptions = {};
    if (options.deadline !== undefined) callOptions.deadline = options.deadline;
    let onAbort: (() => void) | undefined;
    const call = client.makeUnaryRequest(
      methodPath(method),
      serializerFor(method.input),
      deserializerFor(method.output),
      request,
      toMetadata(options.metadata),
      callOptions,
      (error, response) => {
        if (onAbort) signal?.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else if (response === undefined) reject(new Error(`empty response from ${methodPath(method)}`));
        else resolve(response);
      },
    );
    if (options.onHeader) call.on("metadata", options.onHeader);
    if (signal) {
      onAbort = () => call.cancel();
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
}

/**
 * Creates a typed promise client for `service` at `address` (any grpc-js target, e.g.
 * `dns:///orders:50051` or `127.0.0.1:50051`). Only unary methods are exposed.
 */
export function createGrpcClient<S extends DescService>(
  service: S,
  address: string,
  options: GrpcClientOptions = {},
): GrpcClient<S> {
  const client = new grpc.Client(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions ?? {},
  );
  const methods: Record<string, unknown> = {
    $client: client,
    $close: () => client.close(),
  };
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const unary = method as UnaryMethod;
    methods[method.localName] = (request: MessageInitShape<DescMessage>, callOptions?: CallOptions) =>
      unaryCall(client, unary, request, callOptions);
  }
  return methods as GrpcClient<S>;
}
