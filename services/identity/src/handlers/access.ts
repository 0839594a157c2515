/**
 * The access version: what lets the edge stop honouring access tokens before they expire. Every
 * change that must take effect at once (role, password, a revoked session) raises the user's version
 * in the transaction that makes the change and emits UserAccessChanged with it; tokens carry the
 * version they were signed with (`ver`), and the edge refuses lower ones.
 */

import { notFound } from "@mercato/platform/errors";
import type { ServiceHandlers } from "@mercato/platform/grpc";
import type { IdentityService } from "@mercato/sdk/gen/mercato/identity/v1/identity_pb";
import { bumpAccessVersion, type Executor, findUserById } from "../db/users.js";
import { checkUserId } from "../domain/rules.js";
import { type AccessChangeReason, publishUserAccessChanged } from "../events/publishers.js";
import type { HandlerDeps } from "./deps.js";
import { toProtoRole } from "./mapping.js";

/**
 * Raises `userId`'s access version and emits UserAccessChanged, inside the caller's transaction:
 * every access token issued before is refused at the edge once this commits. No-op for a user that
 * does not exist.
 */
export async function revokeAccess(
  tx: Executor,
  deps: HandlerDeps,
  userId: string,
  reason: AccessChangeReason,
): Promise<void> {
  const user = await bumpAccessVersion(tx, userId);
  if (!user) return;
  await publishUserAccessChanged(tx, user, reason, deps.clock());
  deps.logger.info({ userId, accessVersion: user.accessVersion, reason }, "access tokens revoked");
}

/** GetUserAccess: the role and access version a user's tokens must match (INTERNAL: the edge asks). */
export function getUserAccessHandler(
  deps: HandlerDeps,
): ServiceHandlers<typeof IdentityService>["getUserAccess"] {
  return async (request) => {
    // An id that is no user id names nobody: the same answer as a deleted user.
    const valid = checkUserId(request.userId).length === 0;
    const user = valid ? await findUserById(deps.database.db, request.userId) : undefined;
    if (!user) throw notFound("user not found");
    return { role: toProtoRole(user.role), accessVersion: BigInt(user.accessVersion) };
  };
}
