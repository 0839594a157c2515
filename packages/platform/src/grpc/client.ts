import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  type InputOf,
  type OutputOf,
  type UnaryMethod,
  type UnaryMethodNames,
  unaryCall,
} from "@mercato/sdk/grpc";
import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { currentContext } from "../context/index.js";
import { codeName, codeOf, isGrpcStatusError, ServiceError } from "../errors/index.js";
import type { Logger } from "../log/index.js";
import { rpcClientDuration, rpcClientRetries } from "../metrics/index.js";
import { Breaker, BreakerOpenError, type BreakerState } from "../resilience/breaker.js";
import { ConcurrencyLimitError, ConcurrencyLimiter } from "../resilience/limiter.js";
import { retry } from "../resilience/retry.js";
import { RetryBudget } from "../resilience/retry-budget.js";
import { defaultChannelOptions } from "./channel.js";
import { metadataSetter } from "./metadata.js";

const tracer = trace.getTracer("@mercato/platform/grpc");

/** Retry settings for one upstream. */
export interface RetrySettings {
  /** Attempts per call, including the first (default 3). */
  readonly maxAttempts?: number;
  /** First backoff ceiling (default 50 ms); doubles per retry, with full jitter. */
  readonly initialBackoffMs?: number;
  /** Backoff cap (default 1 s). */
  readonly maxBackoffMs?: number;
  /** Retries allowed per request over the budget window (default 0.2). */
  readonly budgetRatio?: number;
  /** Retries always allowed per window (default 10). */
  readonly budgetMinRetries?: number;
  /** Budget window (default 10 s). */
  readonly budgetWindowMs?: number;
}

/** Circuit breaker settings for one upstream. */
export interface BreakerSettings {
  /** Failure percentage that opens the circuit (default 50). */
  readonly errorThresholdPercentage?: number;
  /** Calls in the window before it may open (default 10). */
  readonly volumeThreshold?: number;
  /** Open time before a probe call (default 5 s). */
  readonly resetTimeoutMs?: number;
  /** Rolling window (default 10 s). */
  readonly rollingCountTimeoutMs?: number;
}

/** Options for {@link createServiceClient}. */
export interface ServiceClientOptions {
  /** The upstream's name: labels metrics, logs and breaker errors ("inventory"). */
  readonly upstream: string;
  /** `dns:///host:port` (round-robin over every address) or `host:port` (treated as `dns:///`). */
  readonly address: string;
  /** Deadline for calls made outside an inbound call, and cap for those made inside one (default 5 s). */
  readonly defaultDeadlineMs?: number;
  /** Retry policy; `false` disables retries. Ignored (no retries) when `mesh` is "istio". */
  readonly retry?: RetrySettings | false;
  /** Circuit breaker; `false` disables it. */
  readonly breaker?: BreakerSettings | false;
  /** Calls in flight to this upstream at most (default 100). */
  readonly maxConcurrency?: number;
  /** Calls that may wait for a slot, until their deadline (default 0: excess fails fast). */
  readonly maxQueue?: number;
  /** "istio": the sidecar retries, so the app does not (breaker and limiter stay). Default "none". */
  readonly mesh?: "none" | "istio";
  readonly logger: Logger;
  /** Channel credentials (default insecure). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Extra grpc-js channel options. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Per-call options of a {@link ServiceClient} method. */
export interface ServiceCallOptions {
  /** Extra request metadata. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Shorter timeout than the default for this call. */
  readonly timeoutMs?: number;
  /** Cancels the call (combined with the inbound call's signal). */
  readonly signal?: AbortSignal;
  /**
   * Marks a write as safe to retry (it carries an idempotency key). Reads declared
   * NO_SIDE_EFFECTS or IDEMPOTENT in the contract are retried without it.
   */
  readonly idempotent?: boolean;
}

/**
 * A typed client for one upstream. Methods reject with {@link ServiceError}: the upstream's code,
 * message and field violations (the raw grpc-js error is its `cause`), or the client's own
 * UNAVAILABLE "circuit open for <upstream>", RESOURCE_EXHAUSTED (concurrency limit),
 * DEADLINE_EXCEEDED or CANCELLED.
 */
export type ServiceClient<S extends DescService> = {
  readonly [K in UnaryMethodNames<S>]: (
    request: MessageInitShape<InputOf<S, K>>,
    options?: ServiceCallOptions,
  ) => Promise<MessageShape<OutputOf<S, K>>>;
} & {
  /** The breaker, if enabled (for inspection). */
  readonly $breaker: Breaker | undefined;
  /** The retry budget, if retries are enabled (for inspection). */
  readonly $retryBudget: RetryBudget | undefined;
  /** The concurrency limiter. */
  readonly $limiter: ConcurrencyLimiter;
  /** Closes the channel and stops the breaker's timers. */
  $close(): void;
};

/** Codes that say the upstream (or the path to it) is unhealthy: they count against the breaker. */
const breakerCodes = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.DATA_LOSS,
]);

