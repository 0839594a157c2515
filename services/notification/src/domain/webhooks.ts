/** Webhook and request rules. No I/O. */
import type { FieldViolation } from "@mercato/platform/errors";

/** Longest accepted webhook URL. */
export const MAX_URL_LENGTH = 2048;

/**
 * Validates a webhook URL's shape: absolute http(s), no credentials, no fragment. Which schemes and
 * destinations are allowed is the outbound policy's to say (checked by the guarded client).
 */
export function validateWebhookUrl(raw: string): FieldViolation[] {
  if (raw === "") return [{ field: "url", description: "is required" }];
  if (raw.length > MAX_URL_LENGTH) {
    return [{ field: "url", description: `must be at most ${MAX_URL_LENGTH} characters` }];
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [{ field: "url", description: "must be an absolute URL" }];
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return [{ field: "url", description: "must use http or https" }];
  }
  if (url.username !== "" || url.password !== "") {
    return [{ field: "url", description: "must not contain credentials" }];
  }
  if (url.hash !== "") return [{ field: "url", description: "must not contain a fragment" }];
  return [];
}

/** True when `role` (from `x-user-role`) is the admin role. */
export function isAdminRole(role: string | undefined): boolean {
  return role !== undefined && ["admin", "role_admin"].includes(role.toLowerCase());
}

/** Who the caller is, as the handlers see it. */
export interface Caller {
  readonly userId?: string | undefined;
  readonly role?: string | undefined;
}

/** The outcome of {@link resolveOwner}. */
export type OwnerResolution =
  | { readonly ok: true; readonly userId: string }
  | { readonly ok: false; readonly reason: "forbidden" | "missing" };

/**
 * The user a request acts for: `requested`, or the caller when empty. A customer may only name
 * themselves; admins and in-mesh services (no end-user identity) may name anyone.
 */
export function resolveOwner(requested: string, caller: Caller): OwnerResolution {
  const target = requested !== "" ? requested : (caller.userId ?? "");
  if (target === "") return { ok: false, reason: "missing" };
  if (caller.userId !== undefined && !isAdminRole(caller.role) && caller.userId !== target) {
    return { ok: false, reason: "forbidden" };
  }
  return { ok: true, userId: target };
}
