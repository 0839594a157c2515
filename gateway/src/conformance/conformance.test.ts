import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { repoRoot, requireTool } from "@mercato/testing/servers";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));

describe("the Connect conformance suite against the edge", () => {
  it(
    "passes every case the edge declares in config.yaml, except the justified known failures",
    async () => {
      const runner = requireTool("connectconformance");
      const root = repoRoot();
      const protoDir = join(root, ".tools/share/connectconformance/proto");
      const work = await mkdtemp(join(tmpdir(), "conformance-"));
      try {
        const descriptors = join(work, "conformance.binpb");
        await run(join(root, "node_modules/.bin/buf"), ["build", protoDir, "-o", descriptors]);
        const { stdout } = await run(
          runner,
          [
            "--mode",
            "server",
            "--conf",
            join(here, "config.yaml"),
            "--known-failing",
            `@${join(here, "known-failing.txt")}`,
            "--",
            process.execPath,
            "--import",
            "tsx",
            join(here, "server.ts"),
            descriptors,
          ],
          { cwd: join(root, "gateway"), maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
        ).catch((error: { stdout?: string; stderr?: string }) => {
          throw new Error(
            `connectconformance failed:\n${error.stdout ?? ""}\n${(error.stderr ?? "").slice(-4_000)}`,
          );
        });
        const summary = /(\d+) passed, (\d+) failed/.exec(stdout);
        expect(summary, stdout).not.toBeNull();
        expect(Number(summary?.[2])).toBe(0);
        expect(Number(summary?.[1])).toBeGreaterThan(300);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
    { timeout: 600_000 },
  );
});
