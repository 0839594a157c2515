/**
 * The Tiltfile: names every service, refers only to paths that exist and to workloads the kind profile
 * renders, orders infrastructure first, forwards the edge. tilt itself evaluates it when installed
 * (`tilt alpha tiltfile-result`); tilt cannot be built here (its module is not served by the Go proxy),
 * so the static checks below are what runs on the build machines.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartValues, componentDir, objectName, podSpec, profiles, render, repo } from "./support.js";

const tiltfile = readFileSync(join(repo, "Tiltfile"), "utf8");
const code = tiltfile
  .split("\n")
  .filter((line) => !line.trimStart().startsWith("#"))
  .join("\n");
const values = chartValues();
const components = Object.keys(values.services);

function stringList(name: string): string[] {
  const match = new RegExp(`^${name} = \\[([^\\]]*)\\]`, "m").exec(code);
  if (!match) throw new Error(`${name} list not found in Tiltfile`);
  return [...match[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

function constant(name: string): string {
  const match = new RegExp(`^${name} = "([^"]+)"`, "m").exec(code);
  if (!match) throw new Error(`${name} not found in Tiltfile`);
  return match[1]!;
}

describe("Tiltfile", () => {
  const services = stringList("SERVICES");
  const edge = constant("EDGE");

  it("names every service and the edge, as the chart does", () => {
    expect([...services, edge].sort()).toEqual([...components].sort());
    for (const name of [...services, edge]) expect(existsSync(join(componentDir(name), "src"))).toBe(true);
  });

  it("refers only to paths that exist", () => {
    const chart = constant("CHART");
    expect(existsSync(join(repo, chart, "Chart.yaml"))).toBe(true);
    const literals = [
      ...code.matchAll(/"((?:services|packages|charts|gateway)\/[^"%]*|Dockerfile|pnpm-lock\.yaml)"/g),
    ];
    expect(literals.length).toBeGreaterThan(3);
    for (const [, path] of literals) expect(existsSync(join(repo, path!)), path).toBe(true);
    for (const suffix of [...code.matchAll(/CHART \+ "([^"]+)"/g)].map((m) => m[1]!)) {
      expect(existsSync(join(repo, chart + suffix)), chart + suffix).toBe(true);
    }
    for (const name of [...services, edge]) {
      for (const sub of ["/package.json", "/src"])
        expect(existsSync(join(componentDir(name) + sub))).toBe(true);
    }
  });

  it("builds each image under the name the chart uses, with the image's entrypoint", () => {
    expect(code).toContain('IMAGE_REGISTRY + "/mercato-" + name');
    expect(values.image.prefix).toBe("mercato-");
    const kind = render(profiles[0]!, ["--set", `image.registry=${constant("IMAGE_REGISTRY")}`]);
    for (const name of components) {
      const deployment = kind.find((o) => o.kind === "Deployment" && o.metadata.name === objectName(name))!;
      expect(podSpec(deployment).containers[0].image).toMatch(
        new RegExp(`^${constant("IMAGE_REGISTRY")}/mercato-${name}:`),
      );
    }
    const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    const entrypoint = /^ENTRYPOINT = (\[.*\])$/m.exec(code)?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(JSON.parse(cmd!));
  });

  it("installs the kind profile and refers only to workloads it renders", () => {
    expect(code).toMatch(/values = \[CHART \+ "\/values-kind\.yaml"\]/);
    const kind = render(profiles[0]!);
    const workloads = new Set(kind.filter((o) => podSpec(o) !== undefined).map((o) => o.metadata.name));
    const named = [...code.matchAll(/k8s_resource\(\s*"([^"]+)"/g)]
      .map((m) => m[1]!)
      .filter((n) => !n.includes("%s") && !n.endsWith("-"));
    const templated = [...code.matchAll(/k8s_resource\(\s*"([^"]*%s[^"]*)" % name/g)].flatMap((m) =>
      services.map((s) => m[1]!.replace("%s", s)),
    );
    const concatenated = code.includes('k8s_resource(\n        "mercato-" + name')
      ? services.map(objectName)
      : [];
    const edgeResource = code.includes('"mercato-" + EDGE') ? [objectName(edge)] : [];
    const all = [...named, ...templated, ...concatenated, ...edgeResource];
    expect(all.length).toBe(2 + services.length * 2 + 1);
    for (const name of all) expect(workloads.has(name), name).toBe(true);
  });

  it("starts Postgres and NATS first, and forwards the edge's port", () => {
    expect(code).toMatch(/resource_deps = \["postgres", "nats", name \+ "-migrate"\]/);
    expect(code).toMatch(/"-migrate",\s*resource_deps = \["postgres"\]/);
    expect(code).toContain(
      `port_forwards = ["${values.services.gateway!.grpcPort}:${values.services.gateway!.grpcPort}"`,
    );
  });

  it("live-updates sources into the paths pnpm deploy lays out", () => {
    expect(code).toContain('sync(src + "/src", "/app/src")');
    expect(constant("PLATFORM_IN_IMAGE")).toBe(
      "/app/node_modules/.pnpm/@mercato+platform@file+packages+platform/node_modules/@mercato/platform",
    );
    expect(code).toContain('"dev.liveUpdate=true"');
  });
});
