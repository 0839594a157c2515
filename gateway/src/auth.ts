/**
 * Authentication and authorization at the edge: identity's JWKS (fetched over gRPC, cached, refreshed
 * on an unknown kid with a cooldown), JWT verification with jose (pinned algorithm, issuer, audience,
 * small clock tolerance; verified tokens cached until they expire), the access check of access.ts
 * (deleted users, changed roles, revoked sessions), the access rule of each route and the owner-field
 * rule.
 */

import type { Message } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Logger } from "@mercato/platform/log";
import { type CryptoKey, importJWK, type JWK, type JWTHeaderParameters, jwtVerify } from "jose";
import type { AccessCheck } from "./access.js";
import { EdgeError } from "./errors.js";
import { Access, type Route } from "./routes.js";

/** The only algorithm accepted (identity signs with ES256). */
export const pinnedAlgorithms = ["ES256"] as const;

/** The authenticated caller. */
export interface Caller {
  readonly userId: string;
  readonly role: "customer" | "admin";
  /** The token's access version (`ver`; 0 when absent): see access.ts. */
  readonly accessVersion: number;
  /** The token's session (`sid`: its refresh-token family), when it has one. */
  readonly sessionId?: string;
}

/** Fetches identity's current JWKS. */
export type JwksFetcher = () => Promise<readonly JWK[]>;

export interface KeyStoreOptions {
  readonly fetch: JwksFetcher;
  readonly logger: Logger;
  /** Background refresh period (default 5 min). */
  readonly refreshIntervalMs?: number;
  /** An unknown kid triggers at most one refresh per this period (default 30 s). */
  readonly unknownKidCooldownMs?: number;
  /** Refreshes triggered by unknown kids are at least this far apart, whatever the kid (default 1 s). */
  readonly minRefreshGapMs?: number;
}

const unavailable = () =>
  new EdgeError(Code.Unavailable, "cannot verify access tokens right now, try again later");

/**
 * identity's public keys: the published JWKS document and the verification keys imported from it
 * (only keys of the pinned algorithm). Refreshes are deduplicated: concurrent triggers share one call.
 */
export class KeyStore {
  private keys = new Map<string, CryptoKey>();
  private document: { keys: JWK[] } | undefined;
  private inFlight: Promise<void> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private readonly kidAttempts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly refreshIntervalMs: number;
  private readonly unknownKidCooldownMs: number;
  private readonly minRefreshGapMs: number;
  /** Called after a refresh that removed a key (cached verifications must be dropped). */
  onKeysRemoved: (() => void) | undefined;

  constructor(private readonly options: KeyStoreOptions) {
    this.refreshIntervalMs = options.refreshIntervalMs ?? 300_000;
    this.unknownKidCooldownMs = options.unknownKidCooldownMs ?? 30_000;
    this.minRefreshGapMs = options.minRefreshGapMs ?? 1_000;
  }

  /** The JWKS document to publish, once loaded. */
  get jwks(): { keys: JWK[] } | undefined {
    return this.document;
  }

  /** Loads the keys now and then periodically; failures are retried with backoff, keeping cached keys. */
  start(): void {
    void this.loop(0);
  }

