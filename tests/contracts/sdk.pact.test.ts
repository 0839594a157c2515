// The TypeScript SDK (@mercato/sdk over connect-node) as a consumer of the edge: the SDK's own example,
// packages/sdk/examples/place-order.ts, runs unchanged against Pact's mock server (register, log in,
// list products, place an order, read it until the saga settled), plus the error an SDK caller
// handles with field violations. The pact written here is compared with pacts/sdk-edge.json.
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMercatoClient } from "@mercato/sdk/connect";
import { checkPactFile, pactOutput } from "@mercato/testing";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
import { describe, expect, it } from "vitest";
import {
  accessTokenExample,
  address,
  connectError,
  fieldViolations,
  orderBody,
  post,
  tokensBody,
} from "./edge-interactions.js";
import { examples, paths, states } from "./edge-states.js";
import { participants, stateRef } from "./pact-dsl.js";

const { eachLike, like, regex } = MatchersV3;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const output = pactOutput(participants.sdk, participants.edge);
const pact = new PactV4({
  consumer: participants.sdk,
  provider: participants.edge,
  dir: output.dir,
  logLevel: "warn",
});

const exampleEmail = "ts-example-0197a1b2-0000-7000-8000-0000000000c1@example.com";
const password = "a long enough secret";
/** The example's emails: `ts-example-<uuid>@example.com`. */
const emailMatcher = regex(/^ts-example-[0-9a-f-]{36}@example\.com$/, exampleEmail);

describe("the SDK's expectations of the edge", () => {
  it("runs the SDK's place-order example: register, log in, list products, place an order, read it", async () => {
    post(
      pact,
      states.noAccount,
      "an SDK sign-up",
      `${paths.identity}/Register`,
      {
        email: emailMatcher,
        password,
        name: "TypeScript Example",
      },
      { params: { email: exampleEmail } },
    ).willRespondWith(200, (res) => res.jsonBody({ user: { id: MatchersV3.uuid(examples.userId) } }));
    post(
      pact,
      states.account,
      "an SDK log-in",
      `${paths.identity}/Login`,
      { email: emailMatcher, password },
      {
        params: { email: exampleEmail, password },
      },
    ).willRespondWith(200, (res) => res.jsonBody(tokensBody(exampleEmail)));
    post(
      pact,
      states.catalog,
      "an SDK request for a page of products",
      `${paths.catalog}/ListProducts`,
      {
        pageSize: 10,
      },
      { auth: true },
    ).willRespondWith(200, (res) =>
      res.jsonBody({
        products: eachLike({
          id: MatchersV3.uuid(examples.productId),
          name: like("Ethiopian coffee, 250 g"),
        }),
      }),
    );
    post(
      pact,
      states.productInStock,
      "an SDK order paid with a card that is approved",
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: MatchersV3.uuid("0197a1b2-0000-7000-8000-0000000000c2"),
        lines: [{ productId: stateRef("productId"), quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: {
          name: "Ada",
          line1: "1 Main St",
          city: "Berlin",
          postalCode: "10115",
          countryCode: "DE",
        },
      },
      { auth: true },
    ).willRespondWith(200, (res) =>
      res.jsonBody({ order: { id: MatchersV3.uuid(examples.orderId), status: "ORDER_STATUS_PENDING" } }),
    );
    await post(
      pact,
      states.confirmedOrder,
      "an SDK request for an order the saga confirmed",
      `${paths.order}/GetOrder`,
      {
        orderId: stateRef("orderId"),
      },
      { auth: true },
    )
      .willRespondWith(200, (res) => res.jsonBody({ order: orderBody("ORDER_STATUS_CONFIRMED") }))
      .executeTest(async (server) => {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          ["--import", "tsx", join(repoRoot, "packages/sdk/examples/place-order.ts")],
          { cwd: repoRoot, env: { ...process.env, MERCATO_URL: server.url }, timeout: 60_000 },
        );
        const printed = JSON.parse(stdout) as { id: string; status: string };
        expect(printed).toMatchObject({ id: examples.orderId, status: "ORDER_STATUS_CONFIRMED" });
      });
  });

  it("reads the field violations of an order the edge refuses", async () => {
    await post(
      pact,
      states.productInStock,
      "an SDK order with a country code in lower case",
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: "sdk-invalid-1",
        lines: [{ productId: stateRef("productId"), quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: { ...address, countryCode: "de" },
      },
      { auth: true },
    )
      .willRespondWith(400, (res) =>
        res.jsonBody(
          connectError(
            "invalid_argument",
            "invalid request: shipping_address.country_code: must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE",
            fieldViolations("shipping_address.country_code"),
          ),
        ),
      )
      .executeTest(async (server) => {
        const mercato = createMercatoClient(server.url, { token: accessTokenExample });
        const error = await mercato.order
          .placeOrder({
            idempotencyKey: "sdk-invalid-1",
            lines: [{ productId: examples.productId, quantity: 1 }],
            paymentToken: "tok_visa",
            shippingAddress: { ...address, countryCode: "de" },
          })
          .then(
            () => undefined,
            (e: unknown) => ConnectError.from(e),
          );
        if (error === undefined) throw new Error("the order was accepted");
        expect(error.code).toBe(Code.InvalidArgument);
        expect(error.rawMessage).toContain("country_code");
        const badRequest = error.details.find((d) => "type" in d && d.type === "google.rpc.BadRequest");
        const debug = (badRequest && "debug" in badRequest ? badRequest.debug : undefined) as
          | { fieldViolations: { field: string; description: string }[] }
          | undefined;
        expect(debug?.fieldViolations[0]?.field).toBe("shipping_address.country_code");
      });
  });

  it("wrote the pact that is committed as pacts/sdk-edge.json", () => {
    checkPactFile(output);
  });
});
