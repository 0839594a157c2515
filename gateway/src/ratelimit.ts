/**
 * Rate limiting at the edge: one token bucket per (class, caller), where the caller is the user for
 * authenticated calls and the client address for anonymous ones. Each RPC's class comes from its
 * `(mercato.common.v1.edge).rate_limit` option; each class's budget from the configuration.
 *
 * Several replicas: every replica keeps its own buckets and enforces `limit / GATEWAY_REPLICAS`
 * (burst and refill alike), so the replicas together admit about the configured limit without a
 * shared store. See docs/decisions.md.
 *
 * Memory is bounded: buckets live in an insertion-ordered map used as an LRU (a bucket is moved to
 * the end on every use, the oldest goes when the map is full), and buckets that have refilled
 * completely are swept, since a full bucket is the same as no bucket.
 */
import { isIPv4, isIPv6 } from "node:net";
import { metricsRegistry } from "@mercato/platform/metrics";
import { Counter } from "prom-client";

export const rateClasses = ["strict", "default", "loose"] as const;
export type RateClass = (typeof rateClasses)[number];

/** `limit` calls per `windowSec` seconds: the bucket holds `limit` tokens and refills over the window. */
export interface RateBudget {
  readonly limit: number;
  readonly windowSec: number;
}

/** The outcome of one call's admission, with what the RateLimit-* headers say. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Bucket size this replica enforces. */
  readonly limit: number;
  /** Whole tokens left after this call. */
  readonly remaining: number;
  /** Seconds until the bucket is full again. */
  readonly resetSec: number;
  /** Seconds until the next call would be admitted (0 when allowed). */
  readonly retryAfterSec: number;
}

export interface RateLimiterOptions {
  readonly budgets: Readonly<Record<RateClass, RateBudget>>;
  /** Gateway replicas sharing the budget (each enforces 1/replicas of it). */
  readonly replicas: number;
  /** Buckets remembered at most (least recently used ones are dropped first). */
  readonly maxKeys: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface ClassState {
  readonly capacity: number;
  /** Tokens per millisecond. */
  readonly rate: number;
}

/** Parses a budget such as `20/1m`, `600/60s`, `5000/1h` or `10/30` (seconds). */
export function parseBudget(raw: string): RateBudget {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*(s|m|h)?\s*$/.exec(raw);
  if (!match) throw new Error(`must look like 20/1m (calls per window), got "${raw}"`);
  const limit = Number(match[1]);
  const unit = match[3] === "h" ? 3600 : match[3] === "m" ? 60 : 1;
  const windowSec = Number(match[2]) * unit;
  if (limit < 1 || windowSec < 1) throw new Error(`needs at least 1 call per at least 1 s, got "${raw}"`);
  return { limit, windowSec };
}

/** Token buckets per (class, key). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly classes: Readonly<Record<RateClass, ClassState>>;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: RateLimiterOptions) {
    const replicas = Math.max(1, options.replicas);
    const state = (budget: RateBudget): ClassState => ({
      capacity: Math.max(1, Math.floor(budget.limit / replicas)),
      rate: budget.limit / replicas / (budget.windowSec * 1000),
    });
    this.classes = {
      strict: state(options.budgets.strict),
      default: state(options.budgets.default),
      loose: state(options.budgets.loose),
    };
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /** Buckets currently held. */
  get size(): number {
    return this.buckets.size;
  }

  /** The bucket size this replica enforces for a class. */
  capacityOf(rateClass: RateClass): number {
    return this.classes[rateClass].capacity;
  }

  /** Takes one token from the (class, key) bucket if there is one. */
  take(rateClass: RateClass, key: string): RateDecision {
    const { capacity, rate } = this.classes[rateClass];
    const now = this.now();
    const id = `${rateClass}|${key}`;
    const bucket = this.buckets.get(id);
    let tokens = capacity;
    if (bucket !== undefined) {
      tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * rate);
      this.buckets.delete(id); // re-inserted below: most recently used last
    }
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    this.buckets.set(id, { tokens, at: now });
    if (this.buckets.size > this.options.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (now - this.lastSweep > 60_000) this.sweep(now);
    return {
      allowed,
      limit: capacity,
      remaining: Math.floor(tokens),
      resetSec: Math.ceil((capacity - tokens) / rate / 1000),
      retryAfterSec: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rate / 1000)),
    };
  }

  /** Drops buckets that have refilled completely (they hold no information). */
  sweep(now = this.now()): void {
    this.lastSweep = now;
    for (const [id, bucket] of this.buckets) {
      const rateClass = id.slice(0, id.indexOf("|")) as RateClass;
      const { capacity, rate } = this.classes[rateClass];
      if (bucket.tokens + (now - bucket.at) * rate >= capacity) this.buckets.delete(id);
    }
  }
}

/** The RateLimit-* response headers of a decision (and Retry-After when refused). */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    "ratelimit-limit": String(decision.limit),
    "ratelimit-remaining": String(decision.remaining),
    "ratelimit-reset": String(decision.resetSec),
  };
  if (!decision.allowed) headers["retry-after"] = String(decision.retryAfterSec);
  return headers;
}

/**
 * The key of an anonymous caller: the IPv4 address, or the /64 prefix of an IPv6 address (one
 * subscriber usually holds a whole /64, so limiting single IPv6 addresses would limit nothing).
 */
export function addressKey(address: string): string {
  const plain = address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
  // Only an address with a colon can be IPv6: most callers are IPv4 and skip isIPv6's large regex.
  if (!plain.includes(":") || !isIPv6(plain)) return plain;
  const [head = "", tail = ""] = plain.split("::");
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === "" ? [] : tail.split(":");
  const groups = plain.includes("::")
    ? [...headParts, ...Array(Math.max(0, 8 - headParts.length - tailParts.length)).fill("0"), ...tailParts]
    : headParts;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}

/**
 * The client address of a request: the socket's peer, or, behind `trustedHops` proxies that append
 * to X-Forwarded-For, the address the outermost trusted proxy saw. Client-written entries to the
 * left are never trusted.
 */
export function clientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | undefined,
  trustedHops: number,
): string {
  const peer = remoteAddress ?? "unknown";
  if (trustedHops <= 0 || forwardedFor === undefined) return peer;
  const hops = forwardedFor
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  const candidate = hops[Math.max(0, hops.length - trustedHops)];
  return candidate !== undefined && (isIPv4(candidate) || isIPv6(candidate)) ? candidate : peer;
}

/** Calls refused by the edge's rate limiter, by class and by who was limited (ip or user). */
export const rateLimitedCalls: Counter<"class" | "scope"> =
  (metricsRegistry.getSingleMetric("mercato_gateway_rate_limited_total") as
    | Counter<"class" | "scope">
    | undefined) ??
  new Counter({
    name: "mercato_gateway_rate_limited_total",
    help: "Calls the edge refused with RESOURCE_EXHAUSTED (HTTP 429) because a rate limit was hit",
    labelNames: ["class", "scope"] as const,
    registers: [metricsRegistry],
  });
