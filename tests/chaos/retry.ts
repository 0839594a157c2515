/**
 * How the chaos tests' clients retry PlaceOrder under faults: with the same idempotency key, after the
 * error codes that leave the outcome open, with capped exponential backoff and jitter — as a careful
 * real client would.
 */

/** Connect error codes after which the same PlaceOrder (same key) may succeed. */
export const retryableCodes: ReadonlySet<string> = new Set([
  "unavailable",
  "deadline_exceeded",
  "aborted",
  "internal",
  "unknown",
  "resource_exhausted",
  "canceled",
]);

/** The wait before attempt `attempt + 1`: 100 ms doubling per attempt up to 2 s, times a random 0.5–1. */
export function retryDelayMs(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() * 0.5);
}
