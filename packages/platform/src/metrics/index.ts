import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The process's one Prometheus registry; the admin port serves it at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

/**
 * Labels every series of this process with `service` (identity, order, gateway, …), so dashboards
 * and alerts group by service whatever labels the scraper adds. Call once at start-up.
 */
export function labelMetricsWithService(service: string): void {
  metricsRegistry.setDefaultLabels({ service });
}

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

/** Age of the oldest unpublished outbox row (0 when the backlog is empty): a stuck relay shows here first. */
export const outboxOldestAge = once(
  "mercato_outbox_oldest_age_seconds",
  () =>
    new Gauge({
      name: "mercato_outbox_oldest_age_seconds",
      help: "Age in seconds of the oldest outbox row not yet published (0 when none)",
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

/** Consumed events by consumer and outcome (processed, duplicate, failed); dead letters count in {@link eventsDeadLettered}. */
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

/** Events moved to the dead-letter stream after their last failed delivery. */
export const eventsDeadLettered = once(
  "mercato_events_dead_lettered_total",
  () =>
    new Counter({
      name: "mercato_events_dead_lettered_total",
      help: "Events a consumer gave up on and published to the dead-letter stream",
      labelNames: ["consumer"] as const,
      registers: [metricsRegistry],
    }),
);

/** Messages a durable consumer has not finished (not yet delivered, or delivered and not acked), sampled periodically. */
export const consumerLag = once(
  "mercato_consumer_lag",
  () =>
    new Gauge({
      name: "mercato_consumer_lag",
      help: "Messages not yet delivered to the consumer plus those delivered and awaiting ack",
      labelNames: ["consumer"] as const,
      registers: [metricsRegistry],
    }),
);

/**
 * Finished sagas by type, outcome (completed, compensated) and reason (`none` when completed; a short
 * class such as `payment_declined` otherwise: see {@link reasonLabel}).
 */
export const sagaOutcomes = once(
  "mercato_saga_outcomes_total",
  () =>
    new Counter({
      name: "mercato_saga_outcomes_total",
      help: "Finished sagas by type, outcome and reason class",
      labelNames: ["saga", "outcome", "reason"] as const,
      registers: [metricsRegistry],
    }),
);

/** Sagas started and not yet terminal (running or compensating), sampled periodically. */
export const sagasUnfinished = once(
  "mercato_sagas_unfinished",
  () =>
    new Gauge({
      name: "mercato_sagas_unfinished",
      help: "Sagas not yet in a terminal state, by saga type",
      labelNames: ["saga"] as const,
      registers: [metricsRegistry],
    }),
);

/** Age of the oldest saga not yet terminal (0 when none): a saga stuck mid-way shows here. */
export const sagaOldestUnfinishedAge = once(
  "mercato_saga_oldest_unfinished_age_seconds",
  () =>
    new Gauge({
      name: "mercato_saga_oldest_unfinished_age_seconds",
      help: "Age in seconds of the oldest saga not yet terminal, by saga type (0 when none)",
      labelNames: ["saga"] as const,
      registers: [metricsRegistry],
    }),
);

/**
 * A bounded metric label for a free-text reason: the part before the first `:` or `(` (reasons are
 * written "<fixed class>: <details>"), lower-cased, words joined by `_`, at most 40 characters;
 * `none` when empty. Keeps label cardinality small whatever the details say.
 */
export function reasonLabel(reason: string | undefined): string {
  const head = (reason ?? "").split(/[:(]/, 1)[0] ?? "";
  const label = head
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 40);
  return label === "" ? "none" : label;
}
