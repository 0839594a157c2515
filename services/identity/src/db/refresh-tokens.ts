import { and, eq, isNull, lt } from "drizzle-orm";
import { uuidv7 } from "uuidv7";
import { newRefreshToken } from "../domain/tokens.js";
import { refreshTokens } from "./schema.js";
import type { Executor } from "./users.js";

/** A stored refresh token. */
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;

/** A refresh token just issued: the token for the client (never stored) and its family. */
export interface IssuedRefreshToken {
  readonly token: string;
  readonly familyId: string;
}

/**
 * Issues a refresh token for `userId`: in a new family for a login (which ends `familyMaxAgeMs` after
 * it), or the next one of `family` on rotation. Either way it expires after `ttlMs` of idleness, never
 * later than its family's end. Stores only the token's hash.
 */
export async function issueRefreshToken(
  db: Executor,
  options: {
    userId: string;
    family?: { id: string; expiresAt: Date } | undefined;
    now: Date;
    ttlMs: number;
    familyMaxAgeMs: number;
  },
): Promise<IssuedRefreshToken> {
  const { token, hash } = newRefreshToken();
  const family = options.family ?? {
    id: uuidv7(),
    expiresAt: new Date(options.now.getTime() + options.familyMaxAgeMs),
  };
  const idleEnd = options.now.getTime() + options.ttlMs;
  await db.insert(refreshTokens).values({
    id: uuidv7(),
    tokenHash: hash,
    familyId: family.id,
    userId: options.userId,
    createdAt: options.now,
    expiresAt: new Date(Math.min(idleEnd, family.expiresAt.getTime())),
    familyExpiresAt: family.expiresAt,
  });
  return { token, familyId: family.id };
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
