// The edge as the provider of the storefront's and the SDK's pacts: Pact's verifier replays every
// interaction of the committed pacts/storefront-edge.json and pacts/sdk-edge.json against the real edge
// and services (a whole system on free ports), after setting up each interaction's provider state.
import { committedPact } from "@mercato/testing";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { edgeStateHandlers } from "./edge-provider-states.js";
import { participants } from "./pact-dsl.js";
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
});
