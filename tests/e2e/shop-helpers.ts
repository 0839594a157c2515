import { randomUUID } from "node:crypto";
import { waitFor } from "@mercato/testing";
import type { E2eSystem } from "./harness.js";

/** Connect paths of the services the e2e tests call. */
export const paths = {
  identity: "/mercato.identity.v1.IdentityService",
  catalog: "/mercato.catalog.v1.CatalogService",
  inventory: "/mercato.inventory.v1.InventoryService",
  order: "/mercato.order.v1.OrderService",
  payment: "/mercato.payment.v1.PaymentService",
  shipping: "/mercato.shipping.v1.ShippingService",
  notification: "/mercato.notification.v1.NotificationService",
} as const;

/** A shipping address that passes validation. */
export const address = {
  name: "Ada Lovelace",
  line1: "1 Analytical Way",
  city: "Berlin",
  postalCode: "10115",
  countryCode: "DE",
};

/** Creates a product priced in EUR minor units with `stock` units on hand; returns its id and sku. */
export async function createProduct(
  e2e: E2eSystem,
  adminToken: string,
  priceMinor: number,
  stock: number,
): Promise<{ id: string; sku: string }> {
  const sku = `E2E-${randomUUID().slice(0, 8).toUpperCase()}`;
  const created = await e2e.call(
    `${paths.catalog}/CreateProduct`,
    { sku, name: `Product ${sku}`, price: { currencyCode: "EUR", amountMinor: String(priceMinor) } },
    adminToken,
  );
  if (created.status !== 200) throw new Error(`CreateProduct: ${JSON.stringify(created.body)}`);
  const stocked = await e2e.call(`${paths.inventory}/SetStock`, { sku, onHand: stock }, adminToken);
  if (stocked.status !== 200) throw new Error(`SetStock: ${JSON.stringify(stocked.body)}`);
  return { id: created.body.product.id, sku };
}

/** Registers a customer and logs in; returns the user id and access token. */
export async function newCustomer(e2e: E2eSystem): Promise<{ userId: string; token: string }> {
  const email = `c-${randomUUID()}@example.com`;
  const registered = await e2e.call(`${paths.identity}/Register`, {
    email,
    password: "a long enough secret",
    name: "Customer",
  });
  if (registered.status !== 200) throw new Error(`Register: ${JSON.stringify(registered.body)}`);
  return { userId: registered.body.user.id, token: await e2e.login(email, "a long enough secret") };
}

/** Places an order through the edge (raw response, so tests can check errors). */
export function placeOrder(
  e2e: E2eSystem,
  token: string,
  lines: { productId: string; quantity: number }[],
  paymentToken: string,
  idempotencyKey: string = randomUUID(),
) {
  return e2e.call(
    `${paths.order}/PlaceOrder`,
    { idempotencyKey, lines, paymentToken, shippingAddress: address },
    token,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON shapes
type Json = any;

/** Polls GetOrder until the order reaches one of `statuses`; returns the order. */
export async function waitForStatus(
  e2e: E2eSystem,
  token: string,
  orderId: string,
  statuses: readonly string[],
  timeoutMs = 30_000,
): Promise<Json> {
  let order: Json;
  await waitFor(
    async () => {
      const response = await e2e.call(`${paths.order}/GetOrder`, { orderId }, token);
      order = response.body.order;
      return statuses.includes(order?.status);
    },
    { timeoutMs, intervalMs: 100, message: `order ${orderId} never reached ${statuses.join("/")}` },
  );
  return order;
}

/** Stock of a SKU as the edge reports it. */
export async function stockOf(
  e2e: E2eSystem,
  sku: string,
): Promise<{ onHand: number; reserved: number; available: number }> {
  const response = await e2e.call(`${paths.inventory}/GetStock`, { sku });
  return {
    onHand: response.body.onHand ?? 0,
    reserved: response.body.reserved ?? 0,
    available: response.body.available ?? 0,
  };
}

/** The payment of an order, read by an admin at the edge. */
export async function paymentOf(e2e: E2eSystem, adminToken: string, orderId: string): Promise<Json> {
  const response = await e2e.call(`${paths.payment}/GetPayment`, { orderId }, adminToken);
  return response.status === 200 ? response.body.payment : undefined;
}
