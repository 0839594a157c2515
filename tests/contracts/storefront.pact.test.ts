// The storefront (web/) as a consumer of the edge: its real client code (web/src/client.ts: connect-web,
// the session and the refreshing interceptor; web/src/checkout-order.ts: placing an order and waiting
// for the saga) against Pact's mock server, making the calls the pages make. What each test expects
// of the answer is what the page reads; the pact written here is compared with pacts/storefront-edge.json.
// One file for the whole pact on purpose: each consumer–provider pact is written by one test file into
// its own temporary folder, so two files would each see half of it.

import { OrderStatus } from "@mercato/sdk/gen/mercato/order/v1/order_pb";
import { checkPactFile, pactOutput } from "@mercato/testing";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";
import { describe, expect, it } from "vitest";
import { placeOrderAndWait } from "../../web/src/checkout-order.js";
import { createStorefrontClient, type StorefrontClient } from "../../web/src/client.js";
import { cancelReasonText, friendlyError } from "../../web/src/errors.js";
import { formatMoney } from "../../web/src/money.js";
import { sessionOf } from "../../web/src/session.js";
import {
  accessTokenExample,
  address,
  connectError,
  expiredSession,
  get,
  memoryStorage,
  orderBody,
  post,
  tokensBody,
} from "./edge-interactions.js";
import { examples, paths, states } from "./edge-states.js";
import { participants, stateRef, timestamp } from "./pact-dsl.js";

const { eachLike, like, integer, regex } = MatchersV3;
const output = pactOutput(participants.storefront, participants.edge);
const pact = new PactV4({
  consumer: participants.storefront,
  provider: participants.edge,
  dir: output.dir,
  logLevel: "warn",
});

/** A storefront client against the mock server, signed in with an example session when asked. */
function storefront(url: string, signedIn = false): StorefrontClient {
  const client = createStorefrontClient({ baseUrl: url, storage: memoryStorage() });
  if (signedIn) {
    client.setSession(
      sessionOf({ accessToken: accessTokenExample, refreshToken: examples.refreshToken, expiresIn: 900 }),
    );
  }
  return client;
}

