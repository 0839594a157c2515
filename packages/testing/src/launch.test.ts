import { statSync, utimesSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { bundlePath, ensureBundle, serviceCommand } from "./launch.js";
import { spawnProcess } from "./process.js";

const entry = fileURLToPath(new URL("./testdata/launch/src/main.ts", import.meta.url));

describe("serviceCommand", () => {
  it("runs the entry's bundle as one process that finds files next to its source, under the malloc settings", async () => {
    const [command, args] = await serviceCommand(entry);
    expect(args).toContain(bundlePath(entry));
    expect(args).toContain("--enable-source-maps");
    const child = spawnProcess(command, args);
    expect(await child.exited).toBe(0);
    const report = JSON.parse(child.output()) as { note: string; arenas: string; pid: number };
    expect(report).toEqual({ note: "found next to the source", arenas: "2", pid: child.pid });
  }, 60_000);
});

describe("ensureBundle", () => {
  it("rebuilds only when an input is newer than the bundle", async () => {
    const bundle = await ensureBundle(entry);
    const built = statSync(bundle).mtimeMs;
    expect(await ensureBundle(entry)).toBe(bundle);
    expect(statSync(bundle).mtimeMs).toBe(built);

    const later = new Date(built + 5_000);
    utimesSync(entry, later, later);
    await ensureBundle(entry);
    expect(statSync(bundle).mtimeMs).toBeGreaterThan(built);
  }, 60_000);
});
