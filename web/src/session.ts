/**
 * The signed-in shopper: tokens from identity kept in localStorage, the access token's claims, and
 * refreshing before it expires (refresh tokens rotate: each one is used once).
 */

/** Who is signed in, from the access token's claims. */
export interface SessionUser {
  readonly id: string;
  readonly email: string;
  readonly role: string;
}

/** The stored session. */
export interface Session {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the access token expires, in ms since the epoch. */
  readonly expiresAt: number;
  readonly user: SessionUser;
}

/** Tokens as Login and RefreshToken return them. */
export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
}

export const sessionKey = "mercato.session";

function base64UrlDecode(text: string): string {
  const padded = text
    .replace(/-/g, "+")
    .replace(/_/g, "/")
    .padEnd(Math.ceil(text.length / 4) * 4, "=");
  return new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
}

/**
 * The claims the app needs from an access token. The signature is not checked here: the edge does
 * that on every call; the browser only uses the claims to decide what to show.
 */
export function userOfToken(accessToken: string): SessionUser {
  const payload = accessToken.split(".")[1];
  if (payload === undefined) throw new Error("not a JWT");
  const claims = JSON.parse(base64UrlDecode(payload)) as Record<string, unknown>;
  return {
    id: String(claims.sub ?? ""),
    email: String(claims.email ?? ""),
    role: String(claims.role ?? "customer"),
  };
}

/** A session from freshly issued tokens. */
export function sessionOf(tokens: TokenPair, now = Date.now()): Session {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: now + tokens.expiresIn * 1000,
    user: userOfToken(tokens.accessToken),
  };
}

/** Whether the access token should be refreshed before the next call (30 s of margin). */
export function needsRefresh(session: Session, now = Date.now()): boolean {
  return session.expiresAt - now < 30_000;
}

/** Reads the stored session, if any. */
export function loadSession(storage: Pick<Storage, "getItem">): Session | undefined {
  try {
    const parsed = JSON.parse(storage.getItem(sessionKey) ?? "null") as Session | null;
    if (parsed && typeof parsed.accessToken === "string" && typeof parsed.refreshToken === "string") {
      return { ...parsed, user: userOfToken(parsed.accessToken) };
    }
  } catch {
    // unreadable: signed out
  }
  return undefined;
}

/** Stores the session, or forgets it. */
export function saveSession(storage: Pick<Storage, "setItem" | "removeItem">, session: Session | undefined) {
  if (session === undefined) storage.removeItem(sessionKey);
  else storage.setItem(sessionKey, JSON.stringify(session));
}
