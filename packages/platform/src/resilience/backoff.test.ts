import { describe, expect, it } from "vitest";
import { fullJitterBackoff, sleep } from "./backoff.js";

describe("fullJitterBackoff", () => {
  const options = { initialBackoffMs: 100, maxBackoffMs: 1_000 };

  it("draws from [0, initial × 2^retry) capped at the maximum", () => {
    expect(fullJitterBackoff(0, options, () => 0)).toBe(0);
    expect(fullJitterBackoff(0, options, () => 0.999)).toBe(99);
    expect(fullJitterBackoff(2, options, () => 0.5)).toBe(200);
    expect(fullJitterBackoff(10, options, () => 0.999)).toBe(999);
  });

  it("spreads real delays over the whole interval", () => {
    const delays = Array.from({ length: 1_000 }, () => fullJitterBackoff(1, options));
    expect(Math.min(...delays)).toBeLessThan(20);
    expect(Math.max(...delays)).toBeGreaterThan(180);
    expect(Math.max(...delays)).toBeLessThan(200);
  });
});

describe("sleep", () => {
  it("resolves true after the delay and false as soon as the signal aborts", async () => {
    expect(await sleep(5)).toBe(true);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    expect(await sleep(5_000, controller.signal)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
