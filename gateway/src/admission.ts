/**
 * Admission at the edge, the same on every protocol: authentication (per the route's access rule),
 * then a token from the caller's bucket, before the request body is read; then the owner rule and the
 * page-size cap on the decoded request.
 */
import type { Message } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { authenticate, type Caller, enforceOwner, type TokenVerifier } from "./auth.js";
import { EdgeError } from "./errors.js";
import {
  addressKey,
  type RateDecision,
  type RateLimiter,
  rateLimitedCalls,
  rateLimitHeaders,
} from "./ratelimit.js";
import { Access, capPageSize, type Route } from "./routes.js";

/** Who calls, and the rate-limit headers of the answer. */
export interface Admitted {
  readonly caller: Caller | undefined;
  readonly rateHeaders: Record<string, string> | undefined;
}

/** The admission steps of one edge. */
export interface Admission {
  /**
   * Authenticates the call and takes a token from the caller's bucket: the user's when a valid token
   * came, the client address's otherwise. A call whose token fails is charged to its address too, so
   * guessing at tokens is rate-limited like any anonymous call.
   */
  admit(route: Route, authorization: string | undefined, address: string): Promise<Admitted>;
  /** Owner rule and page-size cap on a decoded request; true when the message changed. */
  prepare(route: Route, message: Message, caller: Caller | undefined): boolean;
}

export function createAdmission(
  verifier: TokenVerifier,
  limiter: RateLimiter | undefined,
  maxPageSize: number,
): Admission {
  const limited = (route: Route, scope: "ip" | "user", decision: RateDecision): EdgeError => {
    rateLimitedCalls.inc({ class: route.rateClass, scope });
    return new EdgeError(
      Code.ResourceExhausted,
      `too many requests; try again in ${decision.retryAfterSec} s`,
      [],
      429,
      rateLimitHeaders(decision),
    );
  };
  return {
    async admit(route, authorization, address) {
      let caller: Caller | undefined;
      try {
        caller =
          authorization === undefined && route.access === Access.PUBLIC
            ? undefined
            : await authenticate(route, authorization, verifier);
      } catch (error) {
        if (limiter !== undefined && error instanceof EdgeError && error.code === Code.Unauthenticated) {
          const decision = limiter.take(route.rateClass, `ip:${addressKey(address)}`);
          if (!decision.allowed) throw limited(route, "ip", decision);
        }
        throw error;
      }
      if (limiter === undefined) return { caller, rateHeaders: undefined };
      const decision =
        caller === undefined
          ? limiter.take(route.rateClass, `ip:${addressKey(address)}`)
          : limiter.take(route.rateClass, `user:${caller.userId}`);
      if (!decision.allowed) throw limited(route, caller === undefined ? "ip" : "user", decision);
      return { caller, rateHeaders: rateLimitHeaders(decision) };
    },
    prepare(route, message, caller) {
      const owner = enforceOwner(route, message, caller);
      const capped = capPageSize(route, message, maxPageSize);
      return owner || capped;
    },
  };
}
