// The edge as the provider of the storefront's and the SDK's pacts: Pact's verifier replays every
// interaction of the committed pacts/storefront-edge.json and pacts/sdk-edge.json against the real edge
// and services (a whole system on free ports), after setting up each interaction's provider state.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { committedPact } from "@mercato/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { edgeStateHandlers } from "./edge-provider-states.js";
import { participants } from "./pact-dsl.js";
import { startRewritingProxy } from "./rewriting-proxy.js";
import { verify } from "./verify.js";

let e2e: E2eSystem;

beforeAll(async () => {
  e2e = await startE2eSystem({ name: "pact-edge" });
}, 300_000);

afterAll(async () => {
  await e2e?.stop();
});

describe("the edge keeps its consumers' pacts", () => {
  it("verifies every interaction of the storefront's and the SDK's pacts", async () => {
    await verify({
      provider: participants.edge,
      providerBaseUrl: e2e.url,
      pactUrls: [
        committedPact(participants.storefront, participants.edge),
        committedPact(participants.sdk, participants.edge),
      ],
      stateHandlers: edgeStateHandlers(e2e),
    });
  }, 600_000);

  it("fails verification, naming the interaction and the field, when the edge renames a field the storefront reads", async () => {
    // The order page lists `order.lines`; an edge that called them `items` would leave it empty.
    const description = "a request for an order the saga confirmed";
    const dir = mkdtempSync(join(tmpdir(), "mercato-pact-flip-"));
    const pact = JSON.parse(readFileSync(committedPact(participants.storefront, participants.edge), "utf8"));
    pact.interactions = pact.interactions.filter(
      (i: { description: string }) => i.description === description,
    );
    expect(pact.interactions).toHaveLength(1);
    const pactFile = join(dir, "storefront-edge.json");
    writeFileSync(pactFile, JSON.stringify(pact));
    const proxy = await startRewritingProxy(e2e.url);
    const verifyThroughProxy = () =>
      verify({
        provider: participants.edge,
        providerBaseUrl: proxy.url,
        pactUrls: [pactFile],
        stateHandlers: edgeStateHandlers(e2e),
      });
    try {
      // Through the proxy unchanged, the interaction still verifies: what fails next is the rename.
      await verifyThroughProxy();
      proxy.rewrite = (path, body) => {
        const order = (body as { order?: Record<string, unknown> }).order;
        if (!path.endsWith("/GetOrder") || order === undefined) return body;
        const { lines, ...rest } = order;
        return { order: { ...rest, items: lines } };
      };
      const failure = await verifyThroughProxy().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toContain(`- ${description}" failed:`);
      expect(failure?.message).toMatch(/\$\.order: Actual map is missing the following keys: lines/);
      console.log(`what a provider change looks like:\n${failure?.message}`);
    } finally {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
