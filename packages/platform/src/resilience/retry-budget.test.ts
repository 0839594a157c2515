import { describe, expect, it } from "vitest";
import { RetryBudget } from "./retry-budget.js";

describe("RetryBudget", () => {
  it("allows minRetries + ratio × requests retries per window", () => {
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 3, now: () => 0 });
    for (let i = 0; i < 50; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryRetry()) granted++;
    expect(granted).toBe(13);
    budget.recordRequest();
    budget.recordRequest();
    budget.recordRequest();
    budget.recordRequest();
    budget.recordRequest();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
  });

  it("forgets requests and retries older than the window", () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0, minRetries: 2, windowMs: 1_000, now: () => now });
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    now = 500;
    expect(budget.tryRetry()).toBe(false);
    now = 1_050;
    expect(budget.tryRetry()).toBe(true);
    expect(budget.snapshot()).toEqual({ requests: 0, retries: 1 });
  });

  it("bounds total attempts to about (1 + ratio) × requests however many attempts callers want", () => {
    const budget = new RetryBudget({ ratio: 0.1, minRetries: 0, now: () => 0 });
    let attempts = 0;
    for (let request = 0; request < 1_000; request++) {
      budget.recordRequest();
      attempts++;
      for (let retry = 0; retry < 4 && budget.tryRetry(); retry++) attempts++;
    }
    expect(attempts).toBeLessThanOrEqual(1_100);
  });
});
