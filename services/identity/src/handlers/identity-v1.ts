import { uniqueViolation } from "@mercato/platform/db";
import {
  alreadyExists,
  Code,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  ServiceError,
  unauthenticated,
} from "@mercato/platform/errors";
import type { ServiceHandlers } from "@mercato/platform/grpc";
import type { IdentityService } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { clearLoginFailures } from "../db/login-failures.js";
import {
  findRefreshTokenForUpdate,
  issueRefreshToken,
  revokeFamily,
  revokeUserTokens,
  spendRefreshToken,
} from "../db/refresh-tokens.js";
import {
  deleteUser,
  emailTakenByOther,
  findUserById,
  listUsers,
  lockAdmins,
  otherAdminExists,
  type UserPatch,
  type UserRow,
  updateUser,
} from "../db/users.js";
import { hashPassword } from "../domain/password.js";
import {
  checkEmail,
  checkName,
  checkPassword,
  decodePageToken,
  effectivePageSize,
  encodePageToken,
  normalizeEmail,
  type Violation,
} from "../domain/rules.js";
import { hashRefreshToken } from "../domain/tokens.js";
import { publishUserDeleted } from "../events/publishers.js";
import { getUserAccessHandler, revokeAccess } from "./access.js";
import { accessTokenFor, createAccount, startSession, verifyCredentials } from "./accounts.js";
import { isAdmin, requireAdmin, requireSelfOrAdmin, targetUserId } from "./authorize.js";
import type { HandlerDeps } from "./deps.js";
import { fromProtoRole, toUserV1 } from "./mapping.js";

const invalidRefreshToken = () => unauthenticated("invalid or expired refresh token");

/** Longest email and password a login accepts (longer ones cannot be right; refused before any work). */
const loginInputLimits = { email: 254, password: 1024 } as const;

