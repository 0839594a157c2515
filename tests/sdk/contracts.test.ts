import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./support.js";

// Contract safety beyond the generated code: `buf breaking` (which scripts/test.sh runs against main)
// sees the event contracts as well as the RPCs, and every SDK carries the contracts' one version.
const root = repoRoot();
let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), "mercato-contracts-"));
  cpSync(join(root, "buf.yaml"), join(copy, "buf.yaml"));
  cpSync(join(root, "proto"), join(copy, "proto"), { recursive: true });
});

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

/** `buf breaking` of the copy's proto/ against the repository's, as scripts/test.sh runs it. */
function breaking(): Promise<unknown> {
  const buf = join(root, "node_modules/.bin/buf");
  return run(buf, ["breaking", "proto", "--against", join(root, "proto")], { cwd: copy, timeoutMs: 120_000 });
}

describe("contract safety", () => {
  it("buf breaking passes for unchanged contracts and fails when an event loses a field", async () => {
    await breaking();

    const events = join(copy, "proto/mercato/order/v1/events.proto");
    const source = readFileSync(events, "utf8");
    const field = /^ {2}[\w.]+ (\w+) = \d+;$/m.exec(source);
    expect(field).not.toBeNull();
    writeFileSync(events, source.replace(field![0], ""));
    await expect(breaking()).rejects.toThrow(new RegExp(`mercato/order/v1/events\\.proto.*${field![1]}`));
  });

  it("the TypeScript and Python SDKs carry the same version", () => {
    const typescript = JSON.parse(readFileSync(join(root, "packages/sdk/package.json"), "utf8")).version;
    const python = /^version = "([^"]+)"$/m.exec(
      readFileSync(join(root, "sdk/python/pyproject.toml"), "utf8"),
    );
    expect(python?.[1]).toBe(typescript);
  });
});
