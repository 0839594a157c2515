/**
 * Demo data for local runs, written through the gateway like any client would: the demo customer,
 * categories, products and their stock. Idempotent: what exists is left alone (stock is set only for
 * products created now, so a restart never undoes orders).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createMercatoClient } from "@mercato/sdk/connect";

/** The demo customer's credentials (local runs only). */
export const demoCustomer = {
  email: "customer@mercato.local",
  password: "mercato-customer",
  name: "Demo Customer",
};

const categories = ["Coffee", "Tea", "Brewing gear"] as const;

const products: ReadonlyArray<{
  sku: string;
  name: string;
  description: string;
  priceMinor: bigint;
  category: (typeof categories)[number];
  stock: number;
}> = [
  {
    sku: "COF-ETH-250",
    name: "Ethiopia Yirgacheffe 250 g",
    description: "Washed, floral, bergamot",
    priceMinor: 1290n,
    category: "Coffee",
    stock: 40,
  },
  {
    sku: "COF-COL-250",
    name: "Colombia Huila 250 g",
    description: "Caramel, red apple",
    priceMinor: 1150n,
    category: "Coffee",
    stock: 60,
  },
  {
    sku: "COF-ESP-1K",
    name: "House espresso 1 kg",
    description: "Chocolate, hazelnut; for milk drinks",
    priceMinor: 3490n,
    category: "Coffee",
    stock: 25,
  },
  {
    sku: "TEA-SEN-100",
    name: "Japanese sencha 100 g",
    description: "Grassy, sweet, steamed",
    priceMinor: 1490n,
    category: "Tea",
    stock: 30,
  },
  {
    sku: "TEA-ASS-250",
    name: "Assam breakfast 250 g",
    description: "Malty black tea",
    priceMinor: 890n,
    category: "Tea",
    stock: 50,
  },
  {
    sku: "GEAR-V60-02",
    name: "Pour-over dripper 02",
    description: "Ceramic cone dripper",
    priceMinor: 2400n,
    category: "Brewing gear",
    stock: 15,
  },
  {
    sku: "GEAR-GRN-HND",
    name: "Hand grinder",
    description: "Steel burrs, 40 settings",
    priceMinor: 8900n,
    category: "Brewing gear",
    stock: 8,
  },
  {
    sku: "GEAR-KTL-GOO",
    name: "Gooseneck kettle 0.9 l",
    description: "Stovetop, built-in thermometer",
    priceMinor: 4500n,
    category: "Brewing gear",
    stock: 12,
  },
];

function isCode(error: unknown, code: Code): boolean {
  return error instanceof ConnectError && error.code === code;
}

/** Seeds the demo data through the gateway at `gatewayUrl`, logged in as the configured admin. */
export async function seedDemoData(
  gatewayUrl: string,
  admin: { email: string; password: string },
): Promise<void> {
  const anonymous = createMercatoClient(gatewayUrl);
  const login = await anonymous.identity.login({ email: admin.email, password: admin.password });
  const client = createMercatoClient(gatewayUrl, { token: login.accessToken });

  try {
    await anonymous.identity.register(demoCustomer);
  } catch (error) {
    if (!isCode(error, Code.AlreadyExists)) throw error;
  }

  const existing = await client.catalog.listCategories({ pageSize: 200 });
  const categoryIds = new Map(existing.categories.map((category) => [category.name, category.id]));
  for (const name of categories) {
    if (!categoryIds.has(name)) {
      const created = await client.catalog.createCategory({ name });
      categoryIds.set(name, created.category!.id);
    }
  }

  for (const product of products) {
    try {
      await client.catalog.createProduct({
        sku: product.sku,
        name: product.name,
        description: product.description,
        price: { currencyCode: "EUR", amountMinor: product.priceMinor },
        categoryId: categoryIds.get(product.category)!,
      });
    } catch (error) {
      if (isCode(error, Code.AlreadyExists)) continue;
      throw error;
    }
    await client.inventory.setStock({ sku: product.sku, onHand: product.stock });
  }
}
