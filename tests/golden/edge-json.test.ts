import { waitFor } from "@mercato/testing";
import { afterAll, beforeAll, describe, it } from "vitest";
import { seedDemoData } from "../../scripts/seed.js";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { paths, waitForStatus } from "../e2e/shop-helpers.js";
import { expectGolden, Normalizer } from "./golden.js";

// The JSON the edge sends clients for the key RPCs, compared with committed golden files so that a
// client-visible change (a renamed field, an enum spelling, int64 as number) never happens silently.
// Runs against `pnpm start`'s demo data; ids and timestamps are normalized explicitly (see golden.ts).

let e2e: E2eSystem;
const normalizer = new Normalizer();
const customer = { email: "golden@example.com", password: "a long enough secret", name: "Golden Customer" };
const address = {
  name: "Golden Customer",
  line1: "1 Main St",
  city: "Berlin",
  postalCode: "10115",
  countryCode: "DE",
};

beforeAll(async () => {
  e2e = await startE2eSystem({ name: "golden" });
  await seedDemoData(e2e.url, admin);
}, 180_000);

afterAll(async () => {
  await e2e?.stop();
});

/** Calls the edge and returns the JSON body, failing on any status but 200. */
async function ok(path: string, body: unknown, token?: string): Promise<unknown> {
  const response = await e2e.call(path, body, token);
  if (response.status !== 200)
    throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

describe("golden JSON of the edge's responses", () => {
  it("Register, ListProducts, PlaceOrder and GetOrder", async () => {
    const registered = await ok(`${paths.identity}/Register`, customer);
    expectGolden("register", normalizer.normalize(registered));
    const token = await e2e.login(customer.email, customer.password);

    // biome-ignore lint/suspicious/noExplicitAny: reading the product ids out of the JSON
    const listed: any = await ok(`${paths.catalog}/ListProducts`, { pageSize: 3 });
    expectGolden("list-products", normalizer.normalize(listed));

    // biome-ignore lint/suspicious/noExplicitAny: reading the order id out of the JSON
    const placed: any = await ok(
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: "golden-order",
        lines: [
          { productId: listed.products[0].id, quantity: 2 },
          { productId: listed.products[1].id, quantity: 1 },
        ],
        paymentToken: "tok_visa",
        shippingAddress: address,
      },
      token,
    );
    expectGolden("place-order", normalizer.normalize(placed));

    // The saga settles asynchronously: compare the order once it is confirmed and the saga has finished.
    await waitForStatus(e2e, token, placed.order.id, ["ORDER_STATUS_CONFIRMED"]);
    let settled: unknown;
    await waitFor(
      async () => {
        // biome-ignore lint/suspicious/noExplicitAny: reading the saga state out of the JSON
        const got: any = await ok(`${paths.order}/GetOrder`, { orderId: placed.order.id }, token);
        settled = got;
        return got.order.saga?.state === "SAGA_STATE_COMPLETED";
      },
      { timeoutMs: 30_000, intervalMs: 100, message: "the order's saga never completed" },
    );
    expectGolden("get-order", normalizer.normalize(settled));
  });
});
