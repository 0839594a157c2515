import { invalidArgument, notFound } from "@mercato/platform/errors";
import type { ServiceHandlers } from "@mercato/platform/grpc";
import type { IdentityService } from "@mercato/sdk/gen/mercato/identity/v2/identity_pb";
import { findUserById, type UserPatch, updateUser } from "../db/users.js";
import {
  canonicalLocale,
  checkAvatarUrl,
  checkBio,
  checkCurrency,
  checkDisplayName,
  checkLocale,
  checkName,
  type Violation,
} from "../domain/rules.js";
import { requireSelfOrAdmin, targetUserId } from "./authorize.js";
import type { HandlerDeps } from "./deps.js";
import { toUserV2 } from "./mapping.js";

/** The mercato.identity.v2.IdentityService handlers: users with profile and preferences, over v1's tables. */
export function createIdentityV2Handlers(deps: HandlerDeps): ServiceHandlers<typeof IdentityService> {
  const { database } = deps;
  return {
    async getUser(request, ctx) {
      const id = targetUserId(request.userId, ctx);
      requireSelfOrAdmin(ctx, id);
      const user = await findUserById(database.db, id);
      if (!user) throw notFound("user not found");
      return { user: toUserV2(user) };
    },

    async updateUser(request, ctx) {
      const id = targetUserId(request.userId, ctx);
      requireSelfOrAdmin(ctx, id);
      const { profile, preferences } = request;
      const violations: Violation[] = [];
      const patch: UserPatch = {};
      if (request.name !== undefined) {
        violations.push(...checkName(request.name));
        patch.name = request.name.trim();
      }
      if (profile?.displayName !== undefined) {
        violations.push(...checkDisplayName(profile.displayName));
        patch.displayName = profile.displayName.trim();
      }
      if (profile?.avatarUrl !== undefined) {
        violations.push(...checkAvatarUrl(profile.avatarUrl));
        patch.avatarUrl = profile.avatarUrl;
      }
      if (profile?.bio !== undefined) {
        violations.push(...checkBio(profile.bio));
        patch.bio = profile.bio;
      }
      if (preferences?.locale !== undefined) {
        violations.push(...checkLocale(preferences.locale));
        patch.locale = preferences.locale === "" ? "" : (canonicalLocale(preferences.locale) ?? "");
      }
      if (preferences?.currency !== undefined) {
        violations.push(...checkCurrency(preferences.currency));
        patch.currency = preferences.currency.toUpperCase();
      }
      if (preferences?.marketingOptIn !== undefined) patch.marketingOptIn = preferences.marketingOptIn;
      if (violations.length > 0) throw invalidArgument(violations);

      const user =
        Object.keys(patch).length === 0
          ? await findUserById(database.db, id)
          : await updateUser(database.db, id, { ...patch, updatedAt: deps.clock() });
      if (!user) throw notFound("user not found");
      return { user: toUserV2(user) };
    },
  };
}
