/**
 * Rights that follow changes before tokens expire. An access token carries its user's role and access
 * version (`ver`) as identity signed them; identity raises the version when the role or password
 * changes or a session is revoked, and deletes users outright. The edge keeps what identity last said
 * about each user it serves (role, version, or deleted) and refuses a token that no longer matches:
 *
 * - pushed: identity's UserAccessChanged and UserDeleted events (NATS) update the entry at once;
 * - pulled: an entry older than `ttlMs` is asked again (GetUserAccess) before it is trusted, so a lost
 *   event delays a change by at most `ttlMs`;
 * - bounded: when identity cannot answer, an entry is used until it is `maxStaleMs` old; after that
 *   (or for a user never seen) the call fails UNAVAILABLE rather than trusting the token blindly.
 *
 * So a change takes effect within `maxStaleMs` (30 s by default) in every case, within `ttlMs`
 * (10 s) while identity answers, and within the event's delivery time (well under a second) normally.
 */
import { Code } from "@connectrpc/connect";
import type { Logger } from "@mercato/platform/log";
import { EdgeError } from "./errors.js";

/** A role at the edge. */
export type EdgeRole = "customer" | "admin";

/** What the token says about its user. */
export interface TokenAccess {
  readonly userId: string;
  readonly role: EdgeRole;
  /** The `ver` claim (0 for tokens issued before identity had versions). */
  readonly accessVersion: number;
}

/** What identity says about a user now. */
export type UserAccess =
  | { readonly state: "active"; readonly role: EdgeRole; readonly version: number }
  | { readonly state: "deleted" };

/** Asks identity (GetUserAccess) about a user; rejects when identity cannot answer. */
export type AccessLookup = (userId: string) => Promise<UserAccess>;

/** Options of {@link AccessCheck}. */
export interface AccessCheckOptions {
  readonly lookup: AccessLookup;
  /** How long an answer is trusted before identity is asked again (0: every call asks). */
  readonly ttlMs: number;
  /** How long an answer is still used while identity cannot be asked; older means UNAVAILABLE. */
  readonly maxStaleMs: number;
  /** How long a deleted user is remembered (at least an access token's lifetime; default 1 h). */
  readonly deletedTtlMs?: number;
  /** Users remembered at most (oldest dropped first; default 100 000). */
  readonly maxEntries?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

interface Entry {
  readonly access: UserAccess;
  /** When identity (or its event) last said this. */
  readonly at: number;
}

const refused = () => new EdgeError(Code.Unauthenticated, "invalid or expired access token");
const cannotVerify = () =>
  new EdgeError(Code.Unavailable, "cannot verify access tokens right now, try again later");

/** The edge's view of each user's access: see the module comment. */
export class AccessCheck {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry | undefined>>();
  private readonly now: () => number;
  private readonly deletedTtlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: AccessCheckOptions) {
    this.now = options.now ?? Date.now;
    this.deletedTtlMs = options.deletedTtlMs ?? 3_600_000;
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  /**
   * Stores what was learnt, never going back: a deleted user stays deleted, and a lower access
   * version never replaces a higher one (events and answers may arrive out of order).
   */
  private remember(userId: string, access: UserAccess, at: number): Entry {
    const known = this.entries.get(userId);
    let entry: Entry = { access, at };
    if (known?.access.state === "deleted" && known.at + this.deletedTtlMs > at) entry = known;
    else if (
      known?.access.state === "active" &&
      access.state === "active" &&
      known.access.version > access.version
    ) {
      entry = known;
    }
    this.entries.delete(userId);
    this.entries.set(userId, entry);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return entry;
  }

  /** A DeleteUser through this edge, or identity's UserDeleted event. */
  markDeleted(userId: string): void {
    this.remember(userId, { state: "deleted" }, this.now());
  }

  /** identity's UserAccessChanged event: the user's role and version now. */
  applyChange(userId: string, role: EdgeRole, version: number): void {
    this.remember(userId, { state: "active", role, version }, this.now());
  }

  /** Forgets every live user (events may have been missed): each is asked about again. */
  forgetActive(): void {
    for (const [userId, entry] of this.entries) {
      if (entry.access.state === "active") this.entries.delete(userId);
    }
  }

  private ask(userId: string): Promise<Entry | undefined> {
    let pending = this.inFlight.get(userId);
    if (pending === undefined) {
      const asked = this.now();
      pending = this.options.lookup(userId).then(
        (access) => this.remember(userId, access, asked),
        (error: unknown) => {
          this.options.logger.warn({ err: error }, "cannot ask identity about a token's user");
          return undefined;
        },
      );
      pending.finally(() => this.inFlight.delete(userId)).catch(() => {});
      this.inFlight.set(userId, pending);
    }
    return pending;
  }

  /**
   * Resolves when the token's user exists with the token's role and an access version no higher
   * than the token's; UNAUTHENTICATED when not; UNAVAILABLE when identity cannot say and what the
   * edge knows is older than `maxStaleMs`.
   */
  async check(token: TokenAccess): Promise<void> {
    let entry = this.entries.get(token.userId);
    const now = this.now();
    const fresh =
      entry !== undefined &&
      now - entry.at < (entry.access.state === "deleted" ? this.deletedTtlMs : this.options.ttlMs) &&
      // A token newer than what the edge knows: identity has moved on since; ask.
      !(entry.access.state === "active" && token.accessVersion > entry.access.version);
    if (!fresh) {
      const answered = await this.ask(token.userId);
      if (answered) entry = answered;
      else if (entry === undefined || now - entry.at >= this.options.maxStaleMs) throw cannotVerify();
      else if (entry.access.state === "active" && token.accessVersion > entry.access.version) return;
    }
    const { access } = entry!;
    if (access.state === "deleted") throw refused();
    if (token.accessVersion < access.version || token.role !== access.role) throw refused();
  }
}
