import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { canonicalPact, checkPactFile, pactOutput } from "./pacts.js";

const committedDir = mkdtempSync(join(tmpdir(), "mercato-pacts-test-"));
const pact = (description: string) =>
  JSON.stringify({ provider: { name: "p" }, interactions: [{ description }] });

afterEach(() => {
  delete process.env.UPDATE_PACTS;
});
afterAll(() => rmSync(committedDir, { recursive: true, force: true }));

describe("checkPactFile", () => {
  it("accepts a generated pact equal to the committed one, whatever its key order and layout", () => {
    writeFileSync(join(committedDir, "c-p.json"), canonicalPact(pact("a call")));
    const output = pactOutput("c", "p", committedDir);
    writeFileSync(
      output.generated,
      JSON.stringify({ interactions: [{ description: "a call" }], provider: { name: "p" } }),
    );
    expect(() => checkPactFile(output)).not.toThrow();
    expect(existsSync(output.dir)).toBe(false);
  });

  it("refuses a stale committed pact, showing the first difference and how to accept the change", () => {
    writeFileSync(join(committedDir, "c-p.json"), canonicalPact(pact("a call")));
    const output = pactOutput("c", "p", committedDir);
    writeFileSync(output.generated, pact("another call"));
    expect(() => checkPactFile(output)).toThrow(
      /pacts\/c-p\.json is not what the c consumer tests generate[\s\S]*UPDATE_PACTS=1[\s\S]*"another call"/,
    );
  });

  it("writes the generated pact when UPDATE_PACTS=1, and refuses when none was generated", () => {
    const output = pactOutput("c", "q", committedDir);
    writeFileSync(output.generated, pact("a new call"));
    process.env.UPDATE_PACTS = "1";
    checkPactFile(output);
    expect(readFileSync(join(committedDir, "c-q.json"), "utf8")).toBe(canonicalPact(pact("a new call")));
    expect(() => checkPactFile(pactOutput("c", "r", committedDir))).toThrow(/wrote no pact/);
  });
});
