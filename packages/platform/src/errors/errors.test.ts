import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  codeOf,
  decodeViolations,
  encodeStatus,
  fieldViolationsOf,
  invalidArgument,
  notFound,
  ServiceError,
  statusDetailsKey,
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
