import { describe, expect, it } from "vitest";
import { metricsRegistry } from "../metrics/index.js";
import { Breaker, BreakerOpenError, type BreakerState } from "./breaker.js";

class Failure extends Error {
  constructor(readonly counts: boolean) {
    super(counts ? "upstream failure" : "caller error");
  }
}

function breaker(states: BreakerState[] = []) {
  return new Breaker({
    name: `unit-${Math.random().toString(36).slice(2)}`,
    isFailure: (error) => error instanceof Failure && error.counts,
    volumeThreshold: 4,
    errorThresholdPercentage: 50,
    resetTimeoutMs: 100,
    onStateChange: (state) => states.push(state),
  });
}

const fail = (counts: boolean) => () => Promise.reject(new Failure(counts));
const ok = () => Promise.resolve("ok");

describe("Breaker", () => {
  it("ignores errors that do not count", async () => {
    const b = breaker();
    for (let i = 0; i < 10; i++) await expect(b.run(fail(false))).rejects.toBeInstanceOf(Failure);
    expect(b.state).toBe("closed");
    b.shutdown();
  });

  it("opens on failures, fails fast while open, half-opens after the reset timeout, closes on success", async () => {
    const states: BreakerState[] = [];
    const b = breaker(states);
    for (let i = 0; i < 4; i++) await expect(b.run(fail(true))).rejects.toBeInstanceOf(Failure);
    expect(b.state).toBe("open");
    let called = false;
    await expect(
      b.run(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(BreakerOpenError);
    expect(called).toBe(false);
    const gauge = await metricsRegistry.getSingleMetricAsString("mercato_circuit_breaker_state");
    expect(gauge).toContain(`upstream="${b.name}"} 2`);

    await new Promise((resolve) => setTimeout(resolve, 130));
    expect(b.state).toBe("halfOpen");
    expect(await b.run(ok)).toBe("ok");
    expect(b.state).toBe("closed");
    expect(states).toEqual(["open", "halfOpen", "closed"]);
    b.shutdown();
  });

  it("reopens when the half-open probe fails", async () => {
    const b = breaker();
    for (let i = 0; i < 4; i++) await expect(b.run(fail(true))).rejects.toBeInstanceOf(Failure);
    await new Promise((resolve) => setTimeout(resolve, 130));
    await expect(b.run(fail(true))).rejects.toBeInstanceOf(Failure);
    expect(b.state).toBe("open");
    b.shutdown();
  });
});
