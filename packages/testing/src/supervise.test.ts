import { describe, expect, it } from "vitest";
import { CrashHistory, type RestartPolicy, Supervisor } from "./supervise.js";

const policy: RestartPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 1_000,
  maxCrashes: 4,
  windowMs: 10_000,
  healthyRunMs: 5_000,
};

describe("CrashHistory", () => {
  it("backs off exponentially up to the cap while crashes follow each other", () => {
    const history = new CrashHistory({ ...policy, maxCrashes: 100 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const verdict = history.crashed(i * 100, i * 100 - 10);
      if (verdict.action !== "restart") throw new Error("gave up too early");
      delays.push(verdict.delayMs);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("starts afresh after a healthy run, and gives up on the maxCrashes-th crash inside the window", () => {
    const history = new CrashHistory(policy);
    expect(history.crashed(1_000, 0)).toMatchObject({ action: "restart", delayMs: 100, attempt: 1 });
    expect(history.crashed(2_000, 1_500)).toMatchObject({ action: "restart", delayMs: 200, attempt: 2 });
    // Ran 6 s: healthy, so the back-off restarts, but the crash still counts in the window.
    expect(history.crashed(9_000, 3_000)).toMatchObject({ action: "restart", delayMs: 100, attempt: 1 });
    expect(history.crashed(9_500, 9_200)).toEqual({ action: "give-up", crashes: 4, windowMs: 10_000 });
  });

  it("forgets crashes older than the window", () => {
    const history = new CrashHistory(policy);
    for (const at of [0, 1_000, 2_000]) expect(history.crashed(at, at - 50).action).toBe("restart");
    // The first three left the window: one crash in it now.
    expect(history.crashed(13_000, 12_950)).toMatchObject({ action: "restart" });
  });
});

describe("Supervisor", () => {
  it("relaunches after the delay, reports it, and stops relaunching once stopped", async () => {
    const events: string[] = [];
    const relaunched: string[] = [];
    const supervisor = new Supervisor(
      { ...policy, initialDelayMs: 20 },
      {
        onRestarting: (name, info) => events.push(`restarting ${name} ${info.attempt} ${info.delayMs}`),
        onRestarted: (name, info) => events.push(`restarted ${name} ${info.attempt}`),
        onGiveUp: (name, info) => events.push(`gave up ${name} ${info.crashes}`),
      },
      async (name) => {
        relaunched.push(name);
      },
    );
    supervisor.crashed("order", Date.now() - 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(relaunched).toEqual(["order"]);
    expect(events).toEqual(["restarting order 1 20", "restarted order 1"]);
    supervisor.crashed("order", Date.now() - 10);
    supervisor.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(relaunched).toEqual(["order"]);
    expect(supervisor.crashed("order", Date.now())).toBeUndefined();
  });
});
