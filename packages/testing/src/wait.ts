import { setTimeout as sleep } from "node:timers/promises";

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this long (default 30 000 ms). A cap for a condition that never comes, not a speed
   * check: it only decides how long a real failure takes to show, so it is generous (a slow day must
   * not fail a correct system; speed is measured in bench/).
   */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** What is being waited for, used in the timeout error. */
  message?: string;
  /** Stop at the first exception from `predicate` instead of treating it as "not yet". */
  failFast?: boolean;
}

/**
 * Polls `predicate` until it returns true. An exception from `predicate` counts as "not yet" (its message
 * is reported on timeout) unless `failFast` is set.
 *
 * @throws when `timeoutMs` passes first
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 50, message, failFast = false }: WaitForOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
    } catch (err) {
      if (failFast) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
      throw new Error(
        `waitFor: timed out after ${timeoutMs} ms${message ? ` waiting for ${message}` : ""}${cause}`,
        {
          cause: lastError,
        },
      );
    }
    await sleep(intervalMs);
  }
}
