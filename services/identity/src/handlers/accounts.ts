import { quotaExceeded, type ServiceError, unauthenticated } from "@mercato/platform/errors";
import { uuidv7 } from "uuidv7";
import {
  clearLoginFailures,
  findLoginFailures,
  lockLoginAttempts,
  recordLoginFailure,
} from "../db/login-failures.js";
import { type IssuedRefreshToken, issueRefreshToken } from "../db/refresh-tokens.js";
import { type Executor, findUserByEmail, insertUser, type UserRow, updateUser } from "../db/users.js";
import { decoyHash, hashPassword, verifyPassword } from "../domain/password.js";
import { loginThrottle, type UserRole } from "../domain/rules.js";
import { publishUserRegistered } from "../events/publishers.js";
import { revokeAccess } from "./access.js";
import type { HandlerDeps } from "./deps.js";

/** What a new account is made of (already validated and normalised). */
export interface NewAccount {
  readonly email: string;
  readonly name: string;
  readonly password: string;
  readonly role: UserRole;
}

/**
 * Creates an account and enqueues UserRegistered in the same transaction.
 *
 * @returns the user, or undefined when the email is taken (nothing written)
 */
export async function createAccount(deps: HandlerDeps, account: NewAccount): Promise<UserRow | undefined> {
  const passwordHash = await hashPassword(account.password);
  const now = deps.clock();
  return deps.database.transaction(async (tx) => {
    const user = await insertUser(tx, {
      id: uuidv7(),
      email: account.email,
      name: account.name,
      role: account.role,
      passwordHash,
      createdAt: now,
      updatedAt: now,
    });
    if (user) await publishUserRegistered(tx, user);
    return user;
  });
}

/** The one answer for an unknown email and a wrong password. */
export const badCredentials = (): ServiceError => unauthenticated("invalid email or password");

function throttled(retryAfterMs: number): ServiceError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return quotaExceeded(`too many failed sign-in attempts; try again in ${seconds} s`, seconds);
}

/**
 * Checks an email and password inside the caller's transaction, with the per-email throttle: attempts
 * for one email run one at a time; while the delay earned by earlier failures has not passed, the
 * attempt is refused with RESOURCE_EXHAUSTED (and `retry-after`) without looking at the password; a
 * failure is recorded whether or not the email exists, and an unknown email is verified against a
 * decoy hash, so both cost the same and answer the same.
 *
 * @returns the user, when the password is right (the failure streak is then cleared)
 * @throws UNAUTHENTICATED for wrong credentials, RESOURCE_EXHAUSTED while throttled
 */
export async function verifyCredentials(
  tx: Executor,
  deps: HandlerDeps,
  email: string,
  password: string,
): Promise<UserRow | ServiceError> {
  await lockLoginAttempts(tx, email);
  const now = deps.clock();
  const streak = loginThrottle(await findLoginFailures(tx, email), now);
  if (streak.retryAfterMs > 0) return throttled(streak.retryAfterMs);
  const user = await findUserByEmail(tx, email);
  const matches = await verifyPassword(password, user?.passwordHash ?? (await decoyHash));
  if (!user || !matches) {
    // The delay counts from when the failure is answered, not from when the attempt began.
    await recordLoginFailure(tx, email, streak.failures, deps.clock());
    return badCredentials();
  }
  await clearLoginFailures(tx, email);
  return user;
}

/** A signed access token for `user` in session `sessionId` (its refresh-token family). */
export function accessTokenFor(deps: HandlerDeps, user: UserRow, sessionId?: string): Promise<string> {
  return deps.keys.sign({
    userId: user.id,
    role: user.role,
    email: user.email,
    accessVersion: user.accessVersion,
    ...(sessionId !== undefined ? { sessionId } : {}),
  });
}

/** Starts a refresh-token family for `user` (a login). */
export function startSession(tx: Executor, deps: HandlerDeps, user: UserRow): Promise<IssuedRefreshToken> {
  return issueRefreshToken(tx, {
    userId: user.id,
    now: deps.clock(),
    ttlMs: deps.config.refreshTokenTtlSeconds * 1000,
    familyMaxAgeMs: deps.config.refreshFamilyMaxAgeSeconds * 1000,
  });
}

/**
 * Ensures the configured admin exists with the admin role: creates it (emitting UserRegistered) when
 * missing, promotes it when it exists as a customer, and otherwise leaves it alone (its password may
 * have been changed since). Idempotent and safe when several replicas start at once.
 */
export async function ensureConfiguredAdmin(deps: HandlerDeps): Promise<void> {
  const { adminEmail, adminPassword } = deps.config;
  if (adminEmail === undefined || adminPassword === undefined) return;
  const created = await createAccount(deps, {
    email: adminEmail,
    name: "Administrator",
    password: adminPassword,
    role: "admin",
  });
  if (created) {
    deps.logger.info({ userId: created.id, email: adminEmail }, "configured admin created");
    return;
  }
  const promoted = await deps.database.transaction(async (tx) => {
    const existing = await findUserByEmail(tx, adminEmail);
    if (!existing || existing.role === "admin") return undefined;
    const updated = await updateUser(tx, existing.id, { role: "admin", updatedAt: deps.clock() });
    await revokeAccess(tx, deps, existing.id, "role_changed");
    return updated;
  });
  if (promoted) deps.logger.info({ userId: promoted.id, email: adminEmail }, "configured admin promoted");
}
