/** PostgreSQL error inspection through drizzle's wrapping (DrizzleQueryError keeps the driver error as `cause`). */

interface PgError {
  readonly code?: string;
  readonly constraint_name?: string;
  readonly constraint?: string;
}

function pgError(error: unknown): PgError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current === "object" && typeof (current as PgError).code === "string") {
      const code = (current as PgError).code as string;
      if (/^[0-9A-Z]{5}$/.test(code)) return current as PgError;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The constraint a unique violation (23505) hit, or undefined for any other error. */
export function uniqueViolation(error: unknown): string | undefined {
  const e = pgError(error);
  if (e?.code !== "23505") return undefined;
  return e.constraint_name ?? e.constraint ?? "";
}

/** The constraint a foreign-key violation (23503) hit, or undefined for any other error. */
export function foreignKeyViolation(error: unknown): string | undefined {
  const e = pgError(error);
  if (e?.code !== "23503") return undefined;
  return e.constraint_name ?? e.constraint ?? "";
}
