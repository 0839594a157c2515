/**
 * The edge's Idempotency-Key cache for mutating RPCs of authenticated callers: the first call with a
 * key runs; a repeat with the same key, by the same user, for the same method and request message
 * gets the stored outcome replayed (`idempotent-replayed: true`); a concurrent repeat waits for the
 * first call instead of making its own (single flight); the same key with a different method or
 * message is refused with FAILED_PRECONDITION (HTTP 422).
 *
 * It is an optimisation, not the guarantee: entries live in one replica's memory, bounded in number
 * and age. Across replicas and restarts, exactly-once effects come from the services' own
 * idempotency keys (e.g. PlaceOrder's `idempotency_key`).
 */
import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { metricsRegistry } from "@mercato/platform/metrics";
import { Counter } from "prom-client";
import { EdgeError, fromUpstream } from "./errors.js";
import type { UnaryResponse } from "./grpc-unary.js";

/** What was stored for a key: the upstream's response, or its (definitive) error. */
type Outcome =
  | { readonly ok: true; readonly response: UnaryResponse }
  | { readonly ok: false; readonly error: EdgeError };

interface Entry {
  readonly fingerprint: string;
  expiresAt: number;
  outcome: Outcome | undefined;
  pending: Promise<Outcome> | undefined;
}

export interface IdempotencyOptions {
  /** How long an outcome is replayed. */
  readonly ttlMs: number;
  /** Keys remembered at most (oldest dropped first). */
  readonly maxEntries: number;
  /** Larger responses are not stored (the call still succeeds; a repeat goes upstream again). */
  readonly maxResponseBytes: number;
  readonly now?: () => number;
}

/** Upstream errors that are answers about the request, so a repeat would get the same: stored. */
const definitive = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unauthenticated,
]);

/** A valid Idempotency-Key: 1 to 255 visible ASCII characters. */
const keyPattern = /^[\x21-\x7e]{1,255}$/;

export function checkIdempotencyKey(key: string): string {
  if (!keyPattern.test(key)) {
    throw new EdgeError(Code.InvalidArgument, "Idempotency-Key must be 1 to 255 visible ASCII characters");
  }
  return key;
}

/** The result of a keyed call. */
export interface KeyedResult {
  readonly response: UnaryResponse;
  readonly replayed: boolean;
}

export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: IdempotencyOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `call` once per (user, key); repeats get its outcome. `method` and `body` (the request as
   * sent upstream) must match the first call's. Rejects with the call's EdgeError.
   */
  async run(
    userId: string,
    key: string,
    method: string,
    body: Uint8Array,
    call: () => Promise<UnaryResponse>,
    upstream?: string,
  ): Promise<KeyedResult> {
    const id = `${userId}\n${key}`;
    const fingerprint = createHash("sha256").update(method).update("\n").update(body).digest("base64");
    const now = this.now();
    let entry = this.entries.get(id);
    if (entry !== undefined && entry.expiresAt <= now && entry.pending === undefined) {
      this.entries.delete(id);
      entry = undefined;
    }
    if (entry !== undefined) {
      if (entry.fingerprint !== fingerprint) {
        throw new EdgeError(
          Code.FailedPrecondition,
          "this Idempotency-Key was already used with a different request",
          [],
          422,
        );
      }
      const outcome = entry.outcome ?? (await entry.pending);
      if (outcome === undefined) throw new EdgeError(Code.Internal, "internal error");
      idempotentReplays.inc();
      return this.settle(outcome, true);
    }

    const fresh: Entry = {
      fingerprint,
      expiresAt: now + this.options.ttlMs,
      outcome: undefined,
      pending: undefined,
    };
    fresh.pending = call().then(
      (response): Outcome => ({ ok: true, response }),
      (error: unknown): Outcome => ({ ok: false, error: fromUpstream(error, upstream) }),
    );
    this.entries.set(id, fresh);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    const outcome = await fresh.pending;
    fresh.pending = undefined;
    const keep = outcome.ok
      ? outcome.response.message.length <= this.options.maxResponseBytes
      : definitive.has(outcome.error.code);
    if (keep) {
      fresh.outcome = outcome;
      fresh.expiresAt = this.now() + this.options.ttlMs;
    } else if (this.entries.get(id) === fresh) {
      this.entries.delete(id);
    }
    return this.settle(outcome, false);
  }

  private settle(outcome: Outcome, replayed: boolean): KeyedResult {
    if (outcome.ok) return { response: outcome.response, replayed };
    const { error } = outcome;
    if (!replayed) throw error;
    const details = error.details.flatMap((d) => ("desc" in d ? [] : [d]));
    throw new EdgeError(
      error.code,
      error.rawMessage,
      details,
      error.httpStatus,
      { ...error.headers, "idempotent-replayed": "true" },
      {
        cause: error.cause,
        upstreamMetadata: error.metadata,
        ...(error.upstream ? { upstream: error.upstream } : {}),
      },
    );
  }
}

/** Calls answered from the Idempotency-Key cache. */
export const idempotentReplays: Counter =
  (metricsRegistry.getSingleMetric("mercato_gateway_idempotent_replays_total") as Counter | undefined) ??
  new Counter({
    name: "mercato_gateway_idempotent_replays_total",
    help: "Mutating calls answered from the edge's Idempotency-Key cache instead of going upstream",
    registers: [metricsRegistry],
  });
