import { describe, expect, it } from "vitest";
import { parseReplicas, replicaName } from "./system.js";

describe("replica options", () => {
  it("parses --replicas lists", () => {
    expect(parseReplicas("order=3, payment=2,gateway=2")).toEqual({ order: 3, payment: 2, gateway: 2 });
    expect(parseReplicas("")).toEqual({});
  });

  it("refuses unknown services, bad shapes and counts outside 1–9", () => {
    expect(() => parseReplicas("ordr=3")).toThrow(/unknown service "ordr"/);
    expect(() => parseReplicas("order:3")).toThrow(/"order:3" is not <service>=<count>/);
    expect(() => parseReplicas("order=0")).toThrow(/outside 1–9/);
    expect(() => parseReplicas("order=10")).toThrow(/outside 1–9/);
  });

  it("names a single process after its service and replicas by number", () => {
    expect(replicaName("order", 1, 1)).toBe("order");
    expect(replicaName("order", 2, 3)).toBe("order-2");
  });
});
