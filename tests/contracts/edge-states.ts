/**
 * The provider states of the edge's pacts, shared by the consumer tests (which name them in `given`)
 * and the edge's verification (which sets each one up), plus the example values the consumer tests
 * use for what a state provides.
 */

/** Provider states, by what the consumer needs the shop to be like. */
export const states = {
  catalog: "the catalog has a category with a product in stock and a review",
  noAccount: "no account exists for the email",
  account: "an account exists for the email and password",
  loggedIn: "a shopper is logged in",
  productInStock: "a shopper is logged in and a product is in stock",
  confirmedOrder: "the shopper has an order the saga confirmed",
  declinedOrder: "the shopper has an order cancelled because the card was declined",
  shippedOrder: "the shopper has an order that has shipped",
  notification: "the shopper has a notification",
  refreshToken: "the shopper holds a refresh token",
  usedRefreshToken: "the shopper holds a refresh token that was already used",
} as const;

/** Example values of what the states provide (the provider substitutes its real ones). */
export const examples = {
  categoryId: "0197a1b2-0000-7000-8000-00000000ca7e",
  productId: "0197a1b2-0000-7000-8000-0000000000a1",
  sku: "CON-TRACT-1",
  orderId: "0197a1b2-0000-7000-8000-0000000000d1",
  userId: "0197a1b2-0000-7000-8000-0000000000b1",
  refreshToken: "rt_example-refresh-token",
} as const;

const base64Url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * A token shaped like identity's access tokens (a JWT whose claims name the user), which the
 * storefront decodes to show who is signed in. Its signature is not valid: the edge would refuse it,
 * which is what the "rejected token" interactions use.
 */
export function exampleAccessToken(
  claims: { sub?: string; email?: string; role?: string } = {},
  signature = "c2lnbmF0dXJl",
): string {
  const header = base64Url({ alg: "EdDSA", typ: "JWT", kid: "example" });
  const payload = base64Url({
    sub: examples.userId,
    email: "shopper@example.com",
    role: "customer",
    exp: 4_102_444_800,
    ...claims,
  });
  return `${header}.${payload}.${signature}`;
}

/** The shape of identity's access tokens: three base64url parts. */
export const jwtPattern = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The Connect paths of the services the consumers call. */
export const paths = {
  identity: "/mercato.identity.v1.IdentityService",
  catalog: "/mercato.catalog.v1.CatalogService",
  inventory: "/mercato.inventory.v1.InventoryService",
  order: "/mercato.order.v1.OrderService",
  notification: "/mercato.notification.v1.NotificationService",
} as const;
