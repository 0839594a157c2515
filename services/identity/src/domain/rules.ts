/** A field problem found while validating a request: the field's name and what is wrong with it. */
export interface Violation {
  readonly field: string;
  readonly description: string;
}

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Normalises an email for storage and lookup: trimmed, lower case. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Problems with an email address, if any. */
export function checkEmail(email: string, field = "email"): Violation[] {
  const value = email.trim();
  if (value === "") return [{ field, description: "must not be empty" }];
  if (value.length > 254 || !emailPattern.test(value))
    return [{ field, description: "must be a valid email address" }];
  return [];
}

/** Problems with a display name, if any. */
export function checkName(name: string, field = "name"): Violation[] {
  const value = name.trim();
  if (value === "") return [{ field, description: "must not be empty" }];
  if (value.length > 200) return [{ field, description: "must be at most 200 characters" }];
  return [];
}

/** The password policy: 10 to 200 characters, not only one kind of character, not the email. */
export function checkPassword(password: string, email: string, field = "password"): Violation[] {
  if (password.length < 10) return [{ field, description: "must be at least 10 characters" }];
  if (password.length > 200) return [{ field, description: "must be at most 200 characters" }];
  if (/^(.)\1*$/.test(password)) return [{ field, description: "must not repeat a single character" }];
  if (password.toLowerCase() === normalizeEmail(email))
    return [{ field, description: "must not be the email address" }];
  return [];
}

/**
 * How long to make a caller wait after `failures` consecutive failed logins for one account:
 * nothing for the first few, then doubling from one second up to a cap. Slows guessing without
 * letting an attacker lock a real user out for long.
 */
export function loginDelayMs(failures: number): number {
  const free = 3;
  if (failures < free) return 0;
  return Math.min(30_000, 1000 * 2 ** (failures - free));
}

/** When a failure streak is forgotten: after this long without a failure, the count starts again. */
export const loginFailureResetMs = 15 * 60_000;

/**
 * Whether a login for an email may be tried now, given its stored failure streak. The delay grows
 * with the streak (see {@link loginDelayMs}) and is counted from the last failure; attempts refused
 * here are not failures themselves, so nobody can keep an account locked for longer than the cap
 * after they stop, and a streak older than {@link loginFailureResetMs} is forgotten.
 *
 * @returns the streak that counts and how long to wait (0 when the attempt may go ahead)
 */
export function loginThrottle(
  streak: { readonly failures: number; readonly lastFailureAt: Date } | undefined,
  now: Date,
): { failures: number; retryAfterMs: number } {
  if (!streak) return { failures: 0, retryAfterMs: 0 };
  const since = now.getTime() - streak.lastFailureAt.getTime();
  if (since >= loginFailureResetMs) return { failures: 0, retryAfterMs: 0 };
  return { failures: streak.failures, retryAfterMs: Math.max(0, loginDelayMs(streak.failures) - since) };
}

/** The two roles. */
export type UserRole = "customer" | "admin";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Problems with a user id (a UUID), if any. */
export function checkUserId(id: string, field = "user_id"): Violation[] {
  if (id === "") return [{ field, description: "must not be empty" }];
  if (!uuidPattern.test(id)) return [{ field, description: "must be a user id (UUID)" }];
  return [];
}

/** Profile text limits. */
export const profileLimits = { displayName: 100, avatarUrl: 2048, bio: 500 } as const;

/** Problems with a display name (empty clears it), if any. */
export function checkDisplayName(value: string, field = "profile.display_name"): Violation[] {
  if (value.trim().length > profileLimits.displayName) {
    return [{ field, description: `must be at most ${profileLimits.displayName} characters` }];
  }
  return [];
}

/** Problems with an avatar URL (empty clears it; otherwise an https URL), if any. */
export function checkAvatarUrl(value: string, field = "profile.avatar_url"): Violation[] {
  if (value === "") return [];
  if (value.length > profileLimits.avatarUrl) {
    return [{ field, description: `must be at most ${profileLimits.avatarUrl} characters` }];
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field, description: "must be an https URL" }];
  }
  if (url.protocol !== "https:") return [{ field, description: "must be an https URL" }];
  return [];
}

/** Problems with a bio, if any. */
export function checkBio(value: string, field = "profile.bio"): Violation[] {
  if (value.length > profileLimits.bio) {
    return [{ field, description: `must be at most ${profileLimits.bio} characters` }];
  }
  return [];
}

/** The canonical form of a BCP 47 language tag ("en-gb" → "en-GB"), or undefined when it is not one. */
export function canonicalLocale(value: string): string | undefined {
  if (value.length > 35) return undefined;
  try {
    return Intl.getCanonicalLocales(value)[0];
  } catch {
    return undefined;
  }
}

/** Problems with a locale (empty resets it), if any. */
export function checkLocale(value: string, field = "preferences.locale"): Violation[] {
  if (value === "" || canonicalLocale(value) !== undefined) return [];
  return [{ field, description: "must be a BCP 47 language tag, for example en-GB" }];
}

const currencies = new Set(Intl.supportedValuesOf("currency"));

/** Problems with a currency code (empty resets it; otherwise ISO 4217, any case), if any. */
export function checkCurrency(value: string, field = "preferences.currency"): Violation[] {
  if (value === "" || currencies.has(value.toUpperCase())) return [];
  return [{ field, description: "must be an ISO 4217 currency code, for example EUR" }];
}

/** Page size bounds of list RPCs. */
export const pageSizes = { default: 50, max: 200 } as const;

/** The page size to use for a requested one: 0 means the default; larger than the maximum is capped. */
export function effectivePageSize(requested: number): number {
  if (requested <= 0) return pageSizes.default;
  return Math.min(requested, pageSizes.max);
}

/** What a ListUsers page token carries: where the last page ended and the filter it was for. */
export interface UserPageCursor {
  /** Id of the last user on the previous page; the next page starts below it (newest first). */
  readonly after: string;
  /** The query the token belongs to. */
  readonly query: string;
}

/** An opaque page token for `cursor`. */
export function encodePageToken(cursor: UserPageCursor): string {
  return Buffer.from(JSON.stringify({ a: cursor.after, q: cursor.query })).toString("base64url");
}

/** The cursor in a page token, or undefined when the token is not one of ours. */
export function decodePageToken(token: string): UserPageCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (typeof value !== "object" || value === null) return undefined;
    const { a, q } = value as { a?: unknown; q?: unknown };
    if (typeof a !== "string" || typeof q !== "string" || checkUserId(a).length > 0) return undefined;
    return { after: a, query: q };
  } catch {
    return undefined;
  }
}
