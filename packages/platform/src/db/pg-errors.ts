/**
 * PostgreSQL error inspection that sees through drizzle's wrapping: drizzle-orm 0.45 throws a
 * `DrizzleQueryError` whose `cause` is the driver's error carrying the SQLSTATE code.
 */

/** The fields of a driver error that callers branch on. */
export interface PostgresError {
  /** SQLSTATE, e.g. "23505" for a unique violation. */
  readonly code: string;
  /** The constraint involved, when PostgreSQL names one. */
  readonly constraint: string | undefined;
}

/** The PostgreSQL error inside `error`'s cause chain, if there is one. */
export function postgresError(error: unknown): PostgresError | undefined {
  let current = error;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const candidate = current as {
      code?: unknown;
      constraint_name?: unknown;
      constraint?: unknown;
      cause?: unknown;
    };
    if (typeof candidate.code === "string" && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      const constraint = candidate.constraint_name ?? candidate.constraint;
      return { code: candidate.code, constraint: typeof constraint === "string" ? constraint : undefined };
    }
    current = candidate.cause;
  }
  return undefined;
}

/** The constraint a unique violation (23505) hit ("" when unnamed), or undefined for any other error. */
export function uniqueViolation(error: unknown): string | undefined {
  const found = postgresError(error);
  return found?.code === "23505" ? (found.constraint ?? "") : undefined;
}

/** The constraint a foreign-key violation (23503) hit ("" when unnamed), or undefined for any other error. */
export function foreignKeyViolation(error: unknown): string | undefined {
  const found = postgresError(error);
  return found?.code === "23503" ? (found.constraint ?? "") : undefined;
}
