/** Exponential backoff bounds. */
export interface BackoffOptions {
  /** Upper bound of the first retry's delay. */
  readonly initialBackoffMs: number;
  /** Cap on any delay. */
  readonly maxBackoffMs: number;
}

/**
 * "Full jitter" backoff: a uniform random delay in [0, min(max, initial × 2^retry)). Spreading
 * retries over the whole interval avoids synchronised retry waves after a shared failure.
 * `retry` counts from 0 for the first retry.
 */
export function fullJitterBackoff(
  retry: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxBackoffMs, options.initialBackoffMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** Waits `ms`; resolves `false` early when `signal` aborts, `true` otherwise. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
