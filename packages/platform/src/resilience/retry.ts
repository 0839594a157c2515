import { type BackoffOptions, fullJitterBackoff, sleep } from "./backoff.js";
import type { RetryBudget } from "./retry-budget.js";

/** How often and how patiently to retry. */
export interface RetryPolicy extends BackoffOptions {
  /** Total attempts including the first (1 disables retries). */
  readonly maxAttempts: number;
}

/** Options for {@link retry}. */
export interface RetryOptions {
  readonly policy: RetryPolicy;
  /** Whether an error may be retried (e.g. only UNAVAILABLE). */
  readonly shouldRetry: (error: unknown) => boolean;
  /** Shared budget; the call deposits once and each retry withdraws. */
  readonly budget?: RetryBudget;
  /** Absolute deadline (epoch ms): no retry is started whose backoff would end past it. */
  readonly deadline?: number;
  /** Stops retrying when aborted. */
  readonly signal?: AbortSignal;
  /** Random source for the jitter, for tests. */
  readonly random?: () => number;
  /** Called before each retry's backoff. */
  readonly onRetry?: (retry: number, delayMs: number, error: unknown) => void;
  /** Called when the budget refuses a retry. */
  readonly onBudgetExhausted?: (error: unknown) => void;
}

/**
 * Runs `attempt` until it succeeds, the error is not retryable, attempts run out, the next
 * backoff would pass the deadline, the budget refuses, or the signal aborts; then rethrows the
 * last error. `attempt` gets the attempt number (0 for the first).
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  options.budget?.recordRequest();
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n + 1 >= options.policy.maxAttempts || !options.shouldRetry(error)) throw error;
      if (options.signal?.aborted) throw error;
      const delay = fullJitterBackoff(n, options.policy, options.random);
      if (options.deadline !== undefined && Date.now() + delay >= options.deadline) throw error;
      if (options.budget && !options.budget.tryRetry()) {
        options.onBudgetExhausted?.(error);
        throw error;
      }
      options.onRetry?.(n + 1, delay, error);
      if (!(await sleep(delay, options.signal))) throw error;
    }
  }
}
