import type { SqlExecutor } from "@mercato/platform/db";

/**
 * The payment-provider adapter: what the payment service needs from whoever really moves money.
 * Every operation is idempotent at the provider, keyed by the Authorize idempotency key the payment
 * was created with (providers such as Stripe take an idempotency key on every write), so repeating
 * a call after a crash or a timeout never charges twice.
 */

/** An authorization to ask for. The token is passed through and never stored or logged. */
export interface ProviderAuthorizeRequest {
  /** The Authorize idempotency key: the provider's idempotency key for this authorization. */
  readonly authorizeKey: string;
  readonly token: string;
  readonly currencyCode: string;
  readonly amountMinor: bigint;
}

/** The provider's answer to an authorization that reached a decision. */
export type ProviderAuthorizeResult =
  | { readonly kind: "approved"; readonly reference: string }
  | { readonly kind: "declined"; readonly reason: string };

/** Names an authorization at the provider. `reference` is empty when it never was approved (or not yet). */
export interface ProviderAuthorizationRef {
  readonly authorizeKey: string;
  readonly reference: string;
}

/** A transient provider failure: nothing was decided; the same call may be retried. */
export class ProviderUnavailableError extends Error {
  constructor(message = "payment provider unavailable") {
    super(message);
    this.name = "ProviderUnavailableError";
  }
}

/** The provider refused an operation on an authorization (a bug on our side if it ever happens). */
export class ProviderRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProviderRejectedError";
  }
}

/** A payment provider. */
export interface PaymentProvider {
  /** Short name for logs and metrics ("test"). */
  readonly name: string;
  /**
   * Why `token` cannot be used with this provider, or undefined when it can. Checked before anything
   * is written, so an unusable token changes nothing. The message never contains the token.
   */
  tokenProblem(token: string): string | undefined;
  /**
   * Reserves the amount. Resolves with the decision (a decline is an answer, not an error); rejects
   * with {@link ProviderUnavailableError} when the outcome is unknown and the call may be retried.
   * `signal` is the caller's: a real adapter passes it to its HTTP call.
   */
  authorize(request: ProviderAuthorizeRequest, signal: AbortSignal): Promise<ProviderAuthorizeResult>;
  /**
   * Takes `amountMinor` of an approved authorization. Idempotent.
   *
   * Capture, void and refund are called inside the transaction that holds the payment's row lock;
   * `tx` is that transaction, for an adapter that keeps its books in the payment database (the test
   * provider: it joins the lock holder's transaction instead of waiting on a second connection). A
   * remote adapter ignores it.
   */
  capture(authorization: ProviderAuthorizationRef, amountMinor: bigint, tx?: SqlExecutor): Promise<void>;
  /** Releases an authorization, approved or still being decided. Idempotent. */
  void(authorization: ProviderAuthorizationRef, tx?: SqlExecutor): Promise<void>;
  /** Returns `amountMinor` of what was captured; `refundKey` makes the refund idempotent. */
  refund(
    authorization: ProviderAuthorizationRef,
    amountMinor: bigint,
    refundKey: string,
    tx?: SqlExecutor,
  ): Promise<void>;
}
