import { create } from "@bufbuild/protobuf";
import { AddressSchema } from "@mercato/sdk/gen/mercato/common/v1/address_pb";
import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { describe, expect, it } from "vitest";
import {
  apply,
  decideCancel,
  decideConfirm,
  decidePlace,
  decideShip,
  OrderRuleError,
  orderTotal,
  replay,
  statisticsDelta,
  subjectOf,
} from "./order.js";
import { placeOrderViolations, requestHash } from "./requests.js";
import { initialFacts, initialPosition, SagaState, SagaStep, transition } from "./saga.js";

const now = new Date("2026-11-28T10:00:00Z");
const meta = (n: number) => ({ eventId: `00000000-0000-7000-8000-00000000000${n}`, now });
const address = create(AddressSchema, { name: "A", line1: "B", city: "C", countryCode: "DE" });
const line = (productId: string, quantity: number, price: bigint, currencyCode = "EUR") => ({
  productId,
  sku: `SKU-${productId}`,
  name: productId,
  quantity,
  unitPriceMinor: price,
  currencyCode,
});
const placed = () =>
  decidePlace({
    orderId: "0190aaaa-0000-7000-8000-000000000001",
    eventId: "0190aaaa-0000-7000-8000-0000000000e1",
    userId: "u1",
    idempotencyKey: "k1",
    lines: [line("p1", 2, 1999n), line("p2", 1, 5n)],
    shippingAddress: address,
    now,
  });

describe("totals", () => {
  it("sums price × quantity exactly in bigint minor units", () => {
    expect(orderTotal([{ quantity: 3, unitPriceMinor: 1999n }])).toBe(5997n);
    const big = 2n ** 60n;
    expect(orderTotal([{ quantity: 7, unitPriceMinor: big }])).toBe(7n * big);
  });
  it("refuses mixed currencies", () => {
    expect(() =>
      decidePlace({
        orderId: "o",
        eventId: "e",
        userId: "u",
        idempotencyKey: "k",
        lines: [line("a", 1, 1n, "EUR"), line("b", 1, 1n, "USD")],
        shippingAddress: address,
        now,
      }),
    ).toThrow(OrderRuleError);
  });
});

describe("replay and decide", () => {
  it("replays placed → confirmed → shipped", () => {
    const p = placed();
    let state = apply(undefined, p);
    expect(state.status).toBe(OrderStatus.PENDING);
    expect(state.totalMinor).toBe(4003n);
    expect(state.version).toBe(1);
    const confirmed = decideConfirm(state, "pay-1", meta(2));
    expect(confirmed).toHaveLength(1);
    state = apply(state, confirmed[0]!);
    expect(state.status).toBe(OrderStatus.CONFIRMED);
    expect(state.paymentId).toBe("pay-1");
    expect(decideConfirm(state, "pay-1", meta(3))).toEqual([]);
    const shipped = decideShip(state, { shipmentId: "s1", trackingNumber: "T" }, meta(3));
    const all = [p, ...confirmed, ...shipped];
    const replayed = replay(all);
    expect(replayed?.status).toBe(OrderStatus.SHIPPED);
    expect(replayed?.version).toBe(3);
    expect(() => decideCancel(replayed!, "x", meta(4))).toThrow(OrderRuleError);
    expect(subjectOf(p)).toBe("mercato.order.order_placed");
  });
  it("cancels once; a cancelled order cannot be confirmed", () => {
    const state = apply(undefined, placed());
    const [cancelled] = decideCancel(state, "payment declined", meta(2));
    const after = apply(state, cancelled!);
    expect(after.cancelReason).toBe("payment declined");
    expect(decideCancel(after, "again", meta(3))).toEqual([]);
    expect(() => decideConfirm(after, "p", meta(3))).toThrow(OrderRuleError);
  });
  it("statistics deltas telescope to the final state", () => {
    const s1 = apply(undefined, placed());
    const s2 = apply(s1, decideConfirm(s1, "p", meta(2))[0]!);
    const s3 = apply(s2, decideCancel(s2, "r", meta(3))[0]!);
    const sum = new Map<string, bigint>();
    for (const [key, value] of [
      ...statisticsDelta(undefined, s1),
      ...statisticsDelta(s1, s2),
      ...statisticsDelta(s2, s3),
    ]) {
      sum.set(key, (sum.get(key) ?? 0n) + value);
    }
    const direct = statisticsDelta(undefined, s3);
    for (const [key, value] of sum) expect(value, key).toBe(direct.get(key) ?? 0n);
    expect(statisticsDelta(s1, s2).get("revenue:EUR")).toBe(4003n);
    expect(direct.get("status:CANCELLED")).toBe(1n);
  });
});

