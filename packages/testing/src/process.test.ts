import { describe, expect, it } from "vitest";
import { findTool, freePort, spawnProcess, uniqueName, waitFor } from "./index.js";

describe("spawnProcess", () => {
  it("captures output, pauses, resumes and kills", async () => {
    const p = spawnProcess(process.execPath, [
      "-e",
      "let i = 0; setInterval(() => console.log('tick ' + i++), 20); console.error('started');",
    ]);
    await p.waitForOutput("started");
    await p.waitForOutput(/tick 2/);
    p.pause();
    await new Promise((r) => setTimeout(r, 100));
    const frozen = p.output();
    await new Promise((r) => setTimeout(r, 200));
    expect(p.output()).toBe(frozen);
    p.resume();
    await waitFor(() => p.output() !== frozen, { timeoutMs: 2000 });
    expect(await p.kill("SIGKILL")).toBeNull();
    expect(p.running).toBe(false);
  });

  it("reports the exit code", async () => {
    const p = spawnProcess(process.execPath, ["-e", "process.exit(3)"]);
    expect(await p.exited).toBe(3);
  });

  it("fails clearly when the output never comes", async () => {
    const p = spawnProcess(process.execPath, ["-e", "console.log('nope')"]);
    await expect(p.waitForOutput("ready", 2000)).rejects.toThrow(/never matched/);
  });
});

describe("helpers", () => {
  it("findTool finds installed tools and nothing else", () => {
    expect(findTool("nats-server")).toMatch(/nats-server$/);
    expect(findTool("no-such-tool-mercato")).toBeUndefined();
  });

  it("uniqueName is stream-safe and unique", () => {
    const a = uniqueName("orders.v1");
    expect(a).toMatch(/^orders_v1_[A-Z0-9]{10}$/);
    expect(uniqueName("X")).not.toBe(uniqueName("X"));
  });

  it("freePort returns a usable port", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
  });

  it("waitFor times out with the reason", async () => {
    await expect(
      waitFor(
        () => {
          throw new Error("still booting");
        },
        { timeoutMs: 100, intervalMs: 10, message: "the thing" },
      ),
    ).rejects.toThrow(/the thing; last error: still booting/);
  });
});
