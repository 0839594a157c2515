/**
 * Resilience building blocks for calls to upstreams: backoff with full jitter, a retry loop with a
 * shared retry budget, a concurrency limiter and a circuit breaker. The gRPC client composes them;
 * each is usable alone.
 */
export { type BackoffOptions, fullJitterBackoff, sleep } from "./backoff.js";
export { Breaker, BreakerOpenError, type BreakerOptions, type BreakerState } from "./breaker.js";
export {
  type AcquireOptions,
  ConcurrencyLimitError,
  ConcurrencyLimiter,
  type LimitReason,
} from "./limiter.js";
export { type RetryOptions, type RetryPolicy, retry } from "./retry.js";
export { RetryBudget, type RetryBudgetOptions } from "./retry-budget.js";