describe("requests", () => {
  const valid = {
    idempotencyKey: "k",
    lines: [{ productId: "p", quantity: 1 }],
    paymentToken: "tok_visa",
    shippingAddress: address,
  };
  it("accepts a valid request and names every bad field", () => {
    expect(placeOrderViolations(valid)).toEqual([]);
    const fields = placeOrderViolations({
      idempotencyKey: "",
      lines: [
        { productId: "p", quantity: 0 },
        { productId: "p", quantity: 101 },
      ],
      paymentToken: "",
      shippingAddress: create(AddressSchema, { countryCode: "de" }),
    }).map((v) => v.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "idempotency_key",
        "lines[0].quantity",
        "lines[1].product_id",
        "lines[1].quantity",
        "payment_token",
        "shipping_address.name",
        "shipping_address.country_code",
      ]),
    );
  });
  it("hashes the same body the same way, whatever the line order", () => {
    const a = {
      ...valid,
      lines: [
        { productId: "a", quantity: 1 },
        { productId: "b", quantity: 2 },
      ],
    };
    const b = {
      ...valid,
      lines: [
        { productId: "b", quantity: 2 },
        { productId: "a", quantity: 1 },
      ],
    };
    expect(requestHash("u", a)).toBe(requestHash("u", b));
    expect(requestHash("u", a)).not.toBe(requestHash("u", { ...a, paymentToken: "tok_other" }));
    expect(requestHash("u", a)).not.toBe(requestHash("v", a));
  });
});

describe("saga transitions", () => {
  const policy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };
  it("walks the forward steps to COMPLETED", () => {
    let position = initialPosition;
    let facts = initialFacts;
    const seen: SagaStep[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(position.step);
      const next = transition(position, facts, 1, { kind: "ok" }, policy);
      position = next;
      facts = next.facts;
    }
    expect(seen).toEqual([
      SagaStep.RESERVE_STOCK,
      SagaStep.AUTHORIZE_PAYMENT,
      SagaStep.CONFIRM_ORDER,
      SagaStep.COMMIT_STOCK,
      SagaStep.CAPTURE_PAYMENT,
    ]);
    expect(position.state).toBe(SagaState.COMPLETED);
  });
  it("retries with backoff, then compensates when attempts run out", () => {
    const position = { state: SagaState.RUNNING, step: SagaStep.AUTHORIZE_PAYMENT };
    const retry = transition(position, initialFacts, 1, { kind: "retry", error: "down" }, policy, () => 1);
    expect(retry.step).toBe(SagaStep.AUTHORIZE_PAYMENT);
    expect(retry.delayMs).toBe(100);
    const out = transition(position, initialFacts, 3, { kind: "retry", error: "down" }, policy);
    expect(out.state).toBe(SagaState.COMPENSATING);
    expect(out.step).toBe(SagaStep.VOID_PAYMENT);
    expect(out.facts.reason).toMatch(/authorize payment kept failing/);
    // After confirmation, transient failures never turn into a cancellation.
    const capture = { state: SagaState.RUNNING, step: SagaStep.CAPTURE_PAYMENT };
    const held = transition(capture, initialFacts, 50, { kind: "retry", error: "down" }, policy);
    expect([held.state, held.step]).toEqual([SagaState.RUNNING, SagaStep.CAPTURE_PAYMENT]);
  });
  it("compensates in reverse and refunds a captured payment", () => {
    const failed = transition(
      { state: SagaState.RUNNING, step: SagaStep.AUTHORIZE_PAYMENT },
      initialFacts,
      1,
      { kind: "fail", reason: "payment declined" },
      policy,
    );
    expect([failed.state, failed.step]).toEqual([SagaState.COMPENSATING, SagaStep.VOID_PAYMENT]);
    const release = transition(failed, failed.facts, 1, { kind: "ok" }, policy);
    expect(release.step).toBe(SagaStep.RELEASE_STOCK);
    const cancel = transition(release, release.facts, 1, { kind: "ok" }, policy);
    expect(cancel.step).toBe(SagaStep.CANCEL_ORDER);
    const end = transition(cancel, cancel.facts, 1, { kind: "ok" }, policy);
    expect([end.state, end.finished]).toEqual([SagaState.COMPENSATED, true]);
    // Compensations never give up.
    const stuck = transition(release, release.facts, 99, { kind: "retry", error: "down" }, policy);
    expect([stuck.state, stuck.step]).toEqual([SagaState.COMPENSATING, SagaStep.RELEASE_STOCK]);
    // A cancel after capture refunds.
    const captured = { ...initialFacts, captured: true, cancelRequested: true, reason: "customer" };
    const refund = transition(
      { state: SagaState.RUNNING, step: SagaStep.CAPTURE_PAYMENT },
      captured,
      1,
      { kind: "ok" },
      policy,
    );
    expect([refund.state, refund.step, refund.facts.reason]).toEqual([
      SagaState.COMPENSATING,
      SagaStep.REFUND_PAYMENT,
      "customer",
    ]);
  });
});
