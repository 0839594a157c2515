import { and, eq, isNull, lt } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { newRefreshToken } from "../domain/tokens.js";
import { refreshTokens } from "./schema.js";
import type { Executor } from "./users.js";

/** A stored refresh token. */
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;

/**
 * Issues a refresh token for `userId` in `familyId` (a new family for a login) and stores its hash.
 *
 * @returns the token to hand to the client (never stored)
 */
export async function issueRefreshToken(
  db: Executor,
  options: { userId: string; familyId?: string | undefined; now: Date; ttlMs: number },
): Promise<string> {
  const { token, hash } = newRefreshToken();
  await db.insert(refreshTokens).values({
    id: uuidv7(),
    tokenHash: hash,
    familyId: options.familyId ?? uuidv7(),
    userId: options.userId,
    createdAt: options.now,
    expiresAt: new Date(options.now.getTime() + options.ttlMs),
  });
  return token;
}

/** The token with this hash, locked until the transaction ends, if any. */
export async function findRefreshTokenForUpdate(
  db: Executor,
  tokenHash: string,
): Promise<RefreshTokenRow | undefined> {
  const [row] = await db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .for("update");
  return row;
}

/** Marks a token spent. */
export async function spendRefreshToken(db: Executor, id: string, at: Date): Promise<void> {
  await db.update(refreshTokens).set({ usedAt: at }).where(eq(refreshTokens.id, id));
}

/** Revokes every live token of a family; returns how many were still live. */
export async function revokeFamily(db: Executor, familyId: string, at: Date): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: at })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

/** Revokes every live token of a user (password change). */
export async function revokeUserTokens(db: Executor, userId: string, at: Date): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: at })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

/** Deletes tokens that expired before `before` (spent ones are kept until then for reuse detection). */
export async function pruneRefreshTokens(db: Executor, before: Date): Promise<number> {
  const rows = await db
    .delete(refreshTokens)
    .where(lt(refreshTokens.expiresAt, before))
    .returning({ id: refreshTokens.id });
  return rows.length;
}
