import { createHash, randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** The one signing algorithm identity uses; verifiers pin it. */
export const signingAlgorithm = "ES256";

/**
 * A signing key as identity holds it in memory: the private half never leaves identity, and is stored
 * only sealed under a key-encryption key (see kek.ts).
 */
export interface SigningKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
  readonly createdAt: Date;
  /** After this instant the key no longer signs; it stays in the JWKS until `expiresAt`. */
  readonly rotatesAt: Date;
  /** After this instant no token signed by the key can still be valid; it leaves the JWKS. */
  readonly expiresAt: Date;
}

/** Timing of key rotation. */
export interface RotationPolicy {
  /** How long a key signs before a new one takes over. */
  readonly signingPeriodMs: number;
  /** Lifetime of access tokens; a retired key is published at least this long after its last signature. */
  readonly accessTokenTtlMs: number;
}

/** Creates a new ES256 key pair with a fresh kid, timed by the policy. */
export async function createSigningKey(now: Date, policy: RotationPolicy): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(signingAlgorithm, { extractable: true });
  const kid = randomBytes(12).toString("base64url");
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: signingAlgorithm, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: signingAlgorithm };
  const rotatesAt = new Date(now.getTime() + policy.signingPeriodMs);
  // Overlap: tokens signed just before rotation stay verifiable until they expire, plus clock slack.
  const expiresAt = new Date(rotatesAt.getTime() + policy.accessTokenTtlMs + 60_000);
  return { kid, privateJwk, publicJwk, createdAt: now, rotatesAt, expiresAt };
}

/** The key that should sign now: the newest one still inside its signing period. */
export function activeKey(keys: readonly SigningKey[], now: Date): SigningKey | undefined {
  return keys
    .filter((key) => key.createdAt <= now && now < key.rotatesAt)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** Keys whose tokens may still be valid: what the JWKS publishes. */
export function publishedKeys<K extends Pick<SigningKey, "expiresAt">>(keys: readonly K[], now: Date): K[] {
  return keys.filter((key) => now < key.expiresAt);
}

/** Claims identity puts in an access token. */
export interface AccessClaims {
  readonly userId: string;
  readonly role: "customer" | "admin";
  readonly email: string;
  /** The user's access version (`ver`): the edge refuses tokens below the current one. */
  readonly accessVersion: number;
  /** The refresh-token family the token belongs to (`sid`), when it came from a session. */
  readonly sessionId?: string;
}

/** Issuer and audience stamped on tokens and pinned by verifiers. */
export interface TokenAudience {
  readonly issuer: string;
  readonly audience: string;
}

/** Signs an access token with `key`: sub, role, email, ver, sid, iss, aud, iat, exp, jti and the key's kid. */
export async function signAccessToken(
  key: SigningKey,
  claims: AccessClaims,
  audience: TokenAudience,
  now: Date,
  ttlMs: number,
): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, signingAlgorithm);
  const issuedAt = Math.floor(now.getTime() / 1000);
  return new SignJWT({
    role: claims.role,
    email: claims.email,
    ver: claims.accessVersion,
    ...(claims.sessionId !== undefined ? { sid: claims.sessionId } : {}),
  })
    .setProtectedHeader({ alg: signingAlgorithm, kid: key.kid, typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuer(audience.issuer)
    .setAudience(audience.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + Math.floor(ttlMs / 1000))
    .setJti(randomBytes(12).toString("base64url"))
    .sign(privateKey);
}

/** A new opaque refresh token. Only its hash is stored, so a database leak yields no usable tokens. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashRefreshToken(token) };
}

/** The stored form of a refresh token. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}
