import { describe, expect, it } from "vitest";
import { formatMoney, sumMoney } from "./money.js";

describe("formatMoney", () => {
  it("formats minor units exactly, with the currency's own fraction digits", () => {
    expect(formatMoney({ currencyCode: "EUR", amountMinor: 1999n }, "en-US")).toBe("€19.99");
    expect(formatMoney({ currencyCode: "EUR", amountMinor: 5n }, "en-US")).toBe("€0.05");
    expect(formatMoney({ currencyCode: "EUR", amountMinor: 1999n }, "de-DE")).toBe("19,99\u00a0€");
    expect(formatMoney({ currencyCode: "JPY", amountMinor: 1500n }, "en-US")).toBe("¥1,500");
    expect(formatMoney({ currencyCode: "USD", amountMinor: -250n }, "en-US")).toBe("-$2.50");
    expect(formatMoney({ currencyCode: "USD", amountMinor: "123" }, "en-US")).toBe("$1.23");
  });

  it("keeps amounts beyond a double's precision exact", () => {
    expect(formatMoney({ currencyCode: "USD", amountMinor: 9007199254740993n }, "en-US")).toBe(
      "$90,071,992,547,409.93",
    );
  });

  it("shows a dash for missing money", () => {
    expect(formatMoney(undefined)).toBe("—");
    expect(formatMoney({ currencyCode: "", amountMinor: 0n })).toBe("—");
  });
});

describe("sumMoney", () => {
  it("adds amounts of one currency and refuses to mix currencies", () => {
    expect(sumMoney([])).toBeUndefined();
    expect(
      sumMoney([
        { currencyCode: "EUR", amountMinor: 1n },
        { currencyCode: "EUR", amountMinor: "2" },
      ]),
    ).toEqual({ currencyCode: "EUR", amountMinor: 3n });
    expect(() =>
      sumMoney([
        { currencyCode: "EUR", amountMinor: 1n },
        { currencyCode: "USD", amountMinor: 1n },
      ]),
    ).toThrow(/cannot add USD to EUR/);
  });
});
