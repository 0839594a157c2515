import { describe, expect, it } from "vitest";
import {
  adjustOnHand,
  checkLines,
  checkReservationId,
  crossedLowStock,
  reservationTtl,
  sameLines,
  setOnHand,
  shortages,
  sortedLines,
} from "./rules.js";

describe("inventory rules", () => {
  it("validates lines and ids", () => {
    expect(checkLines([{ sku: "A", quantity: 1 }])).toEqual([]);
    expect(checkLines([])[0]?.field).toBe("lines");
    expect(
      checkLines([
        { sku: "A", quantity: 1 },
        { sku: "A", quantity: 0 },
      ]).map((v) => v.field),
    ).toEqual(["lines[1].sku", "lines[1].quantity"]);
    expect(checkReservationId("0190aaaa-0000-7000-8000-000000000001")).toEqual([]);
    expect(checkReservationId("saga-1:reserve")).toEqual([]);
    expect(checkReservationId("")).toHaveLength(1);
    expect(checkReservationId("a b")).toHaveLength(1);
  });

  it("chooses the TTL", () => {
    expect(reservationTtl(0, 900, 3600)).toEqual({ seconds: 900, problems: [] });
    expect(reservationTtl(60, 900, 3600).seconds).toBe(60);
    expect(reservationTtl(-1, 900, 3600).problems[0]?.field).toBe("ttl_seconds");
    expect(reservationTtl(3601, 900, 3600).problems[0]?.field).toBe("ttl_seconds");
  });

  it("compares and sorts lines", () => {
    const a = [
      { sku: "B", quantity: 2 },
      { sku: "A", quantity: 1 },
    ];
    expect(sortedLines(a).map((l) => l.sku)).toEqual(["A", "B"]);
    expect(sameLines(a, [...a].reverse())).toBe(true);
    expect(sameLines(a, [{ sku: "A", quantity: 1 }])).toBe(false);
    expect(
      sameLines(a, [
        { sku: "A", quantity: 1 },
        { sku: "B", quantity: 3 },
      ]),
    ).toBe(false);
  });

  it("finds shortages, all lines at once", () => {
    const levels = new Map([
      ["A", { onHand: 5, reserved: 4 }],
      ["B", { onHand: 5, reserved: 0 }],
    ]);
    expect(
      shortages(levels, [
        { sku: "A", quantity: 1 },
        { sku: "B", quantity: 5 },
      ]),
    ).toEqual([]);
    expect(
      shortages(levels, [
        { sku: "A", quantity: 2 },
        { sku: "C", quantity: 1 },
      ]),
    ).toEqual([
      { sku: "A", requested: 2, available: 1 },
      { sku: "C", requested: 1, available: 0 },
    ]);
  });

  it("never lets on_hand drop below zero or the reserved units", () => {
    expect(setOnHand({ onHand: 5, reserved: 3 }, 3)).toEqual({ ok: true, level: { onHand: 3, reserved: 3 } });
    expect(setOnHand({ onHand: 5, reserved: 3 }, 2).ok).toBe(false);
    expect(adjustOnHand({ onHand: 5, reserved: 0 }, -6).ok).toBe(false);
    expect(adjustOnHand({ onHand: 5, reserved: 2 }, -4).ok).toBe(false);
    expect(adjustOnHand({ onHand: 5, reserved: 2 }, 10)).toEqual({
      ok: true,
      level: { onHand: 15, reserved: 2 },
    });
    expect(adjustOnHand({ onHand: 2_147_483_000, reserved: 0 }, 1000).ok).toBe(false);
  });

  it("reports low stock once per crossing", () => {
    expect(crossedLowStock(6, 5, 5)).toBe(true);
    expect(crossedLowStock(10, 0, 5)).toBe(true);
    expect(crossedLowStock(5, 4, 5)).toBe(false);
    expect(crossedLowStock(3, 8, 5)).toBe(false);
  });
});
