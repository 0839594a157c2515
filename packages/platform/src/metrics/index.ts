import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The process's one Prometheus registry; the admin port serves it at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function once<T>(name: string, make: () => T): T {
  return (metricsRegistry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Server-side RED: one observation per finished RPC, labelled by method and gRPC code. */
export const rpcServerDuration = once(
  "mercato_rpc_server_duration_seconds",
  () =>
    new Histogram({
      name: "mercato_rpc_server_duration_seconds",
      help: "Duration of RPCs served, by method and gRPC status code",
      labelNames: ["method", "code"] as const,
      buckets: latencyBuckets,
      registers: [metricsRegistry],
    }),
);

/** Client-side RED: one observation per call attempt to an upstream. */
export const rpcClientDuration = once(
  "mercato_rpc_client_duration_seconds",
  () =>
    new Histogram({
      name: "mercato_rpc_client_duration_seconds",
      help: "Duration of RPC attempts made to upstreams, by upstream, method and gRPC status code",
      labelNames: ["upstream", "method", "code"] as const,
      buckets: latencyBuckets,
      registers: [metricsRegistry],
    }),
);

/** Retries sent to upstreams, and retries refused by the budget. */
export const rpcClientRetries = once(
  "mercato_rpc_client_retries_total",
  () =>
    new Counter({
      name: "mercato_rpc_client_retries_total",
      help: "Retry attempts to upstreams; outcome is sent or budget_exhausted",
      labelNames: ["upstream", "outcome"] as const,
      registers: [metricsRegistry],
    }),
);

/** Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open. */
export const circuitBreakerState = once(
  "mercato_circuit_breaker_state",
  () =>
    new Gauge({
      name: "mercato_circuit_breaker_state",
      help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open",
      labelNames: ["upstream"] as const,
      registers: [metricsRegistry],
    }),
);

/** Events written to the outbox and not yet published. */
export const outboxBacklog = once(
  "mercato_outbox_backlog",
  () =>
    new Gauge({
      name: "mercato_outbox_backlog",
      help: "Outbox rows not yet published to NATS",
      registers: [metricsRegistry],
    }),
);

/** Events published by the outbox relay. */
export const outboxPublished = once(
  "mercato_outbox_published_total",
  () =>
    new Counter({
      name: "mercato_outbox_published_total",
      help: "Events the outbox relay published to JetStream",
      registers: [metricsRegistry],
    }),
);

/** Consumed events by consumer and outcome (processed, duplicate, failed, dead_lettered). */
export const eventsConsumed = once(
  "mercato_events_consumed_total",
  () =>
    new Counter({
      name: "mercato_events_consumed_total",
      help: "Events handled by durable consumers, by consumer and outcome",
      labelNames: ["consumer", "outcome"] as const,
      registers: [metricsRegistry],
    }),
);

/** Redeliveries seen by consumers (delivery count above one). */
export const eventsRedelivered = once(
  "mercato_events_redelivered_total",
  () =>
    new Counter({
      name: "mercato_events_redelivered_total",
      help: "Events delivered more than once to a consumer",
      labelNames: ["consumer"] as const,
      registers: [metricsRegistry],
    }),
);

/** Pending messages per durable consumer (lag), sampled periodically. */
export const consumerLag = once(
  "mercato_consumer_lag",
  () =>
    new Gauge({
      name: "mercato_consumer_lag",
      help: "Messages in the stream not yet delivered to the consumer",
      labelNames: ["consumer"] as const,
      registers: [metricsRegistry],
    }),
);

/** Saga outcomes (completed, compensated, failed) by saga type. */
export const sagaOutcomes = once(
  "mercato_saga_outcomes_total",
  () =>
    new Counter({
      name: "mercato_saga_outcomes_total",
      help: "Finished sagas by type and outcome",
      labelNames: ["saga", "outcome"] as const,
      registers: [metricsRegistry],
    }),
);
