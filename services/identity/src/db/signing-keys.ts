import type { Database } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import { asc, eq, lt, sql } from "drizzle-orm";
import type { JWK } from "jose";
import { type Kek, type KekRing, openPrivateKey, sealPrivateKey } from "../domain/kek.js";
import {
  type AccessClaims,
  activeKey,
  createSigningKey,
  publishedKeys,
  type RotationPolicy,
  type SigningKey,
  signAccessToken,
  type TokenAudience,
} from "../domain/tokens.js";
import { type IdentitySchema, signingKeys } from "./schema.js";
import type { Executor } from "./users.js";

/** A stored key row, private half still sealed (or, before sealing, in the clear). */
type KeyRow = typeof signingKeys.$inferSelect;

/** Opens a row's private key with the KEK it names. */
function openRow(row: KeyRow, keks: KekRing): SigningKey {
  let privateJwk: JWK;
  if (row.sealedPrivateKey !== null) {
    const kek = keks.byId.get(row.kekId ?? "");
    if (!kek) {
      throw new Error(
        `signing key ${row.kid} is sealed with KEK "${row.kekId}", which is neither IDENTITY_KEK nor in IDENTITY_PREVIOUS_KEKS`,
      );
    }
    privateJwk = openPrivateKey(row.sealedPrivateKey, row.kid, kek);
  } else if (row.privateJwk !== null) {
    privateJwk = row.privateJwk;
  } else {
    throw new Error(`signing key ${row.kid} has no private key`);
  }
  return {
    kid: row.kid,
    privateJwk,
    publicJwk: row.publicJwk,
    createdAt: row.createdAt,
    rotatesAt: row.rotatesAt,
    expiresAt: row.expiresAt,
  };
}

/** The stored form of a new key: only the sealed private half. */
function sealedRow(key: SigningKey, kek: Kek) {
  return {
    kid: key.kid,
    privateJwk: null,
    sealedPrivateKey: sealPrivateKey(key.privateJwk, key.kid, kek),
    kekId: kek.id,
    publicJwk: key.publicJwk,
    createdAt: key.createdAt,
    rotatesAt: key.rotatesAt,
    expiresAt: key.expiresAt,
  };
}

/**
 * Seals every row not yet sealed under the current KEK: rows written in the clear (before sealing
 * existed) and rows sealed under a previous KEK (KEK rotation). A retired key (it signs no more) whose
 * KEK is gone is left as it is: only its public half is still used. Returns how many were sealed.
 */
async function resealStale(
  db: Executor,
  rows: readonly KeyRow[],
  keks: KekRing,
  now: Date,
  logger: Logger,
): Promise<number> {
  let sealed = 0;
  for (const row of rows) {
    if (row.sealedPrivateKey !== null && row.kekId === keks.current.id && row.privateJwk === null) continue;
    let key: SigningKey;
    try {
      key = openRow(row, keks);
    } catch (error) {
      if (row.rotatesAt > now) throw error;
      logger.warn({ kid: row.kid, kekId: row.kekId }, "retired signing key not re-sealed: its KEK is gone");
      continue;
    }
    const { sealedPrivateKey, kekId } = sealedRow(key, keks.current);
    await db
      .update(signingKeys)
      .set({ sealedPrivateKey, kekId, privateJwk: null })
      .where(eq(signingKeys.kid, row.kid));
    sealed++;
  }
  return sealed;
}

async function loadRows(db: Executor): Promise<KeyRow[]> {
  return db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
}

/** The key signing at `now` and whether its successor already exists (and is therefore published). */
function signingState(keys: readonly SigningKey[], now: Date) {
  const active = activeKey(keys, now);
  const successor = active && keys.some((key) => key.createdAt >= active.rotatesAt && now < key.rotatesAt);
  return { active, ready: active !== undefined && successor === true };
}

/** Options for {@link KeyRing}. */
export interface KeyRingOptions {
  readonly database: Database<IdentitySchema>;
  readonly policy: RotationPolicy;
  readonly audience: TokenAudience;
  /** The KEK that seals new keys and those that open stored ones. */
  readonly keks: KekRing;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/**
 * identity's signing keys, kept in its database so every replica signs with the same key and
 * publishes the same set. There is always an active key and, published a whole signing period ahead,
 * its successor: when the active key's period ends the successor takes over, and verifiers already
 * have it. Retired keys stay published until the last token they signed has expired. Private halves
 * are stored sealed under the current KEK (rows under an older KEK, or in the clear, are re-sealed by
 * {@link KeyRing.ensure}); only this process's memory holds them open.
 */
export class KeyRing {
  private keys: SigningKey[] = [];
  private readonly clock: () => Date;

  constructor(private readonly options: KeyRingOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * Makes sure an active key and its successor exist (creating them under a lock, so replicas agree)
   * and refreshes the cached keys. Called at start-up, by the rotation timer, and when signing finds
   * the cache without an active key or successor.
   *
   * @returns the active key
   */
  async ensure(now: Date = this.clock()): Promise<SigningKey> {
    const { database, policy, logger, keks } = this.options;
    const keys = await database.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('mercato:identity:signing-keys'))`);
      const rows = await loadRows(tx);
      const resealed = await resealStale(tx, rows, keks, now, logger);
      if (resealed > 0) {
        logger.info({ resealed, kekId: keks.current.id }, "signing keys sealed under the current KEK");
      }
      // Only keys that may still sign are opened; retired ones are published from their public half.
      const stored = rows.filter((row) => now < row.rotatesAt).map((row) => openRow(row, keks));
      let { active } = signingState(stored, now);
      if (!active) {
        active = await createSigningKey(now, policy);
        await tx.insert(signingKeys).values(sealedRow(active, keks.current));
        stored.push(active);
        logger.info({ kid: active.kid, rotatesAt: active.rotatesAt }, "signing key created");
      }
      if (!signingState(stored, now).ready) {
        const successor = await createSigningKey(active.rotatesAt, policy);
        await tx.insert(signingKeys).values(sealedRow(successor, keks.current));
        stored.push(successor);
        logger.info({ kid: successor.kid, signsFrom: successor.createdAt }, "next signing key published");
      }
      return stored;
    });
    this.keys = keys;
    return activeKey(keys, now)!;
  }

  /** Signs an access token with the active key, rotating first when its period is over. */
  async sign(claims: AccessClaims): Promise<string> {
    const now = this.clock();
    const state = signingState(this.keys, now);
    const key = state.ready && state.active ? state.active : await this.ensure(now);
    return signAccessToken(key, claims, this.options.audience, now, this.options.policy.accessTokenTtlMs);
  }

  /** The public keys verifiers should accept now, read from the database (another replica may have rotated). */
  async publicKeys(): Promise<JWK[]> {
    // Only public columns are read: publishing needs no KEK.
    const rows = await this.options.database.db
      .select({ publicJwk: signingKeys.publicJwk, expiresAt: signingKeys.expiresAt })
      .from(signingKeys)
      .orderBy(asc(signingKeys.createdAt));
    return publishedKeys(rows, this.clock()).map((row) => row.publicJwk);
  }

  /** Deletes keys that are no longer published (no token they signed can still be valid). */
  async prune(now: Date = this.clock()): Promise<number> {
    const rows = await this.options.database.db
      .delete(signingKeys)
      .where(lt(signingKeys.expiresAt, now))
      .returning({ kid: signingKeys.kid });
    return rows.length;
  }
}
