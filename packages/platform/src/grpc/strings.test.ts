import { create } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { catalogV1, orderV1 } from "@mercato/sdk";
import { RelayRequestSchema } from "@mercato/sdk/gen/mercato/testing/v1/probe_pb";
import { describe, expect, it } from "vitest";
import { stringViolations } from "./strings.js";

const nul = "must not contain NUL characters";
const lone = "must be valid Unicode (a lone surrogate was found)";

describe("stringViolations", () => {
  it("finds nothing in ordinary text, emoji and other planes included", () => {
    const request = create(RelayRequestSchema, { echo: { message: "héllo 👋 \u{10FFFF} tab\tnewline\n" } });
    expect(stringViolations(RelayRequestSchema, request)).toEqual([]);
  });

  it("names NUL characters and lone surrogates by their field path", () => {
    const request = create(RelayRequestSchema, { echo: { message: "a\u0000" } });
    expect(stringViolations(RelayRequestSchema, request)).toEqual([
      { field: "echo.message", description: nul },
    ]);
    for (const bad of ["\ud800", "x\udc00", "\udc00\ud800"]) {
      const text = create(RelayRequestSchema, { echo: { message: bad } });
      expect(stringViolations(RelayRequestSchema, text)).toEqual([
        { field: "echo.message", description: lone },
      ]);
    }
  });

  it("walks repeated fields, nested messages, oneofs and maps (keys too)", () => {
    const order = create(orderV1.PlaceOrderRequestSchema, {
      idempotencyKey: "k",
      lines: [
        { productId: "ok", quantity: 1 },
        { productId: "bad\u0000", quantity: 1 },
      ],
      shippingAddress: { city: "\ud83d" },
    });
    expect(stringViolations(orderV1.PlaceOrderRequestSchema, order)).toEqual([
      { field: "lines[1].product_id", description: nul },
      { field: "shipping_address.city", description: lone },
    ]);
    const struct = create(StructSchema, {
      fields: {
        "k\u0000": { kind: { case: "stringValue", value: "ok" } },
        k: { kind: { case: "stringValue", value: "\u0000" } },
      },
    });
    expect(stringViolations(StructSchema, struct)).toEqual([
      { field: "fields (a key)", description: nul },
      { field: 'fields["k"].string_value', description: nul },
    ]);
  });

  it("reports at most ten", () => {
    const request = create(catalogV1.ListProductsRequestSchema, { query: "\u0000" });
    expect(stringViolations(catalogV1.ListProductsRequestSchema, request)).toHaveLength(1);
    const many = create(orderV1.PlaceOrderRequestSchema, {
      lines: Array.from({ length: 50 }, () => ({ productId: "\u0000", quantity: 1 })),
    });
    expect(stringViolations(orderV1.PlaceOrderRequestSchema, many)).toHaveLength(10);
  });
});