/** The mercato.identity.v1.IdentityService handlers. */
export function createIdentityV1Handlers(deps: HandlerDeps): ServiceHandlers<typeof IdentityService> {
  const { database, config } = deps;
  const expiresIn = config.accessTokenTtlSeconds;
  const refreshTtlMs = config.refreshTokenTtlSeconds * 1000;
  const familyMaxAgeMs = config.refreshFamilyMaxAgeSeconds * 1000;

  return {
    async register(request) {
      const violations = [
        ...checkEmail(request.email),
        ...checkName(request.name),
        ...checkPassword(request.password, request.email),
      ];
      if (violations.length > 0) throw invalidArgument(violations);
      const user = await createAccount(deps, {
        email: normalizeEmail(request.email),
        name: request.name.trim(),
        password: request.password,
        role: "customer",
      });
      if (!user) throw alreadyExists("an account with this email exists already");
      return { user: toUserV1(user) };
    },

    async login(request) {
      const violations: Violation[] = [];
      if (request.email.length > loginInputLimits.email) {
        violations.push({
          field: "email",
          description: `must be at most ${loginInputLimits.email} characters`,
        });
      }
      if (request.password.length > loginInputLimits.password) {
        violations.push({
          field: "password",
          description: `must be at most ${loginInputLimits.password} characters`,
        });
      }
      if (violations.length > 0) throw invalidArgument(violations);
      const email = normalizeEmail(request.email);
      // The failure (if any) must be committed, so errors are returned out of the transaction, not thrown.
      const result = await database.transaction(async (tx) => {
        const user = await verifyCredentials(tx, deps, email, request.password);
        if (user instanceof ServiceError) return user;
        return { user, session: await startSession(tx, deps, user) };
      });
      if (result instanceof ServiceError) throw result;
      return {
        accessToken: await accessTokenFor(deps, result.user, result.session.familyId),
        refreshToken: result.session.token,
        expiresIn,
      };
    },

    async refreshToken(request) {
      if (request.refreshToken === "") throw invalidRefreshToken();
      const hash = hashRefreshToken(request.refreshToken);
      const outcome = await database.transaction(async (tx) => {
        const now = deps.clock();
        const token = await findRefreshTokenForUpdate(tx, hash);
        if (!token || token.revokedAt !== null || token.expiresAt <= now || token.familyExpiresAt <= now) {
          return { kind: "invalid" } as const;
        }
        if (token.usedAt !== null) {
          // A spent token came back: it was stolen or replayed. Revoke the whole family and every
          // access token of the user (committed); other sessions refresh theirs.
          const revoked = await revokeFamily(tx, token.familyId, now);
          await revokeAccess(tx, deps, token.userId, "session_revoked");
          return { kind: "reused", familyId: token.familyId, userId: token.userId, revoked } as const;
        }
        const user = await findUserById(tx, token.userId);
        if (!user) return { kind: "invalid" } as const;
        await spendRefreshToken(tx, token.id, now);
        const next = await issueRefreshToken(tx, {
          userId: user.id,
          family: { id: token.familyId, expiresAt: token.familyExpiresAt },
          now,
          ttlMs: refreshTtlMs,
          familyMaxAgeMs,
        });
        return { kind: "rotated", user, refreshToken: next } as const;
      });
      if (outcome.kind === "reused") {
        deps.logger.warn(
          { userId: outcome.userId, familyId: outcome.familyId, revoked: outcome.revoked },
          "spent refresh token presented again; token family revoked",
        );
        throw invalidRefreshToken();
      }
      if (outcome.kind === "invalid") throw invalidRefreshToken();
      return {
        accessToken: await accessTokenFor(deps, outcome.user, outcome.refreshToken.familyId),
        refreshToken: outcome.refreshToken.token,
        expiresIn,
      };
    },

    async getUser(request, ctx) {
      const id = targetUserId(request.userId, ctx);
      requireSelfOrAdmin(ctx, id);
      const user = await findUserById(database.db, id);
      if (!user) throw notFound("user not found");
      return { user: toUserV1(user) };
    },

    async listUsers(request, ctx) {
      requireAdmin(ctx);
      const violations: Violation[] = [];
      if (request.pageSize < 0) violations.push({ field: "page_size", description: "must not be negative" });
      const query = request.query.trim();
      if (query.length > 200)
        violations.push({ field: "query", description: "must be at most 200 characters" });
      let after: string | undefined;
      if (request.pageToken !== "") {
        const cursor = decodePageToken(request.pageToken);
        if (!cursor || cursor.query !== query) {
          violations.push({ field: "page_token", description: "is not a page token of this query" });
        } else {
          after = cursor.after;
        }
      }
      if (violations.length > 0) throw invalidArgument(violations);
      const limit = effectivePageSize(request.pageSize);
      const rows = await listUsers(database.db, { after, query, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        users: page.map(toUserV1),
        nextPageToken: rows.length > limit && last ? encodePageToken({ after: last.id, query }) : "",
      };
    },

    async updateUser(request, ctx) {
      const id = targetUserId(request.userId, ctx);
      requireSelfOrAdmin(ctx, id);
      if (request.role !== undefined && !isAdmin(ctx))
        throw permissionDenied("only an admin may change a role");
      const violations: Violation[] = [];
      if (request.name !== undefined) violations.push(...checkName(request.name));
      if (request.email !== undefined) violations.push(...checkEmail(request.email));
      const role = request.role === undefined ? undefined : fromProtoRole(request.role);
      if (request.role !== undefined && role === undefined) {
        violations.push({ field: "role", description: "must be ROLE_CUSTOMER or ROLE_ADMIN" });
      }
      const confirmPassword = request.password !== undefined && !isAdmin(ctx);
      if (confirmPassword && !request.currentPassword) {
        violations.push({ field: "current_password", description: "is required to change the password" });
      }
      if (violations.length > 0) throw invalidArgument(violations);

      const passwordHash = request.password === undefined ? undefined : await hashPassword(request.password);
      let result: UserRow | ServiceError;
      try {
        result = await database.transaction(async (tx): Promise<UserRow | ServiceError> => {
          const now = deps.clock();
          const current = await findUserById(tx, id, { forUpdate: true });
          if (!current) return notFound("user not found");
          const email = request.email === undefined ? current.email : normalizeEmail(request.email);
          if (request.password !== undefined) {
            const weak = checkPassword(request.password, email);
            if (weak.length > 0) return invalidArgument(weak);
          }
          if (email !== current.email && (await emailTakenByOther(tx, email, id))) {
            return alreadyExists("an account with this email exists already");
          }
          if (role === "customer" && current.role === "admin") {
            await lockAdmins(tx);
            if (!(await otherAdminExists(tx, id))) return failedPrecondition("cannot demote the last admin");
          }
          if (confirmPassword) {
            // Same throttle as Login, so this is no side door for guessing passwords.
            const check = await verifyCredentials(tx, deps, current.email, request.currentPassword ?? "");
            if (check instanceof ServiceError) {
              return check.code === Code.UNAUTHENTICATED
                ? permissionDenied("current_password is not the account's password")
                : check;
            }
          }
          const patch: UserPatch = {};
          if (request.name !== undefined && request.name.trim() !== current.name)
            patch.name = request.name.trim();
          if (email !== current.email) patch.email = email;
          if (role !== undefined && role !== current.role) patch.role = role;
          if (passwordHash !== undefined) patch.passwordHash = passwordHash;
          if (Object.keys(patch).length === 0) return current;
          const updated = await updateUser(tx, id, { ...patch, updatedAt: now });
          if (passwordHash !== undefined) {
            // A new password ends every session: other devices must sign in again.
            await revokeUserTokens(tx, id, now);
            await clearLoginFailures(tx, current.email);
          }
          // Tokens issued before a role or password change are refused at the edge from now on.
          if (patch.role !== undefined) await revokeAccess(tx, deps, id, "role_changed");
          else if (passwordHash !== undefined) await revokeAccess(tx, deps, id, "password_changed");
          return updated ?? notFound("user not found");
        });
      } catch (error) {
        if (uniqueViolation(error) !== undefined)
          throw alreadyExists("an account with this email exists already");
        throw error;
      }
      if (result instanceof ServiceError) throw result;
      return { user: toUserV1(result) };
    },

    async deleteUser(request, ctx) {
      const id = targetUserId(request.userId, ctx);
      requireSelfOrAdmin(ctx, id);
      const result = await database.transaction(async (tx): Promise<ServiceError | undefined> => {
        const current = await findUserById(tx, id, { forUpdate: true });
        if (!current) return notFound("user not found");
        if (current.role === "admin") {
          await lockAdmins(tx);
          if (!(await otherAdminExists(tx, id))) return failedPrecondition("cannot delete the last admin");
        }
        // Hard delete: the account, its credentials and (by cascade) its refresh tokens.
        await deleteUser(tx, id);
        await clearLoginFailures(tx, current.email);
        await publishUserDeleted(tx, id, deps.clock());
        return undefined;
      });
      if (result) throw result;
      deps.logger.info({ userId: id }, "user deleted");
      return {};
    },

    getUserAccess: getUserAccessHandler(deps),

    async getJwks() {
      const keys = await deps.keys.publicKeys();
      return {
        keys: keys.map((key) => ({
          kty: key.kty ?? "",
          kid: key.kid ?? "",
          use: "sig",
          alg: key.alg ?? "",
          crv: key.crv ?? "",
          x: key.x ?? "",
          y: key.y ?? "",
          n: key.n ?? "",
          e: key.e ?? "",
        })),
      };
    },
  };
}
