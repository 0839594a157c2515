/// <reference lib="dom" />
import { randomUUID } from "node:crypto";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, type E2eSystem, startE2eSystem } from "../e2e/harness.js";
import { paths } from "../e2e/shop-helpers.js";
import { buildStorefront, launchBrowser, phone, screenshot, type TestBrowser } from "./browser.js";

/*
 * The storefront and the operations console in a real browser, against the whole system: every
 * service and the gateway as processes, the gateway serving web/dist. One system and one browser for
 * the file; each actor (shopper, admin) has a browser context of its own.
 */

let e2e: E2eSystem;
let browser: TestBrowser;
let products: { id: string; sku: string; name: string }[];
const password = "a long enough secret";

/** The demo catalog: two categories, four products with stock. */
const catalog = [
  {
    sku: "COF-BEANS",
    name: "Espresso beans, 1 kg",
    category: "Coffee",
    priceMinor: 1999,
    text: "Dark roast, chocolate notes.",
  },
  {
    sku: "COF-MUG",
    name: "Stoneware mug",
    category: "Kitchen",
    priceMinor: 450,
    text: "Holds 300 ml; dishwasher safe.",
  },
  {
    sku: "COF-KETTLE",
    name: "Pour-over kettle",
    category: "Kitchen",
    priceMinor: 12_500,
    text: "Gooseneck spout, 1 litre.",
  },
  {
    sku: "COF-FILTER",
    name: "Paper filters, 100",
    category: "Coffee",
    priceMinor: 399,
    text: "Unbleached, size 02.",
  },
] as const;

async function seed(token: string) {
  const categories = new Map<string, string>();
  for (const name of new Set(catalog.map((p) => p.category))) {
    const created = await e2e.call(`${paths.catalog}/CreateCategory`, { name }, token);
    categories.set(name, created.body.category.id);
  }
  const seeded: { id: string; sku: string; name: string }[] = [];
  for (const p of catalog) {
    const created = await e2e.call(
      `${paths.catalog}/CreateProduct`,
      {
        sku: p.sku,
        name: p.name,
        description: p.text,
        price: { currencyCode: "EUR", amountMinor: String(p.priceMinor) },
        categoryId: categories.get(p.category),
      },
      token,
    );
    if (created.status !== 200) throw new Error(`CreateProduct: ${JSON.stringify(created.body)}`);
    await e2e.call(`${paths.inventory}/SetStock`, { sku: p.sku, onHand: 20 }, token);
    seeded.push({ id: created.body.product.id, sku: p.sku, name: p.name });
  }
  return seeded;
}

beforeAll(async () => {
  buildStorefront();
  e2e = await startE2eSystem({ name: "browser" });
  browser = await launchBrowser();
  products = await seed(await e2e.login(admin.email, admin.password));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await e2e?.stop();
});

async function signUp(page: Page): Promise<string> {
  const email = `shopper-${randomUUID()}@example.com`;
  await page.goto("/signup");
  await page.getByLabel("Name").fill("Grace Hopper");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  return email;
}

async function addToCart(page: Page, product: { id: string; name: string }, quantity = 1) {
  await page.goto(`/products/${product.id}`);
  await page.getByRole("heading", { name: product.name }).waitFor();
  await page.getByLabel("Quantity").fill(String(quantity));
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page
    .getByRole("status")
    .filter({ hasText: `Added ${quantity} × ${product.name}` })
    .waitFor();
}

async function checkOut(page: Page, card: string) {
  await page.getByRole("link", { name: /^Cart/ }).click();
  await page.getByLabel("Full name").fill("Grace Hopper");
  await page.getByLabel("Street and number").fill("1 Compiler Lane");
  await page.getByLabel("City").fill("Arlington");
  await page.getByLabel("Postal code").fill("22201");
  await page.getByLabel("Country code").fill("US");
  await page.getByLabel(card).check();
  await page.getByRole("button", { name: "Place order" }).click();
}

/** Waits until the order page's status badge reads `status`. */
async function waitForStatus(page: Page, status: string, timeout = 45_000) {
  await page
    .getByTestId("status")
    .filter({ hasText: new RegExp(`^${status}$`) })
    .first()
    .waitFor({ timeout });
}

