// Every provider verification, against one whole system (every service and the edge on free ports):
// - the edge keeps the storefront's and the SDK's pacts: Pact's verifier replays every interaction of
//   the committed pacts/storefront-edge.json and pacts/sdk-edge.json, after setting up its provider state;
// - identity, order and shipping keep their consumers' message pacts: each provider state makes the event
//   happen through the edge, and the message is the event as the outbox relay published it on NATS.
// Only the committed pacts are read, so this file never waits on the consumer tests (see pacts.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { committedPact } from "@mercato/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { edgeStateHandlers } from "./edge-provider-states.js";
import { eventProducers } from "./event-producers.js";
import { participants } from "./pact-dsl.js";
import { startRewritingProxy } from "./rewriting-proxy.js";
import { verify } from "./verify.js";

let e2e: E2eSystem;
let nats: NatsConnection;

beforeAll(async () => {
  e2e = await startE2eSystem({ name: "pact" });
  nats = await connect({ servers: e2e.system.natsUrl });
}, 300_000);

afterAll(async () => {
  await nats?.close();
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

describe("the event publishers keep their consumers' message pacts", () => {
  const publisherPacts = {
    [participants.identity]: [participants.notification],
    [participants.order]: [participants.shipping, participants.notification],
    [participants.shipping]: [participants.order, participants.notification],
  } as const;
  for (const [provider, consumers] of Object.entries(publisherPacts)) {
    it(`verifies ${provider}'s events against ${consumers.join(" and ")}`, async () => {
      const { stateHandlers, messageProviders } = eventProducers(e2e, nats);
      await verify({
        provider,
        pactUrls: consumers.map((consumer) => committedPact(consumer, provider)),
        stateHandlers,
        messageProviders,
      });
    }, 600_000);
  }
});
