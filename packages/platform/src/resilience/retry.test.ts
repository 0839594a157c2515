import { describe, expect, it } from "vitest";
import { retry } from "./retry.js";
import { RetryBudget } from "./retry-budget.js";

const policy = { maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 2 };
const transient = Object.assign(new Error("transient"), { transient: true });
const permanent = new Error("permanent");
const shouldRetry = (error: unknown) => (error as { transient?: boolean }).transient === true;

function failing(times: number, error: Error = transient) {
  let calls = 0;
  return {
    fn: async (n: number) => {
      calls++;
      if (n < times) throw error;
      return `ok after ${n}`;
    },
    calls: () => calls,
  };
}

describe("retry", () => {
  it("retries retryable errors until success", async () => {
    const op = failing(2);
    expect(await retry(op.fn, { policy, shouldRetry })).toBe("ok after 2");
    expect(op.calls()).toBe(3);
  });

  it("stops at maxAttempts and rethrows the last error", async () => {
    const op = failing(10);
    await expect(retry(op.fn, { policy, shouldRetry })).rejects.toBe(transient);
    expect(op.calls()).toBe(4);
  });

  it("does not retry other errors", async () => {
    const op = failing(1, permanent);
    await expect(retry(op.fn, { policy, shouldRetry })).rejects.toBe(permanent);
    expect(op.calls()).toBe(1);
  });

  it("never starts a backoff that ends past the deadline", async () => {
    const op = failing(10);
    // The backoff (5 s: half of 10 s with this jitter) would end past the 4 s deadline. Giving up at
    // once is told apart from sleeping (to the deadline or the backoff) by seconds, not milliseconds.
    const slow = { maxAttempts: 10, initialBackoffMs: 10_000, maxBackoffMs: 10_000 };
    const started = Date.now();
    await expect(
      retry(op.fn, { policy: slow, shouldRetry, deadline: Date.now() + 4_000, random: () => 0.5 }),
    ).rejects.toBe(transient);
    expect(op.calls()).toBe(1);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it("stops when the budget refuses", async () => {
    const budget = new RetryBudget({ ratio: 0, minRetries: 1 });
    let refused = 0;
    const op = failing(10);
    await expect(
      retry(op.fn, { policy, shouldRetry, budget, onBudgetExhausted: () => refused++ }),
    ).rejects.toBe(transient);
    expect(op.calls()).toBe(2);
    expect(refused).toBe(1);
  });

  it("stops when the signal aborts during a backoff", async () => {
    const controller = new AbortController();
    const op = failing(10);
    const slow = { maxAttempts: 5, initialBackoffMs: 5_000, maxBackoffMs: 5_000 };
    setTimeout(() => controller.abort(), 20);
    await expect(
      retry(op.fn, { policy: slow, shouldRetry, signal: controller.signal, random: () => 1 }),
    ).rejects.toBe(transient);
    expect(op.calls()).toBe(1);
  });
});