const retryableLevels = new Set([
  MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
  MethodOptions_IdempotencyLevel.IDEMPOTENT,
]);

const targetScheme = /^(dns|ipv4|ipv6|unix|unix-abstract):/i;
const ipv4HostPort = /^\d{1,3}(\.\d{1,3}){3}:\d+$/;

/**
 * The grpc-js target for an upstream address, so every caller resolves replicas the same way and the
 * channel's round-robin policy spreads calls over them and skips dead ones:
 * - a target with a grpc-js scheme (`dns:///svc.ns.svc:50051`, `ipv4:10.0.0.1:50051,10.0.0.2:50051`)
 *   as given;
 * - a comma-separated list of IPv4 `ip:port` (local replicas) as `ipv4:ip:port,ip:port`;
 * - `host:port` as `dns:///host:port` (every address the name resolves to: a headless Service's pods).
 *
 * @throws on an empty address, or a list with an entry that is not an IPv4 `ip:port`
 */
export function grpcTarget(address: string): string {
  const value = address.trim();
  if (value === "") throw new Error("upstream address is empty");
  if (targetScheme.test(value)) return value;
  if (value.includes(",")) {
    const entries = value.split(",").map((entry) => entry.trim());
    const bad = entries.filter((entry) => !ipv4HostPort.test(entry));
    if (bad.length > 0) {
      throw new Error(
        `upstream address list "${address}": ${bad.map((b) => `"${b}"`).join(", ")} is not an IPv4 ip:port ` +
          "(use dns:///name:port for a name)",
      );
    }
    return `ipv4:${entries.join(",")}`;
  }
  return `dns:///${value}`;
}

/**
 * Closes `breaker` as soon as `client`'s channel is connected again after it lost its connection: an
 * upstream that restarted is used at once, not only once the rest of the breaker's reset time has
 * passed. With the default 5 s that made a restarted payment unusable for about 4 s longer than its
 * restart in the checkout fault test (sagas retrying on "circuit open for payment"). While the circuit
 * is open nothing calls the upstream, so an idle channel is asked to connect.
 *
 * @returns `stop` (ends the watch) and `kick` (asks an idle channel to connect)
 */
function closeBreakerOnReconnect(client: grpc.Client, breaker: Breaker): { stop(): void; kick(): void } {
  const { READY, IDLE, SHUTDOWN } = grpc.connectivityState;
  const channel = client.getChannel();
  let stopped = false;
  let last = channel.getConnectivityState(false);
  const watch = () => {
    if (stopped || last === SHUTDOWN) return;
    channel.watchConnectivityState(last, Number.POSITIVE_INFINITY, () => {
      if (stopped) return;
      const now = channel.getConnectivityState(false);
      if (now === READY && last !== READY) breaker.reset();
      if (now === IDLE && breaker.state !== "closed") channel.getConnectivityState(true);
      last = now;
      watch();
    });
  };
  watch();
  return {
    stop: () => {
      stopped = true;
    },
    kick: () => {
      if (!stopped && channel.getConnectivityState(false) === IDLE) channel.getConnectivityState(true);
    },
  };
}

function combineSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}

function clientError(upstream: string, error: unknown, signal: AbortSignal | undefined): ServiceError {
  if (error instanceof ServiceError) return error;
  if (error instanceof BreakerOpenError)
    return new ServiceError(grpc.status.UNAVAILABLE, error.message, { cause: error });
  if (error instanceof ConcurrencyLimitError) {
    return error.reason === "full"
      ? new ServiceError(grpc.status.RESOURCE_EXHAUSTED, `too many concurrent calls to ${upstream}`, {
          cause: error,
        })
      : new ServiceError(grpc.status.DEADLINE_EXCEEDED, `deadline exceeded waiting to call ${upstream}`, {
          cause: error,
        });
  }
  if (isGrpcStatusError(error)) return ServiceError.from(error);
  if (signal?.aborted)
    return new ServiceError(grpc.status.CANCELLED, `call to ${upstream} cancelled`, { cause: error });
  return ServiceError.from(error);
}

/**
 * Creates the client for one upstream service. Every call:
 * - gets a deadline: the smallest of the inbound call's deadline, `defaultDeadlineMs` (or the
 *   call's `timeoutMs`) from now; an already-passed deadline fails with DEADLINE_EXCEEDED unsent;
 * - is cancelled when the inbound call is (its abort signal) or the caller's own signal aborts;
 * - sends `x-request-id`, `x-user-id`, `x-user-role` from the call context and `traceparent`
 *   from a client span;
 * - takes a slot from the concurrency limiter (excess fails fast with RESOURCE_EXHAUSTED, or
 *   waits up to its deadline when `maxQueue` > 0);
 * - goes through the upstream's circuit breaker (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL,
 *   UNKNOWN, RESOURCE_EXHAUSTED, DATA_LOSS count as failures; while open, calls fail fast with
 *   UNAVAILABLE "circuit open for <upstream>" and are not retried; it closes once the reset time has
 *   passed and a probe call succeeds, or as soon as the channel connects to the upstream again);
 * - when the method is NO_SIDE_EFFECTS/IDEMPOTENT or the call is marked `idempotent`, and the
 *   mesh is not istio, is retried on UNAVAILABLE only, with full-jitter exponential backoff that
 *   never ends past the deadline, within a retry budget shared by all calls to the upstream.
 *
 * Channels use `round_robin` over every address the `dns:///` target resolves to.
 */