describe("the storefront's expectations of the edge", () => {
  it("browses the catalog: categories, a page of products, a category, a product with stock and reviews", async () => {
    const product = {
      id: MatchersV3.uuid(examples.productId),
      sku: like(examples.sku),
      name: like("Ethiopian coffee, 250 g"),
      price: { currencyCode: regex(/^[A-Z]{3}$/, "EUR"), amountMinor: regex(/^\d+$/, "1250") },
    };
    get(pact, states.catalog, "a request for the categories", `${paths.catalog}/ListCategories`, {
      pageSize: 100,
    }).willRespondWith(200, (res) =>
      res.jsonBody({
        categories: eachLike({ id: MatchersV3.uuid(examples.categoryId), name: like("Coffee") }),
      }),
    );
    get(pact, states.catalog, "a request for the first page of products", `${paths.catalog}/ListProducts`, {
      pageSize: 12,
    }).willRespondWith(200, (res) => res.jsonBody({ products: eachLike(product) }));
    get(
      pact,
      states.catalog,
      "a request for a page of one category's products",
      `${paths.catalog}/ListProducts`,
      { pageSize: 12, categoryId: stateRef("categoryId") },
    ).willRespondWith(200, (res) => res.jsonBody({ products: eachLike(product) }));
    get(pact, states.catalog, "a request for one product", `${paths.catalog}/GetProduct`, {
      productId: stateRef("productId"),
    }).willRespondWith(200, (res) =>
      res.jsonBody({ product: { ...product, description: like("Floral and bright") } }),
    );
    get(pact, states.catalog, "a request for a product's stock", `${paths.inventory}/GetStock`, {
      sku: stateRef("sku"),
    }).willRespondWith(200, (res) => res.jsonBody({ available: integer(7) }));
    await get(pact, states.catalog, "a request for a product's reviews", `${paths.catalog}/ListReviews`, {
      productId: stateRef("productId"),
      pageSize: 20,
    })
      .willRespondWith(200, (res) =>
        res.jsonBody({
          reviews: eachLike({
            id: MatchersV3.uuid("0197a1b2-0000-7000-8000-0000000000e1"),
            rating: integer(5),
            comment: like("Lovely"),
            createdAt: timestamp("2026-01-02T03:04:05.678Z"),
          }),
        }),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url);
        // CatalogPage
        const { categories } = await api.catalog.listCategories({ pageSize: 100 });
        expect(categories[0]?.name).toBe("Coffee");
        const page = { pageSize: 12, pageToken: "", query: "" };
        const { products } = await api.catalog.listProducts({ ...page, categoryId: "" });
        expect(formatMoney(products[0]?.price, "en")).toContain("12.50");
        const inCategory = await api.catalog.listProducts({ ...page, categoryId: examples.categoryId });
        expect(inCategory.products).toHaveLength(1);
        // ProductPage
        const { product: shown } = await api.catalog.getProduct({ productId: examples.productId });
        expect(shown?.sku).toBe(examples.sku);
        const stock = await api.inventory.getStock({ sku: examples.sku });
        expect(stock.available).toBe(7);
        const { reviews } = await api.catalog.listReviews({ productId: examples.productId, pageSize: 20 });
        expect(reviews[0]?.rating).toBe(5);
        expect(reviews[0]?.createdAt?.seconds).toBeGreaterThan(0n);
      });
  });

  it("signs up and logs in at once; the session names the user from the access token", async () => {
    const email = "new-shopper@example.com";
    const password = "a long enough secret";
    post(
      pact,
      states.noAccount,
      "a sign-up",
      `${paths.identity}/Register`,
      {
        email,
        password,
        name: "New Shopper",
      },
      { params: { email } },
    ).willRespondWith(200, (res) => res.jsonBody({}));
    await post(
      pact,
      states.account,
      "a log-in",
      `${paths.identity}/Login`,
      { email, password },
      {
        params: { email, password },
      },
    )
      .willRespondWith(200, (res) => res.jsonBody(tokensBody(email)))
      .executeTest(async (server) => {
        const client = storefront(server.url);
        // SignupPage
        await client.api.identity.register({ email, password, name: "New Shopper" });
        const session = await client.logIn(email, password);
        expect(session.user.email).toBe(email);
        expect(session.user.role).toBe("customer");
        expect(client.currentSession()?.refreshToken).toBe(examples.refreshToken);
      });
  });

  it("shows why a sign-up was refused: invalid input with field violations, or a taken email", async () => {
    const taken = "taken@example.com";
    post(
      pact,
      states.noAccount,
      "a sign-up with a password that is too short",
      `${paths.identity}/Register`,
      {
        email: "short-password@example.com",
        password: "short",
        name: "Short Password",
      },
      { params: { email: "short-password@example.com" } },
    ).willRespondWith(400, (res) =>
      res.jsonBody(
        connectError("invalid_argument", "invalid request: password: must be at least 12 characters"),
      ),
    );
    await post(
      pact,
      states.account,
      "a sign-up with an email that has an account",
      `${paths.identity}/Register`,
      {
        email: taken,
        password: "a long enough secret",
        name: "Taken",
      },
      { params: { email: taken, password: "another long secret" } },
    )
      .willRespondWith(409, (res) =>
        res.jsonBody(connectError("already_exists", "an account with this email exists already")),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url);
        const short = await api.identity
          .register({ email: "short-password@example.com", password: "short", name: "Short Password" })
          .catch((e: unknown) => e);
        expect(friendlyError(short)).toMatch(/^Invalid request: password/);
        const exists = await api.identity
          .register({ email: taken, password: "a long enough secret", name: "Taken" })
          .catch((e: unknown) => e);
        expect(friendlyError(exists)).toMatch(/^An account with this email exists already/);
      });
  });

  it("tells a shopper whose password is wrong to log in", async () => {
    const email = "shopper@example.com";
    await post(
      pact,
      states.account,
      "a log-in with a wrong password",
      `${paths.identity}/Login`,
      {
        email,
        password: "not the password",
      },
      { params: { email, password: "the right password" } },
    )
      .willRespondWith(401, (res) =>
        res.jsonBody(connectError("unauthenticated", "invalid email or password")),
      )
      .executeTest(async (server) => {
        const client = storefront(server.url);
        const error = await client.logIn(email, "not the password").catch((e: unknown) => e);
        expect(friendlyError(error)).toBe("Please log in to continue.");
        expect(client.currentSession()).toBeUndefined();
      });
  });

  it("refreshes an access token about to expire before calling, and uses the new one", async () => {
    post(pact, states.refreshToken, "a refresh of the tokens", `${paths.identity}/RefreshToken`, {
      refreshToken: stateRef("refreshToken"),
    }).willRespondWith(200, (res) => res.jsonBody(tokensBody()));
    await get(
      pact,
      states.confirmedOrder,
      "a request for the shopper's orders",
      `${paths.order}/ListOrders`,
      {
        pageSize: 50,
      },
      { auth: true },
    )
      .willRespondWith(200, (res) =>
        res.jsonBody({
          orders: eachLike({
            id: MatchersV3.uuid(examples.orderId),
            status: regex(/^ORDER_STATUS_[A-Z_]+$/, "ORDER_STATUS_CONFIRMED"),
            total: orderBody().total,
            createdAt: timestamp("2026-01-02T03:04:05.678Z"),
          }),
        }),
      )
      .executeTest(async (server) => {
        const client = storefront(server.url);
        client.setSession(expiredSession());
        // OrdersPage
        const { orders } = await client.api.order.listOrders({ pageSize: 50 });
        expect(OrderStatus[orders[0]!.status]).toBe("CONFIRMED");
        expect(client.currentSession()?.accessToken).toBe(accessTokenExample);
      });
  });

  it("signs the shopper out when the edge refuses the token and the refresh token too", async () => {
    const rejected = expiredSession().accessToken;
    get(
      pact,
      undefined,
      "a request for orders with an access token the edge does not accept",
      `${paths.order}/ListOrders`,
      {
        pageSize: 50,
      },
      { headers: { authorization: `Bearer ${rejected}` } },
    ).willRespondWith(401, (res) => res.jsonBody(connectError("unauthenticated", "invalid access token")));
    await post(
      pact,
      states.usedRefreshToken,
      "a refresh with a refresh token that was already used",
      `${paths.identity}/RefreshToken`,
      {
        refreshToken: stateRef("refreshToken"),
      },
      { examples: { refreshToken: "rt_used-refresh-token" } },
    )
      .willRespondWith(401, (res) => res.jsonBody(connectError("unauthenticated", "invalid refresh token")))
      .executeTest(async (server) => {
        const client = storefront(server.url);
        client.setSession({
          ...expiredSession(),
          refreshToken: "rt_used-refresh-token",
          expiresAt: Date.now() + 600_000,
        });
        const error = await client.api.order.listOrders({ pageSize: 50 }).catch((e: unknown) => e);
        expect(friendlyError(error)).toBe("Please log in to continue.");
        expect(client.currentSession()).toBeUndefined();
      });
  });

  it("checks out: places the order and waits until the saga confirmed it", async () => {
    const lines = [{ productId: examples.productId, quantity: 2 }];
    post(
      pact,
      states.productInStock,
      "an order paid with a card that is approved",
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: "checkout-approved-1",
        lines: [{ productId: stateRef("productId"), quantity: 2 }],
        paymentToken: "tok_visa",
        shippingAddress: address,
      },
      { auth: true },
    ).willRespondWith(200, (res) => res.jsonBody({ order: { id: MatchersV3.uuid(examples.orderId) } }));
    await get(
      pact,
      states.confirmedOrder,
      "a request for an order the saga confirmed",
      `${paths.order}/GetOrder`,
      {
        orderId: stateRef("orderId"),
      },
      { auth: true },
    )
      .willRespondWith(200, (res) => res.jsonBody({ order: orderBody("ORDER_STATUS_CONFIRMED") }))
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        const order = await placeOrderAndWait(api, {
          idempotencyKey: "checkout-approved-1",
          lines,
          card: "tok_visa",
          address: { ...address, line2: "", region: "" },
        });
        // OrderPage and OrderLines
        expect(order.status).toBe(OrderStatus.CONFIRMED);
        expect(order.lines[0]?.name).toBe("Ethiopian coffee, 250 g");
        expect(formatMoney(order.total, "en")).toContain("25.00");
        expect(order.shippingAddress?.countryCode).toBe("DE");
      });
  });

  it("checks out with a card that is declined: the order is cancelled with a reason the page explains", async () => {
    post(
      pact,
      states.productInStock,
      "an order paid with a card that is declined",
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: "checkout-declined-1",
        lines: [{ productId: stateRef("productId"), quantity: 1 }],
        paymentToken: "tok_chargeDeclined",
        shippingAddress: address,
      },
      { auth: true },
    ).willRespondWith(200, (res) => res.jsonBody({ order: { id: MatchersV3.uuid(examples.orderId) } }));
    await get(
      pact,
      states.declinedOrder,
      "a request for an order whose card was declined",
      `${paths.order}/GetOrder`,
      {
        orderId: stateRef("orderId"),
      },
      { auth: true },
    )
      .willRespondWith(200, (res) =>
        res.jsonBody({
          order: {
            ...orderBody("ORDER_STATUS_CANCELLED"),
            cancelReason: regex(/^payment declined.*$/, "payment declined: card_declined"),
          },
        }),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        const order = await placeOrderAndWait(api, {
          idempotencyKey: "checkout-declined-1",
          lines: [{ productId: examples.productId, quantity: 1 }],
          card: "tok_chargeDeclined",
          address: { ...address, line2: "", region: "" },
        });
        expect(order.status).toBe(OrderStatus.CANCELLED);
        expect(cancelReasonText(order.cancelReason)).toMatch(/^Your card was declined/);
      });
  });

  it("shows what is wrong with a checkout the edge refuses (invalid argument with field violations)", async () => {
    const longName = "N".repeat(201);
    await post(
      pact,
      states.productInStock,
      "an order whose shipping name is too long",
      `${paths.order}/PlaceOrder`,
      {
        idempotencyKey: "checkout-invalid-1",
        lines: [{ productId: stateRef("productId"), quantity: 1 }],
        paymentToken: "tok_visa",
        shippingAddress: { ...address, name: longName },
      },
      { auth: true },
    )
      .willRespondWith(400, (res) =>
        res.jsonBody(
          connectError(
            "invalid_argument",
            "invalid request: shipping_address.name: must be at most 200 characters",
          ),
        ),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        const error = await placeOrderAndWait(api, {
          idempotencyKey: "checkout-invalid-1",
          lines: [{ productId: examples.productId, quantity: 1 }],
          card: "tok_visa",
          address: { ...address, name: longName, line2: "", region: "" },
        }).catch((e: unknown) => e);
        expect(friendlyError(error)).toMatch(/^Invalid request: .*shipping_address\.name/);
      });
  });

  it("follows a shipped order: its tracking number", async () => {
    await get(
      pact,
      states.shippedOrder,
      "a request for an order that has shipped",
      `${paths.order}/GetOrder`,
      { orderId: stateRef("orderId") },
      { auth: true },
    )
      .willRespondWith(200, (res) =>
        res.jsonBody({
          order: { ...orderBody("ORDER_STATUS_SHIPPED"), trackingNumber: like("MC123456789DE") },
        }),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        // OrderPage
        const { order } = await api.order.getOrder({ orderId: examples.orderId });
        expect(order?.status).toBe(OrderStatus.SHIPPED);
        expect(order?.trackingNumber).toBe("MC123456789DE");
      });
  });

  it("tells the shopper an order does not exist", async () => {
    const missing = "0197a1b2-0000-7000-8000-00000000dead";
    await get(
      pact,
      states.loggedIn,
      "a request for an order that does not exist",
      `${paths.order}/GetOrder`,
      { orderId: missing },
      { auth: true },
    )
      .willRespondWith(404, (res) => res.jsonBody(connectError("not_found", `order ${missing} not found`)))
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        const error = await api.order.getOrder({ orderId: missing }).catch((e: unknown) => e);
        expect(friendlyError(error)).toBe("We couldn't find what you were looking for.");
      });
  });

  it("lists the shopper's notifications", async () => {
    await get(
      pact,
      states.notification,
      "a request for the shopper's notifications",
      `${paths.notification}/ListNotifications`,
      {
        pageSize: 50,
      },
      { auth: true },
    )
      .willRespondWith(200, (res) =>
        res.jsonBody({
          notifications: eachLike({
            id: MatchersV3.uuid("0197a1b2-0000-7000-8000-0000000000f1"),
            eventType: like("mercato.identity.v1.UserRegistered"),
            subject: like("Welcome to Mercato"),
            status: regex(/^NOTIFICATION_STATUS_(PENDING|SENT|FAILED)$/, "NOTIFICATION_STATUS_SENT"),
            createdAt: timestamp("2026-01-02T03:04:05.678Z"),
          }),
        }),
      )
      .executeTest(async (server) => {
        const { api } = storefront(server.url, true);
        // NotificationsPage
        const { notifications } = await api.notification.listNotifications({ pageSize: 50 });
        expect(notifications[0]?.subject).toBe("Welcome to Mercato");
      });
  });

  it("wrote the pact that is committed as pacts/storefront-edge.json", () => {
    checkPactFile(output);
  });
});
