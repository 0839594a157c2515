import { eq, lt, sql } from "drizzle-orm";
import { loginFailures } from "./schema.js";
import type { Executor } from "./users.js";

/** A failure streak as stored. */
export type LoginFailureRow = typeof loginFailures.$inferSelect;

/**
 * Serialises login attempts for one email until the transaction ends, so parallel guesses are
 * counted one after the other and each sees the delay the previous ones earned.
 */
export async function lockLoginAttempts(db: Executor, email: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtext(${`mercato:identity:login:${email}`}))`);
}

/** The stored failure streak of an email, if any. */
export async function findLoginFailures(db: Executor, email: string): Promise<LoginFailureRow | undefined> {
  const [row] = await db.select().from(loginFailures).where(eq(loginFailures.email, email));
  return row;
}

/** Records one more failure; `failures` is the streak that still counted before it. */
export async function recordLoginFailure(
  db: Executor,
  email: string,
  failures: number,
  at: Date,
): Promise<void> {
  await db
    .insert(loginFailures)
    .values({ email, failures: failures + 1, lastFailureAt: at })
    .onConflictDoUpdate({ target: loginFailures.email, set: { failures: failures + 1, lastFailureAt: at } });
}

/** Forgets the streak (after a successful login, a password change or a deletion). */
export async function clearLoginFailures(db: Executor, email: string): Promise<void> {
  await db.delete(loginFailures).where(eq(loginFailures.email, email));
}

/** Deletes streaks whose last failure is older than `before`; returns how many. */
export async function pruneLoginFailures(db: Executor, before: Date): Promise<number> {
  const rows = await db
    .delete(loginFailures)
    .where(lt(loginFailures.lastFailureAt, before))
    .returning({ email: loginFailures.email });
  return rows.length;
}