export function createServiceClient<S extends DescService>(
  service: S,
  options: ServiceClientOptions,
): ServiceClient<S> {
  const { upstream, logger } = options;
  const log = logger.child({ upstream });
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 5_000;
  const client = new grpc.Client(
    grpcTarget(options.address),
    options.credentials ?? grpc.credentials.createInsecure(),
    { ...defaultChannelOptions, ...options.channelOptions },
  );

  let reconnects: ReturnType<typeof closeBreakerOnReconnect> | undefined;
  const breaker =
    options.breaker === false
      ? undefined
      : new Breaker({
          name: upstream,
          isFailure: (error) => isGrpcStatusError(error) && breakerCodes.has(error.code),
          ...(options.breaker ?? {}),
          onStateChange: (state: BreakerState) => {
            log[state === "open" ? "warn" : "info"]({ state }, `circuit ${state} for ${upstream}`);
            if (state === "open") reconnects?.kick();
          },
        });
  if (breaker) reconnects = closeBreakerOnReconnect(client, breaker);

  const retrySettings =
    options.retry === false || options.mesh === "istio" ? undefined : (options.retry ?? {});
  const policy = {
    maxAttempts: retrySettings?.maxAttempts ?? 3,
    initialBackoffMs: retrySettings?.initialBackoffMs ?? 50,
    maxBackoffMs: retrySettings?.maxBackoffMs ?? 1_000,
  };
  const budget = retrySettings
    ? new RetryBudget({
        ratio: retrySettings.budgetRatio ?? 0.2,
        ...(retrySettings.budgetMinRetries !== undefined
          ? { minRetries: retrySettings.budgetMinRetries }
          : {}),
        ...(retrySettings.budgetWindowMs !== undefined ? { windowMs: retrySettings.budgetWindowMs } : {}),
      })
    : undefined;
  const limiter = new ConcurrencyLimiter(options.maxConcurrency ?? 100, options.maxQueue ?? 0);

  const call = async (
    method: UnaryMethod,
    request: MessageInitShape<DescMessage>,
    callOptions: ServiceCallOptions = {},
  ): Promise<MessageShape<DescMessage>> => {
    const name = `${method.parent.typeName}/${method.name}`;
    const inbound = currentContext();
    const now = Date.now();
    let deadline = now + Math.min(callOptions.timeoutMs ?? defaultDeadlineMs, defaultDeadlineMs);
    if (inbound?.deadline !== undefined) deadline = Math.min(deadline, inbound.deadline);
    const signal = combineSignals(inbound?.signal, callOptions.signal);

    const span = tracer.startSpan(name, {
      kind: SpanKind.CLIENT,
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": method.parent.typeName,
        "rpc.method": method.name,
        "peer.service": upstream,
      },
    });
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(callOptions.metadata ?? {})) metadata.set(key, value);
    if (inbound?.requestId) metadata.set("x-request-id", inbound.requestId);
    if (inbound?.userId) metadata.set("x-user-id", inbound.userId);
    if (inbound?.role) metadata.set("x-user-role", inbound.role);
    propagation.inject(trace.setSpan(otelContext.active(), span), metadata, metadataSetter);

    const attempt = async (): Promise<MessageShape<DescMessage>> => {
      if (deadline <= Date.now()) {
        throw new ServiceError(grpc.status.DEADLINE_EXCEEDED, `deadline exceeded before calling ${upstream}`);
      }
      const release = await limiter.acquire({ deadline, ...(signal ? { signal } : {}) });
      try {
        const send = async () => {
          const started = performance.now();
          let code: number = grpc.status.OK;
          try {
            return await unaryCall(client, method, request, {
              metadata: metadata.clone(),
              deadline,
              ...(signal ? { signal } : {}),
            });
          } catch (error) {
            code = codeOf(error);
            throw error;
          } finally {
            rpcClientDuration.observe(
              { upstream, method: name, code: codeName(code) },
              (performance.now() - started) / 1000,
            );
          }
        };
        return await (breaker ? breaker.run(send) : send());
      } finally {
        release();
      }
    };

    const retryable =
      retrySettings !== undefined &&
      (callOptions.idempotent === true || retryableLevels.has(method.idempotency));
    try {
      if (!retryable) return await attempt();
      return await retry(attempt, {
        policy,
        ...(budget ? { budget } : {}),
        deadline,
        ...(signal ? { signal } : {}),
        shouldRetry: (error) => isGrpcStatusError(error) && error.code === grpc.status.UNAVAILABLE,
        onRetry: (n, delayMs, error) => {
          rpcClientRetries.inc({ upstream, outcome: "sent" });
          span.addEvent("retry", { attempt: n, delayMs });
          log.debug({ method: name, attempt: n, delayMs, code: codeName(codeOf(error)) }, "retrying");
        },
        onBudgetExhausted: () => {
          rpcClientRetries.inc({ upstream, outcome: "budget_exhausted" });
          log.debug({ method: name }, "retry budget exhausted");
        },
      });
    } catch (error) {
      const failure = clientError(upstream, error, signal);
      span.recordException(failure.cause instanceof Error ? failure.cause : failure);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.codeName });
      throw failure;
    } finally {
      span.end();
    }
  };

  const methods: Record<string, unknown> = {
    $breaker: breaker,
    $retryBudget: budget,
    $limiter: limiter,
    $close: () => {
      reconnects?.stop();
      client.close();
      breaker?.shutdown();
    },
  };
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const unary = method as UnaryMethod;
    methods[method.localName] = (request: MessageInitShape<DescMessage>, callOptions?: ServiceCallOptions) =>
      call(unary, request, callOptions);
  }
  return methods as ServiceClient<S>;
}
