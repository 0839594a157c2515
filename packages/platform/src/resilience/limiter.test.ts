import { describe, expect, it } from "vitest";
import { ConcurrencyLimitError, ConcurrencyLimiter } from "./limiter.js";

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("ConcurrencyLimiter", () => {
  it("refuses at once beyond the limit when there is no queue", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const a = await limiter.acquire();
    await limiter.acquire();
    await expect(limiter.acquire()).rejects.toMatchObject({ reason: "full" });
    a();
    a();
    expect(limiter.inFlight).toBe(1);
    await limiter.acquire();
    expect(limiter.inFlight).toBe(2);
  });

  it("hands slots to queued callers in order", async () => {
    const limiter = new ConcurrencyLimiter(1, 2);
    const order: number[] = [];
    const first = await limiter.acquire();
    const second = limiter.acquire().then((release) => {
      order.push(2);
      return release;
    });
    const third = limiter.acquire().then((release) => {
      order.push(3);
      release();
    });
    await expect(limiter.acquire()).rejects.toBeInstanceOf(ConcurrencyLimitError);
    expect(limiter.queued).toBe(2);
    first();
    (await second)();
    await third;
    expect(order).toEqual([2, 3]);
    expect(limiter.inFlight).toBe(0);
  });

  it("gives up waiting at the deadline or on abort", async () => {
    const limiter = new ConcurrencyLimiter(1, 5);
    const held = await limiter.acquire();
    await expect(limiter.acquire({ deadline: Date.now() + 30 })).rejects.toMatchObject({ reason: "timeout" });
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(limiter.queued).toBe(0);
    held();
    expect(limiter.inFlight).toBe(0);
  });

  it("run() releases the slot even when the work fails", async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(
      await limiter.run(async () => {
        await wait(1);
        return 7;
      }),
    ).toBe(7);
    expect(limiter.inFlight).toBe(0);
  });
});
