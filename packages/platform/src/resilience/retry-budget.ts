/** Options for {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per original request over the window, e.g. 0.2 for 20 %. */
  readonly ratio: number;
  /** Retries always allowed per window, so a quiet client can still retry (default 10). */
  readonly minRetries?: number;
  /** Length of the sliding window (default 10 s). */
  readonly windowMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

const buckets = 10;

/**
 * A retry budget (as in Finagle and the gRPC retry-throttling design): over a sliding window,
 * retries may not exceed `minRetries + ratio × requests`. Every original request deposits, every
 * retry withdraws, so however many hops retry, a failing upstream sees at most about
 * `(1 + ratio)` times the offered load instead of `attempts^hops`.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetries: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly requests = new Array<number>(buckets).fill(0);
  private readonly retries = new Array<number>(buckets).fill(0);
  private bucket = 0;
  private bucketStartedAt: number;

  constructor(options: RetryBudgetOptions) {
    if (!(options.ratio >= 0)) throw new Error("retry budget ratio must be >= 0");
    this.ratio = options.ratio;
    this.minRetries = options.minRetries ?? 10;
    this.windowMs = options.windowMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.bucketStartedAt = this.now();
  }

  /** Records one original (non-retry) request. */
  recordRequest(): void {
    this.advance();
    this.requests[this.bucket] = (this.requests[this.bucket] ?? 0) + 1;
  }

  /** Withdraws one retry if the budget allows it; false means do not retry. */
  tryRetry(): boolean {
    this.advance();
    if (this.sum(this.retries) + 1 > this.minRetries + this.ratio * this.sum(this.requests)) return false;
    this.retries[this.bucket] = (this.retries[this.bucket] ?? 0) + 1;
    return true;
  }

  /** Requests and retries counted in the current window. */
  snapshot(): { requests: number; retries: number } {
    this.advance();
    return { requests: this.sum(this.requests), retries: this.sum(this.retries) };
  }

  private sum(values: readonly number[]): number {
    let total = 0;
    for (const value of values) total += value;
    return total;
  }

  private advance(): void {
    const width = this.windowMs / buckets;
    const elapsed = Math.floor((this.now() - this.bucketStartedAt) / width);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, buckets); i++) {
      this.bucket = (this.bucket + 1) % buckets;
      this.requests[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
    this.bucketStartedAt += elapsed * width;
  }
}
