import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  boundedText,
  codeOf,
  decodeViolations,
  encodeStatus,
  fieldViolationsOf,
  hasLoneSurrogate,
  invalidArgument,
  notFound,
  ServiceError,
  statusDetailsKey,
  statusLimits,
  unavailable,
} from "./index.js";

describe("ServiceError", () => {
  it("keeps code, client-safe message and an internal cause", () => {
    const cause = new Error("row 42 missing in orders_v2");
    const error = notFound("order not found", cause);
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.codeName).toBe("NOT_FOUND");
    expect(error.message).toBe("order not found");
    expect(error.cause).toBe(cause);
    expect(unavailable("try later").code).toBe(status.UNAVAILABLE);
  });

  it("puts field violations in grpc-status-details-bin and reads them back", () => {
    const violations = [
      { field: "items[0].quantity", description: "must be positive" },
      { field: "email", description: "is not an email address" },
    ];
    const error = invalidArgument(violations);
    expect(error.message).toBe(
      "invalid request: items[0].quantity: must be positive; email: is not an email address",
    );
    const trailers = error.trailers();
    const bytes = trailers.get(statusDetailsKey)[0] as Buffer;
    expect(decodeViolations(bytes)).toEqual(violations);
    // As a grpc-js client error would carry it:
    const received = Object.assign(new Error("3 INVALID_ARGUMENT"), {
      code: 3,
      details: error.message,
      metadata: trailers,
    });
    expect(fieldViolationsOf(received)).toEqual(violations);
    expect(ServiceError.from(received).violations).toEqual(violations);
  });

  it("encodes a google.rpc.Status other decoders agree on (code, message, Any type URL)", () => {
    const bytes = encodeStatus(3, "bad", [{ field: "f", description: "d" }]);
    const text = Buffer.from(bytes).toString("latin1");
    expect(bytes[0]).toBe(0x08);
    expect(bytes[1]).toBe(3);
    expect(text).toContain("type.googleapis.com/google.rpc.BadRequest");
  });

  it("maps unknown errors to INTERNAL with a generic message", () => {
    const original = new Error("secret connection string");
    const mapped = ServiceError.from(original);
    expect(mapped.code).toBe(status.INTERNAL);
    expect(mapped.message).toBe("internal error");
    expect(mapped.cause).toBe(original);
    expect(codeOf("weird")).toBe(status.INTERNAL);
  });

  it("returns no violations for errors without details or with garbage", () => {
    const metadata = new Metadata();
    metadata.set(statusDetailsKey, Buffer.from([0xff, 0xff, 0xff]));
    expect(fieldViolationsOf(Object.assign(new Error("x"), { code: 3, details: "x", metadata }))).toEqual([]);
    expect(fieldViolationsOf(new Error("plain"))).toEqual([]);
  });
});

describe("bounded statuses", () => {
  it("cuts long messages without splitting a surrogate pair, and repairs lone surrogates", () => {
    expect(boundedText("short", 10)).toBe("short");
    expect(boundedText("abcdefghij", 5)).toBe("abcd…");
    const cut = boundedText(`abc${"👋".repeat(10)}`, 5);
    expect(cut).toBe("abc…");
    expect(() => encodeURIComponent(cut)).not.toThrow();
    expect(boundedText("a\ud800b", 10)).toBe("a\ufffdb");
    expect(hasLoneSurrogate("👋")).toBe(false);
    expect(hasLoneSurrogate("\udc00")).toBe(true);
  });

  it("keeps a ServiceError's message, violations and details within statusLimits", () => {
    const violations = Array.from({ length: 400 }, (_, i) => ({
      field: `lines[${i}].product_id`,
      description: "d".repeat(1_000),
    }));
    const error = invalidArgument(violations);
    expect(error.message.length).toBeLessThanOrEqual(statusLimits.messageChars);
    expect(error.message).toContain(`(and ${400 - statusLimits.summarised} more)`);
    expect(error.violations).toHaveLength(statusLimits.violations);
    for (const v of error.violations)
      expect(v.description.length).toBeLessThanOrEqual(statusLimits.violationChars);
    const details = error.trailers().get(statusDetailsKey)[0] as Buffer;
    expect(details.length).toBeLessThan(8 * 1024);
    expect(notFound(`order ${"x".repeat(100_000)} not found`).message.length).toBe(statusLimits.messageChars);
  });
});
