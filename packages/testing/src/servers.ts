/**
 * Everything in `@mercato/testing` that does not need the vitest runner: usable from scripts, benchmarks
 * and the global setup (`@mercato/testing/servers`).
 *
 * @packageDocumentation
 */

export { startTcpBalancer, type TcpBalancer, type TcpBalancerOptions } from "./balancer.js";
export {
  databaseUrlOn,
  protobufString,
  type ReadStreamOptions,
  readStream,
  type StreamMessage,
  type StreamState,
  streamState,
  withDatabase,
} from "./inspect.js";
export { bundlePath, ensureBundle, mallocEnvironment, nodeMemoryFlags, serviceCommand } from "./launch.js";
export { freePort, uniqueName } from "./names.js";
export { MIN_NATS_SERVER_VERSION, type NatsServer, type StartNatsOptions, startNats } from "./nats.js";
export {
  type CollectedSpan,
  type OtlpCollector,
  OtlpSpanKind,
  parseOtlpTraces,
  startOtlpCollector,
} from "./otlp-collector.js";
export { type PostgresServer, type StartPostgresOptions, startPostgres } from "./postgres.js";
export { type SpawnedProcess, type SpawnProcessOptions, spawnProcess } from "./process.js";
export { startTcpProxy, type TcpProxy } from "./proxy.js";
export {
  CrashHistory,
  type CrashVerdict,
  defaultRestartPolicy,
  type RestartPolicy,
  Supervisor,
  type SupervisorHooks,
} from "./supervise.js";
export {
  defaultPorts,
  parseReplicas,
  type RunningSystem,
  replicaName,
  type ServiceName,
  type SystemComponent,
  type SystemOptions,
  type SystemProcess,
  serviceNames,
  startSystem,
} from "./system.js";
export { BOOTSTRAP_HINT, findTool, postgresBinDir, repoRoot, requireTool, toolSearchPath } from "./tools.js";
export { type WaitForOptions, waitFor } from "./wait.js";
