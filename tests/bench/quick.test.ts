/**
 * Keeps the benchmark harness from rotting: runs `pnpm bench --quick` into a temporary directory and
 * checks that it ran every benchmark and wrote a well-formed report (every section, figures in every
 * target row, the plots it links). It asserts nothing about speed: the figures of a quick run on a
 * busy test machine mean nothing, and speed belongs in the report, not in a test.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = repoRoot();
const sections = [
  "1. Edge",
  "2. Kit overhead",
  "3. Saga",
  "4. Events",
  "5. Memory",
  "6. Start-up",
  "7. Soak",
] as const;

function run(cmd: string, args: readonly string[], timeoutMs: number) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: root, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) || 1 : 0, stdout, stderr });
      },
    );
  });
}

describe("pnpm bench --quick", () => {
  let out: string;
  let result: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    // The load tools (ghz, vegeta, wrk, grpc-gateway's plugins) are built on first use; on a fresh
    // machine that takes minutes, which is not the harness's time.
    const tools = await run("bash", ["bench/tools/edge-tools.sh"], 20 * 60_000);
    expect(tools.code, tools.stderr).toBe(0);
    out = await mkdtemp(join(tmpdir(), "mercato-bench-quick-"));
    result = await run("pnpm", ["bench", "--quick", "--out", out], 300_000);
  }, 25 * 60_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("runs every benchmark without failing", () => {
    expect(result.code, result.stderr.slice(-6000)).toBe(0);
    expect(result.stdout).toContain("report:");
  });

  it("writes a report with every section, figures in every target row, and the plots it links", async () => {
    const files = await readdir(out);
    const report = files.find((f) => /^\d{4}-\d{2}-\d{2}-quick\.md$/.test(f));
    expect(report, files.join(", ")).toBeDefined();
    const text = await readFile(join(out, report!), "utf8");

    for (const section of sections)
      expect(text).toMatch(new RegExp(`^## ${section.replace(/\./g, "\\.")}`, "m"));
    expect(text).not.toContain("## Failures");

    // Every target row: benchmark | target | measured (a number) | verdict.
    const targetsTable = text.slice(
      text.indexOf("## Targets"),
      text.indexOf("\n## ", text.indexOf("## Targets") + 1),
    );
    const rows = targetsTable.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| benchmark"));
    expect(rows.length).toBeGreaterThanOrEqual(sections.length);
    for (const section of sections) {
      const title = section.replace(/^\d\. /, "");
      expect(
        rows.some((r) => r.includes(title)),
        `no target row for ${section}`,
      ).toBe(true);
    }
    for (const row of rows) {
      const cells = row.split("|").map((c) => c.trim());
      expect(cells[3], row).toMatch(/-?\d/);
      expect(cells[4], row).toMatch(/^(met|\*\*missed\*\*)/);
    }

    for (const label of ["CPUs (nproc)", "CPU model", "memory", "node", "PostgreSQL", "nats-server", "ghz"]) {
      expect(text).toContain(`| ${label} |`);
    }
    expect(text).toMatch(/Commit `[0-9a-f]{40}`/);

    const plots = [...text.matchAll(/!\[[^\]]*\]\(([^)]+\.svg)\)/g)].map((m) => m[1]!);
    expect(plots.length).toBeGreaterThanOrEqual(5);
    for (const plot of plots) {
      expect(existsSync(join(out, plot)), plot).toBe(true);
      expect(await readFile(join(out, plot), "utf8")).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
    }
    const raw = JSON.parse(await readFile(join(out, report!.replace(/\.md$/, ".json")), "utf8"));
    expect(raw.sections.map((s: { id: string }) => s.id)).toEqual([
      "edge",
      "kit",
      "memory",
      "saga",
      "events",
      "soak",
      "startup",
    ]);
  });
});
