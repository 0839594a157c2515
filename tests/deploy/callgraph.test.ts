/**
 * The chart's ONE declared call graph (charts/mercato/values.yaml `callGraph`) must equal the upstream
 * clients the code really creates, read from each service's sources (see upstreamsInCode).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartValues, componentDir, componentsInTree, upstreamsInCode } from "./support.js";

const values = chartValues();
const declared = Object.keys(values.services);
const inTree = componentsInTree();

describe("call graph", () => {
  it("the chart deploys exactly the services and gateway that exist in the tree", () => {
    expect([...declared].sort()).toEqual([...inTree].sort());
    expect(Object.keys(values.callGraph).sort()).toEqual([...declared].sort());
  });

  for (const component of inTree) {
    it(`${component}: declared upstreams equal the clients its code creates`, () => {
      const found = upstreamsInCode(component, declared);
      const inCode = [...found.keys()].sort();
      const graph = [...(values.callGraph[component] ?? [])].sort();
      const where = [...found.entries()].map(
        ([name, files]) => `${name} <- ${[...new Set(files)].join(", ")}`,
      );
      expect(graph, `code says:\n${where.join("\n")}`).toEqual(inCode);
    });
  }

  it("the derivation sees every client module and the gateway's upstream settings (sanity)", () => {
    for (const component of inTree) {
      const dir = join(componentDir(component), "src/clients");
      const modules = existsSync(dir) ? readdirSync(dir).filter((f) => /^[a-z]+\.ts$/.test(f)) : [];
      const found = upstreamsInCode(component, declared);
      for (const module of modules)
        expect(found.has(module.replace(/\.ts$/, "")), `${component}/${module}`).toBe(true);
    }
    expect(upstreamsInCode("gateway", declared).size).toBeGreaterThan(0);
  });
});
