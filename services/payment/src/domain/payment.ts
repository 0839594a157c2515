/**
 * Payment rules: validation, amount arithmetic in bigint minor units, and the state machine
 *
 *   PENDING ──approved──▶ AUTHORIZED ──capture──▶ CAPTURED ──refund──▶ PARTIALLY_REFUNDED ──▶ REFUNDED
 *      │  └──declined──▶ FAILED          └──void──▶ VOIDED
 *      └──void (while the provider call is in flight)──▶ VOIDED (never authorized)
 *
 * No I/O here: handlers load state, ask these functions what to do, and persist the answer.
 */
import { createHash } from "node:crypto";
import type { FieldViolation } from "@mercato/platform/errors";

/** Where a payment is in its life. PENDING (a provider call in flight or interrupted) is internal only. */
export type PaymentState =
  | "PENDING"
  | "AUTHORIZED"
  | "CAPTURED"
  | "VOIDED"
  | "PARTIALLY_REFUNDED"
  | "REFUNDED"
  | "FAILED";

/** The parts of a payment the rules look at. */
export interface PaymentFacts {
  readonly state: PaymentState;
  readonly currencyCode: string;
  readonly amountMinor: bigint;
  readonly capturedMinor: bigint;
  readonly refundedMinor: bigint;
}

/** A decision that refuses the operation; the handler maps it to FAILED_PRECONDITION. */
export interface Refusal {
  readonly kind: "refused";
  readonly reason: string;
  /** Set when a request field is at fault (the handler then answers INVALID_ARGUMENT naming it). */
  readonly field?: string;
}

const refuse = (reason: string, field?: string): Refusal =>
  field === undefined ? { kind: "refused", reason } : { kind: "refused", reason, field };

/** Largest amount a signed 64-bit integer holds (the proto's int64). */
export const MAX_MINOR = (1n << 63n) - 1n;

const CURRENCY = /^[A-Z]{3}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_KEY_LENGTH = 200;
const MAX_ID_LENGTH = 200;

/** A Money message, as it arrives. */
export interface MoneyInput {
  readonly currencyCode: string;
  readonly amountMinor: bigint;
}

/** Violations of a positive amount in `field` (e.g. "amount"). */
export function moneyViolations(field: string, money: MoneyInput | undefined): FieldViolation[] {
  if (money === undefined) return [{ field, description: "is required" }];
  const violations: FieldViolation[] = [];
  if (!CURRENCY.test(money.currencyCode)) {
    violations.push({
      field: `${field}.currency_code`,
      description: "must be an ISO 4217 code of three upper-case letters, e.g. EUR",
    });
  }
  if (money.amountMinor <= 0n) {
    violations.push({ field: `${field}.amount_minor`, description: "must be greater than zero" });
  }
  return violations;
}

function keyViolations(key: string): FieldViolation[] {
  if (key.trim() === "") return [{ field: "idempotency_key", description: "is required" }];
  if (key.length > MAX_KEY_LENGTH) {
    return [{ field: "idempotency_key", description: `must be at most ${MAX_KEY_LENGTH} characters` }];
  }
  return [];
}

function idViolations(field: string, value: string): FieldViolation[] {
  if (value.trim() === "") return [{ field, description: "is required" }];
  if (value.length > MAX_ID_LENGTH) {
    return [{ field, description: `must be at most ${MAX_ID_LENGTH} characters` }];
  }
  return [];
}

/** True when `value` is a UUID (payment ids are UUIDv7). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** An Authorize request, as it arrives. */
export interface AuthorizeInput {
  readonly idempotencyKey: string;
  readonly orderId: string;
  readonly userId: string;
  readonly amount?: MoneyInput | undefined;
  readonly paymentToken: string;
}

/** Every problem of an Authorize request (empty when it is valid). Token knowledge is the provider's. */
export function authorizeViolations(input: AuthorizeInput): FieldViolation[] {
  return [
    ...keyViolations(input.idempotencyKey),
    ...idViolations("order_id", input.orderId),
    ...idViolations("user_id", input.userId),
    ...moneyViolations("amount", input.amount),
    ...(input.paymentToken === "" ? [{ field: "payment_token", description: "is required" }] : []),
  ];
}

/** Problems of a request naming a payment by id under an idempotency key (Capture, Refund). */
export function paymentCommandViolations(input: {
  readonly idempotencyKey: string;
  readonly paymentId: string;
}): FieldViolation[] {
  const violations = keyViolations(input.idempotencyKey);
  if (input.paymentId === "") violations.push({ field: "payment_id", description: "is required" });
  else if (!isUuid(input.paymentId)) violations.push({ field: "payment_id", description: "must be a UUID" });
  return violations;
}

/** Problems of a Void: a payment id, or none (then the key names the Authorize to cancel). */
export function voidViolations(input: {
  readonly idempotencyKey: string;
  readonly paymentId: string;
}): FieldViolation[] {
  const violations = keyViolations(input.idempotencyKey);
  if (input.paymentId !== "" && !isUuid(input.paymentId)) {
    violations.push({ field: "payment_id", description: "must be a UUID" });
  }
  return violations;
}

