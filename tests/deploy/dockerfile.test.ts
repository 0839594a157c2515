/** The Dockerfile's own rules, read statically (image.test.ts proves its contents run). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { repo } from "./support.js";

const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
const dockerignore = readFileSync(join(repo, ".dockerignore"), "utf8");

it("builds on a pinned Node.js 24 slim image, with pnpm deploy, and runs as uid 10001", () => {
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
  expect(image).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim$/);
  expect(dockerfile.match(/^FROM \$\{NODE_IMAGE\} AS \w+$/gm)?.length).toBe(2);
  expect(dockerfile).toMatch(
    /pnpm deploy --legacy --offline .*--filter "@mercato\/\$\{SERVICE\}" --prod \/out/,
  );
  expect(dockerfile).toMatch(/^USER 10001:10001$/m);
  expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "--import", "tsx", "src\/main.ts"\]$/m);
  const pnpmVersion = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).packageManager.split(
    "@",
  )[1];
  expect(dockerfile).toContain(`ARG PNPM_VERSION=${pnpmVersion}`);
});

it("keeps dependencies, local data and tools out of the build context", () => {
  for (const entry of ["**/node_modules", ".tools", "**/.data", ".git"])
    expect(dockerignore).toContain(entry);
});
