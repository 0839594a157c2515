import { describe, expect, it } from "vitest";
import { afterFailure, isPermanentHttpFailure, retryDelayMs } from "./backoff.js";
import { newWebhookSecret, signatureHeader, verifySignature } from "./signature.js";
import { formatMoney, orderConfirmed, shortId } from "./templates.js";
import { resolveOwner, validateWebhookUrl } from "./webhooks.js";

describe("signatures", () => {
  const secret = newWebhookSecret();
  const body = '{"event_id":"e1","subject":"hi"}';

  it("verifies what it signs, and nothing else", () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, header, body, 300, 1_700_000_100)).toBe(true);
    expect(verifySignature(secret, header, Buffer.from(body), 300, 1_700_000_100)).toBe(true);
    expect(verifySignature(secret, header, `${body} `, 300, 1_700_000_100)).toBe(false);
    expect(verifySignature(newWebhookSecret(), header, body, 300, 1_700_000_100)).toBe(false);
    expect(verifySignature(secret, header, body, 300, 1_700_000_301)).toBe(false);
    expect(
      verifySignature(secret, header.replace("t=1700000000", "t=1700000001"), body, 300, 1_700_000_000),
    ).toBe(false);
    expect(verifySignature(secret, undefined, body)).toBe(false);
    expect(verifySignature(secret, "garbage", body)).toBe(false);
  });

  it("accepts any of several v1 signatures (secret rotation)", () => {
    const good = signatureHeader(secret, body, 1000);
    const other = signatureHeader(newWebhookSecret(), body, 1000).split(",")[1];
    expect(
      verifySignature(secret, `${good.split(",")[0]},${other},${good.split(",")[1]}`, body, 10, 1000),
    ).toBe(true);
  });
});

describe("backoff", () => {
  const settings = { baseMs: 1000, maxMs: 60_000 };
  it("doubles with jitter up to the cap", () => {
    expect(retryDelayMs(1, settings, () => 0)).toBe(500);
    expect(retryDelayMs(1, settings, () => 1)).toBe(1000);
    expect(retryDelayMs(4, settings, () => 1)).toBe(8000);
    expect(retryDelayMs(30, settings, () => 1)).toBe(60_000);
  });
  it("gives up when attempts are spent or the failure is permanent", () => {
    expect(afterFailure(2, 3, false, settings).kind).toBe("retry");
    expect(afterFailure(3, 3, false, settings).kind).toBe("give_up");
    expect(afterFailure(1, 3, true, settings).kind).toBe("give_up");
    expect([400, 404, 410, 422].every(isPermanentHttpFailure)).toBe(true);
    expect([408, 429, 500, 503].some(isPermanentHttpFailure)).toBe(false);
  });
});

describe("templates and rules", () => {
  it("formats money exactly", () => {
    expect(
      formatMoney({ $typeName: "mercato.common.v1.Money", currencyCode: "EUR", amountMinor: 2599n }),
    ).toBe("25.99 EUR");
    expect(formatMoney({ $typeName: "mercato.common.v1.Money", currencyCode: "EUR", amountMinor: -5n })).toBe(
      "-0.05 EUR",
    );
    expect(shortId("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")).toBe("2E3F4A5B");
  });

  it("renders an order confirmation and refuses an event without a user", () => {
    const event = {
      $typeName: "mercato.order.v1.OrderConfirmed",
      eventId: "e",
      orderId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
      version: 3n,
      userId: "u1",
      paymentId: "p",
      itemCount: 2,
      total: { $typeName: "mercato.common.v1.Money", currencyCode: "EUR", amountMinor: 1000n },
    } as const;
    const message = orderConfirmed(event);
    expect(message).toMatchObject({ userId: "u1", subject: "Your order 2E3F4A5B is confirmed" });
    expect(message.text).toContain("10.00 EUR");
    expect(() => orderConfirmed({ ...event, userId: "" })).toThrow(/user_id/);
  });

  it("scopes requests to their owner", () => {
    expect(resolveOwner("", { userId: "u1", role: "customer" })).toEqual({ ok: true, userId: "u1" });
    expect(resolveOwner("u2", { userId: "u1", role: "customer" })).toEqual({
      ok: false,
      reason: "forbidden",
    });
    expect(resolveOwner("u2", { userId: "a", role: "admin" })).toEqual({ ok: true, userId: "u2" });
    expect(resolveOwner("", {})).toEqual({ ok: false, reason: "missing" });
    expect(validateWebhookUrl("https://example.com/hook")).toEqual([]);
    expect(validateWebhookUrl("javascript:alert(1)")).toHaveLength(1);
  });
});
