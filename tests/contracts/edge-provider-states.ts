/**
 * The edge's provider states: each seeds what one interaction needs through the edge itself (as an
 * admin or a fresh shopper) on a whole running system, and returns the values the pact's
 * `${name}` expressions are filled with (ids, tokens).
 */
import { randomUUID } from "node:crypto";
import { waitFor } from "@mercato/testing";
import { admin, type E2eSystem } from "../e2e/harness.js";
import { createProduct, newCustomer, paths, placeOrder, waitForStatus } from "../e2e/shop-helpers.js";
import { states } from "./edge-states.js";

type StateValues = Record<string, string>;
type Params = Readonly<Record<string, unknown>> | undefined;

/** The state handlers Pact's Verifier takes (`stateHandlers`). */
export type EdgeStateHandlers = Record<string, (params?: unknown) => Promise<StateValues>>;

/**
 * The handlers of one verification run. One closure on purpose (longer than a function should be):
 * the handlers share the admin token and the catalog, which is seeded once.
 */
export function edgeStateHandlers(e2e: E2eSystem): EdgeStateHandlers {
  let adminToken: Promise<string> | undefined;
  const asAdmin = () => {
    adminToken ??= e2e.login(admin.email, admin.password);
    return adminToken;
  };

  /** Calls the edge and returns the JSON body, failing (with the edge's answer) on any status but 200. */
  async function ok(path: string, body: unknown, token?: string) {
    const response = await e2e.call(path, body, token);
    if (response.status !== 200) {
      throw new Error(`provider state: ${path} answered ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  let catalog: Promise<StateValues> | undefined;
  async function seedCatalog(): Promise<StateValues> {
    const token = await asAdmin();
    const { category } = await ok(`${paths.catalog}/CreateCategory`, { name: "Coffee" }, token);
    const sku = `PACT-${randomUUID().slice(0, 8).toUpperCase()}`;
    const { product } = await ok(
      `${paths.catalog}/CreateProduct`,
      {
        sku,
        name: "Ethiopian coffee, 250 g",
        description: "Floral and bright",
        price: { currencyCode: "EUR", amountMinor: "1250" },
        categoryId: category.id,
      },
      token,
    );
    await ok(`${paths.inventory}/SetStock`, { sku, onHand: 7 }, token);
    const reviewer = await newCustomer(e2e);
    await ok(
      `${paths.catalog}/AddReview`,
      { productId: product.id, rating: 5, comment: "Lovely" },
      reviewer.token,
    );
    return { categoryId: category.id, productId: product.id, sku, accessToken: reviewer.token };
  }

  async function productInStock(): Promise<{ accessToken: string; productId: string }> {
    const [shopper, product] = await Promise.all([
      newCustomer(e2e),
      asAdmin().then((token) => createProduct(e2e, token, 1250, 50)),
    ]);
    return { accessToken: shopper.token, productId: product.id };
  }

  /** A shopper's order paid with `card`, once the saga reached `status`. */
  async function orderWith(card: string, status: string): Promise<{ accessToken: string; orderId: string }> {
    const { accessToken, productId } = await productInStock();
    const placed = await placeOrder(e2e, accessToken, [{ productId, quantity: 2 }], card);
    if (placed.status !== 200) throw new Error(`provider state: PlaceOrder ${JSON.stringify(placed.body)}`);
    const orderId = placed.body.order.id as string;
    await waitForStatus(e2e, accessToken, orderId, [status], 60_000);
    return { accessToken, orderId };
  }

  async function userIdOf(email: string): Promise<string | undefined> {
    const { users = [] } = await ok(`${paths.identity}/ListUsers`, { query: email }, await asAdmin());
    return (users as { id: string; email: string }[]).find((u) => u.email === email)?.id;
  }

  async function loggedInTokens(): Promise<{ accessToken: string; refreshToken: string }> {
    const email = `pact-${randomUUID()}@example.com`;
    const password = "a long enough secret";
    await ok(`${paths.identity}/Register`, { email, password, name: "Pact Shopper" });
    const tokens = await ok(`${paths.identity}/Login`, { email, password });
    return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
  }

  const param = (params: Params, name: string): string => {
    const value = params?.[name];
    if (typeof value !== "string") throw new Error(`provider state: parameter ${name} is missing`);
    return value;
  };

  return {
    [states.catalog]: () => {
      catalog ??= seedCatalog();
      return catalog;
    },
    [states.noAccount]: async (params) => {
      const id = await userIdOf(param(params as Params, "email"));
      if (id !== undefined) await ok(`${paths.identity}/DeleteUser`, { userId: id }, await asAdmin());
      return {};
    },
    [states.account]: async (params) => {
      const email = param(params as Params, "email");
      const password = param(params as Params, "password");
      const response = await e2e.call(`${paths.identity}/Register`, {
        email,
        password,
        name: "Pact Shopper",
      });
      if (response.status !== 200 && response.body?.code !== "already_exists") {
        throw new Error(`provider state: Register ${JSON.stringify(response.body)}`);
      }
      return {};
    },
    [states.loggedIn]: async () => ({ accessToken: (await newCustomer(e2e)).token }),
    [states.productInStock]: productInStock,
    [states.confirmedOrder]: () => orderWith("tok_visa", "ORDER_STATUS_CONFIRMED"),
    [states.declinedOrder]: () => orderWith("tok_chargeDeclined", "ORDER_STATUS_CANCELLED"),
    [states.shippedOrder]: async () => {
      const values = await orderWith("tok_visa", "ORDER_STATUS_CONFIRMED");
      let shipmentId = "";
      await waitFor(
        async () => {
          const got = await e2e.call(
            `${paths.shipping}/GetShipment`,
            { orderId: values.orderId },
            values.accessToken,
          );
          shipmentId = got.body?.shipment?.id ?? "";
          return got.status === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: "a shipment for the confirmed order" },
      );
      await ok(`${paths.shipping}/AdvanceShipment`, { shipmentId }, await asAdmin());
      await waitForStatus(e2e, values.accessToken, values.orderId, ["ORDER_STATUS_SHIPPED"], 30_000);
      return values;
    },
    [states.notification]: async () => {
      const shopper = await newCustomer(e2e);
      await waitFor(
        async () => {
          const got = await ok(`${paths.notification}/ListNotifications`, { pageSize: 50 }, shopper.token);
          return (got.notifications ?? []).length > 0;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: "the welcome notification" },
      );
      return { accessToken: shopper.token };
    },
    [states.refreshToken]: async () => ({ refreshToken: (await loggedInTokens()).refreshToken }),
    [states.usedRefreshToken]: async () => {
      const { refreshToken } = await loggedInTokens();
      await ok(`${paths.identity}/RefreshToken`, { refreshToken });
      return { refreshToken };
    },
  };
}
