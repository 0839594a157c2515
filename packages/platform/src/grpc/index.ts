/**
 * gRPC serving and calling for Mercato services: {@link createGrpcServer} (handlers wrapped with
 * context, tracing, metrics, logging and error mapping; health, reflection and an admin port) and
 * {@link createServiceClient} (deadlines, cancellation, propagation, breaker, limiter, retries).
 */

export { defaultChannelOptions } from "./channel.js";
export {
  type BreakerSettings,
  createServiceClient,
  grpcTarget,
  type RetrySettings,
  type ServiceCallOptions,
  type ServiceClient,
  type ServiceClientOptions,
} from "./client.js";
export { firstValue, metadataGetter, metadataSetter } from "./metadata.js";
export {
  createGrpcServer,
  filesWithDependencies,
  type GrpcServer,
  type GrpcServerOptions,
  type HandlerContext,
  implement,
  type ServiceHandlers,
  type ServiceRegistration,
  type UnaryHandler,
} from "./server.js";
export { stringViolations } from "./strings.js";
