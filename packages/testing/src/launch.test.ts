import { readFileSync, statSync, utimesSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
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
    expect(report).toEqual({
      note: "found next to the source",
      arenas: "2",
      pid: child.pid,
      dependency: "function",
    });
  }, 60_000);
});

describe("ensureBundle", () => {
  it("writes a source map that maps our code and nothing in node_modules", async () => {
    const bundle = await ensureBundle(entry);
    const payload = JSON.parse(readFileSync(`${bundle}.map`, "utf8")) as SourceMapPayload;
    expect(payload.sources.some((source) => source.includes("node_modules/"))).toBe(true);
    const map = new SourceMap(payload);
    const mappedTo = new Set<string>();
    readFileSync(bundle, "utf8")
      .split("\n")
      .forEach((text, line) => {
        for (let column = 0; column < text.length; column += 3) {
          const entry = map.findEntry(line, column);
          if ("originalSource" in entry && entry.originalSource) mappedTo.add(entry.originalSource);
        }
      });
    expect([...mappedTo].filter((source) => source.includes("node_modules/"))).toEqual([]);
    expect([...mappedTo].some((source) => source.endsWith("src/main.ts"))).toBe(true);
  }, 60_000);

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