describe("storefront", () => {
  let shopper: Page;
  let orderId: string;

  it("a shopper signs up, buys two products with tok_visa and sees the order reach CONFIRMED", async () => {
    shopper = await browser.newActor(e2e.url);
    await signUp(shopper);
    await shopper.goto("/");
    const items = shopper.getByRole("list", { name: "Products" }).getByRole("listitem");
    await items.first().waitFor();
    expect(await items.count()).toBe(catalog.length);
    await screenshot(shopper, "catalog");
    await shopper.getByLabel("Category").selectOption({ label: "Kitchen" });
    await shopper.waitForURL(/category=/);
    await items.filter({ hasText: "Pour-over kettle" }).waitFor();
    await items.filter({ hasText: "Espresso beans" }).waitFor({ state: "detached" });
    expect(await items.count()).toBe(2);
    await shopper.getByLabel("Search products").fill("mug");
    await shopper.getByRole("button", { name: "Search" }).click();
    await items.filter({ hasText: "Pour-over kettle" }).waitFor({ state: "detached" });
    expect(await items.allTextContents()).toEqual([expect.stringContaining("Stoneware mug")]);
    await addToCart(shopper, products[0]!);
    await screenshot(shopper, "product");
    await addToCart(shopper, products[1]!, 2);
    await shopper.goto("/cart");
    expect(await shopper.getByTestId("cart-line").count()).toBe(2);
    expect(await shopper.getByLabel("Cart, 3 items").count()).toBe(1);
    // €19.99 + 2 × €4.50
    expect(await shopper.getByTestId("cart-total").textContent()).toBe("€28.99");
    await screenshot(shopper, "cart");

    await checkOut(shopper, "Test Visa (approved)");
    await shopper.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    orderId = shopper.url().split("/").at(-1)!;
    await waitForStatus(shopper, "CONFIRMED");
    expect(await shopper.getByRole("table", { name: "Items" }).textContent()).toContain("€28.99");
    expect(await shopper.getByLabel("Cart, 0 items").count()).toBe(1);
    await screenshot(shopper, "order-confirmed");
  });

  it("a declined card shows a clear message and leaves the cart intact for another try", async () => {
    await addToCart(shopper, products[2]!);
    await checkOut(shopper, "Test card that is declined");
    const alert = shopper.getByRole("alert");
    await alert.waitFor({ timeout: 45_000 });
    expect(await alert.textContent()).toMatch(/card was declined.*Nothing was charged/);
    expect(new URL(shopper.url()).pathname).toBe("/cart");
    expect(await shopper.getByTestId("cart-line").count()).toBe(1);
    expect(await shopper.getByLabel(`Quantity of ${products[2]!.name}`).inputValue()).toBe("1");
    await screenshot(shopper, "checkout-declined");

    // Another try with a good card goes through, from the same cart.
    await shopper.getByLabel("Test Visa (approved)").check();
    await shopper.getByRole("button", { name: "Place order" }).click();
    await shopper.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    await waitForStatus(shopper, "CONFIRMED");
  });

  it("an admin advances the shipment and the shopper's page shows DELIVERED", async () => {
    await shopper.goto(`/orders/${orderId}`);
    await waitForStatus(shopper, "CONFIRMED");

    const operator = await browser.newActor(e2e.url);
    await operator.goto("/console");
    await operator.getByLabel("Email").fill(admin.email);
    await operator.getByLabel("Password").fill(admin.password);
    await operator.getByRole("button", { name: "Log in" }).click();
    await operator.getByRole("table", { name: "Stock" }).waitFor();
    await screenshot(operator, "console-stock");
    await operator.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Orders" }).click();
    await operator.getByRole("table", { name: "Orders" }).waitFor();
    await operator.goto(`/console/orders/${orderId}`);
    const timeline = operator.getByRole("list", { name: "Saga timeline" });
    await timeline.getByText("CAPTURE_PAYMENT").first().waitFor();
    expect(await timeline.textContent()).toContain("RESERVE_STOCK");
    const advance = operator.getByRole("button", { name: "Advance shipment" });
    await advance.waitFor(); // the shipment exists once shipping has seen OrderConfirmed
    await screenshot(operator, "console-order");
    for (const next of ["SHIPPED", "DELIVERED"]) {
      await advance.click(); // waits until the button is enabled again
      await operator
        .getByTestId("shipment")
        .getByTestId("status")
        .filter({ hasText: new RegExp(`^${next}$`) })
        .waitFor();
    }

    await waitForStatus(shopper, "DELIVERED");
    await screenshot(shopper, "order-delivered");

    const tabs = operator.getByRole("navigation", { name: "Console" });
    await tabs.getByRole("link", { name: "Health" }).click();
    const health = operator.getByRole("table", { name: "Service health" });
    await health.waitFor();
    expect(await health.getByText("SERVING", { exact: true }).count()).toBe(7);
    await screenshot(operator, "console-health");
    await tabs.getByRole("link", { name: "Dead letters" }).click();
    await operator
      .getByText("No dead letters")
      .or(operator.getByRole("table", { name: /^Dead letters of / }))
      .first()
      .waitFor();
    await screenshot(operator, "console-dead-letters");
  });

  it("a customer cannot open the console, and the edge refuses its RPCs", async () => {
    await shopper.goto("/console");
    await shopper.getByRole("alert").filter({ hasText: "for shop staff only" }).waitFor();
    expect(await shopper.getByRole("table", { name: "Stock" }).count()).toBe(0);
    expect(await shopper.getByRole("link", { name: "Console" }).count()).toBe(0);
    const session = JSON.parse((await shopper.evaluate(() => localStorage.getItem("mercato.session")))!);
    const denied = await e2e.call(
      "/mercato.order.v1.OrderService/ListAllOrders",
      {},
      session.accessToken as string,
    );
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("permission_denied");
  });

  it("fits a phone-sized screen", async () => {
    const mobile = await browser.newActor(e2e.url, phone);
    await mobile.goto("/");
    await mobile.getByRole("list", { name: "Products" }).getByRole("listitem").first().waitFor();
    const overflow = await mobile.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(mobile, "catalog-phone");
  });
});
