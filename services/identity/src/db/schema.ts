import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import type { JWK } from "jose";
import type { UserRole } from "../domain/rules.js";

const timestamptz = () => timestamp({ withTimezone: true, mode: "date" });

/**
 * Accounts. Profile and preference columns belong to the v2 API; v1 ignores them. Emails are stored
 * normalised (trimmed, lower case) so the unique constraint is case-insensitive.
 */
export const users = pgTable(
  "users",
  {
    /** UUIDv7: ordering by id is ordering by creation. */
    id: uuid().primaryKey(),
    email: text().notNull().unique(),
    name: text().notNull(),
    role: text().$type<UserRole>().notNull(),
    /** `scrypt$N$r$p$salt$hash` (see domain/password.ts). */
    passwordHash: text().notNull(),
    displayName: text().notNull().default(""),
    avatarUrl: text().notNull().default(""),
    bio: text().notNull().default(""),
    locale: text().notNull().default(""),
    marketingOptIn: boolean().notNull().default(false),
    currency: text().notNull().default(""),
    /**
     * Grows whenever tokens already issued must stop being honoured before they expire (role or
     * password changed, a session revoked): access tokens carry it as `ver`, the edge refuses lower ones.
     */
    accessVersion: integer().notNull().default(0),
    createdAt: timestamptz().notNull(),
    updatedAt: timestamptz().notNull(),
  },
  (t) => [check("users_role_check", sql`${t.role} in ('customer', 'admin')`)],
);

/**
 * Consecutive failed logins per (normalised) email, whether or not an account has it, so an unknown
 * email is throttled exactly like a known one. Cleared on success; stale rows are pruned.
 */
export const loginFailures = pgTable("login_failures", {
  email: text().primaryKey(),
  failures: integer().notNull(),
  lastFailureAt: timestamptz().notNull(),
});

/**
 * Refresh tokens, stored only as SHA-256 hashes. A login starts a family; each refresh spends its
 * token (`usedAt`) and issues the next one in the same family, never living past the family's
 * absolute end (`familyExpiresAt`). Presenting a spent token revokes the whole family. Deleting a
 * user deletes their tokens.
 */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: uuid().primaryKey(),
    tokenHash: text().notNull().unique(),
    familyId: uuid().notNull(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: timestamptz().notNull(),
    expiresAt: timestamptz().notNull(),
    /** When the family ends, whatever its rotations: its login plus the absolute session lifetime. */
    familyExpiresAt: timestamptz().notNull(),
    usedAt: timestamptz(),
    revokedAt: timestamptz(),
  },
  (t) => [index().on(t.familyId), index().on(t.userId), index().on(t.expiresAt)],
);

/**
 * ES256 signing keys. A key signs from `createdAt` until `rotatesAt` and is published in the JWKS
 * until `expiresAt`; the successor is created (and published) a whole signing period ahead. The
 * private half is stored only sealed under a key-encryption key (`sealedPrivateKey`, AES-256-GCM,
 * `kekId` names the KEK); `privateJwk` is where versions before sealing kept it in the clear, and is
 * sealed and emptied at start-up.
 */
export const signingKeys = pgTable("signing_keys", {
  kid: text().primaryKey(),
  privateJwk: jsonb().$type<JWK>(),
  sealedPrivateKey: text(),
  kekId: text(),
  publicJwk: jsonb().$type<JWK>().notNull(),
  createdAt: timestamptz().notNull(),
  rotatesAt: timestamptz().notNull(),
  expiresAt: timestamptz().notNull(),
});

/** The drizzle schema of identity's own tables. */
export const schema = { users, loginFailures, refreshTokens, signingKeys };
export type IdentitySchema = typeof schema;
