import { describe, expect, it } from "vitest";
import { isRemote, quote, zoneOf } from "./rates.js";
import { nextStatus, validateQuoteInput } from "./shipment.js";

describe("rate table", () => {
  it("zones countries from the German warehouse", () => {
    expect(zoneOf("DE")).toBe("domestic");
    expect(zoneOf("FR")).toBe("eu");
    expect(zoneOf("CH")).toBe("europe");
    expect(zoneOf("JP")).toBe("world");
  });

  it("prices by weight band, per extra kilogram, remote areas and currency", () => {
    const base = { countryCode: "DE", postalCode: "", currencyCode: "EUR" as const };
    expect(quote({ ...base, itemCount: 1 }).amountMinor).toBe(499n); // 700 g
    expect(quote({ ...base, itemCount: 2 }).amountMinor).toBe(599n); // 1200 g
    expect(quote({ ...base, itemCount: 39 }).amountMinor).toBe(1599n); // 19.7 kg
    expect(quote({ ...base, itemCount: 41 }).amountMinor).toBe(1599n + 60n); // 20.7 kg: one extra kg
    expect(isRemote("DE", "25938")).toBe(true);
    expect(quote({ ...base, postalCode: "25938", itemCount: 1 })).toMatchObject({
      amountMinor: 999n,
      estimatedDays: 3,
    });
    expect(quote({ ...base, currencyCode: "GBP", itemCount: 1 }).amountMinor).toBe(429n);
  });

  it("validates quote input", () => {
    const address = {
      name: "",
      line1: "",
      line2: "",
      city: "",
      region: "",
      postalCode: "",
      countryCode: "DE",
    };
    expect(validateQuoteInput({ address, itemCount: 1, currencyCode: "" })).toMatchObject({
      input: { currencyCode: "EUR" },
    });
    expect(validateQuoteInput({ address: undefined, itemCount: 0, currencyCode: "X" })).toMatchObject({
      violations: [{ field: "address" }, { field: "item_count" }, { field: "currency_code" }],
    });
  });

  it("advances one step at a time", () => {
    expect(nextStatus("LABEL_CREATED")).toBe("SHIPPED");
    expect(nextStatus("SHIPPED")).toBe("DELIVERED");
    expect(nextStatus("DELIVERED")).toBeUndefined();
    expect(nextStatus("CANCELLED")).toBeUndefined();
  });
});
