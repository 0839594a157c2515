import { describe, expect, it } from "vitest";
import {
  authorizeRequestHash,
  authorizeViolations,
  decideCapture,
  decideRefund,
  decideVoid,
  type PaymentFacts,
  refundRequestHash,
  tokenFingerprint,
} from "./payment.js";

const facts = (over: Partial<PaymentFacts> = {}): PaymentFacts => ({
  state: "AUTHORIZED",
  currencyCode: "EUR",
  amountMinor: 10_000n,
  capturedMinor: 0n,
  refundedMinor: 0n,
  ...over,
});

const authorize = {
  idempotencyKey: "saga-1:authorize",
  orderId: "order-1",
  userId: "user-1",
  amount: { currencyCode: "EUR", amountMinor: 1234n },
  paymentToken: "tok_visa",
};

describe("authorize validation", () => {
  it("accepts a valid request", () => {
    expect(authorizeViolations(authorize)).toEqual([]);
  });

  it("names every bad field", () => {
    const fields = authorizeViolations({
      idempotencyKey: "",
      orderId: "",
      userId: "",
      amount: { currencyCode: "eur", amountMinor: 0n },
      paymentToken: "",
    }).map((v) => v.field);
    expect(fields).toEqual([
      "idempotency_key",
      "order_id",
      "user_id",
      "amount.currency_code",
      "amount.amount_minor",
      "payment_token",
    ]);
  });

  it("refuses negative amounts and a missing amount", () => {
    expect(
      authorizeViolations({ ...authorize, amount: { currencyCode: "EUR", amountMinor: -1n } }).map(
        (v) => v.field,
      ),
    ).toEqual(["amount.amount_minor"]);
    expect(authorizeViolations({ ...authorize, amount: undefined }).map((v) => v.field)).toEqual(["amount"]);
  });
});

describe("request hashes", () => {
  it("are equal for equal bodies and differ for any changed field", () => {
    const base = authorizeRequestHash(authorize);
    expect(authorizeRequestHash({ ...authorize })).toBe(base);
    expect(authorizeRequestHash({ ...authorize, idempotencyKey: "other" })).toBe(base);
    expect(authorizeRequestHash({ ...authorize, orderId: "order-2" })).not.toBe(base);
    expect(authorizeRequestHash({ ...authorize, paymentToken: "tok_slow" })).not.toBe(base);
    expect(
      authorizeRequestHash({ ...authorize, amount: { currencyCode: "EUR", amountMinor: 1235n } }),
    ).not.toBe(base);
    expect(
      authorizeRequestHash({ ...authorize, amount: { currencyCode: "USD", amountMinor: 1234n } }),
    ).not.toBe(base);
  });

  it("tell an unset refund amount from any number", () => {
    const unset = refundRequestHash({ paymentId: "p", reason: "" });
    expect(
      refundRequestHash({ paymentId: "p", reason: "", amount: { currencyCode: "EUR", amountMinor: 0n } }),
    ).not.toBe(unset);
  });

  it("never contain the token", () => {
    expect(tokenFingerprint("tok_visa")).not.toContain("tok_visa");
    expect(tokenFingerprint("tok_visa")).toBe(tokenFingerprint("tok_visa"));
    expect(tokenFingerprint("tok_visa")).not.toBe(tokenFingerprint("tok_slow"));
  });
});

describe("capture", () => {
  it("captures the whole authorization by default, or a part of it", () => {
    expect(decideCapture(facts())).toEqual({ kind: "capture", amountMinor: 10_000n });
    expect(decideCapture(facts(), 4_000n)).toEqual({ kind: "capture", amountMinor: 4_000n });
  });

  it("never captures more than authorized, or nothing", () => {
    expect(decideCapture(facts(), 10_001n).kind).toBe("refused");
    expect(decideCapture(facts(), 0n).kind).toBe("refused");
  });

  it("is a no-op on a captured payment and refused on voided, failed or pending ones", () => {
    expect(decideCapture(facts({ state: "CAPTURED", capturedMinor: 10_000n })).kind).toBe("noop");
    expect(decideCapture(facts({ state: "PARTIALLY_REFUNDED" })).kind).toBe("noop");
    expect(decideCapture(facts({ state: "VOIDED" })).kind).toBe("refused");
    expect(decideCapture(facts({ state: "FAILED" })).kind).toBe("refused");
    expect(decideCapture(facts({ state: "PENDING" })).kind).toBe("refused");
  });
});

describe("void", () => {
  it("voids authorized and pending payments, is a no-op when voided or failed, refused once captured", () => {
    expect(decideVoid(facts()).kind).toBe("void");
    expect(decideVoid(facts({ state: "PENDING" })).kind).toBe("void");
    expect(decideVoid(facts({ state: "VOIDED" })).kind).toBe("noop");
    expect(decideVoid(facts({ state: "FAILED" })).kind).toBe("noop");
    for (const state of ["CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED"] as const) {
      expect(decideVoid(facts({ state })).kind).toBe("refused");
    }
  });
});

describe("refund", () => {
  const captured = facts({ state: "CAPTURED", capturedMinor: 10_000n });

  it("refunds in parts, then in full, and never beyond what was captured", () => {
    const first = decideRefund(captured, { currencyCode: "EUR", amountMinor: 3_000n });
    expect(first).toEqual({
      kind: "refund",
      amountMinor: 3_000n,
      refundedTotalMinor: 3_000n,
      nextState: "PARTIALLY_REFUNDED",
    });
    const partly = facts({ state: "PARTIALLY_REFUNDED", capturedMinor: 10_000n, refundedMinor: 3_000n });
    expect(decideRefund(partly, { currencyCode: "EUR", amountMinor: 7_001n }).kind).toBe("refused");
    expect(decideRefund(partly)).toEqual({
      kind: "refund",
      amountMinor: 7_000n,
      refundedTotalMinor: 10_000n,
      nextState: "REFUNDED",
    });
    expect(
      decideRefund(facts({ state: "REFUNDED", capturedMinor: 10_000n, refundedMinor: 10_000n })).kind,
    ).toBe("refused");
  });

  it("refuses uncaptured payments and another currency (naming the field)", () => {
    expect(decideRefund(facts()).kind).toBe("refused");
    expect(decideRefund(facts({ state: "VOIDED" })).kind).toBe("refused");
    expect(decideRefund(captured, { currencyCode: "USD", amountMinor: 1n })).toMatchObject({
      kind: "refused",
      field: "amount.currency_code",
    });
  });

  it("keeps exact arithmetic far beyond 2^53", () => {
    const huge = 9_007_199_254_740_993n; // 2^53 + 1: a float would lose the last unit
    const big = facts({ state: "CAPTURED", amountMinor: huge, capturedMinor: huge });
    const decision = decideRefund(big, { currencyCode: "EUR", amountMinor: huge - 1n });
    expect(decision).toMatchObject({ amountMinor: huge - 1n, nextState: "PARTIALLY_REFUNDED" });
  });
});