  private async loop(failures: number): Promise<void> {
    if (this.stopped) return;
    let delay = this.refreshIntervalMs;
    try {
      await this.refresh();
      failures = 0;
    } catch (error) {
      failures++;
      delay = Math.min(this.document ? this.refreshIntervalMs : 30_000, 250 * 2 ** failures);
      this.options.logger.warn(
        { err: error, retryInMs: delay },
        this.document ? "JWKS refresh failed; keeping the cached keys" : "cannot load identity's JWKS yet",
      );
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.loop(failures), delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Fetches the JWKS now (concurrent callers share one fetch). Rejects when identity cannot be reached. */
  refresh(): Promise<void> {
    this.inFlight ??= (async () => {
      this.lastAttemptAt = Date.now();
      try {
        const jwks = await this.options.fetch();
        const keys = new Map<string, CryptoKey>();
        for (const jwk of jwks) {
          if (!jwk.kid || !(pinnedAlgorithms as readonly string[]).includes(jwk.alg ?? "")) continue;
          try {
            keys.set(jwk.kid, (await importJWK(jwk, jwk.alg)) as CryptoKey);
          } catch (error) {
            this.options.logger.warn({ err: error, kid: jwk.kid }, "skipping an unusable JWK");
          }
        }
        const removed = [...this.keys.keys()].some((kid) => !keys.has(kid));
        this.keys = keys;
        this.document = { keys: jwks.map((k) => ({ ...k })) };
        this.options.logger.debug({ kids: [...keys.keys()] }, "JWKS loaded");
        if (removed) this.onKeysRemoved?.();
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /**
   * The verification key for `kid`. An unknown kid triggers a refresh, at most once per cooldown per
   * kid and never closer than the minimum gap to the previous one; undefined when it stays unknown.
   * Throws UNAVAILABLE when the keys were never loaded and identity cannot be reached.
   */
  async resolve(kid: string): Promise<CryptoKey | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    const now = Date.now();
    if (this.document === undefined) {
      // Never loaded: every token needs the keys, but identity is not hammered while it is down.
      if (this.inFlight === undefined && now - this.lastAttemptAt < this.minRefreshGapMs) throw unavailable();
      try {
        await this.refresh();
      } catch {
        throw unavailable();
      }
      return this.keys.get(kid);
    }
    const last = this.kidAttempts.get(kid);
    if (last !== undefined && now - last < this.unknownKidCooldownMs) return undefined;
    if (this.inFlight === undefined && now - this.lastAttemptAt < this.minRefreshGapMs) return undefined;
    if (this.kidAttempts.size >= 10_000) this.kidAttempts.clear();
    this.kidAttempts.set(kid, now);
    try {
      await this.refresh();
    } catch (error) {
      this.options.logger.warn({ err: error, kid }, "JWKS refresh for an unknown kid failed");
      return undefined;
    }
    return this.keys.get(kid);
  }
}

/** What the edge tells the access check about a deletion it served (see access.ts). */
export type UserCheck = Pick<AccessCheck, "markDeleted">;

export interface VerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly clockToleranceSec: number;
  /** Verified tokens remembered (default 10 000). */
  readonly cacheSize?: number;
  /**
   * Refuses tokens whose user was deleted, or whose role or access version identity has changed
   * since (after the signature and claims are checked).
   */
  readonly access?: AccessCheck;
}

const invalidToken = () => new EdgeError(Code.Unauthenticated, "invalid or expired access token");

/** Verifies access tokens; a verified token is remembered until it expires, so repeat calls cost a lookup. */
export class TokenVerifier {
  private readonly cache = new Map<string, { caller: Caller; validUntil: number }>();
  private readonly cacheSize: number;

  constructor(
    private readonly keys: KeyStore,
    private readonly options: VerifierOptions,
  ) {
    this.cacheSize = options.cacheSize ?? 10_000;
    keys.onKeysRemoved = () => this.cache.clear();
  }

  private readonly getKey = async (header: JWTHeaderParameters): Promise<CryptoKey> => {
    if (typeof header.kid !== "string" || header.kid === "") throw invalidToken();
    const key = await this.keys.resolve(header.kid);
    if (!key) throw invalidToken();
    return key;
  };

  /**
   * The caller of a token: signature, algorithm, claims, and (when configured) that its user still
   * exists with the token's role and access version.
   */
  async verify(token: string): Promise<Caller> {
    const caller = await this.verifySignature(token);
    await this.options.access?.check(caller);
    return caller;
  }

  private async verifySignature(token: string): Promise<Caller> {
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (cached.validUntil > Date.now()) return cached.caller;
      this.cache.delete(token);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: [...pinnedAlgorithms],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSec,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      if (error instanceof EdgeError) throw error;
      throw invalidToken();
    }
    const { sub, role, exp, ver, sid } = payload;
    if (typeof sub !== "string" || sub === "" || (role !== "customer" && role !== "admin"))
      throw invalidToken();
    if (ver !== undefined && !(Number.isSafeInteger(ver) && (ver as number) >= 0)) throw invalidToken();
    const caller: Caller = {
      userId: sub,
      role,
      accessVersion: (ver as number | undefined) ?? 0,
      ...(typeof sid === "string" && sid !== "" ? { sessionId: sid } : {}),
    };
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, { caller, validUntil: ((exp as number) + this.options.clockToleranceSec) * 1000 });
    return caller;
  }
}

/** The bearer token of an `authorization` header; undefined when absent. A malformed header is UNAUTHENTICATED. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization === "") return undefined;
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw new EdgeError(Code.Unauthenticated, "authorization must be a Bearer token");
  return match[1];
}

/**
 * Applies a route's access rule: PUBLIC verifies a token only when one is present; AUTHENTICATED
 * needs a valid token; ADMIN needs the admin role. Returns the caller, if any.
 */
export async function authenticate(
  route: Route,
  authorization: string | undefined,
  verifier: TokenVerifier,
): Promise<Caller | undefined> {
  const token = bearerToken(authorization);
  const caller = token === undefined ? undefined : await verifier.verify(token);
  if (route.access === Access.PUBLIC) return caller;
  if (caller === undefined) throw new EdgeError(Code.Unauthenticated, "authentication required");
  if (route.access === Access.ADMIN && caller.role !== "admin") {
    throw new EdgeError(Code.PermissionDenied, "this operation requires the admin role");
  }
  return caller;
}

/**
 * The owner rule: a non-admin may only name their own user id in the owner field; an empty owner
 * field is filled with the caller's id. Returns true when the message was changed.
 */
export function enforceOwner(route: Route, message: Message, caller: Caller | undefined): boolean {
  const field = route.ownerField;
  if (field === undefined) return false;
  if (caller === undefined) throw new EdgeError(Code.Unauthenticated, "authentication required");
  const record = message as unknown as Record<string, unknown>;
  const value = record[field.localName];
  if (value === "" || value === undefined) {
    record[field.localName] = caller.userId;
    return true;
  }
  if (value !== caller.userId && caller.role !== "admin") {
    throw new EdgeError(Code.PermissionDenied, `${field.name} must be your own user id`);
  }
  return false;
}
