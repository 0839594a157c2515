/** Retry pacing for webhook deliveries. No I/O. */

/** Retry settings. */
export interface BackoffSettings {
  /** Delay after the first failure (ms); doubles per attempt. */
  readonly baseMs: number;
  /** Longest delay (ms). */
  readonly maxMs: number;
}

/**
 * Delay before the next attempt after `attempts` failed ones: exponential, capped, with "equal
 * jitter" (between half and all of the step), so receivers coming back are not hit by every sender
 * at the same instant.
 */
export function retryDelayMs(
  attempts: number,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  const step = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  return Math.round(step / 2 + random() * (step / 2));
}

/** What to do after a failed attempt. */
export type FailureVerdict =
  | { readonly kind: "retry"; readonly delayMs: number }
  | { readonly kind: "give_up" };

/** Retry after the `attempts`-th failure, or give up when attempts are spent or the failure is permanent. */
export function afterFailure(
  attempts: number,
  maxAttempts: number,
  permanent: boolean,
  settings: BackoffSettings,
  random?: () => number,
): FailureVerdict {
  if (permanent || attempts >= maxAttempts) return { kind: "give_up" };
  return { kind: "retry", delayMs: retryDelayMs(attempts, settings, random) };
}

/**
 * Whether an HTTP status from a receiver means "this delivery will never succeed" (a 4xx other than
 * 408 Request Timeout, 409 Conflict, 425 Too Early and 429 Too Many Requests), as opposed to a
 * transient failure worth retrying (5xx, 408, 429, network errors).
 */
export function isPermanentHttpFailure(status: number): boolean {
  return status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
}
