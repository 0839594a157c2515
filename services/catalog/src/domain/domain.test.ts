import { describe, expect, it } from "vitest";
import { decodePageToken, encodePageToken, listingFingerprint } from "./paging.js";
import {
  averageRating,
  checkPrice,
  checkReview,
  checkSku,
  likePattern,
  pageSize,
  priceChanged,
} from "./rules.js";

describe("catalog rules", () => {
  it("checks SKUs", () => {
    expect(checkSku("ABC-123")).toEqual([]);
    expect(checkSku("")[0]?.field).toBe("sku");
    expect(checkSku("abc")).toHaveLength(1);
    expect(checkSku("A B")).toHaveLength(1);
    expect(checkSku("A".repeat(64))).toEqual([]);
    expect(checkSku("A".repeat(65))).toHaveLength(1);
  });

  it("checks prices", () => {
    expect(checkPrice({ currencyCode: "EUR", amountMinor: 1n })).toEqual([]);
    expect(checkPrice(undefined)).toEqual([{ field: "price", description: "is required" }]);
    expect(checkPrice({ currencyCode: "eur", amountMinor: 0n }).map((v) => v.field)).toEqual([
      "price.currency_code",
      "price.amount_minor",
    ]);
    expect(checkPrice({ currencyCode: "EUR", amountMinor: -1n })).toHaveLength(1);
  });

  it("checks reviews and page sizes", () => {
    expect(checkReview(1, "")).toEqual([]);
    expect(checkReview(5, "ok")).toEqual([]);
    expect(checkReview(0, "")[0]?.field).toBe("rating");
    expect(checkReview(6, "")[0]?.field).toBe("rating");
    expect(checkReview(3, "x".repeat(2001))[0]?.field).toBe("comment");
    expect(pageSize(0).size).toBe(50);
    expect(pageSize(10).size).toBe(10);
    expect(pageSize(1000).size).toBe(200);
    expect(pageSize(-1).problems).toHaveLength(1);
  });

  it("computes averages, price changes and LIKE patterns", () => {
    expect(averageRating(0, 0)).toBe(0);
    expect(averageRating(11, 3)).toBeCloseTo(3.6667, 4);
    expect(
      priceChanged({ currencyCode: "EUR", amountMinor: 1n }, { currencyCode: "EUR", amountMinor: 1n }),
    ).toBe(false);
    expect(
      priceChanged({ currencyCode: "EUR", amountMinor: 1n }, { currencyCode: "USD", amountMinor: 1n }),
    ).toBe(true);
    expect(likePattern("50%_off\\")).toBe("%50\\%\\_off\\\\%");
  });
});

describe("page tokens", () => {
  it("round-trip a key and are bound to their listing", () => {
    const f = listingFingerprint(["products", 3, "", "kettle"]);
    const token = encodePageToken(f, ["1999", "0190aaaa-0000-7000-8000-000000000001"]);
    expect(decodePageToken(token, f, ["i", "s"])).toEqual(["1999", "0190aaaa-0000-7000-8000-000000000001"]);
    expect(
      decodePageToken(token, listingFingerprint(["products", 2, "", "kettle"]), ["i", "s"]),
    ).toBeUndefined();
    expect(decodePageToken(token, f, ["n", "s"])).toBeUndefined();
    expect(decodePageToken("not a token", f, ["i", "s"])).toBeUndefined();
    expect(decodePageToken(Buffer.from("[1]").toString("base64url"), f, ["s"])).toBeUndefined();
    const rating = encodePageToken(f, [11 / 3, "x"]);
    expect(decodePageToken(rating, f, ["n", "s"])).toEqual([11 / 3, "x"]);
  });
});