/** Problems of a Refund request (the amount is optional: unset refunds everything left). */
export function refundViolations(input: {
  readonly idempotencyKey: string;
  readonly paymentId: string;
  readonly amount?: MoneyInput | undefined;
  readonly reason: string;
}): FieldViolation[] {
  const violations = paymentCommandViolations(input);
  if (input.amount !== undefined) violations.push(...moneyViolations("amount", input.amount));
  if (input.reason.length > 500)
    violations.push({ field: "reason", description: "must be at most 500 characters" });
  return violations;
}

/**
 * A fingerprint of a payment token: enough to tell two tokens apart, useless to charge with.
 * The token itself is never stored, logged or published.
 */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(`mercato-payment-token:${token}`).digest("hex").slice(0, 24);
}

/** The fingerprint of a request body: equal bodies, equal hashes. */
export function requestHash(parts: readonly (string | bigint)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(`${typeof part}:${String(part).length}:${String(part)}\u0000`);
  return hash.digest("hex");
}

/** Hash of an Authorize body (the token enters through its fingerprint). */
export function authorizeRequestHash(input: AuthorizeInput & { readonly amount: MoneyInput }): string {
  return requestHash([
    "authorize",
    input.orderId,
    input.userId,
    input.amount.currencyCode,
    input.amount.amountMinor,
    tokenFingerprint(input.paymentToken),
  ]);
}

/** Hash of a Refund body; an unset amount ("everything left") hashes differently from any number. */
export function refundRequestHash(input: {
  readonly paymentId: string;
  readonly amount?: MoneyInput | undefined;
  readonly reason: string;
}): string {
  return requestHash([
    "refund",
    input.paymentId,
    input.amount?.currencyCode ?? "",
    input.amount === undefined ? "rest" : input.amount.amountMinor,
    input.reason,
  ]);
}

/** What a Capture should do. */
export type CaptureDecision =
  | { readonly kind: "capture"; readonly amountMinor: bigint }
  | { readonly kind: "noop" }
  | Refusal;

/**
 * Capture `requested` (default: the whole authorized amount) of a payment. Capturing a captured
 * payment is a no-op; only an AUTHORIZED payment can be captured, and never above its authorization.
 */
export function decideCapture(payment: PaymentFacts, requested?: bigint): CaptureDecision {
  switch (payment.state) {
    case "CAPTURED":
    case "PARTIALLY_REFUNDED":
    case "REFUNDED":
      return { kind: "noop" };
    case "AUTHORIZED": {
      const amount = requested ?? payment.amountMinor;
      if (amount <= 0n) return refuse("the capture amount must be greater than zero");
      if (amount > payment.amountMinor) {
        return refuse(
          `cannot capture ${amount} ${payment.currencyCode} minor units: only ${payment.amountMinor} are authorized`,
        );
      }
      return { kind: "capture", amountMinor: amount };
    }
    case "PENDING":
      return refuse("the payment is not authorized yet");
    case "VOIDED":
      return refuse("the payment was voided");
    case "FAILED":
      return refuse("the payment was declined");
  }
}

/** What a Void should do. */
export type VoidDecision = { readonly kind: "void" } | { readonly kind: "noop" } | Refusal;

/**
 * Void a payment: an AUTHORIZED one (or a PENDING one whose provider call is still in flight, which
 * then can never become authorized) becomes VOIDED; VOIDED and FAILED are no-ops; anything captured
 * must be refunded instead.
 */
export function decideVoid(payment: PaymentFacts): VoidDecision {
  switch (payment.state) {
    case "AUTHORIZED":
    case "PENDING":
      return { kind: "void" };
    case "VOIDED":
    case "FAILED":
      return { kind: "noop" };
    case "CAPTURED":
    case "PARTIALLY_REFUNDED":
    case "REFUNDED":
      return refuse("the payment is captured; refund it instead");
  }
}

/** What a Refund should do. */
export type RefundDecision =
  | {
      readonly kind: "refund";
      readonly amountMinor: bigint;
      readonly refundedTotalMinor: bigint;
      readonly nextState: "PARTIALLY_REFUNDED" | "REFUNDED";
    }
  | Refusal;

/** Amount captured and not refunded yet. */
export function refundable(payment: PaymentFacts): bigint {
  return payment.capturedMinor - payment.refundedMinor;
}

/**
 * Refund `requested` (default: everything not refunded yet) of a captured payment. The refunds of a
 * payment never exceed what was captured.
 */
export function decideRefund(payment: PaymentFacts, requested?: MoneyInput): RefundDecision {
  if (payment.state !== "CAPTURED" && payment.state !== "PARTIALLY_REFUNDED") {
    if (payment.state === "REFUNDED") return refuse("the payment is fully refunded already");
    return refuse("only a captured payment can be refunded");
  }
  if (requested !== undefined && requested.currencyCode !== payment.currencyCode) {
    return refuse(`must be the payment's currency ${payment.currencyCode}`, "amount.currency_code");
  }
  const left = refundable(payment);
  const amount = requested?.amountMinor ?? left;
  if (amount <= 0n) return refuse("nothing is left to refund");
  if (amount > left) {
    return refuse(
      `cannot refund ${amount} ${payment.currencyCode} minor units: only ${left} of ${payment.capturedMinor} captured are left`,
    );
  }
  const total = payment.refundedMinor + amount;
  return {
    kind: "refund",
    amountMinor: amount,
    refundedTotalMinor: total,
    nextState: total === payment.capturedMinor ? "REFUNDED" : "PARTIALLY_REFUNDED",
  };
}
