/**
 * RESOURCE_EXHAUSTED that says when to come back: the `retry-after` trailer (whole seconds), which the
 * edge turns into HTTP 429 with a `Retry-After` header.
 */
import { Metadata, status } from "@grpc/grpc-js";

/** The trailer carrying the seconds to wait. */
export const RETRY_AFTER_KEY = "retry-after";

/**
 * Trailing metadata with `retry-after`: `seconds` rounded up, at least 1.
 *
 * @param seconds - how long the caller should wait before trying again
 */
export function retryAfterMetadata(seconds: number): Metadata {
  const metadata = new Metadata();
  metadata.set(RETRY_AFTER_KEY, String(Math.max(1, Math.ceil(seconds))));
  return metadata;
}

/** The shape the ServiceError constructor takes (kept structural to avoid an import cycle). */
type ErrorConstructor<E> = new (
  code: number,
  message: string,
  options: { cause?: unknown; metadata?: Metadata },
) => E;

/** Builds the RESOURCE_EXHAUSTED error with a `retry-after` trailer (used by `quotaExceeded`). */
export function exhaustedWithRetryAfter<E>(
  make: ErrorConstructor<E>,
  message: string,
  seconds: number,
  cause?: unknown,
): E {
  return new make(status.RESOURCE_EXHAUSTED, message, { cause, metadata: retryAfterMetadata(seconds) });
}
