import type { Db } from "@mercato/platform/db";
import { and, desc, eq, ilike, lt, ne, or, type SQL, sql } from "drizzle-orm";
import { type IdentitySchema, users } from "./schema.js";

/** The database or a transaction on it. */
export type Executor = Db<IdentitySchema>;

/** A stored user. */
export type UserRow = typeof users.$inferSelect;
/** The columns given when creating a user. */
export type NewUser = typeof users.$inferInsert;
/** The columns an update may change. */
export type UserPatch = Partial<Omit<NewUser, "id" | "createdAt">>;

/** The user with `id`, if any; `forUpdate` locks the row until the transaction ends. */
export async function findUserById(
  db: Executor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow | undefined> {
  const query = db.select().from(users).where(eq(users.id, id));
  const [row] = options.forUpdate ? await query.for("update") : await query;
  return row;
}

/** The user with a (normalised) email, if any. */
export async function findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.email, email));
  return row;
}

/** Inserts a user unless the email is taken; undefined means it was. */
export async function insertUser(db: Executor, user: NewUser): Promise<UserRow | undefined> {
  const [row] = await db.insert(users).values(user).onConflictDoNothing({ target: users.email }).returning();
  return row;
}

/** Applies `patch` to the user; undefined when there is no such user. */
export async function updateUser(db: Executor, id: string, patch: UserPatch): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set(patch).where(eq(users.id, id)).returning();
  return row;
}

/** Deletes the user (their refresh tokens go with them); undefined when there was none. */
export async function deleteUser(db: Executor, id: string): Promise<UserRow | undefined> {
  const [row] = await db.delete(users).where(eq(users.id, id)).returning();
  return row;
}

/** Whether another user than `id` has the email. */
export async function emailTakenByOther(db: Executor, email: string, id: string): Promise<boolean> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.email, email), ne(users.id, id)));
  return rows.length > 0;
}

/**
 * Serialises changes that could remove the last admin (demotions, deletions) for the rest of the
 * transaction, so two admins removing each other at once cannot both succeed.
 */
export async function lockAdmins(db: Executor): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtext('mercato:identity:admins'))`);
}

/** Whether an admin other than `id` exists. */
export async function otherAdminExists(db: Executor, id: string): Promise<boolean> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, "admin"), ne(users.id, id)))
    .limit(1);
  return rows.length > 0;
}

function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * One page of users, newest first (ids are UUIDv7, so by id descending), starting after `after`,
 * optionally only those whose email or name contains `query` (case-insensitively).
 */
export async function listUsers(
  db: Executor,
  options: { after?: string | undefined; query: string; limit: number },
): Promise<UserRow[]> {
  const conditions: SQL[] = [];
  if (options.after !== undefined) conditions.push(lt(users.id, options.after));
  if (options.query !== "") {
    const pattern = likePattern(options.query);
    conditions.push(or(ilike(users.email, pattern), ilike(users.name, pattern))!);
  }
  return db
    .select()
    .from(users)
    .where(conditions.length > 0 ? and(...conditions) : undefined)
    .orderBy(desc(users.id))
    .limit(options.limit);
}

/** Raises the user's access version by one; the row after, or undefined when there is no such user. */
export async function bumpAccessVersion(db: Executor, id: string): Promise<UserRow | undefined> {
  const [row] = await db
    .update(users)
    .set({ accessVersion: sql`${users.accessVersion} + 1` })
    .where(eq(users.id, id))
    .returning();
  return row;
}
