import type { Database } from "@mercato/platform/db";
import type { Logger } from "@mercato/platform/log";
import { asc, lt, sql } from "drizzle-orm";
import type { JWK } from "jose";
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

async function loadKeys(db: Executor): Promise<SigningKey[]> {
  const rows = await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
  return rows.map((row) => ({
    kid: row.kid,
    privateJwk: row.privateJwk,
    publicJwk: row.publicJwk,
    createdAt: row.createdAt,
    rotatesAt: row.rotatesAt,
    expiresAt: row.expiresAt,
  }));
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
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/**
 * identity's signing keys, kept in its database so every replica signs with the same key and
 * publishes the same set. There is always an active key and, published a whole signing period ahead,
 * its successor: when the active key's period ends the successor takes over, and verifiers already
 * have it. Retired keys stay published until the last token they signed has expired.
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
    const { database, policy, logger } = this.options;
    const keys = await database.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('mercato:identity:signing-keys'))`);
      const stored = await loadKeys(tx);
      let { active } = signingState(stored, now);
      if (!active) {
        active = await createSigningKey(now, policy);
        await tx.insert(signingKeys).values(active);
        stored.push(active);
        logger.info({ kid: active.kid, rotatesAt: active.rotatesAt }, "signing key created");
      }
      if (!signingState(stored, now).ready) {
        const successor = await createSigningKey(active.rotatesAt, policy);
        await tx.insert(signingKeys).values(successor);
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
    const keys = await loadKeys(this.options.database.db);
    return publishedKeys(keys, this.clock()).map((key) => key.publicJwk);
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
