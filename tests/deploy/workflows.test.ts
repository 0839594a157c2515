/**
 * .github/workflows: actionlint passes (built by scripts/tools/actionlint.sh), and the per-service CI
 * covers every service: a path filter each, the changed-service matrix, buf breaking, tests, image, helm
 * lint and an audit.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { chartValues, repo } from "./support.js";

const workflows = join(repo, ".github/workflows");

function actionlint(): string {
  const path = join(repo, ".tools/bin/actionlint");
  if (!existsSync(path))
    execFileSync("bash", [join(repo, "scripts/tools/actionlint.sh")], { stdio: "inherit" });
  return path;
}

describe("CI workflows", () => {
  it("pass actionlint", () => {
    const result = (() => {
      try {
        return execFileSync(actionlint(), ["-no-color"], { cwd: repo, encoding: "utf8", stdio: "pipe" });
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string };
        return `${e.stdout ?? ""}${e.stderr ?? ""}` || String(error);
      }
    })();
    expect(result).toBe("");
  }, 120_000);

  it("filter paths per service and run each changed service's pipeline as a matrix", () => {
    const ci = parseYaml(readFileSync(join(workflows, "ci.yaml"), "utf8"));
    const filter = ci.jobs.changes.steps.find((s: { uses?: string }) =>
      s.uses?.startsWith("dorny/paths-filter"),
    );
    const filters = parseYaml(filter.with.filters) as Record<string, string[]>;
    for (const name of Object.keys(chartValues().services)) {
      const paths = filters[name]!.flat();
      expect(paths, name).toContain(name === "gateway" ? "gateway/**" : `services/${name}/**`);
      expect(paths, name).toContain("packages/**");
    }
    expect(ci.jobs.service.uses).toBe("./.github/workflows/service.yaml");
    expect(ci.jobs.service.strategy.matrix.service).toContain("needs.changes.outputs.services");
    const text = readFileSync(join(workflows, "ci.yaml"), "utf8");
    for (const step of ["buf breaking", "helm lint", "pnpm test:deploy", "pnpm audit"])
      expect(text).toContain(step);
    const service = readFileSync(join(workflows, "service.yaml"), "utf8");
    for (const step of ["typecheck", "test", "docker/build-push-action", "build-args: SERVICE="]) {
      expect(service).toContain(step);
    }
  });
});
