import { invalidArgument, permissionDenied } from "@mercato/platform/errors";
import type { HandlerContext } from "@mercato/platform/grpc";
import { checkUserId } from "../domain/rules.js";

/**
 * A call without a user is a service inside the mesh (the edge always sets `x-user-id` for an
 * authenticated caller and never forwards INTERNAL methods); it is trusted like an admin for reads,
 * but never to change roles.
 */
function isInternal(ctx: HandlerContext): boolean {
  return ctx.userId === undefined && ctx.role === undefined;
}

/** Whether the caller is an authenticated admin. */
export function isAdmin(ctx: HandlerContext): boolean {
  return ctx.role === "admin";
}

/**
 * The user a request is about: its `user_id`, or the caller when it is empty.
 *
 * @throws INVALID_ARGUMENT when neither names a user, or the id is not a UUID
 */
export function targetUserId(requested: string, ctx: HandlerContext): string {
  const id = requested !== "" ? requested : (ctx.userId ?? "");
  const violations = checkUserId(id);
  if (violations.length > 0) throw invalidArgument(violations);
  return id;
}

/**
 * Re-checks what the edge enforces: a customer may act only on their own account.
 *
 * @throws PERMISSION_DENIED otherwise
 */
export function requireSelfOrAdmin(ctx: HandlerContext, userId: string): void {
  if (isInternal(ctx) || isAdmin(ctx) || ctx.userId === userId) return;
  throw permissionDenied("you may only act on your own account");
}

/**
 * Admin-only RPCs: an authenticated caller must be an admin.
 *
 * @throws PERMISSION_DENIED otherwise
 */
export function requireAdmin(ctx: HandlerContext): void {
  if (isInternal(ctx) || isAdmin(ctx)) return;
  throw permissionDenied("admins only");
}
