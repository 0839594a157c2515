/** Why {@link ConcurrencyLimiter.acquire} refused. */
export type LimitReason = "full" | "timeout";

/** Thrown when the limiter has no slot: the queue is full, or the wait outlived the deadline. */
export class ConcurrencyLimitError extends Error {
  constructor(
    readonly reason: LimitReason,
    limit: number,
  ) {
    super(
      reason === "full"
        ? `concurrency limit ${limit} reached`
        : `no slot free before the deadline (limit ${limit})`,
    );
    this.name = "ConcurrencyLimitError";
  }
}

/** Options for {@link ConcurrencyLimiter.acquire}. */
export interface AcquireOptions {
  /** Absolute deadline (epoch ms) for waiting in the queue. */
  readonly deadline?: number;
  /** Gives up waiting when aborted (rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

interface Waiter {
  grant: () => void;
}

/**
 * Caps calls in flight at `limit`. Up to `maxQueue` more wait (FIFO) for a slot until their
 * deadline or abort; beyond that, callers are refused at once. With `maxQueue` 0 (the default)
 * excess calls fail fast, which sheds load instead of hiding it in a queue.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly limit: number,
    readonly maxQueue = 0,
  ) {
    if (!(limit >= 1)) throw new Error("concurrency limit must be >= 1");
  }

  /** Calls holding a slot now. */
  get inFlight(): number {
    return this.active;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Takes a slot; the returned function gives it back (idempotent). */
  acquire(options: AcquireOptions = {}): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.maxQueue)
      return Promise.reject(new ConcurrencyLimitError("full", this.limit));
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        cleanup();
        reject(options.signal?.reason);
      };
      const timer =
        options.deadline === undefined
          ? undefined
          : setTimeout(
              () => {
                cleanup();
                reject(new ConcurrencyLimitError("timeout", this.limit));
              },
              Math.max(0, options.deadline - Date.now()),
            );
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>, options?: AcquireOptions): Promise<T> {
    const release = await this.acquire(options);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters[0];
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next.grant();
      else this.active--;
    };
  }
}
